"""The paper's findings, each measured as a paired difference of final success between two
methods (same task and seed), with a stratified bootstrap 95% CI and a computed verdict:
reproduced (CI above zero), not reproduced (CI below zero), inconclusive (CI includes zero).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bolrl.registry import RECIPE_NAME as RECIPE
from bolrl.report.data import final_scores
from bolrl.stats import paired_difference, verdict

MIN_PAIRS = 3  # below this a bootstrap interval says nothing; the verdict is inconclusive


@dataclass(frozen=True)
class Finding:
    claim: str
    better: str  # method expected to be better
    worse: str
    paper: tuple[float, float] | None  # the paper's averages after the rounds (better, worse)
    ours_only: bool = False  # a comparison the paper did not make


FINDINGS = [
    Finding("Q-function > imitation (filtered BC)", RECIPE, "diffusion/filtered-bc", (74, 65)),
    Finding("Q-function > imitation (BC on all data)", RECIPE, "diffusion/bc", (74, 44)),
    Finding("implicit > explicit extraction (AWR)", RECIPE, "diffusion/iql+awr", (74, 26)),
    Finding("implicit > explicit extraction (DDPG+BC)", RECIPE, "diffusion/iql+ddpg-bc", None,
            ours_only=True),
    Finding("diffusion > Gaussian (implicit)", RECIPE, "gaussian/iql+best-of-n", (74, 43)),
    Finding("diffusion > Gaussian (Gaussian explicit, AWR)", RECIPE, "gaussian/iql+awr",
            (74, 18)),
    Finding("OU noise > none", RECIPE + "+ou", RECIPE, (80, 74)),
    Finding("white noise > none", RECIPE + "+white", RECIPE, None, ours_only=True),
    Finding("pink noise > none", RECIPE + "+pink", RECIPE, None, ours_only=True),
]


@dataclass(frozen=True)
class Measured:
    finding: Finding
    better_mean: float
    worse_mean: float
    diff: float
    low: float
    high: float
    pairs: int
    verdict: str


def _by_task(scores: pd.DataFrame, key: str, pairs: pd.DataFrame) -> dict[str, np.ndarray]:
    s = scores[scores["key"] == key].merge(pairs, on=["task", "seed"])
    return {t: g.sort_values("seed")["final"].to_numpy() for t, g in s.groupby("task")}


def noise_findings(rows: pd.DataFrame) -> list[Finding]:
    """For a study that sweeps the noise scale: each noisy method at each scale against the
    same method without noise (the paper's claim for OU: noise > none)."""
    noisy = rows[(rows["noise"] != "none") & (rows["key"] != rows["method"])]
    out = []
    for key, g in noisy.groupby("key"):
        method, noise = g["method"].iloc[0], g["noise"].iloc[0]
        base = method.removesuffix(f"+{noise}")
        sigma = g["noise_sigma"].iloc[0]
        paper = (80, 74) if noise == "ou" and base == RECIPE else None
        out.append(Finding(f"{noise} noise, sigma {sigma:g} > none ({base})", key, base, paper,
                           ours_only=paper is None))
    order = {"ou": 0, "white": 1, "pink": 2}
    return sorted(out, key=lambda f: (order.get(f.better.split("+")[-1].split(" ")[0], 9),
                                      f.better))


def measure(rows: pd.DataFrame, findings: list[Finding] | None = None) -> list[Measured]:
    """Every finding whose two methods are both in the results (at the largest episodes per
    round when the study varies it)."""
    if rows["episodes_per_round"].nunique() > 1:
        rows = rows[rows["episodes_per_round"] == rows["episodes_per_round"].max()].copy()
        rows["key"] = rows["method"].astype(str)
    scores = final_scores(rows)
    out = []
    for f in FINDINGS if findings is None else findings:
        a, b = scores[scores["key"] == f.better], scores[scores["key"] == f.worse]
        pairs = a[["task", "seed"]].merge(b[["task", "seed"]])
        if pairs.empty:
            continue
        diff, low, high = paired_difference(_by_task(scores, f.better, pairs),
                                            _by_task(scores, f.worse, pairs))
        out.append(Measured(
            f, float(a.merge(pairs)["final"].mean()), float(b.merge(pairs)["final"].mean()),
            diff, low, high, len(pairs),
            verdict(low, high) if len(pairs) >= MIN_PAIRS
            else f"inconclusive (< {MIN_PAIRS} pairs)",
        ))
    return out


def findings_markdown(measured: list[Measured]) -> str:
    lines = ["| finding | ours: better / worse (final success, %) | difference [95% CI] | "
             "paper: better / worse | verdict |", "|---|---|---|---|---|"]
    for m in measured:
        paper = (f"{m.finding.paper[0]:.0f} / {m.finding.paper[1]:.0f}" if m.finding.paper
                 else "not in the paper")
        lines.append(
            f"| {m.finding.claim} | {100 * m.better_mean:.0f} / {100 * m.worse_mean:.0f} "
            f"({m.pairs} task-seed pairs) | {100 * m.diff:+.0f} [{100 * m.low:+.0f}, "
            f"{100 * m.high:+.0f}] | {paper} | **{m.verdict}** |"
        )
    return "\n".join(lines) + "\n"
