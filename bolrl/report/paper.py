"""The paper's reported averages side by side with ours (Dong et al., 2025; see
../shared/paper.md): success before and after the rounds for the extraction and expressivity
comparisons, final success at the largest data size for the algorithm class, and final
success per level of episodes per round for the data-scaling figure.

Ours are means over tasks and seeds with a stratified bootstrap 95% CI; the paper's are means
over its six tasks after 10-20 rounds of 200 episodes, so only the ordering is comparable.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from bolrl.report.data import final_scores, mean_ci
from bolrl.report.naming import display_name

RECIPE = "diffusion/iql+best-of-n"


@dataclass(frozen=True)
class Reported:
    comparison: str
    method: str
    before: float | None  # the paper's average before the rounds (None: not reported)
    after: float


# The paper's table (before / after the rounds) and its data-scaling numbers at M = 200.
REPORTED = [
    Reported("algorithm class (M = 200)", "diffusion/bc", None, 44),
    Reported("algorithm class (M = 200)", "diffusion/filtered-bc", None, 65),
    Reported("algorithm class (M = 200)", RECIPE, None, 74),
    Reported("policy extraction", "diffusion/iql+awr", 48, 26),
    Reported("policy extraction", RECIPE, 40, 74),
    Reported("expressivity", "gaussian/iql+awr", 18, 18),
    Reported("expressivity", "gaussian/iql+best-of-n", 18, 43),
    Reported("expressivity", RECIPE, 40, 74),
    Reported("exploration noise (M = 200)", RECIPE + "+ou", None, 80),
]

# Final success per episodes-per-round level, smallest to largest (the paper: 50 / 100 / 200).
SCALING = {
    "diffusion/bc": (45, 45, 44),
    "diffusion/filtered-bc": (59, 64, 65),
    RECIPE: (54, 70, 74),
    RECIPE + "+ou": (59, 74, 80),
}
PAPER_LEVELS = (50, 100, 200)


def _pct(m: tuple[float, float, float]) -> str:
    return f"{100 * m[0]:.0f} [{100 * m[1]:.0f}, {100 * m[2]:.0f}]"


def side_by_side(rows: pd.DataFrame) -> str:
    """Markdown: for each reported method present in the results, the paper's before -> after
    next to ours (at the largest episodes per round when the study varies it)."""
    largest = rows[rows["episodes_per_round"] == rows["episodes_per_round"].max()].copy()
    largest["key"] = largest["method"].astype(str)
    scores = final_scores(largest)
    lines = ["| comparison | method | paper: before -> after | ours: before -> after "
             "[95% CI] | task-seed runs |", "|---|---|---|---|---|"]
    for r in REPORTED:
        s = scores[scores["key"] == r.method]
        if s.empty:
            continue
        before = "-" if r.before is None else f"{r.before:.0f}"
        lines.append(f"| {r.comparison} | {display_name(r.method)} | {before} -> {r.after:.0f} "
                     f"| {_pct(mean_ci(s, 'base'))} -> {_pct(mean_ci(s, 'final'))} "
                     f"| {len(s)} |")
    return "\n".join(lines) + "\n" if len(lines) > 2 else ""


def scaling_side_by_side(rows: pd.DataFrame) -> str:
    """Markdown: final success per level of episodes per round, ours next to the paper's
    (our levels, smallest to largest, set against the paper's 50 / 100 / 200). Empty unless
    the study has three levels."""
    levels = sorted(rows["episodes_per_round"].unique())
    if len(levels) != len(PAPER_LEVELS):
        return ""
    frame = rows.copy()
    frame["key"] = frame["method"].astype(str)
    lines = ["| method | " + " | ".join(f"E = {e} (paper M = {m}): paper / ours [95% CI]"
                                        for e, m in zip(levels, PAPER_LEVELS, strict=True))
             + " |", "|---" * (len(levels) + 1) + "|"]
    for method, paper in SCALING.items():
        cells = []
        for e, p in zip(levels, paper, strict=True):
            s = final_scores(frame[(frame["key"] == method)
                                   & (frame["episodes_per_round"] == e)])
            cells.append(f"{p} / {_pct(mean_ci(s, 'final'))}" if not s.empty else f"{p} / -")
        lines.append(f"| {display_name(method)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
