"""What every embedded task provides, and the waypoint controller its scripted expert runs on.

A task is a set of pure functions over MuJoCo state: the reset distribution (seeded), the
observation and the success test (both vectorised over a batch of qpos rows), and a scripted
expert. Simulation itself lives in `batched.py` and `gym_env.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from bolrl.config import DEMO_STYLES
from bolrl.envs import scene

# A waypoint's target as a function of the current qpos: (xyz of the gripper frame, yaw).
Target = Callable[[np.ndarray], tuple[np.ndarray, float]]

# Demonstration styles: `scripted`, the experts as they were first written (their per-episode
# choices mostly unbalanced or without consequence); `multimodal`, the same experts choosing
# per episode, with equal odds, between distinct strategies that the observation cannot tell
# apart and whose average fails (each task's `expert` says which).
STYLES = DEMO_STYLES


@dataclass
class Waypoint:
    """Go to `target` with the jaws at `grip`; done when within `tol` metres (and 0.05 rad),
    then hold for `hold` further steps (e.g. while the jaws close). If `verify` is given and
    is false once the waypoint is reached (say, the object is not in hand), the expert starts
    over from `retry_from`, as a person would regrasp."""

    target: Target
    grip: float
    tol: float = 0.004
    hold: int = 0
    check_yaw: bool = True
    verify: Callable[[np.ndarray], bool] | None = None
    retry_from: int = 0


@dataclass
class WaypointExpert:
    """A scripted demonstrator with human-like variability.

    Per episode: a speed (fraction of the maximum step), a small Gaussian action noise; per
    step: a chance to start a short pause. Task code supplies the waypoints, including its own
    per-episode choices (grasp side, approach offsets, occasional regrasp).
    """

    waypoints: list[Waypoint]
    rng: np.random.Generator
    speed: float = 0.8
    noise: float = 0.05
    pause_prob: float = 0.02
    _index: int = 0
    _held: int = 0
    _pause_left: int = 0
    _last_grip: float = -1.0
    done: bool = field(default=False)

    def act(self, qpos: np.ndarray) -> np.ndarray:
        """The action for one environment's current qpos (nq,) -> (5,)."""
        if self._index >= len(self.waypoints):
            self.done = True
            return np.r_[0.0, 0.0, 0.0, 0.0, self._last_grip]
        wp = self.waypoints[self._index]
        if self._pause_left > 0:
            self._pause_left -= 1
            return np.r_[0.0, 0.0, 0.0, 0.0, self._last_grip]
        if self.rng.random() < self.pause_prob:
            self._pause_left = int(self.rng.integers(2, 6))
        xyz, yaw = wp.target(qpos)
        pos_err = xyz - qpos[0:3]
        yaw_err = yaw - qpos[3]
        move = pos_err / scene.MAX_DPOS
        norm = np.linalg.norm(move)
        if norm > self.speed:
            move *= self.speed / norm
        turn = np.clip(yaw_err / scene.MAX_DYAW, -1.0, 1.0)
        action = np.r_[move, turn, wp.grip]
        action[:4] += self.noise * self.rng.standard_normal(4)
        self._last_grip = wp.grip
        reached = np.linalg.norm(pos_err) < wp.tol and (not wp.check_yaw or abs(yaw_err) < 0.05)
        if reached:
            if self._held >= wp.hold:
                failed = wp.verify is not None and not wp.verify(qpos)
                self._index = wp.retry_from if failed else self._index + 1
                self._held = 0
            else:
                self._held += 1
        return np.clip(action, -1.0, 1.0)


def stay(qpos: np.ndarray) -> tuple[np.ndarray, float]:
    """A waypoint target that holds the gripper where it is (e.g. while the jaws close)."""
    return qpos[0:3].copy(), float(qpos[3])


def nearest_equivalent_yaw(current: float, desired: float, period: float) -> float:
    """The angle equal to `desired` modulo `period` that is nearest to `current`."""
    return current + float(scene.wrap(desired - current, period))


class Task:
    """Base class of the embedded tasks. Subclasses set the class attributes and methods."""

    name: str = ""
    gym_id: str = ""
    description: str = ""
    horizon: int = 100
    obs_dim: int = 0
    act_dim: int = scene.ACT_DIM
    objects_xml: str = ""
    # Observation features without a physical unit (quaternion components, sines and cosines,
    # tilt): standardised with a larger std floor than positions in metres.
    unitless_features: tuple[int, ...] = ()
    # Action dimensions that get exploration noise unless a study lists its own: the
    # gripper's translation (yaw and jaw noise undo grasps and alignments).
    exploration_dims: tuple[int, ...] = (0, 1, 2)
    # The demonstration styles its expert has (STYLES), and the multimodal style's two
    # strategies (values of `expert(strategy=...)`; their average fails).
    styles: tuple[str, ...] = ("scripted",)
    STRATEGIES: tuple[float, ...] = ()
    # Per style, the expert's per-episode strategy choice: (values, probabilities), the values
    # those of `expert(strategy=...)`. Empty where the expert makes no such choice. What
    # `bolrl.multimodality` averages to find what a mean-seeking imitator would do.
    STRATEGY_ODDS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {}
    # The strategies in words where they are not angles (e.g. "right/left of the post").
    strategy_words: str = ""

    def choose_strategy(self, rng: np.random.Generator, style: str,
                        strategy: float | None) -> float:
        """One episode's strategy: drawn with the scripted odds (always: the draw keeps the
        demonstrations of every style on the same random stream), replaced by an equal-odds
        choice of STRATEGIES when multimodal, and by `strategy` where it is forced."""
        values, odds = self.STRATEGY_ODDS["scripted"]
        chosen = float(rng.choice(values, p=odds))
        if style == "multimodal":
            chosen = self.STRATEGIES[int(rng.integers(2))]
        return chosen if strategy is None else float(strategy)

    def xml(self) -> str:
        return scene.scene_xml(self.name, self.objects_xml)

    @property
    def cache_name(self) -> str:
        return self.name

    def batch(self, seeds: list[int], vector_env: str = "sync"):
        """A batch of environments of this task, one per seed (stepped in C in this process,
        whatever `vector_env` says: it is for Gymnasium tasks)."""
        from bolrl.envs.batched import BatchedEnv

        return BatchedEnv(self, seeds)

    def sample_object(self, rng: np.random.Generator) -> np.ndarray:
        """The object's free-joint qpos (7,) at reset."""
        raise NotImplementedError

    def init_qpos(self, rng: np.random.Generator) -> np.ndarray:
        """A full reset qpos (13,): gripper pose then the object."""
        return np.r_[scene.gripper_init_qpos(rng), self.sample_object(rng)]

    def observe(self, qpos: np.ndarray) -> np.ndarray:
        """Observations for a batch of states, (B, nq) -> (B, obs_dim) float32."""
        raise NotImplementedError

    def success(self, qpos: np.ndarray) -> np.ndarray:
        """Success for a batch of states, (B, nq) -> (B,) bool."""
        raise NotImplementedError

    def expert(self, rng: np.random.Generator, style: str = "scripted",
               strategy: float | None = None) -> WaypointExpert:
        """A fresh scripted expert for one episode, in a demonstration style (STYLES);
        `strategy` forces the multimodal choice (for tests and measurements: its two values,
        or their average, which fails)."""
        raise NotImplementedError


def gripper_features(qpos: np.ndarray) -> np.ndarray:
    """The proprioceptive part of every observation: xyz, sin/cos yaw, jaw opening -> (B, 6)."""
    yaw = qpos[:, 3]
    width = qpos[:, 4] + qpos[:, 5]
    return np.column_stack([qpos[:, 0:3], np.sin(yaw), np.cos(yaw), width])


def expert_variability(rng: np.random.Generator) -> dict:
    """Per-episode speed and noise of a demonstrator."""
    return {"speed": float(rng.uniform(0.45, 0.9)), "noise": float(rng.uniform(0.02, 0.08))}
