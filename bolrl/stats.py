"""Statistics for comparing methods with few seeds (Agarwal et al., 2021, "Deep RL at the
Edge of the Statistical Precipice"): interquartile mean and stratified bootstrap confidence
intervals. Written here because rliable 1.2.0 does not work with pandas 3 (see FACTS).

Scores are success rates in [0, 1], one per run (a task x seed); "stratified" means runs are
resampled with replacement within each task, so every bootstrap sample keeps every task.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Scores = dict[str, np.ndarray]  # task -> (runs,) scores


def iqm(x: np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50% of the scores (25% trimmed each side,
    as scipy.stats.trim_mean(x, 0.25))."""
    x = np.sort(np.asarray(x, dtype=float).ravel())
    k = int(0.25 * len(x))
    return float(x[k : len(x) - k].mean())


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    lo, hi = np.percentile(samples, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def bootstrap_ci(
    x: np.ndarray,
    statistic: Callable[[np.ndarray], float] = np.mean,
    reps: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(statistic, low, high): a percentile bootstrap interval over resampled runs."""
    x = np.asarray(x, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), (reps, len(x)))
    if statistic is np.mean:
        samples = x[idx].mean(axis=1)
    else:
        samples = np.array([statistic(x[i]) for i in idx])
    return (float(statistic(x)), *percentile_interval(samples, level))


def stratified_bootstrap(scores: Scores, statistic: Callable[[np.ndarray], float] = iqm,
                         reps: int = 2000, level: float = 0.95,
                         seed: int = 0) -> tuple[float, float, float]:
    """(statistic over all runs, low, high), resampling runs within each task."""
    rng = np.random.default_rng(seed)
    tasks = sorted(scores)
    point = statistic(np.concatenate([np.asarray(scores[t], float) for t in tasks]))
    samples = np.empty(reps)
    for r in range(reps):
        parts = [rng.choice(np.asarray(scores[t], float), size=len(scores[t])) for t in tasks]
        samples[r] = statistic(np.concatenate(parts))
    return (float(point), *percentile_interval(samples, level))


def paired_difference(a: Scores, b: Scores, reps: int = 2000, level: float = 0.95,
                      seed: int = 0) -> tuple[float, float, float]:
    """Mean of (a - b) over tasks and paired runs (same seed), with a stratified bootstrap CI.
    a[t] and b[t] hold the runs of task t in the same seed order."""
    diffs = {}
    for t in sorted(set(a) & set(b)):
        x, y = np.asarray(a[t], float), np.asarray(b[t], float)
        if len(x) != len(y):
            raise ValueError(f"task {t}: {len(x)} runs against {len(y)}; pairs need equal runs")
        diffs[t] = x - y
    if not diffs:
        raise ValueError("no task has runs of both methods")
    return stratified_bootstrap(diffs, statistic=np.mean, reps=reps, level=level, seed=seed)


def verdict(low: float, high: float) -> str:
    """The verdict on a finding whose expected sign is positive, from its difference's CI."""
    if low > 0:
        return "reproduced"
    if high < 0:
        return "not reproduced"
    return "inconclusive"
