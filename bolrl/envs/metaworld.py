"""Meta-World's Sawyer tasks as built-in study tasks, `metaworld/<task>-v3` (optional extra).

Meta-World (Yu et al., 2019; `metaworld` 3.1.1 on PyPI) ships 50 manipulation tasks on one
simulated Sawyer arm and, for each, a scripted policy. Here each task is one study task:

- the environment: the task's own class with the goal observable and a fresh random object
  and goal placement at every reset, drawn from the environment's generator, which a seeded
  reset re-seeds (Meta-World's `reset` ignores its seed argument; `seed()` sets it). One
  seed per environment slot then fixes every episode that slot runs, as for the embedded
  tasks. (Meta-World's MT1 benchmark instead cycles through 50 frozen placements with the goal
  hidden: a meta-RL set-up, not the single-task one the paper studies.)
- observation: Meta-World's 39 floats (hand, gripper opening, two objects' positions and
  quaternions, the same 18 of the previous step, the goal); action: 4 floats in [-1, 1]
  (hand translation, gripper effort), as Meta-World defines them;
- success: `info["success"]`; as for every bolrl task, reward 1 on the success step and the
  episode ends there (Meta-World itself never terminates);
- horizon: HORIZON steps unless the study sets `horizon` for the task (Meta-World's own is
  500; its experts finish these tasks in well under 150 steps, see `bolrl tasks`);
- demonstrations: the task's scripted policy (`metaworld.policies`) with the human-like
  variability of the embedded experts: per episode a speed (the translation scaled by 0.85-1)
  and a Gaussian action noise (standard deviation 0.05-0.15), per step a chance of a short
  pause.

metaworld pins mujoco 3.3.0: install the extra in its own environment (see the README).
"""

from __future__ import annotations

import difflib
import importlib.util
import warnings
from functools import lru_cache

import gymnasium as gym
import numpy as np

from bolrl.envs.external import ExternalTask, TaskError, TaskSpec

PREFIX = "metaworld/"
HORIZON = 200
TASK_VERSION = 1  # part of a cell's identity: bumped when the tasks' episodes change
INSTALL = ("the Meta-World extra is not installed: pip install -e '.[metaworld]' (in its own "
           "environment: metaworld pins mujoco==3.3.0)")
# Observation features without units (gripper opening, quaternions, now and one step
# before): their standardisation gets the unitless floor of [train].obs_std_floor_unitless.
# Meta-World's policies warn, at every action, that their gains may be too high (the
# environment clips actions to [-1, 1], as bolrl does): true, known, and not the user's concern.
warnings.filterwarnings("ignore", message="Constant", category=UserWarning,
                        module="metaworld")
UNITLESS = (3, 7, 8, 9, 10, 14, 15, 16, 17, 21, 25, 26, 27, 28, 32, 33, 34, 35)


def is_metaworld(name: str) -> bool:
    return name.startswith(PREFIX)


def available() -> bool:
    return importlib.util.find_spec("metaworld") is not None


def task_names() -> list[str]:
    """Every Meta-World task as a study names it (empty without the extra)."""
    if not available():
        return []
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS

    return [PREFIX + name for name in ALL_V3_ENVIRONMENTS]


class MetaWorldEnv(gym.Env):
    """One Meta-World task with a random placement per reset, seeded by `reset(seed=...)`."""

    def __init__(self, env_name: str):
        from metaworld.env_dict import ALL_V3_ENVIRONMENTS

        env = ALL_V3_ENVIRONMENTS[env_name]()
        env._partially_observable = False  # the goal is part of the observation, and the
        if "sawyer_observation_space" in vars(env):  # cached bounds observations are clipped
            del env.sawyer_observation_space  # to are recomputed with it (else it reads 0)
        env._freeze_rand_vec = False  # a new placement at every reset...
        env.seeded_rand_vec = True  # ...drawn from the environment's own generator
        env._set_task_called = True
        self.env = env
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (39,), np.float64)
        self.action_space = env.action_space

    def reset(self, *, seed: int | None = None, options=None):
        if seed is not None:
            self.env.seed(int(seed))
        obs, info = self.env.reset()
        return np.asarray(obs, np.float64), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(np.asarray(action, np.float32))
        return np.asarray(obs, np.float64), reward, terminated, truncated, {
            **info, "is_success": bool(info.get("success", 0.0) > 0)}

    def mujoco(self):
        """The MuJoCo (model, data) it steps (bolrl eval --video films them)."""
        return self.env.model, self.env.data

    def close(self):
        self.env.close()


class MetaWorldExpert:
    """Meta-World's scripted policy for a task, with human-like variability."""

    def __init__(self, policy, rng: np.random.Generator):
        self.policy, self.rng = policy, rng
        self.speed = rng.uniform(0.85, 1.0)  # slower than 0.8 breaks some experts (assembly)
        self.noise = rng.uniform(0.05, 0.15)
        self.pause_prob = 0.02
        self._pause_left = 0
        self._last = np.zeros(4)

    def act(self, obs: np.ndarray) -> np.ndarray:
        if self._pause_left > 0:  # a short hesitation: stay put, keep the grip
            self._pause_left -= 1
            return np.r_[0.0, 0.0, 0.0, self._last[3]]
        if self.rng.random() < self.pause_prob:
            self._pause_left = int(self.rng.integers(2, 6))
        action = np.asarray(self.policy.get_action(np.asarray(obs, np.float64)), np.float64)
        action[:3] *= self.speed
        action += self.noise * self.rng.standard_normal(4)
        self._last = np.clip(action, -1.0, 1.0)
        return self._last


class MetaWorldTask(ExternalTask):
    """A Meta-World task with the interface of every study task."""

    def __init__(self, spec: TaskSpec):
        self.spec = spec
        self.name = spec.name
        self.env_name = spec.name[len(PREFIX):]
        self.description = f"Meta-World {self.env_name} (Sawyer arm, goal observable)"
        self._success = None
        self._expert = None
        self._factory = lambda: MetaWorldEnv(self.env_name)
        self.horizon = int(spec.horizon or HORIZON)
        self.obs_dim, self.act_dim = 39, 4
        self.unitless_features = UNITLESS
        self.exploration_dims = (0, 1, 2)  # the hand's translation, not the gripper

    def expert(self, rng: np.random.Generator) -> MetaWorldExpert:
        from metaworld.policies import ENV_POLICY_MAP

        return MetaWorldExpert(ENV_POLICY_MAP[self.env_name](), rng)

    @property
    def cache_name(self) -> str:
        return super().cache_name.replace("metaworld_", "metaworld-", 1)


@lru_cache(maxsize=64)
def task(spec: TaskSpec) -> MetaWorldTask:
    """The task a study names `metaworld/<task>-v3`; a TaskError says what is missing."""
    if not available():
        raise TaskError(f"task {spec.name!r}: {INSTALL}")
    names = task_names()
    if spec.name not in names:
        close = difflib.get_close_matches(spec.name, names, n=1)
        raise TaskError(f"unknown Meta-World task {spec.name!r}"
                        + (f"; did you mean {close[0]!r}?" if close else
                           f"; there are {len(names)}, e.g. {', '.join(names[:3])}"))
    if spec.expert or spec.success or spec.imports:
        raise TaskError(f"task {spec.name!r}: a Meta-World task brings its own expert and "
                        f"success test; only horizon and demos_file may be set for it")
    return MetaWorldTask(spec)


def check(spec: TaskSpec, task: MetaWorldTask) -> str | None:
    """Every Meta-World task brings its expert: a study can always run it."""
    return None
