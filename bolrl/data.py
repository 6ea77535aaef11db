"""The episode dataset: transitions of whole episodes, stored as flat numpy arrays.

Episodes are contiguous; an episode ends at the first transition that is `terminated`
(success: the task ends, no bootstrapping) or `truncated` (the horizon). Demonstrations and
autonomous episodes share this format, and a round's dataset is the demonstrations followed
by every autonomous episode so far. On disk: one `.npz` with these arrays (the demonstration
file format documented in the README).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Episodes:
    obs: np.ndarray  # (T, obs_dim) float32
    actions: np.ndarray  # (T, act_dim) float32
    rewards: np.ndarray  # (T,) float32: 1 on the success step, else 0
    next_obs: np.ndarray  # (T, obs_dim) float32
    terminated: np.ndarray  # (T,) bool: the episode ended in success
    truncated: np.ndarray  # (T,) bool: the episode ended at the horizon

    @staticmethod
    def empty(obs_dim: int, act_dim: int) -> Episodes:
        return Episodes(
            np.zeros((0, obs_dim), np.float32),
            np.zeros((0, act_dim), np.float32),
            np.zeros(0, np.float32),
            np.zeros((0, obs_dim), np.float32),
            np.zeros(0, bool),
            np.zeros(0, bool),
        )

    @property
    def n_transitions(self) -> int:
        return len(self.rewards)

    @property
    def ends(self) -> np.ndarray:
        return self.terminated | self.truncated

    @property
    def n_episodes(self) -> int:
        return int(self.ends.sum())

    @property
    def episode_index(self) -> np.ndarray:
        """The episode each transition belongs to, (T,) int."""
        return np.concatenate([[0], np.cumsum(self.ends)[:-1]]).astype(np.int64)

    @property
    def episode_success(self) -> np.ndarray:
        """Per episode: did it end in success? (E,) bool."""
        return self.terminated[self.ends]

    @property
    def episode_lengths(self) -> np.ndarray:
        return np.bincount(self.episode_index, minlength=self.n_episodes)

    def successful(self) -> Episodes:
        """Only the episodes that ended in success (the data of filtered BC)."""
        keep = self.episode_success[self.episode_index]
        return self.select(keep)

    def select(self, mask: np.ndarray) -> Episodes:
        return Episodes(*(getattr(self, f.name)[mask] for f in fields(self)))

    def first_episodes(self, n: int) -> Episodes:
        return self.select(self.episode_index < n)

    def __add__(self, other: Episodes) -> Episodes:
        return Episodes.concat([self, other])

    @staticmethod
    def concat(parts: list[Episodes]) -> Episodes:
        return Episodes(
            *(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Episodes))
        )

    def save(self, path: Path, **metadata) -> None:
        """Write atomically (a temporary file renamed into place)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f.name: getattr(self, f.name) for f in fields(self)}
        arrays.update({k: np.asarray(v) for k, v in metadata.items()})
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        os.close(fd)
        try:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @staticmethod
    def load(path: Path) -> Episodes:
        with np.load(path) as z:
            return Episodes(*(z[f.name] for f in fields(Episodes)))
