"""robomimic's tasks on robosuite as built-in study tasks, `robomimic/lift|can|square`
(optional extra `bolrl[robosuite]`).

The paper's simulation tasks are robomimic's Lift, Can and Square (Mandlekar et al., 2021),
robosuite environments `Lift`, `PickPlaceCan` and `NutAssemblySquare` with a Panda arm. Here
each is one study task, set up as robomimic sets them up:

- controller: robosuite's default for the Panda, an operational-space controller of the hand
  pose (OSC_POSE) taking deltas, at 20 Hz; the action is 7 floats in [-1, 1]: translation
  (scaled by robosuite to at most 5 cm per step), rotation (axis-angle, at most 0.5 rad per
  step), gripper (-1 open, +1 closed);
- observation: robomimic's low-dimensional keys, concatenated in this order: `robot0_eef_pos`
  (3), `robot0_eef_quat` (4), `robot0_gripper_qpos` (2), `object` (robosuite's
  `object-state`: 10 floats for Lift, 14 for Can and Square); robomimic datasets hold the
  same keys, so `bolrl demos import` reads them into the same vector;
- success: the environment's own check (`_check_success`); as for every bolrl task, reward 1
  on the success step and the episode ends there;
- horizon: robomimic's rollout horizon, 400 steps, unless the study sets `horizon`;
- resets: a seeded reset re-seeds the environment's generator (robosuite draws object
  placements and the arm's initial joint noise from it), so one seed per environment slot
  fixes every episode that slot runs, as for the embedded tasks;
- demonstrations: scripted experts (Lift, Can; Square is not scripted: import a robomimic
  dataset for it) with the human-like variability of the embedded experts: per episode a
  speed and a Gaussian action noise, per step a chance of a short pause; or a robomimic HDF5
  dataset converted by `bolrl demos import`.

robosuite 1.5.2 needs mujoco 3.3 and resolves numpy 1.26: install the extra in its own
environment (see the README). The table of tasks below needs neither, so that demonstration
files can be converted and checked without the simulator.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache

import gymnasium as gym
import numpy as np

from bolrl.envs.external import ExternalTask, TaskError, TaskSpec

PREFIX = "robomimic/"
HORIZON = 400  # robomimic's rollout horizon for Lift, Can and Square
CONTROL_FREQ = 20
INSTALL = ("the robosuite extra is not installed: pip install -e '.[robosuite]' (in its own "
           "environment: robosuite 1.5.2 needs mujoco 3.3 and numpy 1.26)")
ROBOT_KEYS = (("robot0_eef_pos", 3), ("robot0_eef_quat", 4), ("robot0_gripper_qpos", 2))
ACT_DIM = 7
POS_SCALE = 0.05  # metres per step at action 1 (robosuite's OSC output limit)


@dataclass(frozen=True)
class Layout:
    """A robomimic task as data: its robosuite environment and its observation keys."""

    task: str  # lift, can, square
    env_name: str  # robosuite's (and a robomimic dataset's env_args["env_name"])
    object_keys: tuple[str, ...]  # robosuite's observables making up robomimic's `object`
    scripted: bool  # bolrl has a scripted expert for it
    # the order robosuite 1.5 writes them in its `object-state` (a dataset recorded with it
    # holds `object` in this order; bolrl.importers puts it back in `object_keys` order)
    object_keys_15: tuple[str, ...] = ()

    @property
    def object_dim(self) -> int:
        return sum(4 if key.endswith("quat") else 3 for key in self.object_keys)

    @property
    def keys(self) -> tuple[tuple[str, int], ...]:
        return (*ROBOT_KEYS, ("object", self.object_dim))

    @property
    def obs_dim(self) -> int:
        return sum(size for _, size in self.keys)


def _object_keys(obj: str) -> tuple[str, ...]:
    return (f"{obj}_pos", f"{obj}_quat", f"{obj}_to_robot0_eef_pos", f"{obj}_to_robot0_eef_quat")


# What changes a robomimic task's episodes beyond the settings: part of a cell's identity
# (`task_version` in bolrl.identity). 2: the relative object pose of the first observation
# is read after reset (it was 0).
TASK_VERSION = 2


def _object_keys_15(obj: str) -> tuple[str, ...]:
    return (f"{obj}_to_robot0_eef_pos", f"{obj}_to_robot0_eef_quat", f"{obj}_pos", f"{obj}_quat")


# `object` in robomimic's datasets (robosuite 1.4) is position, quaternion, then the pose
# relative to the hand; robosuite 1.5's `object-state` puts the relative pose first, so the
# vector is built from the named observables in the datasets' order.
LAYOUTS = {
    "lift": Layout("lift", "Lift", ("cube_pos", "cube_quat", "gripper_to_cube_pos"), True,
                   ("cube_pos", "cube_quat", "gripper_to_cube_pos")),
    "can": Layout("can", "PickPlaceCan", _object_keys("Can"), True, _object_keys_15("Can")),
    "square": Layout("square", "NutAssemblySquare", _object_keys("SquareNut"), False,
                     _object_keys_15("SquareNut")),
}
# unitless features (quaternions, here and in the object state), for the std floor
_UNITLESS = {"lift": (3, 4, 5, 6, 12, 13, 14, 15),
             "can": (3, 4, 5, 6, 12, 13, 14, 15, 19, 20, 21, 22),
             "square": (3, 4, 5, 6, 12, 13, 14, 15, 19, 20, 21, 22)}


def is_robomimic(name: str) -> bool:
    return name.startswith(PREFIX)


def layout(name: str) -> Layout:
    """The layout of `robomimic/<task>`; a TaskError for an unknown one."""
    short = name[len(PREFIX):] if is_robomimic(name) else name
    if short not in LAYOUTS:
        raise TaskError(f"unknown robomimic task {name!r}; there are: "
                        f"{', '.join(PREFIX + k for k in LAYOUTS)}")
    return LAYOUTS[short]


def no_expert(name: str) -> str:
    """What to do for a robomimic task bolrl has no scripted expert for."""
    return (f"bolrl has no scripted expert for it: convert a robomimic dataset with `bolrl "
            f"demos import FILE.hdf5 --task {name}` and name the result as demos_file")


def available() -> bool:
    return importlib.util.find_spec("robosuite") is not None


def task_names() -> list[str]:
    """The robomimic tasks as a study names them (empty without the extra)."""
    return [PREFIX + k for k in LAYOUTS] if available() else []


def flat_obs(obs: dict, lay: Layout) -> np.ndarray:
    """robosuite's observation dict as bolrl's vector: the robot keys, then `object`."""
    parts = [obs[key] for key, _ in ROBOT_KEYS] + [obs[key] for key in lay.object_keys]
    return np.concatenate([np.asarray(p, np.float64).ravel() for p in parts])


class RobosuiteEnv(gym.Env):
    """One robomimic task on robosuite, reseeded by `reset(seed=...)`."""

    def __init__(self, lay: Layout):
        import logging

        logging.getLogger("robosuite_logs").setLevel(logging.ERROR)  # per-env chatter
        import robosuite
        from robosuite.controllers import load_composite_controller_config

        self.layout = lay
        self.env = robosuite.make(
            lay.env_name, robots="Panda",
            controller_configs=load_composite_controller_config(controller="BASIC"),
            has_renderer=False, has_offscreen_renderer=False, use_camera_obs=False,
            use_object_obs=True, reward_shaping=False, control_freq=CONTROL_FREQ,
            ignore_done=True, hard_reset=False,
            seed=0)  # the first (construction) reset too: a reset's state depends on it
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (lay.obs_dim,), np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (ACT_DIM,), np.float64)

    def reset(self, *, seed: int | None = None, options=None):
        if seed is not None:  # the samplers share this generator: reseed it in place
            fresh = np.random.default_rng(int(seed))
            self.env.rng.bit_generator.state = fresh.bit_generator.state
        self.env.reset()
        # robosuite 1.5's sensors of an object's pose relative to the hand read the hand's
        # pose from a cache that a reset fills only after them: they are 0 in reset's own
        # observation. Read them again, as a step would (and as a dataset's first step has
        # them); the state is unchanged.
        obs = self.env._get_observations(force_update=True)
        return flat_obs(obs, self.layout), {}

    def step(self, action):
        obs, _, _, info = self.env.step(np.clip(np.asarray(action, np.float64), -1.0, 1.0))
        success = bool(self.env._check_success())
        return flat_obs(obs, self.layout), float(success), False, False, {
            **info, "is_success": success}

    def mujoco(self):
        """The MuJoCo (model, data) under robosuite's wrappers (bolrl eval --video films
        them)."""
        return self.env.sim.model._model, self.env.sim.data._data

    def close(self):
        self.env.close()


class ScriptedExpert:
    """A waypoint expert over the flat observation: move above the object, descend, grasp,
    lift, and (Can) carry to the target and release. Per episode a speed (0.7-1.0 of the
    nominal gain) and a translation noise (std 0.05-0.15); per step a 2% chance of a short
    pause. The hand's orientation is held (rotation action 0)."""

    GRASP_STEPS = 8

    def __init__(self, target: np.ndarray | None, rng: np.random.Generator):
        self.target, self.rng = target, rng
        self.speed = rng.uniform(0.7, 1.0)
        self.noise = rng.uniform(0.05, 0.15)
        self.pause_prob = 0.02
        self._pause_left = 0
        self.phase, self.count = "above", 0

    def act(self, obs: np.ndarray) -> np.ndarray:
        eef, obj = obs[0:3], obs[9:12]
        grip = -1.0
        if self.phase == "above":
            goal = obj + [0.0, 0.0, 0.08]
            if np.linalg.norm((goal - eef)[:2]) < 0.01 and abs(goal[2] - eef[2]) < 0.02:
                self.phase, self.count = "descend", 0
        if self.phase == "descend":
            goal = obj + [0.0, 0.0, -0.005]
            self.count += 1
            close = np.linalg.norm((goal - eef)[:2]) < 0.02 and eef[2] - goal[2] < 0.015
            if close or self.count > 40:  # at the object, or as low as the hand gets
                self.phase, self.count = "grasp", 0
        if self.phase == "grasp":
            goal, grip = eef, 1.0
            self.count += 1
            if self.count >= self.GRASP_STEPS:
                self.phase, self.hold = "lift", eef.copy()
                self.lift_z = eef[2] + 0.15 if self.target is None else max(
                    eef[2] + 0.15, self.target[2] + 0.2)
        if self.phase == "lift":
            goal, grip = np.r_[self.hold[:2], self.lift_z], 1.0
            if self.target is not None and eef[2] > self.lift_z - 0.03:
                self.phase = "carry"
        if self.phase == "carry":
            goal, grip = np.r_[self.target[:2], self.lift_z], 1.0
            if np.linalg.norm((goal - eef)[:2]) < 0.015:
                self.phase = "lower"
        if self.phase == "lower":
            goal, grip = np.r_[self.target[:2], self.target[2] + 0.10], 1.0
            if eef[2] < self.target[2] + 0.13:
                self.phase = "release"
        if self.phase == "release":
            goal, grip = eef, -1.0
        if self._pause_left > 0:
            self._pause_left -= 1
            return np.r_[np.zeros(6), grip]
        if self.rng.random() < self.pause_prob:
            self._pause_left = int(self.rng.integers(2, 5))
        move = self.speed * (goal - eef) / POS_SCALE
        move = move + self.noise * self.rng.standard_normal(3)
        return np.clip(np.r_[move, np.zeros(3), grip], -1.0, 1.0)


class RobomimicTask(ExternalTask):
    """A robomimic task with the interface of every study task."""

    def __init__(self, spec: TaskSpec):
        self.spec = spec
        self.name = spec.name
        self.layout = layout(spec.name)
        self.description = (f"robomimic {self.layout.task} (robosuite {self.layout.env_name}, "
                            f"Panda, OSC pose deltas, {CONTROL_FREQ} Hz)")
        self._success = None
        self._expert = None
        self._factory = lambda: RobosuiteEnv(self.layout)
        self.horizon = int(spec.horizon or HORIZON)
        self.obs_dim, self.act_dim = self.layout.obs_dim, ACT_DIM
        self.unitless_features = _UNITLESS[self.layout.task]
        self.exploration_dims = (0, 1, 2)  # the hand's translation only
        # expert attempts per chunk of demonstrations: a robosuite environment takes seconds
        # to build, and the experts rarely fail (50, the default, builds 50 per chunk)
        self.demo_batch = 10
        # seconds per control step for `bolrl show`'s cost model: 25 physics substeps with
        # robosuite's controller in Python (about 20 steps/s on 0.6 of a core, measured)
        self.env_step_s = 0.03

    def expert(self, rng: np.random.Generator) -> ScriptedExpert:
        if not self.layout.scripted:
            raise TaskError(f"task {self.name!r}: {no_expert(self.name)}")
        return ScriptedExpert(_target(self.layout.task), rng)

    @property
    def cache_name(self) -> str:
        return super().cache_name.replace("robomimic_", "robomimic-", 1)


@lru_cache(maxsize=4)
def _target(task: str) -> np.ndarray | None:
    """Where the Can expert releases the can: the centre of its slot in the target bin,
    just above the bin's floor (None for tasks without a place step)."""
    if task != "can":
        return None
    env = RobosuiteEnv(LAYOUTS[task]).env
    env.reset()
    slot = np.asarray(env.target_bin_placements[env.object_to_id["can"]], np.float64)
    env.close()
    return slot


@lru_cache(maxsize=16)
def task(spec: TaskSpec) -> RobomimicTask:
    """The task a study names `robomimic/<task>`; a TaskError says what is missing."""
    layout(spec.name)
    if not available():
        raise TaskError(f"task {spec.name!r}: {INSTALL}")
    if spec.expert or spec.success or spec.imports:
        raise TaskError(f"task {spec.name!r}: a robomimic task brings its own expert and "
                        f"success test; only horizon and demos_file may be set for it")
    return RobomimicTask(spec)


def check(spec: TaskSpec, task: RobomimicTask) -> str | None:
    """Square has no scripted expert: a study must name imported demonstrations for it."""
    if not task.layout.scripted and not spec.demos_file:
        return no_expert(spec.name)
    return None
