"""Each embedded task as a Gymnasium environment (`bolrl/Lift-v0`, ...).

One `MjData`, the same physics and task functions as `BatchedEnv`. The horizon is applied by
Gymnasium's TimeLimit wrapper (`max_episode_steps` at registration); the episode terminates on
success with reward 1, and `info["is_success"]` reports success (the Gymnasium-Robotics
convention).
"""

from __future__ import annotations

import gymnasium as gym
import mujoco
import numpy as np

from bolrl.envs import scene
from bolrl.envs.batched import reset_data, step_data
from bolrl.envs.task import Task


class TaskEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, task: str):
        from bolrl.envs import TASKS

        self.task: Task = TASKS[task]
        self.model = mujoco.MjModel.from_xml_string(self.task.xml())
        self.data = mujoco.MjData(self.model)
        self.observation_space = gym.spaces.Box(
            -10.0, 10.0, shape=(self.task.obs_dim,), dtype=np.float32
        )
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(scene.ACT_DIM,), dtype=np.float32)

    def _obs(self) -> np.ndarray:
        return self.task.observe(self.data.qpos[None])[0]

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        reset_data(self.model, self.data, self.task.init_qpos(self.np_random))
        return self._obs(), {"is_success": False}

    def step(self, action):
        qpos = self.data.qpos[None].copy()
        ctrl = scene.action_to_ctrl(qpos, np.asarray(action, dtype=np.float64)[None])[0]
        step_data(self.model, self.data, ctrl)
        success = bool(self.task.success(self.data.qpos[None])[0])
        return self._obs(), float(success), success, False, {"is_success": success}


def register_all() -> None:
    """Register every embedded task with Gymnasium (idempotent)."""
    from bolrl.envs import TASKS

    for name, task in TASKS.items():
        if task.gym_id not in gym.registry:
            gym.register(
                id=task.gym_id,
                entry_point="bolrl.envs.gym_env:TaskEnv",
                kwargs={"task": name},
                max_episode_steps=task.horizon,
            )
