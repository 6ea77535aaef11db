"""Figures: scaling curves per task (mean over seeds, band of one standard error) and an aggregate
panel of final success (the mean over tasks and seeds with its 95% t-interval, tasks fixed:
the statistic of the findings and tables), for all methods and for each axis of the study."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402

from bolrl.report.data import final_scores, interval, mean_ci, scaling_curve  # noqa: E402
from bolrl.report.naming import (  # noqa: E402
    colour,
    display_name,
    key_label,
    line_style,
    task_label,
)

MAX_BANDS = 4  # more methods than this in one panel: lines without bands (see the per-seed view)


def panel_grid(n: int) -> tuple[int, int]:
    """Rows and columns for n panels that fit a page: at most 3 across, 4 as 2 x 2."""
    cols = 2 if n == 4 else min(3, n)
    return -(-n // cols), cols


def _label(key: str) -> str:
    return key_label(key)


def panels(n: int):
    """A figure of n panels laid out by `panel_grid` (the grid's spare cells hidden): the
    figure, its n axes in reading order, and the number of columns."""
    n_rows, n_cols = panel_grid(n)
    fig, grid = plt.subplots(n_rows, n_cols, figsize=(4.0 * n_cols, 3.4 * n_rows + 0.6),
                             layout="constrained", squeeze=False)
    for ax in list(grid.flat)[n:]:
        ax.set_visible(False)
    return fig, list(grid.flat)[:n], n_cols


def _save(fig, stem: Path, formats: list[str]) -> list[Path]:
    paths = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        fig.savefig(path, dpi=130)
        paths.append(path)
    plt.close(fig)
    return paths


def aggregate(rows: pd.DataFrame, keys: list[str]) -> dict[str, tuple[float, float, float]]:
    """Per method: mean final success over all tasks and seeds, with its 95% t-interval."""
    scores = final_scores(rows[rows["key"].isin(keys)])
    out = {}
    for key in keys:
        s = scores[scores["key"] == key]
        by_task = {t: g["final"].to_numpy() for t, g in s.groupby("task")}
        if by_task:
            out[key] = interval(by_task)
    return out


def comparison_figure(rows: pd.DataFrame, keys: list[str], title: str, stem: Path,
                      formats: list[str]) -> list[Path]:
    """One scaling-curve panel per task, then the aggregate panel; written in each format."""
    tasks = sorted(rows.loc[rows["key"].isin(keys), "task"].unique())
    fig, axes, n_cols = panels(len(tasks) + 1)
    seeds = rows[rows["key"].isin(keys)].groupby(["key", "task"])["seed"].nunique()
    one_seed = bool(len(seeds)) and int(seeds.max()) == 1
    for ax, task in zip(axes[:-1], tasks, strict=True):
        for key in keys:
            sel = rows[(rows["key"] == key) & (rows["task"] == task)]
            if sel.empty:
                continue
            c = scaling_curve(sel)
            ax.plot(c.x, 100 * c.mean, line_style(key), marker="o", ms=3, color=colour(key),
                    label=_label(key))
            if len(keys) <= MAX_BANDS:
                ax.fill_between(c.x, 100 * c.low, 100 * c.high, color=colour(key), alpha=0.15,
                                linewidth=0)
        ax.set_title(task_label(task))
        ax.set_xlabel("autonomous episodes (cumulative)")
        ax.set_ylabel("evaluation success (%), mean ± 1 s.e." if not one_seed
                      and len(keys) <= MAX_BANDS else "evaluation success (%), mean")
        ax.set_ylim(-2, 102)
        ticks = sorted(rows.loc[rows["key"].isin(keys) & (rows["task"] == task),
                                "autonomous_episodes"].unique())
        if len(ticks) <= 12:  # ticks where the data are (one per round)
            ax.set_xticks(ticks)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # episodes are whole
        ax.grid(alpha=0.3)
    ax = axes[-1]
    agg = aggregate(rows, keys)
    names = [k for k in keys if k in agg]
    ypos = np.arange(len(names))[::-1]
    for y, key in zip(ypos, names, strict=True):
        point, lo, hi = agg[key]
        ax.barh(y, 100 * point, color=colour(key), alpha=0.85)
        ax.errorbar(100 * point, y, xerr=[[100 * (point - lo)], [100 * (hi - point)]],
                    color="black", capsize=3, lw=1)
        ax.text(100 * hi + 1.5, y, f"{100 * point:.0f}", va="center", fontsize=7)  # 0 shows
    ax.set_yticks(ypos, [_label(k) for k in names], fontsize=7)
    ax.set_xlim(0, 110)
    ax.set_xlabel("final success, tasks and seeds (%)")
    ax.set_title("aggregate (one seed: no CI)" if one_seed else "aggregate (95% t-interval)")
    ax.grid(alpha=0.3, axis="x")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center",
               ncol=min(n_cols, 2, max(1, len(labels))), fontsize=8, frameon=False)
    fig.suptitle(title + (" (n = 1 seed per task: bands and intervals have no width)"
                          if one_seed else ""))
    return _save(fig, stem, formats)


def profiles_figure(rows: pd.DataFrame, keys: list[str], title: str, stem: Path,
                    formats: list[str]) -> list[Path]:
    """rliable's performance profiles of final success: for each threshold, the share of a
    method's runs (tasks and seeds) above it, with a 95% stratified bootstrap band."""
    from bolrl.stats import performance_profile_band

    scores = final_scores(rows[rows["key"].isin(keys)])
    if scores.empty:
        return []
    taus = np.linspace(0.0, 1.0, 101)
    fig, ax = plt.subplots(figsize=(5.5, 4.2), layout="constrained")
    for key in keys:
        s = scores[scores["key"] == key]
        if s.empty:
            continue
        by_task = {t: g["final"].to_numpy() for t, g in s.groupby("task")}
        profile, low, high = performance_profile_band(by_task, taus)
        ax.plot(100 * taus, 100 * profile, line_style(key), color=colour(key),
                label=_label(key))
        if len(keys) <= MAX_BANDS:
            ax.fill_between(100 * taus, 100 * low, 100 * high, color=colour(key), alpha=0.15,
                            linewidth=0)
    ax.set_xlabel("final success threshold tau (%)")
    ax.set_ylabel("runs with final success > tau (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=False)
    ax.set_title(title)
    return _save(fig, stem, formats)


def seeds_figure(rows: pd.DataFrame, keys: list[str], title: str, stem: Path,
                 formats: list[str]) -> list[Path]:
    """Every seed's curve (thin) under each method's mean (thick), one panel per task: the
    spread a band of one standard error summarises."""
    tasks = sorted(rows.loc[rows["key"].isin(keys), "task"].unique())
    if not tasks:
        return []
    fig, axes, n_cols = panels(len(tasks))
    for ax, task in zip(axes, tasks, strict=True):
        for key in keys:
            sel = rows[(rows["key"] == key) & (rows["task"] == task)]
            for _, run in sel.groupby("seed"):
                run = run.sort_values("round")
                ax.plot(run["autonomous_episodes"], 100 * run["eval_success_rate"], lw=0.8,
                        alpha=0.35, color=colour(key))
            if not sel.empty:
                c = scaling_curve(sel)
                ax.plot(c.x, 100 * c.mean, line_style(key), lw=2.2, color=colour(key),
                        label=_label(key))
        ax.set_title(task_label(task))
        ax.set_xlabel("autonomous episodes (cumulative)")
        ax.set_ylabel("evaluation success (%): seeds, mean")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(n_cols, 2, len(labels)),
               fontsize=8, frameon=False)
    fig.suptitle(title)
    return _save(fig, stem, formats)


def data_scaling_figure(rows: pd.DataFrame, title: str, stem: Path,
                        formats: list[str]) -> list[Path]:
    """The paper's data-scaling figure: final success against episodes per round, one line
    per method (mean over tasks and seeds with its 95% t-interval, tasks fixed)."""
    frame = rows.copy()
    frame["key"] = frame["method"].astype(str)
    fig, ax = plt.subplots(figsize=(5.5, 4.2), layout="constrained")
    levels = sorted(frame["episodes_per_round"].unique())
    methods = sorted(frame["key"].unique())
    for i, method in enumerate(methods):
        dodge = 2.0 ** (0.05 * (i - (len(methods) - 1) / 2))  # side by side at each level
        points = []
        for e in levels:
            s = final_scores(frame[(frame["key"] == method)
                                   & (frame["episodes_per_round"] == e)])
            if not s.empty:
                points.append((e, *mean_ci(s, "final")))
        if not points:
            continue
        e, m, lo, hi = (np.array(v) for v in zip(*points, strict=True))
        ax.errorbar(e * dodge, 100 * m, yerr=[100 * (m - lo), 100 * (hi - m)], marker="o",
                    capsize=3, color=colour(method), label=display_name(method))
    ax.set_xscale("log", base=2)
    ax.set_xticks(levels, [str(e) for e in levels])
    ax.minorticks_off()
    ax.set_xlabel("episodes per round")
    ax.set_ylabel("final success, mean over tasks and seeds (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    ax.set_title(title)
    return _save(fig, stem, formats)


def noise_figure(rows: pd.DataFrame, title: str, stem: Path, formats: list[str]) -> list[Path]:
    """Final success against the noise scale, one line per noise kind of each noisy method,
    its method without noise as a band (mean over tasks and seeds, 95% t-interval)."""
    noisy = rows[rows["noise"] != "none"]
    if noisy["noise_sigma"].nunique() < 2:
        return []
    fig, ax = plt.subplots(figsize=(5.8, 4.2), layout="constrained")
    for method, g in noisy.groupby("method"):
        points = []
        for sigma, gs in g.groupby("noise_sigma"):
            s = final_scores(gs.assign(key=method))
            points.append((sigma, *mean_ci(s, "final")))
        x, m, lo, hi = (np.array(v) for v in zip(*sorted(points), strict=True))
        ax.errorbar(x, 100 * m, yerr=[100 * (m - lo), 100 * (hi - m)], marker="o", capsize=3,
                    color=colour(method), label=display_name(method))
        base = method.removesuffix("+" + g["noise"].iloc[0])
        ref = final_scores(rows[rows["method"] == base].assign(key=base))
        if not ref.empty:
            bm, blo, bhi = mean_ci(ref, "final")
            ax.axhline(100 * bm, color=colour(base), ls="--", lw=1)
            ax.axhspan(100 * blo, 100 * bhi, color=colour(base), alpha=0.08)
    ax.set_xscale("log", base=2)
    sigmas = sorted(noisy["noise_sigma"].unique())
    ax.set_xticks(sigmas, [f"{x:g}" for x in sigmas])
    ax.set_xlabel("noise scale sigma (translation dimensions)")
    ax.set_ylabel("final success, mean over tasks and seeds (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False, title="dashed: without noise", title_fontsize=8)
    ax.set_title(title)
    return _save(fig, stem, formats)


def log_dodge(xs: list[float], step: float = 0.06) -> list[float]:
    """Positions on a log axis for points that share an x: each group of equal values spread
    symmetrically by `step` in log10 (so errorbars at the same count do not hide each other),
    in the order given; a value of its own stays where it is."""
    out = list(xs)
    for value in set(xs):
        at = [i for i, x in enumerate(xs) if x == value]
        for rank, i in enumerate(at):
            out[i] = value * 10 ** (step * (rank - (len(at) - 1) / 2))
    return out


def compute_figure(rows: pd.DataFrame, title: str, stem: Path,
                   formats: list[str]) -> list[Path]:
    """What each method's success costs: final success (mean over tasks and seeds, 95%
    t-interval) against the training seconds of a round (mean over rounds after the first,
    per cell, on the machine that ran it) and against the policy's network passes per action
    (samples x denoising steps). Drawn where the methods differ in either."""
    trained = rows[rows["round"] > 0]
    if trained.empty or "policy_passes_per_action" not in rows:
        return []
    per_method = trained.groupby("key").agg(train_s=("train_s", "mean"),
                                            passes=("policy_passes_per_action", "first"))
    if len(per_method) < 2 or (per_method["passes"].nunique() < 2
                               and per_method["train_s"].max()
                               < 2 * per_method["train_s"].min()):
        return []
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 4.2), layout="constrained", sharey=True)
    passes = log_dodge(per_method["passes"].tolist())
    for (key, cost), dodged in zip(per_method.iterrows(), passes, strict=True):
        m, lo, hi = mean_ci(final_scores(rows[rows["key"] == key]), "final")
        for ax, x in zip(axes, (cost["train_s"], dodged), strict=True):
            ax.errorbar([x], [100 * m], yerr=[[100 * (m - lo)], [100 * (hi - m)]], marker="o",
                        capsize=3, color=colour(key), label=display_name(key))
    axes[0].set_xlabel("training seconds per round (mean)")
    axes[1].set_xlabel("policy network passes per action (samples x denoising steps)")
    axes[0].set_ylabel("final success, mean over tasks and seeds (%)")
    for ax in axes:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
    axes[1].set_title("methods at the same count are drawn side by side", fontsize=8)
    axes[1].legend(fontsize=7, frameon=False)
    fig.suptitle(title)
    return _save(fig, stem, formats)
