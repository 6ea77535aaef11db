"""The shapes of the scaling curves, ours beside the paper's (Dong et al., 2025, Fig. 3).

A verdict on final success says little if a baseline got there by collapsing; the paper's
curves have shapes a faithful run should show too: BC on all data stays flat or declines
slowly, filtered BC rises for a few rounds then plateaus, the Q-function recipe starts at or
below filtered BC, passes it after a few rounds and keeps climbing. Each statement is computed
by the same small function from our curves (mean over seeds per round) and from the paper's
digitized curves of the same task: robomimic's Lift, Can and Square are the paper's own, and
each embedded task stands in for one of them (values read from the project page's figures,
about +-1 point; see ../shared/paper.md). Other tasks (Meta-World's, a user's) have no
counterpart in the paper: their curves are shown alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bolrl.registry import RECIPE_NAME as RECIPE
from bolrl.report.naming import colour, display_name

BC, FILTERED_BC = "diffusion/bc", "diffusion/filtered-bc"
METHODS = (BC, FILTERED_BC, RECIPE)

# Our task -> the paper's task it is (robomimic's) or stands in for (the embedded tasks), and
# the paper's curves there (IL, filtered IL, value-based; success in % per iteration, M = 200).
PAPER_TASK = {"lift": "Lift", "pick-place": "Can", "pick-place-post": "Can",
              "nut-assembly": "Square", "robomimic/lift": "Lift", "robomimic/can": "Can",
              "robomimic/square": "Square"}
PAPER_CURVES: dict[str, dict[str, list[float]]] = {
    "Lift": {
        BC: [49.7, 49.9, 50.5, 50.1, 50.0, 50.0, 49.4, 48.6, 47.7, 47.5, 47.4],
        FILTERED_BC: [58.5, 60.2, 61.0, 63.4, 65.1, 66.7, 67.5, 68.4, 68.5, 68.5, 68.2],
        RECIPE: [65.9, 70.3, 73.8, 80.0, 84.6, 87.1, 88.8, 89.4, 91.1, 92.0, 92.7],
    },
    "Can": {
        BC: [39.7, 39.9, 40.0, 40.0, 39.9, 39.6, 38.8, 38.2, 38.2, 38.3, 38.3, 38.5, 38.7, 38.8,
             38.6, 38.5],
        # iteration 4 is hidden under another line in the figure: interpolated
        FILTERED_BC: [47.0, 48.1, 48.8, 50.9, 51.8, 52.7, 53.4, 54.0, 54.9, 55.2, 55.7, 55.9,
                      56.4, 56.3, 56.8, 56.7],
        RECIPE: [38.6, 40.7, 43.5, 47.9, 51.9, 54.2, 56.5, 57.9, 58.4, 59.6, 61.4, 62.4, 63.4,
                 64.6, 65.2, 65.3],
    },
    "Square": {
        BC: [54.8, 54.8, 53.9, 52.8, 53.1, 53.1, 52.7, 52.7, 52.1, 51.6, 51.2],
        FILTERED_BC: [64.9, 66.9, 68.8, 71.9, 73.8, 75.4, 75.6, 74.8, 75.2, 75.5, 74.8],
        RECIPE: [46.2, 48.9, 51.7, 56.9, 62.9, 67.2, 72.0, 75.5, 78.6, 80.5, 81.9],
    },
}
FLAT = 10.0  # points: BC "flat" if it ends within this of its base (the paper: -3 to +0)


def change(curve: np.ndarray) -> float:
    """Final minus base, in points."""
    return float(curve[-1] - curve[0])


def gain_reached_round(curve: np.ndarray, share: float = 0.9) -> int | None:
    """The first round at which the curve has made `share` of its largest gain over its base
    (where a rise levels off); None if it never rises."""
    gain = curve.max() - curve[0]
    if gain <= 0:
        return None
    return int(np.argmax(curve >= curve[0] + share * gain))


def passing_round(above: np.ndarray, below: np.ndarray) -> int | None:
    """The first round from which `above` stays above `below` to the end; None if it does not
    end above."""
    n = min(len(above), len(below))
    ahead = above[:n] > below[:n]
    if not ahead[-1]:
        return None
    behind = np.flatnonzero(~ahead)
    return int(behind[-1] + 1) if len(behind) else 0


@dataclass(frozen=True)
class Shape:
    bc_change: float | None
    filtered_bc_change: float | None
    filtered_bc_levels_off: int | None
    recipe_change: float | None
    recipe_passes_filtered_bc: int | None
    rounds: int


def shape(curves: dict[str, np.ndarray]) -> Shape:
    """The shape statements of one task's curves (method -> success per round, in %)."""
    bc, fbc, rec = (curves.get(m) for m in METHODS)
    return Shape(
        bc_change=change(bc) if bc is not None else None,
        filtered_bc_change=change(fbc) if fbc is not None else None,
        filtered_bc_levels_off=gain_reached_round(fbc) if fbc is not None else None,
        recipe_change=change(rec) if rec is not None else None,
        recipe_passes_filtered_bc=(passing_round(rec, fbc)
                                   if rec is not None and fbc is not None else None),
        rounds=max(len(c) for c in curves.values()) - 1,
    )


def our_curves(rows: pd.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    """Per task, per method of the algorithm-class comparison: mean success (%) per round
    over seeds, at the largest episodes per round."""
    rows = rows[rows["episodes_per_round"] == rows["episodes_per_round"].max()]
    out: dict[str, dict[str, np.ndarray]] = {}
    for (task, method), g in rows[rows["method"].isin(METHODS)].groupby(["task", "method"]):
        out.setdefault(task, {})[method] = (
            100 * g.groupby("round")["eval_success_rate"].mean().sort_index().to_numpy())
    return out


def has_paper_curves(tasks) -> bool:
    """Whether any of these tasks is, or stands in for, one of the paper's."""
    return any(task in PAPER_TASK for task in tasks)


def _fmt_change(x: float | None) -> str:
    return "-" if x is None else f"{x:+.0f}"


def _fmt_round(r: int | None, never: str) -> str:
    return never if r is None else f"round {r}"


def shapes_markdown(rows: pd.DataFrame) -> str:
    """A table per statement: ours per task beside the paper's on the task it stands for."""
    ours = our_curves(rows)
    if not ours:
        return ""
    lines = ["| task (paper's task) | curves over | BC: final - base | filtered BC: final - "
             "base | filtered BC: 90% of its gain by | recipe: final - base | recipe stays "
             "above filtered BC from |", "|---|---|---|---|---|---|---|"]
    for task, curves in sorted(ours.items()):
        paper_task = PAPER_TASK.get(task)
        rows_out = [(f"{task}, ours", shape(curves))]
        if paper_task:
            rows_out.append((f"{paper_task}, paper",
                             shape({m: np.array(v) for m, v in PAPER_CURVES[paper_task].items()})))
        for label, s in rows_out:
            no_fbc = s.filtered_bc_change is None  # a study without filtered BC: nothing to say
            levels_off = "-" if no_fbc else _fmt_round(s.filtered_bc_levels_off, "no rise")
            passes = ("-" if no_fbc or s.recipe_change is None else
                      _fmt_round(s.recipe_passes_filtered_bc, "does not end above"))
            lines.append(
                f"| {label} | {s.rounds} rounds | {_fmt_change(s.bc_change)} | "
                f"{_fmt_change(s.filtered_bc_change)} | {levels_off} | "
                f"{_fmt_change(s.recipe_change)} | {passes} |")
    return "\n".join(lines) + "\n"


def shapes_figure(rows: pd.DataFrame, stem, formats: list[str]) -> list:
    """Per task: our curves (solid, mean over seeds) and the paper's on the task ours stands
    in for (dashed), success against round."""
    from matplotlib.ticker import MaxNLocator

    from bolrl.report.figures import _save, plt

    ours = our_curves(rows)
    if not ours:
        return []
    tasks = sorted(ours)
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.4 * len(tasks), 3.9),
                             layout="constrained", squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        paper_task = PAPER_TASK.get(task)
        for method in METHODS:
            if method in ours[task]:
                y = ours[task][method]
                ax.plot(np.arange(len(y)), y, marker="o", ms=3, color=colour(method),
                        label=f"{display_name(method)} (ours)")
            if paper_task:
                y = PAPER_CURVES[paper_task][method]
                ax.plot(np.arange(len(y)), y, ls="--", color=colour(method), alpha=0.7,
                        label=f"{display_name(method)} (paper)")
        ax.set_title(f"{task} (ours) / {paper_task} (paper)" if paper_task else task)
        ax.set_xlabel("round")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("evaluation success (%)")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle("curve shapes: ours (solid) and the paper's Fig. 3 (dashed, M = 200)"
                 if has_paper_curves(tasks) else
                 "curve shapes: ours (no task here is, or stands in for, one of the paper's)")
    return _save(fig, stem, formats)
