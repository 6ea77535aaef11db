"""Bring your own task: any Gymnasium environment as a study task.

A study names such a task by Gymnasium id, `gym:ENV-ID` (after importing the modules listed in
`imports`, which register it), or by factory, `module.path:make_env` (a callable returning a
`gymnasium.Env`). Requirements on the environment:

- a continuous `Box` action space with finite bounds (bolrl's agents act in [-1, 1]; actions
  are mapped affinely onto the bounds);
- a flat `Box` observation, or a `Dict` of `Box`es, flattened by Gymnasium's
  `FlattenObservation` (keys in sorted order, each flattened, concatenated);
- success reported as `info["is_success"]` (the Gymnasium-Robotics convention), or by a
  function the study names, `module.path:fn`, called as fn(obs, info) -> bool with the
  environment's own observation (a dict for a `Dict` space);
- a horizon: the environment spec's `max_episode_steps`, or `horizon` in the study.

As for the embedded tasks, reward is 1 on the success step and 0 otherwise, and the episode
ends at the first success (the environment's own reward is not used).
Demonstrations come from a scripted expert, `module.path:expert` (a callable from one
observation, the environment's own as the success function gets it, to one action in the
environment's action space), or from a demonstration file
(`.npz` in bolrl's episode format: obs, actions in [-1, 1], rewards, next_obs, terminated,
truncated; see the README). Several environments are stepped with Gymnasium's vector API
(`SyncVectorEnv`, same-step autoreset).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import gymnasium as gym
import numpy as np

from bolrl.envs.batched import StepResult


class TaskError(ValueError):
    """An external task that cannot be used, phrased as one sentence naming what is missing."""


@dataclass(frozen=True)
class TaskSpec:
    """A task as a study names it: an embedded name, `gym:ENV-ID`, or `module:factory`,
    with the options external tasks may need."""

    name: str
    imports: tuple[str, ...] = ()
    horizon: int | None = None
    success: str | None = None
    expert: str | None = None
    demos_file: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def is_external(name: str) -> bool:
    return name.startswith("gym:") or ":" in name


def resolve(path: str, what: str, task: str) -> Any:
    """The object named 'module.path:attr'."""
    if ":" not in path:
        raise TaskError(f"task {task!r}: {what} {path!r} must be written 'module.path:name'")
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise TaskError(f"task {task!r}: {what}: module {exc.name!r} not found "
                        f"(is it installed or on PYTHONPATH?)") from None
    if not hasattr(module, attr):
        raise TaskError(f"task {task!r}: {what}: module {module_name!r} has no {attr!r}")
    return getattr(module, attr)


def time_limit(env: gym.Env) -> int | None:
    """The episode limit of an environment: its spec's max_episode_steps, or that of a
    TimeLimit wrapper in its chain."""
    if env.spec is not None and env.spec.max_episode_steps:
        return int(env.spec.max_episode_steps)
    while isinstance(env, gym.Wrapper):
        if isinstance(env, gym.wrappers.TimeLimit):
            return int(env._max_episode_steps)
        env = env.env
    return None


class TaskWrapper(gym.Wrapper):
    """Actions from [-1, 1], flat float32 observations, success as termination with reward 1."""

    def __init__(self, env: gym.Env, success: Callable | None):
        self.env_space = env.observation_space  # what the expert and success function get
        if isinstance(env.observation_space, gym.spaces.Dict):
            env = gym.wrappers.FlattenObservation(env)
        super().__init__(env)
        space = env.action_space
        self.low, self.high = space.low.astype(np.float64), space.high.astype(np.float64)
        n = int(np.prod(env.observation_space.shape))
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (n,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, space.shape, np.float32)
        self.success_fn = success

    def to_env_action(self, action: np.ndarray) -> np.ndarray:
        a = np.clip(np.asarray(action, np.float64), -1.0, 1.0)
        return self.low + (a + 1.0) * 0.5 * (self.high - self.low)

    def env_obs(self, obs: np.ndarray) -> Any:
        """The environment's own observation from the flat one (a dict for a Dict space)."""
        if isinstance(self.env_space, gym.spaces.Dict):
            return gym.spaces.unflatten(self.env_space, np.asarray(obs, np.float64))
        return obs

    def from_env_action(self, action: np.ndarray) -> np.ndarray:
        x = np.asarray(action, np.float64)
        return np.clip(2.0 * (x - self.low) / (self.high - self.low) - 1.0, -1.0, 1.0)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return np.asarray(obs, np.float32).ravel(), info

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(self.to_env_action(action))
        obs = np.asarray(obs, np.float32).ravel()
        if self.success_fn is not None:
            success = bool(self.success_fn(self.env_obs(obs), info))
        else:
            success = bool(info.get("is_success", False))
        info = {**info, "is_success": success}
        return obs, float(success), success or bool(terminated), bool(truncated), info


class ExternalExpert:
    """The study's expert callable, one observation at a time (the environment's own, a dict
    for a Dict space), its actions mapped to [-1, 1]."""

    def __init__(self, fn: Callable, wrapper: TaskWrapper):
        self.fn, self.wrapper = fn, wrapper

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.wrapper.from_env_action(self.fn(self.wrapper.env_obs(obs)))


class ExternalTask:
    """A Gymnasium environment made into a study task (validated on construction)."""

    act_dim: int
    obs_dim: int

    def __init__(self, spec: TaskSpec):
        self.spec = spec
        self.name = self.gym_id = spec.name
        self.description = "external Gymnasium task"
        for module in spec.imports:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                raise TaskError(f"task {spec.name!r}: imports: module {exc.name!r} not "
                                f"found (is it installed or on PYTHONPATH?)") from None
        self._success = resolve(spec.success, "success", spec.name) if spec.success else None
        self._expert = resolve(spec.expert, "expert", spec.name) if spec.expert else None
        if spec.name.startswith("gym:"):
            env_id = spec.name[4:]
            if env_id not in gym.registry:
                raise TaskError(f"task {spec.name!r}: no Gymnasium environment {env_id!r} is "
                                f"registered (name the module that registers it in imports)")
            self._factory = lambda: gym.make(env_id)
        else:
            self._factory = resolve(spec.name, "environment factory", spec.name)
        raw = self._factory()
        horizon = spec.horizon or time_limit(raw)
        if not horizon:
            raise TaskError(f"task {spec.name!r}: no horizon: the environment has no "
                            f"max_episode_steps; set horizon for it in the study")
        self.horizon = int(horizon)
        self._check_spaces(raw)
        probe = TaskWrapper(raw, self._success)
        self.obs_dim = probe.observation_space.shape[0]
        self.act_dim = probe.action_space.shape[0]
        self.unitless_features: tuple[int, ...] = ()  # units unknown: one std floor for all
        self.exploration_dims = tuple(range(self.act_dim))
        self._check_success_signal(probe)
        raw.close()

    def _check_spaces(self, env: gym.Env) -> None:
        act = env.action_space
        if not isinstance(act, gym.spaces.Box):
            raise TaskError(f"task {self.name!r}: the action space is "
                            f"{type(act).__name__}; bolrl needs a continuous Box")
        if not (np.isfinite(act.low).all() and np.isfinite(act.high).all()):
            raise TaskError(f"task {self.name!r}: the Box action space needs finite bounds")
        obs = env.observation_space
        boxes = obs.spaces.values() if isinstance(obs, gym.spaces.Dict) else [obs]
        if not all(isinstance(b, gym.spaces.Box) for b in boxes):
            raise TaskError(f"task {self.name!r}: the observation space must be a Box or a "
                            f"Dict of Boxes, got {obs}")

    def _check_success_signal(self, env: TaskWrapper) -> None:
        if self._success is not None:
            return
        env.env.reset(seed=0)
        _, _, _, _, info = env.env.step(env.to_env_action(np.zeros(self.act_dim)))
        if "is_success" not in info:
            raise TaskError(f"task {self.name!r}: no success signal: the environment's info "
                            f"has no 'is_success', and the study names no success function")

    def make_env(self) -> gym.Env:
        raw = self._factory()
        env = TaskWrapper(raw, self._success)
        if time_limit(raw) != self.horizon:
            env = gym.wrappers.TimeLimit(env, self.horizon)
        return env

    def batch(self, seeds: list[int], vector_env: str = "sync") -> GymBatch:
        return GymBatch(self, seeds, vector_env)

    def expert(self, rng: np.random.Generator) -> ExternalExpert:
        if self._expert is None:
            raise TaskError(f"task {self.name!r}: no demonstrations: name an expert or a "
                            f"demos_file for it in the study")
        return ExternalExpert(self._expert, TaskWrapper(self._factory(), None))

    @property
    def cache_name(self) -> str:
        from bolrl.identity import key_hash

        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in self.name)
        return f"{safe}-{key_hash(self.spec.as_dict())[:8]}"


class GymBatch:
    """`n` environments of an external task with the interface of `BatchedEnv`: the
    observation is also the state passed to experts. `vector_env` "sync" steps them one after
    another in this process (Gymnasium's SyncVectorEnv); "async" steps each in a worker
    process of its own (AsyncVectorEnv), for simulators slow enough that stepping dominates.
    Both reset every environment with its seed, so they run the same episodes."""

    def __init__(self, task: ExternalTask, seeds: list[int], vector_env: str = "sync"):
        self.task, self.n = task, len(seeds)
        vector = {"sync": gym.vector.SyncVectorEnv, "async": gym.vector.AsyncVectorEnv}
        if vector_env not in vector:
            raise ValueError(f"vector_env must be sync or async, got {vector_env!r}")
        self.envs = vector[vector_env](
            [task.make_env for _ in seeds], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
        )
        self.obs, _ = self.envs.reset(seed=[int(s) for s in seeds])
        self.obs = self.obs.astype(np.float32)

    @property
    def state(self) -> np.ndarray:
        return self.obs

    def observe(self) -> np.ndarray:
        return self.obs

    def step(self, actions: np.ndarray, active: np.ndarray | None = None) -> StepResult:
        active = np.ones(self.n, bool) if active is None else np.asarray(active, bool)
        obs, reward, terminated, truncated, info = self.envs.step(np.asarray(actions))
        final_obs = obs.astype(np.float32).copy()
        if "final_obs" in info:
            for i in np.flatnonzero(info.get("_final_obs", np.zeros(self.n, bool))):
                final_obs[i] = info["final_obs"][i]
        self.obs = obs.astype(np.float32)
        return StepResult(self.obs, (reward * active).astype(np.float32), terminated & active,
                          truncated & ~terminated & active, final_obs)

    def close(self) -> None:
        """Close the environments (and end the worker processes of an async batch)."""
        self.envs.close()


@lru_cache(maxsize=64)
def external_task(spec: TaskSpec) -> ExternalTask:
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")  # modules next to where bolrl runs, as `python -m` would
    return ExternalTask(spec)


@dataclass(frozen=True)
class Probe:
    """What `bolrl tasks --check` measures of an external task."""

    task: ExternalTask
    steps_per_s: float  # control steps/s of 16 environments under random actions
    expert_success: float | None  # over the probe's episodes; None without an expert


def probe(spec: TaskSpec, episodes: int, seed: int, seconds: float = 1.0) -> Probe:
    """Build the task (raising TaskError for a wrong spec), time 16 environments stepped with
    random actions, and measure its expert's success if it names one. An expert that raises
    is reported as a TaskError naming it."""
    import time

    from bolrl.demos import expert_success_rate
    from bolrl.envs.batched import env_seeds

    task = external_task(spec)
    env = task.batch(env_seeds(seed, 16))
    rng = np.random.default_rng(seed)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.step(rng.uniform(-1, 1, (env.n, task.act_dim)))
        steps += env.n
    rate = steps / (time.perf_counter() - start)
    env.close()
    success = None
    if spec.expert:
        try:
            success = expert_success_rate(task, episodes, seed)
        except Exception as exc:  # the user's expert raised: say so in one line
            raise TaskError(f"the expert {spec.expert} failed: {type(exc).__name__}: "
                            f"{exc}") from None
    return Probe(task, rate, success)
