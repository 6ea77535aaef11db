"""`lift`: grasp a cube at a random position and yaw and raise it (stand-in for robomimic Lift).

Observation (19 floats):
  [0:3]   gripper frame (fingertips) position, m
  [3:5]   sin, cos of gripper yaw
  [5]     jaw opening (sum of both jaws), m
  [6:9]   cube centre position, m
  [9:12]  cube centre minus gripper position, m
  [12:16] cube orientation quaternion (w, x, y, z)
  [16:18] sin, cos of 4 x (cube yaw - gripper yaw): grasp alignment, the cube being
          symmetric under quarter turns
  [18]    cube height above its resting height, m
Success: the cube's centre is at least 8 cm above its resting height (reward 1, episode ends).
Reset: cube centre uniform in [-0.12, 0.12]^2 on the table, yaw uniform; gripper above the
table centre with a little jitter.
"""

from __future__ import annotations

import numpy as np

from bolrl.envs import scene
from bolrl.envs.task import (
    Task,
    Waypoint,
    WaypointExpert,
    expert_variability,
    gripper_features,
    nearest_equivalent_yaw,
    stay,
)

HALF = 0.02
LIFT_HEIGHT = 0.08


class Lift(Task):
    name = "lift"
    gym_id = "bolrl/Lift-v0"
    description = "grasp a cube and raise it 8 cm"
    horizon = 80
    obs_dim = 19
    unitless_features = (3, 4, 12, 13, 14, 15, 16, 17)
    objects_xml = f"""
    <body name="cube" pos="0 0 {HALF}">
      <freejoint name="cube"/>
      <geom name="cube" type="box" size="{HALF} {HALF} {HALF}" mass="0.05" rgba=".8 .1 .1 1"/>
    </body>"""

    def sample_object(self, rng: np.random.Generator) -> np.ndarray:
        xy = rng.uniform(-0.12, 0.12, 2)
        return np.r_[xy, HALF, scene.quat_of_yaw(rng.uniform(-np.pi, np.pi))]

    def observe(self, qpos: np.ndarray) -> np.ndarray:
        cube = qpos[:, 6:9]
        rel_yaw = scene.yaw_of_quat(qpos[:, 9:13]) - qpos[:, 3]
        return np.column_stack(
            [
                gripper_features(qpos),
                cube,
                cube - qpos[:, 0:3],
                qpos[:, 9:13],
                np.sin(4 * rel_yaw),
                np.cos(4 * rel_yaw),
                cube[:, 2] - HALF,
            ]
        ).astype(np.float32)

    def success(self, qpos: np.ndarray) -> np.ndarray:
        return qpos[:, 8] - HALF >= LIFT_HEIGHT

    # the multimodal style's two strategies: the jaws across one pair of faces or the other,
    # opened only as wide as a person would (OPEN_GRIP: 4.7 cm between the jaws for a 4 cm
    # cube); half-way (pi / 4) the cube's diagonal (5.7 cm) does not fit between them. Measured
    # (50 episodes each): either strategy 100%, half-way 8%
    STRATEGIES = (0.0, np.pi / 2)
    STRATEGY_ODDS = {"scripted": (STRATEGIES, (0.6, 0.4)), "multimodal": (STRATEGIES, (0.5, 0.5))}
    OPEN_GRIP = -0.34
    styles = ("scripted", "multimodal")

    def expert(self, rng: np.random.Generator, style: str = "scripted",
               strategy: float | None = None) -> WaypointExpert:
        # Two distinct grasps (jaws across either pair of faces), 60 / 40 when scripted, with
        # equal odds when multimodal.
        quarter = self.choose_strategy(rng, style, strategy)
        open_grip = -1.0 if style == "scripted" else self.OPEN_GRIP
        offset = rng.normal(0.0, 0.003, 2)
        grasp_z = rng.uniform(0.004, 0.012)

        def grasp_yaw(q: np.ndarray) -> float:
            cube_yaw = float(scene.yaw_of_quat(q[9:13]))
            return nearest_equivalent_yaw(q[3], cube_yaw + quarter, np.pi)

        def above(q):
            return np.r_[q[6:8] + offset, rng_z_above], grasp_yaw(q)

        def at_cube(q):
            return np.r_[q[6:8] + offset, grasp_z], grasp_yaw(q)

        def raised(q):
            return np.r_[q[0:2], 0.17], q[3]

        rng_z_above = rng.uniform(0.06, 0.09)
        waypoints = [
            Waypoint(above, open_grip, tol=0.008),
            Waypoint(at_cube, open_grip),
            Waypoint(stay, 1.0, tol=1.0, hold=4, check_yaw=False),
        ]
        if rng.random() < 0.1:  # an occasional regrasp: let go, back off, grasp again
            waypoints += [
                Waypoint(lambda q: (np.r_[q[0:2], 0.05], q[3]), open_grip, tol=0.008),
                Waypoint(at_cube, open_grip),
                Waypoint(stay, 1.0, tol=1.0, hold=4, check_yaw=False),
            ]
        waypoints.append(Waypoint(raised, 1.0, tol=0.01, check_yaw=False))  # success on the way
        return WaypointExpert(waypoints, rng, **expert_variability(rng))
