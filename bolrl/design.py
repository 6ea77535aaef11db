"""Design before compute: the smallest paired difference a study of its size can detect.

A finding's paired difference (same task and seed) varies for two reasons: the seeds (each
seed's demonstrations, networks and data, tau: the seed-to-seed SD of the true difference)
and the evaluation (binomial noise of each method's E episodes). Its SD within a task is

    sd(E) = sqrt(tau^2 + 2 p (1 - p) / E)

at a success rate p. The study's interval (`bolrl.stats.fixed_task_interval`) detects, with
80% power at a two-sided 5%, a true difference of `bolrl.stats.detectable_difference`. tau and
p come from the study's own rows where it has findings with two seeds or more per task;
otherwise from PRIOR, measured on the committed studies and stated in the output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from bolrl.stats import detectable_difference


@dataclass(frozen=True)
class Spread:
    tau: float  # seed-to-seed SD of a paired difference
    p: float  # typical success rate
    source: str


# The committed paper (50 evaluation episodes) and Meta-World (25) studies, 11 findings: the
# pooled within-task SD of paired final-success differences is 13.4 points (RMS); taking out
# the binomial part at p = 0.6 leaves a seed-to-seed SD of about 9 points.
PRIOR = Spread(0.09, 0.6, "prior: the committed paper and Meta-World studies' findings "
               "(pooled within-task SD of paired differences 13.4 points at 25-50 evaluation "
               "episodes: seed-to-seed SD 9 points, success near 60%)")


def paired_sd(spread: Spread, eval_episodes: int) -> float:
    return math.sqrt(spread.tau ** 2 + 2 * spread.p * (1 - spread.p) / eval_episodes)


def spread_from_rows(rows: pd.DataFrame) -> Spread | None:
    """tau and p estimated from a study's finished rows (its findings' pooled within-task
    variance, less the binomial part at its evaluation episodes); None without two seeds
    per task for any finding."""
    from bolrl.report.data import ok_rows
    from bolrl.report.findings import measure

    if rows.empty:
        return None
    ok = ok_rows(rows)
    measured = [m for m in measure(ok) if m.interval.df >= 1]
    if not measured:
        return None
    variances = []
    for m in measured:  # se = sqrt(pooled * sum 1/n_t) / T, equal n_t = runs / tasks
        iv = m.interval
        per_task = iv.runs / iv.tasks
        variances.append((iv.se * iv.tasks) ** 2 / (iv.tasks / per_task))
    pooled = sum(variances) / len(variances)
    finals = ok[ok["round"] == ok.groupby("cell_id")["round"].transform("max")]
    p = float(finals["eval_success_rate"].mean())
    episodes = float(finals["eval_episodes"].mean())
    tau2 = max(0.0, pooled - 2 * p * (1 - p) / episodes)
    return Spread(math.sqrt(tau2), p, f"from this study's {len(measured)} findings with rows "
                  f"(pooled within-task SD {100 * math.sqrt(pooled):.1f} points at "
                  f"{episodes:.0f} evaluation episodes)")


def detectable(spread: Spread, tasks: int, seeds: int, eval_episodes: int,
               level: float = 0.95) -> float:
    """The smallest true paired difference (fraction) detected with 80% power."""
    return detectable_difference(paired_sd(spread, eval_episodes), seeds, tasks, level)
