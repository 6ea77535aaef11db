"""The paper's reported averages side by side with ours (Dong et al., 2025; see
../shared/paper.md): success before and after the rounds for the extraction and expressivity
comparisons, final success at the largest data size for the algorithm class, and final
success per level of episodes per round for the data-scaling figure.

Ours are means over tasks and seeds with a 95% t-interval (tasks fixed); the paper's are means
over its six tasks after 10-20 rounds, so only the ordering is comparable.

One mapping of data levels, used by every report: our E episodes per round stand for the
paper's M = 2E (E = 25 / 50 / 100 -> M = 50 / 100 / 200; other E: the nearest of the three).
Our tasks are shorter and our rounds fewer than the paper's, so no level is equal; the
mapping only fixes which of the paper's columns a study is set against, the same way in the
paper study and the data-scaling study.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from bolrl.registry import RECIPE_NAME as RECIPE
from bolrl.report.data import demos_styles, final_scores, mean_ci
from bolrl.report.naming import display_name


@dataclass(frozen=True)
class Reported:
    comparison: str
    method: str
    before: float | None  # the paper's average before the rounds (None: not reported)
    after: float


# The paper's table of the extraction and expressivity comparisons (before / after the
# rounds, at its full data size).
REPORTED = [
    Reported("policy extraction", "diffusion/iql+awr", 48, 26),
    Reported("policy extraction", RECIPE, 40, 74),
    Reported("expressivity", "gaussian/iql+awr", 18, 18),
    Reported("expressivity", "gaussian/iql+best-of-n", 18, 43),
    Reported("expressivity", RECIPE, 40, 74),
]

# Final success per episodes-per-round level M = 50 / 100 / 200 (the data-scaling figure).
SCALING = {
    "diffusion/bc": (45, 45, 44),
    "diffusion/filtered-bc": (59, 64, 65),
    RECIPE: (54, 70, 74),
    RECIPE + "+ou": (59, 74, 80),
}
PAPER_LEVELS = (50, 100, 200)


def paper_level(episodes_per_round: int) -> int:
    """The paper's M that our E episodes per round is set against: the nearest of 50 / 100 /
    200 to 2E."""
    return min(PAPER_LEVELS, key=lambda m: abs(m - 2 * episodes_per_round))


def reported(episodes_per_round: int) -> list[Reported]:
    """The paper's numbers to set beside a study with E episodes per round: the algorithm
    class and noise at the mapped M, the extraction and expressivity comparisons as
    reported."""
    m = paper_level(episodes_per_round)
    i = PAPER_LEVELS.index(m)
    by_level = [Reported(f"algorithm class (M = {m})", k, None, SCALING[k][i])
                for k in ("diffusion/bc", "diffusion/filtered-bc", RECIPE)]
    ou = RECIPE + "+ou"
    noise = Reported(f"exploration noise (M = {m})", ou, None, SCALING[ou][i])
    return [*by_level, *REPORTED, noise]


def _pct(m: tuple[float, float, float]) -> str:
    return f"{100 * m[0]:.0f} [{100 * m[1]:.0f}, {100 * m[2]:.0f}]"


def side_by_side(rows: pd.DataFrame) -> str:
    """Markdown: for each reported method present in the results, the paper's before -> after
    next to ours (at the largest episodes per round when the study varies it; a line per
    demonstration style when it varies that)."""
    e = int(rows["episodes_per_round"].max())
    largest = rows[rows["episodes_per_round"] == e].copy()
    styles = demos_styles(largest)
    several = styles.nunique() > 1
    largest["key"] = largest["method"].astype(str) + (" demos=" + styles if several else "")
    scores = final_scores(largest)
    lines = [f"Our E = {e} episodes per round is set against the paper's M = {paper_level(e)} "
             f"(M = 2E, see `bolrl/report/paper.py`).", "",
             "| comparison | method | paper: before -> after | ours: before -> after "
             "[95% CI] | task-seed runs |", "|---|---|---|---|---|"]
    for r in reported(e):
        for style in sorted(styles.unique()) if several else [None]:
            key = r.method if style is None else f"{r.method} demos={style}"
            s = scores[scores["key"] == key]
            if s.empty:
                continue
            before = "-" if r.before is None else f"{r.before:.0f}"
            name = display_name(r.method) + ("" if style is None else f" ({style} demos)")
            lines.append(f"| {r.comparison} | {name} | {before} -> {r.after:.0f} "
                         f"| {_pct(mean_ci(s, 'base'))} -> {_pct(mean_ci(s, 'final'))} "
                         f"| {len(s)} |")
    return "\n".join(lines) + "\n" if len(lines) > 4 else ""


def scaling_side_by_side(rows: pd.DataFrame) -> str:
    """Markdown: final success per level of episodes per round, ours next to the paper's at
    the mapped M. Empty unless the study has several levels."""
    levels = sorted(int(e) for e in rows["episodes_per_round"].unique())
    if len(levels) < 2:
        return ""
    frame = rows.copy()
    frame["key"] = frame["method"].astype(str)
    lines = ["| method | " + " | ".join(f"E = {e} (paper M = {paper_level(e)}): paper / ours "
                                        f"[95% CI]" for e in levels)
             + " |", "|---" * (len(levels) + 1) + "|"]
    for method, by_level in SCALING.items():
        paper = [by_level[PAPER_LEVELS.index(paper_level(e))] for e in levels]
        cells = []
        for e, p in zip(levels, paper, strict=True):
            s = final_scores(frame[(frame["key"] == method)
                                   & (frame["episodes_per_round"] == e)])
            cells.append(f"{p} / {_pct(mean_ci(s, 'final'))}" if not s.empty else f"{p} / -")
        lines.append(f"| {display_name(method)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
