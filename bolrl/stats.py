"""Statistics for comparing methods with few seeds.

Scores are success rates in [0, 1], one per run (a task x seed). A study's tasks are a fixed
set, not a sample of tasks: what varies from one run of a study to the next is the seeds and
the evaluation episodes. So the quantity a study estimates is the mean over its tasks of each
task's expected score (or paired difference), and its interval is a Student t-interval on the
mean of task means with the pooled within-task variance, df = runs - tasks
(`fixed_task_interval`). Its coverage is tested by simulation at 1-6 tasks x 3-10 seeds with
binomial evaluation noise (tests/test_stats.py): 93-96%. The percentile bootstrap over 3 seeds
per task it replaces covered 79-89% (its lower bound at 3 pairs is the smallest difference).

Across the findings of one report, `holm` adjusts the p-values (Holm's step-down method), and
`detectable_difference` gives the smallest paired difference a study of a given size detects
with 80% power (noncentral t). Also the interquartile mean, stratified bootstrap, probability
of improvement and performance profiles (Agarwal et al., 2021), written here because rliable
1.2.0 does not work with pandas 3 (see FACTS).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

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


def probability_of_improvement(x: Scores, y: Scores) -> float:
    """P(X > Y), rliable's probability of improvement: per task, the share of all pairs of a
    run of x and a run of y in which x scores higher (ties count half: the Mann-Whitney
    statistic), averaged over the tasks both have."""
    per_task = []
    for t in sorted(set(x) & set(y)):
        a, b = np.asarray(x[t], float)[:, None], np.asarray(y[t], float)[None, :]
        per_task.append(float(((a > b) + 0.5 * (a == b)).mean()))
    if not per_task:
        raise ValueError("no task has runs of both methods")
    return float(np.mean(per_task))


def probability_of_improvement_ci(x: Scores, y: Scores, reps: int = 2000, level: float = 0.95,
                                  seed: int = 0) -> tuple[float, float, float]:
    """(P(X > Y), low, high): a stratified bootstrap, resampling each method's runs within
    each task."""
    rng = np.random.default_rng(seed)
    tasks = sorted(set(x) & set(y))
    samples = np.empty(reps)
    for r in range(reps):
        xs = {t: rng.choice(np.asarray(x[t], float), size=len(x[t])) for t in tasks}
        ys = {t: rng.choice(np.asarray(y[t], float), size=len(y[t])) for t in tasks}
        samples[r] = probability_of_improvement(xs, ys)
    return (probability_of_improvement(x, y), *percentile_interval(samples, level))


def performance_profile(scores: Scores, taus: np.ndarray) -> np.ndarray:
    """rliable's performance profile: for each threshold tau, the share of all runs (tasks
    and seeds) that score above it."""
    runs = np.concatenate([np.asarray(scores[t], float) for t in sorted(scores)])
    return (runs[None, :] > np.asarray(taus, float)[:, None]).mean(axis=1)


def performance_profile_band(scores: Scores, taus: np.ndarray, reps: int = 1000,
                             level: float = 0.95, seed: int = 0):
    """(profile, low, high) per threshold: a stratified bootstrap band (runs resampled within
    each task)."""
    rng = np.random.default_rng(seed)
    tasks = sorted(scores)
    samples = np.empty((reps, len(taus)))
    for r in range(reps):
        resampled = {t: rng.choice(np.asarray(scores[t], float), size=len(scores[t]))
                     for t in tasks}
        samples[r] = performance_profile(resampled, taus)
    low, high = np.percentile(samples, [50 * (1 - level), 50 * (1 + level)], axis=0)
    return performance_profile(scores, taus), low, high


# ------------------------------------------------------------------ Student's t, by hand
# (no scipy among the dependencies): the CDF through the regularised incomplete beta function
# (continued fraction, Numerical Recipes 6.4), the quantile by bisection.


def _betacf(a: float, b: float, x: float) -> float:
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` degrees of freedom."""
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


@lru_cache(maxsize=1024)
def t_quantile(p: float, df: float) -> float:
    """The t with P(T <= t) = p."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if t_cdf(mid, df) < p else (lo, mid)
    return 0.5 * (lo + hi)


# ------------------------------------------------------------ intervals with tasks fixed


@dataclass(frozen=True)
class Interval:
    """A mean over a fixed set of tasks (of per-task means over runs) and its t-interval."""

    mean: float
    low: float  # nan where there is no variance estimate (one run per task)
    high: float
    se: float
    df: int  # runs - tasks
    runs: int
    tasks: int

    def p_above_zero(self) -> float:
        """One-sided p-value of 'the mean is above zero' (nan without a variance estimate)."""
        if self.df < 1:
            return math.nan
        if self.se == 0:
            return 0.0 if self.mean > 0 else 1.0
        return 1.0 - t_cdf(self.mean / self.se, self.df)

    def p_two_sided(self) -> float:
        p = self.p_above_zero()
        return math.nan if p != p else min(1.0, 2.0 * min(p, 1.0 - p))


def fixed_task_interval(scores: Scores, level: float = 0.95) -> Interval:
    """The mean over tasks of each task's mean score, with a `level` t-interval: standard
    error from the pooled within-task variance (each task's own mean removed), df = runs -
    tasks. For paired differences pass the per-run differences. Tasks are the study's fixed
    set: their spread is not noise, the seeds' and evaluations' is."""
    parts = [np.asarray(scores[t], float) for t in sorted(scores)]
    parts = [x for x in parts if len(x)]
    if not parts:
        raise ValueError("no runs")
    tasks, runs = len(parts), sum(len(x) for x in parts)
    mean = float(np.mean([x.mean() for x in parts]))
    df = runs - tasks
    if df < 1:
        return Interval(mean, math.nan, math.nan, math.nan, df, runs, tasks)
    pooled = sum(float(((x - x.mean()) ** 2).sum()) for x in parts) / df
    se = math.sqrt(pooled * sum(1.0 / len(x) for x in parts)) / tasks
    half = t_quantile(0.5 + level / 2.0, df) * se
    return Interval(mean, mean - half, mean + half, se, df, runs, tasks)


def paired_differences(a: Scores, b: Scores) -> Scores:
    """Per task, the runs' differences a - b (a[t] and b[t] in the same seed order)."""
    diffs = {}
    for t in sorted(set(a) & set(b)):
        x, y = np.asarray(a[t], float), np.asarray(b[t], float)
        if len(x) != len(y):
            raise ValueError(f"task {t}: {len(x)} runs against {len(y)}; pairs need equal runs")
        diffs[t] = x - y
    if not diffs:
        raise ValueError("no task has runs of both methods")
    return diffs


def paired_difference(a: Scores, b: Scores, level: float = 0.95) -> Interval:
    """Mean over tasks of the paired differences a - b (same task and seed), with its
    t-interval (`fixed_task_interval`)."""
    return fixed_task_interval(paired_differences(a, b), level)


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjustment of a family's p-values (nan stays nan, outside the family):
    the i-th smallest of m is multiplied by m - i + 1, then made monotone."""
    order = sorted((p, i) for i, p in enumerate(pvalues) if p == p)
    m, out, running = len(order), [math.nan] * len(pvalues), 0.0
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def rejection_rate(shift: float, df: int, level: float = 0.95) -> float:
    """The probability that the t-interval at `level` lies above zero when the true mean is
    `shift` standard errors above zero (the power of the one-sided half of the two-sided
    test): P(T' > t_crit) for T' noncentral t with `df` degrees of freedom, by integration
    over the chi-square distribution of the variance estimate."""
    crit = t_quantile(0.5 + level / 2.0, df)
    top = df + 12.0 * math.sqrt(2.0 * df) + 20.0
    v = np.linspace(top / 20000.0, top, 20000)
    log_pdf = ((df / 2.0 - 1.0) * np.log(v) - v / 2.0 - (df / 2.0) * math.log(2.0)
               - math.lgamma(df / 2.0))
    z = shift - crit * np.sqrt(v / df)
    phi = 0.5 * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0)))
    density = np.exp(log_pdf)
    return float(np.sum(phi * density) / np.sum(density))


def detectable_difference(sd: float, runs_per_task: int, tasks: int, level: float = 0.95,
                          power: float = 0.8) -> float:
    """The smallest true paired difference that a study of `tasks` x `runs_per_task` pairs
    declares above zero (two-sided `level`, `fixed_task_interval`) with probability `power`,
    for paired differences of standard deviation `sd` within a task (noncentral t: the
    variance is estimated, df = runs - tasks; inf with one run per task)."""
    df = tasks * (runs_per_task - 1)
    if df < 1:
        return math.inf
    se = sd / math.sqrt(tasks * runs_per_task)
    low, high = 0.0, 1.0
    while rejection_rate(high, df, level) < power:
        high *= 2.0
    for _ in range(40):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if rejection_rate(mid, df, level) < power else (low, mid)
    return 0.5 * (low + high) * se
