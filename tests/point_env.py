"""A small Gymnasium environment defined outside bolrl, for the bring-your-own-task tests:
a point in the plane moved by bounded velocity commands towards a goal."""

import gymnasium as gym
import numpy as np


class PointReach(gym.Env):
    def __init__(self, success_in_info: bool = True, discrete: bool = False):
        self.observation_space = gym.spaces.Box(-2.0, 2.0, (4,), np.float32)
        if discrete:
            self.action_space = gym.spaces.Discrete(4)
        else:
            self.action_space = gym.spaces.Box(-0.1, 0.1, (2,), np.float32)
        self.success_in_info = success_in_info

    def _obs(self):
        return np.r_[self.pos, self.goal].astype(np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = self.np_random.uniform(-1, 1, 2)
        self.goal = self.np_random.uniform(-1, 1, 2)
        return self._obs(), {}

    def step(self, action):
        self.pos = np.clip(self.pos + np.clip(action, -0.1, 0.1), -1.5, 1.5)
        distance = float(np.linalg.norm(self.pos - self.goal))
        info = {"is_success": distance < 0.05} if self.success_in_info else {}
        return self._obs(), -distance, False, False, info


def make_env():
    return PointReach()


def make_env_without_success():
    return PointReach(success_in_info=False)


def make_env_discrete():
    return PointReach(discrete=True)


def close_to_goal(obs, info):
    return bool(np.linalg.norm(obs[:2] - obs[2:]) < 0.05)


def expert(obs):
    return np.clip(obs[2:] - obs[:2], -0.1, 0.1)


class GoalPointReach(PointReach):
    """The same task with a Gymnasium-Robotics style Dict observation."""

    def __init__(self):
        super().__init__(success_in_info=False)
        box = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)
        self.observation_space = gym.spaces.Dict(
            {"observation": box, "achieved_goal": box, "desired_goal": box})

    def _obs(self):
        pos, goal = self.pos.astype(np.float32), self.goal.astype(np.float32)
        return {"observation": pos, "achieved_goal": pos, "desired_goal": goal}


def make_goal_env():
    return GoalPointReach()


def goal_expert(obs):  # written the natural way, against the environment's own observation
    return np.clip(obs["desired_goal"] - obs["observation"], -0.1, 0.1)


def goal_reached(obs, info):
    return bool(np.linalg.norm(obs["achieved_goal"] - obs["desired_goal"]) < 0.05)


gym.register("PointReach-v0", entry_point=PointReach, max_episode_steps=40)


class PointReachInfo(PointReach):
    """The point task as Gymnasium-Robotics writes its tasks: `is_success` in every info (the
    reset's too), running on to the time limit after success."""

    def reset(self, *, seed=None, options=None):
        obs, _ = super().reset(seed=seed, options=options)
        return obs, {"is_success": False}


class PointFalls(gym.Env):
    """A point pushed away from the origin that terminates when it leaves the box: its
    terminations are failures, and its infos say nothing of success."""

    observation_space = gym.spaces.Box(-2.0, 2.0, (4,), np.float32)
    action_space = gym.spaces.Box(-0.1, 0.1, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = self.np_random.uniform(-0.5, 0.5, 2)
        return np.r_[self.pos, 0, 0].astype(np.float32), {}

    def step(self, action):
        self.pos = self.pos + 0.2 * self.pos + np.clip(action, -0.1, 0.1)
        fell = bool(np.abs(self.pos).max() > 1.2)
        return np.r_[self.pos, 0, 0].astype(np.float32), -1.0 * fell, fell, False, {}


class MujocoPointReach(PointReach):
    """The same task with its point as a MuJoCo body (two slide joints), exposing `model` and
    `data` as Gymnasium's MuJoCo environments do: what `bolrl eval --video` films. Its goal
    marker is a fixed body moved on the model at each reset, as Meta-World moves its goals."""

    XML = """<mujoco><worldbody><light pos="0 0 3"/><geom type="plane" size="2 2 .1"/>
      <body name="point" pos="0 0 .05"><joint name="x" type="slide" axis="1 0 0"/>
      <joint name="y" type="slide" axis="0 1 0"/><geom type="sphere" size=".05"/></body>
      <body name="goal" pos="0 0 .01"><geom type="box" size=".03 .03 .01"/></body>
      </worldbody></mujoco>"""

    def reset(self, *, seed=None, options=None):
        out = super().reset(seed=seed, options=options)
        self.model.body("goal").pos[:2] = self.goal
        return out

    def __init__(self):
        import mujoco

        super().__init__()
        self.model = mujoco.MjModel.from_xml_string(self.XML)
        self.data = mujoco.MjData(self.model)

    def _obs(self):
        import mujoco

        self.data.qpos[:] = self.pos
        mujoco.mj_forward(self.model, self.data)
        return super()._obs()


def make_mujoco_env():
    return MujocoPointReach()
