"""A worked example of bringing your own task to bolrl: a small Gymnasium environment.

A point in the plane must reach a goal; it moves by bounded velocity commands. The
environment reports success as info["is_success"], the convention bolrl reads. The expert
is a callable from one observation to one action, with a little noise to make its
demonstrations less perfect than a script.
"""

import gymnasium as gym
import numpy as np


class Reach(gym.Env):
    """Observation: point x, y and goal x, y. Action: velocity dx, dy in [-0.05, 0.05].
    Success: the point is within 3 cm of the goal."""

    def __init__(self):
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
        self.action_space = gym.spaces.Box(-0.05, 0.05, (2,), np.float32)

    def _obs(self):
        return np.r_[self.point, self.goal].astype(np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.point = self.np_random.uniform(-0.8, 0.8, 2)
        self.goal = self.np_random.uniform(-0.8, 0.8, 2)
        return self._obs(), {}

    def step(self, action):
        self.point = np.clip(self.point + np.clip(action, -0.05, 0.05), -1.0, 1.0)
        success = bool(np.linalg.norm(self.point - self.goal) < 0.03)
        return self._obs(), float(success), success, False, {"is_success": success}


def make_env() -> gym.Env:
    return gym.wrappers.TimeLimit(Reach(), max_episode_steps=60)


_rng = np.random.default_rng(0)


def expert(obs: np.ndarray) -> np.ndarray:
    """Head for the goal at a steady speed, with a little noise."""
    direction = obs[2:] - obs[:2]
    step = direction / max(np.linalg.norm(direction), 1e-6) * 0.04
    return np.clip(step + _rng.normal(0, 0.01, 2), -0.05, 0.05)
