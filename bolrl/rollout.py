"""Running an actor in a batch of environments for an exact number of episodes.

Each environment slot runs a fixed quota of episodes, decided before the first step, and is
then stepped no more; stopping at the first N finished episodes instead would over-sample
short (successful) episodes and bias the success rate upwards.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from bolrl.data import Episodes
from bolrl.envs.task import Task


class Actor(Protocol):
    def begin(self, rows: np.ndarray) -> None:
        """Episodes start in these environment rows (reset per-episode state, e.g. noise)."""

    def act(self, rows: np.ndarray, obs: np.ndarray, state: np.ndarray) -> np.ndarray:
        """Actions (len(rows), act_dim) for the given rows' observations and states (the
        MuJoCo qpos of embedded tasks, the observation of external ones)."""


class ExpertActor:
    """The task's scripted expert, one per environment row, seeded per episode."""

    def __init__(self, task: Task, seed: int, style: str = "scripted",
                 strategy: float | None = None):
        self.task, self.style, self.strategy = task, style, strategy
        self.seeds = np.random.SeedSequence([seed, 7])
        self.experts: dict[int, object] = {}

    def begin(self, rows: np.ndarray) -> None:
        for row in rows:
            rng = np.random.default_rng(self.seeds.spawn(1)[0])
            self.experts[int(row)] = (self.task.expert(rng) if self.style == "scripted"
                                      and self.strategy is None
                                      else self.task.expert(rng, self.style, self.strategy))

    def act(self, rows: np.ndarray, obs: np.ndarray, qpos: np.ndarray) -> np.ndarray:
        return np.stack([self.experts[int(r)].act(q) for r, q in zip(rows, qpos, strict=False)])


def quotas(episodes: int, batch: int) -> np.ndarray:
    """Split `episodes` over at most `batch` environment slots as evenly as possible."""
    n = min(episodes, batch)
    return np.full(n, episodes // n) + (np.arange(n) < episodes % n)


def rollout(
    task: Task, seeds: list[int], actor: Actor, episodes: int, progress=None,
    vector_env: str = "sync",
) -> Episodes:
    """Run `actor` for exactly `episodes` episodes on environments seeded by `seeds`
    (one slot per seed, at most len(seeds) at a time). Returns the episodes, each contiguous,
    in slot order: every slot's first episode by slot, then every slot's second, and so on,
    an order the seeds fix, not how long the episodes took (whoever takes "the first n" of
    them then gets no bias towards short ones). `progress(n)` is called with the number of
    episodes finished.
    `vector_env` ("sync" or "async") says how a Gymnasium task steps its environments."""
    quota = quotas(episodes, len(seeds))
    env = task.batch(seeds[: len(quota)], vector_env)
    try:
        return _run(task, env, quota, actor, progress)
    finally:
        env.close()


def _run(task: Task, env, quota: np.ndarray, actor: Actor, progress) -> Episodes:
    remaining = quota.copy()
    buffers: list[list[tuple]] = [[] for _ in range(env.n)]
    finished: list[tuple[int, int, Episodes]] = []  # (the slot's k-th episode, slot, episode)
    obs = env.observe()
    actor.begin(np.arange(env.n))
    while remaining.any():
        rows = np.flatnonzero(remaining > 0)
        actions = np.zeros((env.n, task.act_dim), dtype=np.float32)
        actions[rows] = actor.act(rows, obs[rows], env.state[rows])
        step = env.step(actions, active=remaining > 0)
        for i in rows:
            buffers[i].append(
                (obs[i], actions[i], step.reward[i], step.final_obs[i], step.terminated[i],
                 step.truncated[i])
            )
        done = np.flatnonzero(step.terminated | step.truncated)
        for i in done:
            finished.append((int(quota[i] - remaining[i]), int(i), _stack(buffers[i])))
            buffers[i] = []
            remaining[i] -= 1
            if progress is not None:
                progress(1)
        restart = done[remaining[done] > 0]
        if len(restart):
            actor.begin(restart)
        obs = step.obs
    if not finished:
        return Episodes.empty(task.obs_dim, task.act_dim)
    return Episodes.concat([episode for *_, episode in sorted(finished, key=lambda f: f[:2])])


def _stack(transitions: list[tuple]) -> Episodes:
    cols = list(zip(*transitions, strict=False))
    return Episodes(
        np.asarray(cols[0], np.float32),
        np.asarray(cols[1], np.float32),
        np.asarray(cols[2], np.float32),
        np.asarray(cols[3], np.float32),
        np.asarray(cols[4], bool),
        np.asarray(cols[5], bool),
    )
