"""`nut-assembly`: put a square nut over a square peg (stand-in for robomimic NutAssemblySquare).

The nut is a square ring (hole 4 x 4 cm) with a handle; the peg is 3 x 3 cm and 7 cm tall, so
the nut goes over it only with its yaw within about 20 degrees of the peg's (modulo a quarter
turn) and its centre within about 5 mm: it needs yaw alignment and precision.

Observation (21 floats):
  [0:3]   gripper frame (fingertips) position, m
  [3:5]   sin, cos of gripper yaw
  [5]     jaw opening, m
  [6:9]   nut (ring) centre position, m
  [9:12]  handle centre minus gripper position, m
  [12:14] sin, cos of 2 x (nut yaw - gripper yaw): handle alignment (the jaws are symmetric
          under a half turn)
  [14:16] sin, cos of 4 x nut yaw: ring alignment with the peg (quarter-turn symmetric)
  [16:19] peg top centre minus nut centre, m
  [19]    nut height above its resting height, m
  [20]    nut tilt: 1 - (z axis of the nut)_z, 0 when flat
Success: the nut's centre is within 1.2 cm of the peg's axis and below 3 cm (it sits around the
peg) (reward 1, episode ends).
Reset: nut flat, centre uniform in x [-0.16, -0.06], y [-0.12, 0.08], yaw uniform; the peg is
fixed at x = 0.1, y = 0.05.
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

HOLE = 0.02  # half size of the square hole
RING = 0.012  # ring wall thickness
THICK = 0.008  # half thickness of the nut
HANDLE_LEN = 0.025  # half length of the handle
HANDLE_AT = HOLE + RING + HANDLE_LEN  # handle centre, in the nut frame along x
PEG = np.array([0.1, 0.05])
PEG_HALF = 0.015
PEG_HEIGHT = 0.07


def _nut_geoms() -> str:
    out = HOLE + RING
    specs = [
        ((HOLE + RING / 2, 0), (RING / 2, out)),
        ((-HOLE - RING / 2, 0), (RING / 2, out)),
        ((0, HOLE + RING / 2), (HOLE, RING / 2)),
        ((0, -HOLE - RING / 2), (HOLE, RING / 2)),
        ((HANDLE_AT, 0), (HANDLE_LEN, 0.008)),
    ]
    return "".join(
        f'<geom type="box" size="{s[0]} {s[1]} {THICK}" pos="{p[0]} {p[1]} 0" mass="0.006" '
        f'rgba=".6 .4 .2 1"/>'
        for p, s in specs
    )


def _quat_rotate_x(quat: np.ndarray) -> np.ndarray:
    """The body x axis of wxyz quaternions (B, 4) -> (B, 3)."""
    w, x, y, z = quat.T
    return np.column_stack([1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y)])


def _quat_axis_z(quat: np.ndarray) -> np.ndarray:
    w, x, y, z = quat.T
    return np.column_stack([2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)])


def handle_position(qpos: np.ndarray) -> np.ndarray:
    """World position of the handle centre, (B, nq) -> (B, 3)."""
    return qpos[:, 6:9] + HANDLE_AT * _quat_rotate_x(qpos[:, 9:13])


class NutAssembly(Task):
    name = "nut-assembly"
    gym_id = "bolrl/NutAssembly-v0"
    description = "put a square nut over a square peg"
    horizon = 150
    obs_dim = 21
    unitless_features = (3, 4, 12, 13, 14, 15, 20)
    objects_xml = f"""
    <geom name="peg" type="box" size="{PEG_HALF} {PEG_HALF} {PEG_HEIGHT / 2}"
          pos="{PEG[0]} {PEG[1]} {PEG_HEIGHT / 2}" rgba=".5 .5 .5 1"/>
    <body name="nut" pos="0 0 {THICK}">
      <freejoint name="nut"/>
      {_nut_geoms()}
    </body>"""

    def sample_object(self, rng: np.random.Generator) -> np.ndarray:
        xy = np.array([rng.uniform(-0.16, -0.06), rng.uniform(-0.12, 0.08)])
        return np.r_[xy, THICK, scene.quat_of_yaw(rng.uniform(-np.pi, np.pi))]

    def observe(self, qpos: np.ndarray) -> np.ndarray:
        nut = qpos[:, 6:9]
        nut_yaw = scene.yaw_of_quat(qpos[:, 9:13])
        rel = nut_yaw - qpos[:, 3]
        to_peg = np.column_stack([PEG[0] - nut[:, 0], PEG[1] - nut[:, 1], PEG_HEIGHT - nut[:, 2]])
        return np.column_stack(
            [
                gripper_features(qpos),
                nut,
                handle_position(qpos) - qpos[:, 0:3],
                np.sin(2 * rel),
                np.cos(2 * rel),
                np.sin(4 * nut_yaw),
                np.cos(4 * nut_yaw),
                to_peg,
                nut[:, 2] - THICK,
                1.0 - _quat_axis_z(qpos[:, 9:13])[:, 2],
            ]
        ).astype(np.float32)

    def success(self, qpos: np.ndarray) -> np.ndarray:
        near = np.linalg.norm(qpos[:, 6:8] - PEG, axis=1) < 0.012
        return near & (qpos[:, 8] < 0.03)

    # the multimodal style's two strategies: turn the nut by 0 or a quarter turn before putting
    # it over the peg (the square peg takes either); half-way (pi / 4) it does not fit.
    # Measured (50 episodes each): either strategy 100%, half-way 0%
    STRATEGIES = (0.0, np.pi / 2)
    STRATEGY_ODDS = {"scripted": ((0.0, np.pi / 2, -np.pi / 2), (0.6, 0.2, 0.2)),
                     "multimodal": (STRATEGIES, (0.5, 0.5))}
    styles = ("scripted", "multimodal")

    def expert(self, rng: np.random.Generator, style: str = "scripted",
               strategy: float | None = None) -> WaypointExpert:
        offset = rng.normal(0.0, 0.003)  # along the handle
        grasp_z = rng.uniform(-0.003, 0.002)  # jaw tips on the table: a deep grasp
        carry_z = rng.uniform(0.11, 0.14)
        # Which of the two jaw orientations grasps the handle, and which quarter turn of the
        # ring is aligned with the peg: per-episode choices that make the demos multimodal.
        half_turn = float(rng.choice([0.0, np.pi], p=[0.5, 0.5]))
        quarter = self.choose_strategy(rng, style, strategy)
        grasp = {}

        def grasp_point(q):
            return handle_position(q[None])[0, 0:2] + offset * _quat_rotate_x(q[None, 9:13])[0, :2]

        def handle_yaw(q):
            nut_yaw = float(scene.yaw_of_quat(q[9:13]))
            return nearest_equivalent_yaw(q[3], nut_yaw + half_turn, np.pi)

        def above_handle(q):
            return np.r_[grasp_point(q), 0.06], handle_yaw(q)

        def at_handle(q):
            return np.r_[grasp_point(q), grasp_z], handle_yaw(q)

        def lifted(q):
            return np.r_[q[0:2], carry_z], q[3]

        def aligned_yaw(q):
            if "yaw" not in grasp:  # fixed once, so the target does not chase the nut
                nut_yaw = float(scene.yaw_of_quat(q[9:13]))
                grasp["yaw"] = q[3] + float(scene.wrap(-nut_yaw, np.pi / 2)) + quarter
            return grasp["yaw"]

        def in_hand(q):
            grasp.pop("yaw", None)
            return q[8] > 0.05

        def turned(q):
            return np.r_[q[0:2], carry_z], aligned_yaw(q)

        def over_peg(q):
            return np.r_[q[0:2] + PEG - q[6:8], carry_z], aligned_yaw(q)

        def lowering(height):
            def target(q):
                return np.r_[q[0:2] + PEG - q[6:8], height], aligned_yaw(q)

            return target

        waypoints = [
            Waypoint(above_handle, -1.0, tol=0.008),
            Waypoint(at_handle, -1.0, tol=0.003),
            Waypoint(stay, 1.0, tol=1.0, hold=5, check_yaw=False),
            Waypoint(lifted, 1.0, tol=0.015, check_yaw=False, verify=in_hand),
            Waypoint(turned, 1.0, tol=0.03),
            Waypoint(over_peg, 1.0, tol=0.003),
            Waypoint(lowering(0.085), 1.0, tol=0.002),
            Waypoint(lowering(0.03), 1.0, tol=0.004),
            Waypoint(stay, -1.0, tol=1.0, hold=6, check_yaw=False),
        ]
        return WaypointExpert(waypoints, rng, **expert_variability(rng))
