"""The episode dataset: transitions of whole episodes, stored as flat numpy arrays.

Episodes are contiguous; an episode ends at the first transition that is `terminated`
(success: the task ends, no bootstrapping) or `truncated` (the horizon). Demonstrations and
autonomous episodes share this format, and a round's dataset is the demonstrations followed
by every autonomous episode so far. On disk: one `.npz` with these arrays (the demonstration
file format documented in the README).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch

from bolrl.files import write_atomic


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

    @property
    def step_in_episode(self) -> np.ndarray:
        """The time step t of each transition within its episode, (T,) int."""
        starts = np.flatnonzero(np.r_[True, self.ends[:-1]]) if self.n_transitions else []
        return np.arange(self.n_transitions) - np.repeat(starts, self.episode_lengths)

    @property
    def transition_success(self) -> np.ndarray:
        """Per transition: did its episode end in success? (T,) bool."""
        return self.episode_success[self.episode_index]

    def successful(self) -> Episodes:
        """Only the episodes that ended in success (the data of filtered BC)."""
        return self.select(self.transition_success)

    def select(self, mask: np.ndarray) -> Episodes:
        return Episodes(*(getattr(self, f.name)[mask] for f in fields(self)))

    def first_episodes(self, n: int) -> Episodes:
        return self.select(self.episode_index < n)

    def split(self, n_transitions: int) -> tuple[Episodes, Episodes]:
        """The first `n_transitions` (whole episodes) and the rest."""
        first = np.arange(self.n_transitions) < n_transitions
        return self.select(first), self.select(~first)

    def __add__(self, other: Episodes) -> Episodes:
        return Episodes.concat([self, other])

    @staticmethod
    def concat(parts: list[Episodes]) -> Episodes:
        nonempty = [p for p in parts if p.n_transitions] or parts[:1]
        if len(nonempty) == 1:
            return nonempty[0]
        parts = nonempty
        return Episodes(
            *(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Episodes))
        )

    def save(self, path: Path, **metadata) -> None:
        """Write atomically (a temporary file renamed into place)."""
        arrays = {f.name: getattr(self, f.name) for f in fields(self)}
        arrays.update({k: np.asarray(v) for k, v in metadata.items()})

        def write(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)

        write_atomic(Path(path), write)

    @staticmethod
    def load(path: Path) -> Episodes:
        with np.load(path) as z:
            return Episodes(*(z[f.name] for f in fields(Episodes)))


# --- H-step views: action chunks and their returns -------------------------------------------

def _chunk_index(data: Episodes, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices t + j (j < H) clipped to the episode's last transition, and their validity."""
    t = np.arange(data.n_transitions)
    last = np.flatnonzero(data.ends)[data.episode_index]
    raw = t[:, None] + np.arange(chunk)[None]
    return np.minimum(raw, last[:, None]), raw <= last[:, None]


def action_chunks(data: Episodes, chunk: int) -> np.ndarray:
    """For each transition t, the actions a_t .. a_{t+H-1} of its episode, the episode's last
    action repeated past its end: (T, H * act_dim). `chunk_label_mask` says which are real."""
    idx, _ = _chunk_index(data, chunk)
    return data.actions[idx].reshape(data.n_transitions, -1)


def chunk_label_mask(data: Episodes, chunk: int) -> np.ndarray:
    """1 where a chunk label's action was taken in the episode, 0 where it pads past the
    episode's end, per action dimension: (T, H * act_dim) float32. The padding is left out of
    the policy's loss: no one executed those actions."""
    _, valid = _chunk_index(data, chunk)
    act_dim = data.actions.shape[1]
    return np.repeat(valid, act_dim, axis=1).astype(np.float32)


def plan_aligned(data: Episodes, chunk: int) -> np.ndarray:
    """Transitions where an agent acting in chunks of H planned: t = 0, H, 2H, ... of each
    episode, (T,) bool. The label a_t .. a_{t+H-1} at any other t splices the ends of two
    independently sampled chunks, which no policy query produced."""
    return data.step_in_episode % chunk == 0


def chunk_returns(data: Episodes, chunk: int, gamma: float) -> dict[str, np.ndarray]:
    """The H-step view of each transition t, for a critic of action chunks:
        return    R_t = sum_{j < h} gamma^j r_{t+j},  h = min(H, steps left in the episode)
        next_obs  s_{t+h}, terminated: the episode ended in success within the chunk,
        discount  gamma^h (the bootstrap factor of V(s_{t+h}) unless terminated).
    With H = 1 this is the transition itself (r_t, s_{t+1}, d_t, gamma). Every H-step
    sequence of an episode was executed, so the critic learns from all of them."""
    idx, valid = _chunk_index(data, chunk)
    weights = (gamma ** np.arange(chunk))[None] * valid
    h = valid.sum(axis=1)
    end = idx[np.arange(data.n_transitions), h - 1]
    return {
        "returns": (data.rewards[idx] * weights).sum(axis=1).astype(np.float32),
        "next_obs": data.next_obs[end],
        "terminated": data.terminated[end],
        "discount": (gamma ** h).astype(np.float32),
    }


# --- Batches with a share of demonstrations --------------------------------------------------

def mixed_batch(demo_idx: torch.Tensor, auto_idx: torch.Tensor, batch_size: int,
                demo_fraction: float, g: torch.Generator) -> torch.Tensor:
    """Indices of one batch drawn with replacement from two pools, the demonstrations' and the
    autonomous episodes', so that at least `demo_fraction` of it are demonstrations:

        share = demo_fraction if it exceeds the demonstrations' share of the pools,
        round(share * B) rows from the demonstrations, the rest from the autonomous data;
        otherwise (and with either pool empty) B rows uniform over both pools together.

    Uniform sampling over transitions drowns a few demonstrations after some rounds (failed
    episodes run to the horizon): 3.6% of lift's data after one round, 0.7% after five."""
    n_demo, n_auto = len(demo_idx), len(auto_idx)
    if n_demo == 0 or n_auto == 0 or demo_fraction <= n_demo / (n_demo + n_auto):
        pool = torch.cat([demo_idx, auto_idx])
        return pool[torch.randint(len(pool), (batch_size,), generator=g, device=g.device)]
    k = round(demo_fraction * batch_size)
    return torch.cat([
        demo_idx[torch.randint(n_demo, (k,), generator=g, device=g.device)],
        auto_idx[torch.randint(n_auto, (batch_size - k,), generator=g, device=g.device)]])


def batch_demo_share(n_demo: int, n_auto: int, demo_fraction: float) -> float:
    """The expected share of demonstrations in a `mixed_batch` from pools of these sizes."""
    if n_demo + n_auto == 0:
        return float("nan")
    natural = n_demo / (n_demo + n_auto)
    return natural if n_auto == 0 or n_demo == 0 else max(natural, demo_fraction)
