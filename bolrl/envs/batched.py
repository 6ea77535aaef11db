"""A batch of environments of one task: many `MjData` of one `MjModel`, stepped in C.

Per control step and environment, Python sets six actuator targets and calls
`mj_step(model, data, nstep=SUBSTEPS)`; observations, rewards and success are computed for the
whole batch at once from the stacked qpos. Finished episodes (success or the horizon) are reset
in the same call ("same-step" autoreset): the returned observation of such a row is the first
of its new episode, and `final_obs` holds the true last observation of the one that ended.

Each environment draws its reset states from its own generator, `np.random.default_rng(s)` for
its seed s: the generator Gymnasium's `reset(seed=s)` makes, so a batch reproduces single
Gymnasium environments seeded the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import mujoco
import numpy as np

from bolrl.envs import scene

if TYPE_CHECKING:  # task.py makes batches of this class: no import cycle at run time
    from bolrl.envs.task import Task


def env_seeds(seed: int, n: int, stream: int = 0) -> list[int]:
    """`n` independent environment seeds derived from one seed (and a stream number, so that
    e.g. collection and evaluation of the same round draw different episodes)."""
    return [int(s) for s in np.random.SeedSequence([seed, stream]).generate_state(n)]


def reset_data(model: mujoco.MjModel, data: mujoco.MjData, qpos: np.ndarray) -> None:
    """Put `data` at rest in state `qpos`, actuators holding the gripper where it is."""
    mujoco.mj_resetData(model, data)
    data.qpos[:] = qpos
    data.ctrl[:] = qpos[0:6]
    mujoco.mj_forward(model, data)


def step_data(model: mujoco.MjModel, data: mujoco.MjData, ctrl: np.ndarray) -> None:
    """One control step: set the actuator targets, run the physics substeps in C."""
    data.ctrl[:] = ctrl
    mujoco.mj_step(model, data, nstep=scene.SUBSTEPS)


@dataclass
class StepResult:
    obs: np.ndarray  # (B, obs_dim) float32; first obs of a new episode where done
    reward: np.ndarray  # (B,) float32: 1 on the success step, else 0
    terminated: np.ndarray  # (B,) bool: success reached (the task ends on success)
    truncated: np.ndarray  # (B,) bool: horizon reached without success
    final_obs: np.ndarray  # (B, obs_dim) float32: the observation after this step's action


class BatchedEnv:
    """One environment of `task` per seed in `seeds`, reset on construction."""

    def __init__(self, task: Task, seeds: list[int]):
        if len(seeds) == 0:
            raise ValueError("a batch needs at least one environment seed")
        self.task = task
        self.n = n = len(seeds)
        self.model = mujoco.MjModel.from_xml_string(task.xml())
        self.datas = [mujoco.MjData(self.model) for _ in range(n)]
        self.rngs = [np.random.default_rng(s) for s in seeds]
        self.t = np.zeros(n, dtype=np.int64)
        self.qpos = np.zeros((n, self.model.nq))
        for i in range(n):
            self._reset_one(i)

    def _reset_one(self, i: int) -> None:
        reset_data(self.model, self.datas[i], self.task.init_qpos(self.rngs[i]))
        self.qpos[i] = self.datas[i].qpos
        self.t[i] = 0

    @property
    def state(self) -> np.ndarray:
        """What scripted experts act on: the MuJoCo qpos of each environment."""
        return self.qpos

    def observe(self) -> np.ndarray:
        return self.task.observe(self.qpos)

    def step(self, actions: np.ndarray, active: np.ndarray | None = None) -> StepResult:
        """Step every environment, or only the rows where `active` (bool, (B,)) is true; the
        others are left as they are and reported neither terminated nor truncated."""
        active = np.ones(self.n, dtype=bool) if active is None else np.asarray(active, bool)
        ctrl = scene.action_to_ctrl(self.qpos, np.asarray(actions, dtype=np.float64))
        for i in np.flatnonzero(active):
            step_data(self.model, self.datas[i], ctrl[i])
            self.qpos[i] = self.datas[i].qpos
        self.t += active
        final_obs = self.task.observe(self.qpos)
        terminated = self.task.success(self.qpos) & active
        truncated = (self.t >= self.task.horizon) & ~terminated & active
        obs = final_obs.copy()
        for i in np.flatnonzero(terminated | truncated):
            self._reset_one(i)
            obs[i] = self.task.observe(self.qpos[i : i + 1])[0]
        return StepResult(obs, terminated.astype(np.float32), terminated, truncated, final_obs)

    def close(self) -> None:
        """Nothing to release: the batch lives in this process."""
