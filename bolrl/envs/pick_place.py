"""`pick-place`: carry a can into a bin (stand-in for robomimic PickPlaceCan).

Observation (20 floats):
  [0:3]   gripper frame (fingertips) position, m
  [3:5]   sin, cos of gripper yaw
  [5]     jaw opening, m
  [6:9]   can centre position, m
  [9:12]  can centre minus gripper position, m
  [12:16] can orientation quaternion (w, x, y, z)
  [16:19] bin centre minus can centre, m
  [19]    can height above its resting height, m
Success: the can's centre is inside the bin's inner walls (in x and y, with the can's radius
inside) and below 6 cm: the can is in the bin (reward 1, episode ends).
Reset: can upright, centre uniform in x [-0.18, -0.06], y [-0.12, 0.12]; the bin is fixed
at x = 0.12, y = 0, inner size 12 x 12 cm, walls 4 cm high.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bolrl.envs import scene
from bolrl.envs.task import (
    Task,
    Waypoint,
    WaypointExpert,
    expert_variability,
    gripper_features,
    stay,
)

RADIUS = 0.022
HALF_HEIGHT = 0.04
BIN = np.array([0.12, 0.0])
BIN_INNER = 0.06
WALL = 0.04
# A route choice: the y (m) at which the can crosses x = 0, as a function of qpos.
Route = Callable[[np.ndarray], float]


def _bin_xml() -> str:
    t = 0.005
    walls = []
    for name, pos, size in [
        ("px", (BIN_INNER + t, 0), (t, BIN_INNER + 2 * t)),
        ("nx", (-BIN_INNER - t, 0), (t, BIN_INNER + 2 * t)),
        ("py", (0, BIN_INNER + t), (BIN_INNER, t)),
        ("ny", (0, -BIN_INNER - t), (BIN_INNER, t)),
    ]:
        walls.append(
            f'<geom name="bin_{name}" type="box" size="{size[0]} {size[1]} {WALL / 2}" '
            f'pos="{pos[0]} {pos[1]} {WALL / 2}" rgba=".4 .5 .7 1"/>'
        )
    return f'<body name="bin" pos="{BIN[0]} {BIN[1]} 0">{"".join(walls)}</body>'


class PickPlace(Task):
    name = "pick-place"
    gym_id = "bolrl/PickPlace-v0"
    description = "carry a can into a bin"
    horizon = 120
    obs_dim = 20
    unitless_features = (3, 4, 12, 13, 14, 15)
    objects_xml = f"""
    {_bin_xml()}
    <body name="can" pos="0 0 {HALF_HEIGHT}">
      <freejoint name="can"/>
      <geom name="can" type="cylinder" size="{RADIUS} {HALF_HEIGHT}" mass="0.06"
            rgba=".9 .8 .1 1"/>
    </body>"""

    def sample_object(self, rng: np.random.Generator) -> np.ndarray:
        xy = np.array([rng.uniform(-0.18, -0.06), rng.uniform(-0.12, 0.12)])
        return np.r_[xy, HALF_HEIGHT, scene.quat_of_yaw(rng.uniform(-np.pi, np.pi))]

    def observe(self, qpos: np.ndarray) -> np.ndarray:
        can = qpos[:, 6:9]
        to_bin = np.column_stack([BIN[0] - can[:, 0], BIN[1] - can[:, 1], -can[:, 2]])
        return np.column_stack(
            [
                gripper_features(qpos),
                can,
                can - qpos[:, 0:3],
                qpos[:, 9:13],
                to_bin,
                can[:, 2] - HALF_HEIGHT,
            ]
        ).astype(np.float32)

    def success(self, qpos: np.ndarray) -> np.ndarray:
        inside = np.abs(qpos[:, 6:8] - BIN).max(axis=1) < BIN_INNER - RADIUS + 0.005
        return inside & (qpos[:, 8] < 0.06)

    def expert(self, rng: np.random.Generator) -> WaypointExpert:
        return WaypointExpert(self.waypoints(rng), rng, **expert_variability(rng))

    def waypoints(self, rng: np.random.Generator,
                  detour: Callable[[np.random.Generator], Route] | None = None
                  ) -> list[Waypoint]:
        """One episode's waypoints: grasp the can, (rise,) carry it over the bin, lower, let go.
        `detour` (a variant's route choice, drawn after this expert's own draws) gives the y,
        as a function of qpos, at which the can crosses x = 0 on its way; without it the can
        goes straight to the bin."""
        offset = rng.normal(0.0, 0.003, 2)
        grasp_z = rng.uniform(0.015, 0.03)
        carry_z = rng.uniform(0.11, 0.16)
        # Where in the bin to put the can, and whether to rise before crossing: two route modes.
        drop = BIN + rng.uniform(-0.025, 0.025, 2)
        rise_first = rng.random() < 0.5
        yaw0 = rng.uniform(-0.6, 0.6)
        via_y = None if detour is None else detour(rng)

        def above_can(q):
            return np.r_[q[6:8] + offset, grasp_z + 0.1], yaw0

        def at_can(q):
            return np.r_[q[6:8] + offset, grasp_z], yaw0

        def lifted(q):
            return np.r_[q[0:2], carry_z], q[3]

        def via(q):
            return np.r_[q[0:2] + np.r_[0.0, via_y(q)] - q[6:8], carry_z], q[3]

        def over_bin(q):
            # Servo the can (not the gripper) over the drop point.
            return np.r_[q[0:2] + drop - q[6:8], carry_z], q[3]

        def lowered(q):
            return np.r_[q[0:2] + drop - q[6:8], 0.045], q[3]

        def in_hand(q):
            return q[8] > HALF_HEIGHT + 0.03

        waypoints = [
            Waypoint(above_can, -1.0, tol=0.01),
            Waypoint(at_can, -1.0),
            Waypoint(stay, 1.0, tol=1.0, hold=4, check_yaw=False),
        ]
        if rise_first or via_y is not None:
            waypoints.append(Waypoint(lifted, 1.0, tol=0.015, check_yaw=False, verify=in_hand))
        if via_y is not None:
            waypoints.append(Waypoint(via, 1.0, tol=0.02, check_yaw=False))
        waypoints += [
            Waypoint(over_bin, 1.0, tol=0.008, check_yaw=False),
            Waypoint(lowered, 1.0, tol=0.008, check_yaw=False),
            Waypoint(stay, -1.0, tol=1.0, hold=6, check_yaw=False),
        ]
        return waypoints
