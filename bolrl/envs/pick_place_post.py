"""`pick-place-post`: carry a can past a post, on either side, into a bin (pick-place with a
choice of route whose average fails).

The scene, observation (20 floats), success test and reset are pick-place's (`pick_place.py`)
with two changes: a post of radius 2 cm and 30 cm high at the origin, on the straight line
from the can's reset area to the bin, taller than the gripper ever carries; and the gripper
starts 12 cm further back (x = -0.12 +- 0.02), on the can's side of the post. The expert carries
the can around it, crossing x = 0 at y = +10 cm or -10 cm. The observation does not say which
side an episode takes: the post is fixed, so it is not observed.

Styles: `scripted` passes on the side the can starts on (a choice the observation tells);
`multimodal` takes either side with equal odds whatever the state. Their average, crossing at
y = 0, runs the can into the post.
"""

from __future__ import annotations

import numpy as np

from bolrl.envs.pick_place import PickPlace, Route
from bolrl.envs.task import WaypointExpert, expert_variability

POST_RADIUS = 0.02
POST_HEIGHT = 0.3
# where the can crosses x = 0 (the post's x), either side of the post; the gripper's palm
# reaches 5.6 cm along its jaws' axis, so at 10 cm it clears the post by 2 cm or more
VIA = 0.10
GRIPPER_START_X = -0.12  # added to the shared scene's reset x of the gripper


class PickPlacePost(PickPlace):
    name = "pick-place-post"
    gym_id = "bolrl/PickPlacePost-v0"
    description = "carry a can past a post, either side, into a bin"
    horizon = 150  # the detour adds about 20 steps to pick-place's 120
    objects_xml = PickPlace.objects_xml + f"""
    <geom name="post" type="cylinder" size="{POST_RADIUS} {POST_HEIGHT / 2}"
          pos="0 0 {POST_HEIGHT / 2}" rgba=".5 .3 .3 1"/>"""

    # the multimodal style's two strategies: pass right (-1) or left (+1) of the post; half-way
    # (0) runs into it
    STRATEGIES = (-1.0, 1.0)
    STRATEGY_ODDS = {"multimodal": (STRATEGIES, (0.5, 0.5))}
    styles = ("scripted", "multimodal")
    strategy_words = "right/left of the post"

    def init_qpos(self, rng: np.random.Generator) -> np.ndarray:
        qpos = super().init_qpos(rng)
        qpos[0] += GRIPPER_START_X
        return qpos

    def expert(self, rng: np.random.Generator, style: str = "scripted",
               strategy: float | None = None) -> WaypointExpert:
        def detour(rng: np.random.Generator) -> Route:
            coin = int(rng.integers(2))  # drawn in every style: they share one random stream
            if strategy is not None or style == "multimodal":
                side = self.STRATEGIES[coin] if strategy is None else float(strategy)
                return lambda q: side * VIA
            return start_side()

        return WaypointExpert(self.waypoints(rng, detour), rng, **expert_variability(rng))


def start_side() -> Route:
    """The scripted route: the side of the post the can started on, fixed at first look."""
    chosen: dict[str, float] = {}

    def side(q: np.ndarray) -> float:
        return chosen.setdefault("y", VIA if q[7] >= 0 else -VIA)

    return side
