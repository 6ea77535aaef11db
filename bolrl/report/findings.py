"""The paper's findings, each measured as a paired difference of final success between two
methods (same task and seed), averaged over the study's tasks, with a 95% t-interval that
treats the tasks as the fixed set they are (`bolrl.stats.fixed_task_interval`), and a verdict
computed from it, from the p-value adjusted across all findings of the report (Holm), and
from the paper's own difference:

- descriptive only: fewer than MIN_PAIRS task-seed pairs (or one seed per task): no verdict;
- reproduced, as large as the paper's: significantly above zero, interval contains the paper's
  difference (or: larger / smaller than the paper's, the interval above / below it);
- reversed: significantly below zero;
- not seen here: not significant, and the interval excludes the paper's difference (evidence
  against an effect of the paper's size here, not a lack of evidence);
- inconclusive: not significant, the interval contains both zero and the paper's difference.
Findings the paper did not make read "above zero" / "below zero" / "inconclusive".
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bolrl.registry import RECIPE_NAME as RECIPE
from bolrl.report.data import demos_styles, final_scores
from bolrl.stats import (
    Interval,
    fixed_task_interval,
    holm,
    paired_difference,
    probability_of_improvement_ci,
)

MIN_PAIRS = 6  # fewer task-seed pairs: descriptive only (the t-interval has too few df)
ALPHA = 0.05  # family-wise, two-sided: Holm across the findings of one report
STATISTIC = ("the mean over tasks and seeds of final-round evaluation success; differences "
             "paired by task and seed")
METHOD = ("95% t-interval on the mean of per-task mean differences, tasks fixed, pooled "
          "within-task variance, df = pairs - tasks; verdicts at a family-wise 5% with "
          "Holm's correction across this report's findings")


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
    # beyond the paper (studies/beyond.toml): each newer method against the recipe; their own
    # papers compare against other baselines, so none has a paper difference here
    *(Finding(f"{claim} > the recipe (best-of-N)", method, RECIPE, None, ours_only=True)
      for claim, method in (("softmax-of-N", "diffusion/iql+softmax-of-n"),
                            ("PA-RL", "diffusion/iql+pa-rl"), ("EXPO", "diffusion/iql+expo"),
                            ("FQL", "diffusion/iql+fql"), ("FQL (flow policy)", "flow/iql+fql"),
                            ("DSRL", "diffusion/iql+dsrl"),
                            ("Q-chunking's backup", "diffusion/qc+best-of-n"))),
]


@dataclass(frozen=True)
class Measured:
    finding: Finding
    better_mean: float
    worse_mean: float
    interval: Interval  # of the paired difference
    p_holm: float = math.nan  # two-sided, adjusted across the report's findings
    verdict: str = ""
    # the same pairs' difference at round 0 (the base policies): 0 in every pair where both
    # methods start from one base; else how much of the final difference was there before any
    # online round
    base_interval: Interval | None = None
    # rliable's P(better > worse) over the same runs, with a stratified bootstrap interval
    improvement: tuple[float, float, float] | None = None

    @property
    def diff(self) -> float:
        return self.interval.mean

    @property
    def low(self) -> float:
        return self.interval.low

    @property
    def high(self) -> float:
        return self.interval.high

    @property
    def pairs(self) -> int:
        return self.interval.runs

    @property
    def paper_diff(self) -> float | None:
        """The paper's difference, as a fraction."""
        p = self.finding.paper
        return None if p is None else (p[0] - p[1]) / 100.0


def verdict(interval: Interval, p_holm: float, paper: float | None,
            alpha: float = ALPHA) -> str:
    """The words for a finding (see the module's docstring); `paper` is the paper's
    difference as a fraction, None for a finding the paper did not make."""
    if interval.runs < MIN_PAIRS or interval.df < 1 or p_holm != p_holm:
        return f"descriptive only ({interval.runs} pairs; a verdict needs {MIN_PAIRS})"
    significant = p_holm < alpha
    if paper is None:
        if significant:
            return "above zero" if interval.mean > 0 else "below zero"
        return "inconclusive"
    if significant and interval.mean > 0:
        if interval.low > paper:
            return "reproduced, larger than the paper's"
        if interval.high < paper:
            return "reproduced, smaller than the paper's"
        return "reproduced, as large as the paper's"
    if significant:
        return "reversed"
    if interval.high < paper or interval.low > paper:
        return "not seen here: the interval excludes the paper's difference"
    return "inconclusive"


def _by_task(scores: pd.DataFrame, key: str, pairs: pd.DataFrame,
             column: str = "final") -> dict[str, np.ndarray]:
    s = scores[scores["key"] == key].merge(pairs, on=["task", "seed"])
    return {t: g.sort_values("seed")[column].to_numpy() for t, g in s.groupby("task")}


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
    round when the study varies it; per demonstration style when it varies that, each
    finding's claim naming the style), unjudged (see `judge`)."""
    styles = demos_styles(rows)
    if styles.nunique() > 1:
        out = []
        for style in sorted(styles.unique()):
            part = rows[styles == style].copy()
            part["key"] = part["key"].str.replace(f" demos={style}", "", regex=False)
            for m in measure(part, findings):
                claim = f"{m.finding.claim} ({style} demos)"
                out.append(dataclasses.replace(
                    m, finding=dataclasses.replace(m.finding, claim=claim)))
        return out
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
        interval = paired_difference(_by_task(scores, f.better, pairs),
                                     _by_task(scores, f.worse, pairs))
        base = paired_difference(_by_task(scores, f.better, pairs, "base"),
                                 _by_task(scores, f.worse, pairs, "base"))
        better, worse = _by_task(scores, f.better, pairs), _by_task(scores, f.worse, pairs)
        out.append(Measured(f, float(a.merge(pairs)["final"].mean()),
                            float(b.merge(pairs)["final"].mean()), interval,
                            base_interval=base,
                            improvement=probability_of_improvement_ci(better, worse)))
    return out


def judge(measured: list[Measured]) -> list[Measured]:
    """The findings of one report with their verdicts: p-values adjusted across all of them
    that have enough pairs (Holm), then the words."""
    raw = [m.interval.p_two_sided() if m.pairs >= MIN_PAIRS else math.nan for m in measured]
    adjusted = holm(raw)
    return [dataclasses.replace(m, p_holm=p, verdict=verdict(m.interval, p, m.paper_diff))
            for m, p in zip(measured, adjusted, strict=True)]


def _points(x: float) -> str:
    return "-" if x != x else f"{100 * x:+.0f}"


def _base(iv: Interval | None) -> str:
    if iv is None:
        return "-"
    if iv.mean == 0 and iv.se == 0:
        return "0 in every pair"
    return f"{_points(iv.mean)} [{_points(iv.low)}, {_points(iv.high)}]"


def findings_markdown(measured: list[Measured]) -> str:
    lines = ["| finding | ours: better / worse (%) | difference [95% CI] | paper: better / "
             "worse (difference) | p (Holm) | verdict | at round 0 (base policies) |",
             "|---|---|---|---|---|---|---|"]
    for m in measured:
        paper = (f"{m.finding.paper[0]:.0f} / {m.finding.paper[1]:.0f} "
                 f"({m.finding.paper[0] - m.finding.paper[1]:+.0f})" if m.finding.paper
                 else "not in the paper")
        p = "-" if m.p_holm != m.p_holm else (f"{m.p_holm:.3f}" if m.p_holm >= 0.001
                                              else "<0.001")
        lines.append(
            f"| {m.finding.claim} | {100 * m.better_mean:.0f} / {100 * m.worse_mean:.0f} "
            f"({m.pairs} task-seed pairs) | {_points(m.diff)} [{_points(m.low)}, "
            f"{_points(m.high)}] | {paper} | {p} | **{m.verdict}** | {_base(m.base_interval)} |"
        )
    return "\n".join(lines) + "\n"


def findings_rich(measured: list[Measured], title: str):
    """The findings as a terminal table (folding to 80 columns; REPORT.md has the Markdown)."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
                  caption="difference: paired, in points, 95% t-interval; p: two-sided, "
                  "Holm-adjusted across the report's findings")
    for i, head in enumerate(("finding", "ours", "difference", "paper", "p", "verdict")):
        table.add_column(head, overflow="fold", justify="right" if i in (1, 4) else "left")
    for m in measured:
        paper = (f"{m.finding.paper[0] - m.finding.paper[1]:+.0f}" if m.finding.paper
                 else "-")
        p = "-" if m.p_holm != m.p_holm else (f"{m.p_holm:.3f}" if m.p_holm >= 0.001
                                              else "<0.001")
        table.add_row(m.finding.claim, f"{100 * m.better_mean:.0f}/{100 * m.worse_mean:.0f}",
                      f"{_points(m.diff)} [{_points(m.low)}, {_points(m.high)}]", paper, p,
                      m.verdict)
    return table


def style_contrasts(rows: pd.DataFrame) -> list[tuple[str, Interval]]:
    """Where a study runs two demonstration styles: for each finding measured in both, how much
    larger its paired difference is with the other style than with `scripted` (multimodal -
    scripted), paired by task and seed. A secondary analysis, outside the
    report's family of findings (no Holm, no verdict)."""
    if rows["episodes_per_round"].nunique() > 1:  # as `measure`: at the most data per round
        most = rows["episodes_per_round"].max()
        rows = rows[rows["episodes_per_round"] == most].copy()
        rows["key"] = rows["key"].str.replace(f" E={most}", "", regex=False)
    styles = demos_styles(rows)
    names = sorted(styles.unique(), key=lambda n: (n != "scripted", n))  # the baseline first
    if len(names) != 2:
        return []
    diffs = {}
    for style in names:
        part = rows[styles == style].copy()
        part["key"] = part["key"].str.replace(f" demos={style}", "", regex=False)
        scores = final_scores(part).set_index(["key", "task", "seed"])["final"]
        for f in FINDINGS:
            if f.better in scores.index.get_level_values(0) and (
                    f.worse in scores.index.get_level_values(0)):
                diffs[(f.claim, style)] = (scores.loc[f.better] - scores.loc[f.worse]).dropna()
    out = []
    for f in FINDINGS:
        if (f.claim, names[0]) not in diffs or (f.claim, names[1]) not in diffs:
            continue
        contrast = (diffs[(f.claim, names[1])] - diffs[(f.claim, names[0])]).dropna()
        if contrast.empty:
            continue
        by_task = {t: g.to_numpy() for t, g in contrast.groupby(level="task")}
        out.append((f"{f.claim}: {names[1]} - {names[0]} demos", fixed_task_interval(by_task)))
    return out


def style_contrasts_markdown(contrasts: list[tuple[str, Interval]]) -> str:
    lines = ["| finding's difference, between styles | difference of differences [95% CI] | "
             "pairs | p (unadjusted) |", "|---|---|---|---|"]
    for claim, iv in contrasts:
        p = iv.p_two_sided()
        p_text = "-" if p != p else (f"{p:.3f}" if p >= 0.001 else "<0.001")
        lines.append(f"| {claim} | {_points(iv.mean)} [{_points(iv.low)}, {_points(iv.high)}]"
                     f" | {iv.runs} | {p_text} |")
    return "\n".join(lines) + "\n"


def improvement_markdown(measured: list[Measured]) -> str:
    """rliable's probability of improvement for each finding: how often a run of the better
    method beats a run of the worse one on the same task (0.5: no difference)."""
    rows = [m for m in measured if m.improvement is not None]
    if not rows:
        return ""
    lines = ["| finding | P(better > worse) [95% CI] | runs per method |", "|---|---|---|"]
    for m in rows:
        point, low, high = m.improvement
        lines.append(f"| {m.finding.claim} | {point:.2f} [{low:.2f}, {high:.2f}] | {m.pairs} |")
    return "\n".join(lines) + "\n"
