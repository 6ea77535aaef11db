"""Scripted demonstrations: generated locally by the task's expert and cached as `.npz`.

`demonstrations(task, n, seed)` returns the first `n` successful expert episodes from a
seeded sequence of attempts, in seed order (not the order they finished, which would keep the
quickest), so the same (task, n, seed) always gives the same demos, and a cache file is only
a shortcut. The cache lives in `$BOLRL_CACHE` (default `~/.cache/bolrl`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bolrl.config import DEMOS_VERSION
from bolrl.data import Episodes
from bolrl.envs.batched import env_seeds
from bolrl.envs.task import Task
from bolrl.rollout import ExpertActor, rollout

DEMO_STREAM = 1000  # env-seed stream of demonstrations (collection and evaluation use others)
BATCH = 50  # expert attempts per chunk, unless the task sets `demo_batch`


def cache_dir() -> Path:
    return Path(os.environ.get("BOLRL_CACHE", Path.home() / ".cache" / "bolrl"))


def demo_path(task: Task, n: int, seed: int, root: Path | None = None,
              style: str = "scripted") -> Path:
    tag = "" if style == "scripted" else f"-{style}"
    return ((root or cache_dir()) / "demos"
            / f"{task.cache_name}{tag}-v{DEMOS_VERSION}-n{n}-seed{seed}.npz")


def from_file(task, path: Path, n: int) -> Episodes:
    """The first `n` episodes of a demonstration file, checked against the task."""
    where = f"task {task.name!r}: demonstration file {path}"
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ValueError(f"{where}: cannot read it: {exc.strerror or exc}") from None
    if magic != b"PK\x03\x04":  # every .npz is a zip archive
        raise ValueError(f"{where}: not an .npz archive (see the README's demonstration file "
                         f"format)")
    try:
        data = Episodes.load(path)
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{where}: cannot read it: {exc}") from None
    for name in ("obs", "actions", "rewards", "next_obs"):
        bad = ~np.isfinite(getattr(data, name))
        if bad.any():
            raise ValueError(f"{where}: {name} has {int(bad.sum())} non-finite values "
                             f"(NaN or inf)")
    if np.abs(data.actions).max(initial=0.0) > 1.0:
        raise ValueError(f"{where}: actions must lie in [-1, 1] (the action space scaled to "
                         f"[-1, 1]), got values up to {np.abs(data.actions).max():.3g}")
    if data.obs.shape[1:] != (task.obs_dim,) or data.actions.shape[1:] != (task.act_dim,):
        raise ValueError(f"task {task.name!r}: demonstration file {path} has observations "
                         f"{data.obs.shape[1:]} and actions {data.actions.shape[1:]}, the task "
                         f"({task.obs_dim},) and ({task.act_dim},)")
    if data.n_episodes < n:
        raise ValueError(f"task {task.name!r}: demonstration file {path} has "
                         f"{data.n_episodes} episodes, the study asks for {n}")
    return data.first_episodes(n)


def generate(task: Task, n: int, seed: int, progress=None,
             style: str = "scripted") -> tuple[Episodes, float]:
    """The first `n` successful expert episodes, and the expert's success rate over all
    attempts. Attempts run in chunks of seeded environments (the task's `demo_batch`, else
    BATCH), in seed order within a chunk: the demonstrations are a sample of the expert's
    episodes, slow ones and ones with pauses included."""
    if n <= 0:
        raise ValueError(f"the number of demonstrations must be positive, got {n}")
    kept: list[Episodes] = []
    attempts = successes = 0
    chunk = 0
    while len(kept) < n:
        if attempts > 10 * n + 100:
            raise RuntimeError(f"the {task.name} expert succeeded {successes}/{attempts} times")
        batch = getattr(task, "demo_batch", BATCH)
        seeds = env_seeds(seed, batch, stream=DEMO_STREAM + chunk)
        actor = ExpertActor(task, seed=seed * 100_003 + chunk, style=style)
        episodes = rollout(task, seeds, actor, batch)
        idx = episodes.episode_index
        for e, ok in enumerate(episodes.episode_success):
            attempts += 1
            successes += bool(ok)
            if ok and len(kept) < n:
                kept.append(episodes.select(idx == e))
                if progress is not None:
                    progress(1)
        chunk += 1
    return Episodes.concat(kept), successes / attempts


def demonstrations(
    task: Task, n: int, seed: int, root: Path | None = None, progress=None,
    demos_file: str | None = None, style: str = "scripted",
) -> Episodes:
    """Cached demonstrations: loaded if present, else generated and written atomically.
    With a demonstration file (the study's `demos_file` for the task, any kind of task), its
    first `n` episodes instead."""
    demos_file = demos_file or getattr(getattr(task, "spec", None), "demos_file", None)
    if demos_file:
        return from_file(task, Path(demos_file), n)
    path = demo_path(task, n, seed, root, style)
    if path.exists():
        return Episodes.load(path)
    episodes, rate = generate(task, n, seed, progress, style)
    episodes.save(path, task=task.name, seed=seed, expert_success_rate=rate, style=style)
    return episodes


def expert_success_rate(task: Task, episodes: int, seed: int, style: str = "scripted") -> float:
    """Success of the scripted expert (in a demonstration style) over `episodes` seeded
    episodes."""
    seeds = env_seeds(seed, min(episodes, 100), stream=DEMO_STREAM - 1)
    data = rollout(task, seeds, ExpertActor(task, seed, style), episodes)
    return float(np.mean(data.episode_success))
