"""The shared scene of every embedded task: a table and a floating parallel-jaw gripper.

The gripper frame sits at the fingertips. Its degrees of freedom are slide joints along world
x, y, z, a yaw hinge, and two finger slides (one per jaw, the opening of each jaw measured from
the centre line). All are driven by position actuators; the gripper body is gravity
compensated, so a position target is held without drift.

qpos layout shared by all tasks: [0:3] gripper x, y, z (m); [3] gripper yaw (rad);
[4:6] left and right jaw openings (m); [6:13] the task object's free joint (pos, quat wxyz).

Action (5-D, each in [-1, 1]), a delta end-effector command in the spirit of robomimic's OSC:
[dx, dy, dz] x MAX_DPOS metres, dyaw x MAX_DYAW radians, relative to the current pose;
grip: -1 fully open, +1 fully closed (squeezing).
"""

from __future__ import annotations

import numpy as np

CONTROL_HZ = 20
TIMESTEP = 0.0025
SUBSTEPS = round(1.0 / (CONTROL_HZ * TIMESTEP))  # 20 physics steps per control step
MAX_DPOS = 0.02
MAX_DYAW = 0.15
JAW_OPEN = 0.04
JAW_SQUEEZE = -0.01  # a target past closed, so closed jaws press on what they hold
WORKSPACE_LOW = np.array([-0.3, -0.3, 0.0])
WORKSPACE_HIGH = np.array([0.3, 0.3, 0.3])
ACT_DIM = 5
OBJECT_QPOS = slice(6, 13)

_GRIPPER = """
    <body name="gripper" gravcomp="1">
      <joint name="gx" type="slide" axis="1 0 0" range="-0.35 0.35"/>
      <joint name="gy" type="slide" axis="0 1 0" range="-0.35 0.35"/>
      <joint name="gz" type="slide" axis="0 0 1" range="-0.01 0.4"/>
      <joint name="gyaw" type="hinge" axis="0 0 1" range="-50 50"/>
      <geom name="palm" type="box" size="0.012 0.056 0.01" pos="0 0 0.07" mass="0.6"
            rgba=".3 .3 .35 1"/>
      <body name="jaw_l" gravcomp="1">
        <joint name="jaw_l" type="slide" axis="0 1 0" range="0 0.045"/>
        <geom name="jaw_l" type="box" size="0.01 0.005 0.03" pos="0 0.005 0.03" mass="0.05"
              friction="1.5 0.02 0.0005" rgba=".2 .2 .2 1"/>
      </body>
      <body name="jaw_r" gravcomp="1">
        <joint name="jaw_r" type="slide" axis="0 -1 0" range="0 0.045"/>
        <geom name="jaw_r" type="box" size="0.01 0.005 0.03" pos="0 -0.005 0.03" mass="0.05"
              friction="1.5 0.02 0.0005" rgba=".2 .2 .2 1"/>
      </body>
    </body>
"""

_ACTUATORS = """
  <actuator>
    <position joint="gx" kp="4000" kv="120"/>
    <position joint="gy" kp="4000" kv="120"/>
    <position joint="gz" kp="4000" kv="120"/>
    <position joint="gyaw" kp="40" kv="1.5"/>
    <position joint="jaw_l" kp="1000" kv="20" ctrlrange="-0.01 0.045"/>
    <position joint="jaw_r" kp="1000" kv="20" ctrlrange="-0.01 0.045"/>
  </actuator>
"""


def scene_xml(name: str, objects: str) -> str:
    """The MJCF of a task: table, gripper, and the task's own bodies (`objects`).

    Contacts use an elliptic friction cone with impratio 10 and torsional friction (condim 4):
    with MuJoCo's default pyramidal cone, grasped objects slip out during a carry.
    """
    return f"""
<mujoco model="{name}">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{TIMESTEP}" integrator="implicitfast" cone="elliptic" impratio="10"/>
  <default>
    <geom condim="4" friction="1.2 0.01 0.0002" solref="0.01 1"/>
  </default>
  <worldbody>
    <light pos="0 0 1.5" dir="0 0 -1"/>
    <geom name="table" type="box" size="0.5 0.5 0.02" pos="0 0 -0.02" rgba=".8 .7 .6 1"/>
{_GRIPPER}
{objects}
  </worldbody>
{_ACTUATORS}
</mujoco>
"""


def action_to_ctrl(qpos: np.ndarray, action: np.ndarray) -> np.ndarray:
    """Position-actuator targets for a batch of actions. qpos (B, nq), action (B, 5) -> (B, 6)."""
    a = np.clip(action, -1.0, 1.0)
    ctrl = np.empty((a.shape[0], 6))
    ctrl[:, 0:3] = np.clip(qpos[:, 0:3] + MAX_DPOS * a[:, 0:3], WORKSPACE_LOW, WORKSPACE_HIGH)
    ctrl[:, 3] = qpos[:, 3] + MAX_DYAW * a[:, 3]
    jaw = 0.5 * (JAW_OPEN + JAW_SQUEEZE) - 0.5 * (JAW_OPEN - JAW_SQUEEZE) * a[:, 4]
    ctrl[:, 4] = jaw
    ctrl[:, 5] = jaw
    return ctrl


def yaw_of_quat(quat: np.ndarray) -> np.ndarray:
    """Yaw (rotation about world z) of wxyz quaternions, shape (..., 4) -> (...)."""
    w, x, y, z = quat[..., 0], quat[..., 1], quat[..., 2], quat[..., 3]
    return np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def quat_of_yaw(yaw: float) -> np.ndarray:
    return np.array([np.cos(yaw / 2.0), 0.0, 0.0, np.sin(yaw / 2.0)])


def wrap(angle: np.ndarray | float, period: float = 2 * np.pi) -> np.ndarray | float:
    """Angle wrapped into [-period/2, period/2)."""
    return (angle + period / 2.0) % period - period / 2.0


def gripper_init_qpos(rng: np.random.Generator) -> np.ndarray:
    """The gripper's reset pose: above the table centre, with a little seeded jitter."""
    xyz = np.array([0.0, 0.0, 0.15]) + rng.uniform(-0.02, 0.02, 3)
    yaw = rng.uniform(-0.2, 0.2)
    return np.r_[xyz, yaw, JAW_OPEN, JAW_OPEN]
