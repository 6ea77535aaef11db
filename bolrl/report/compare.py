"""Two studies in one report (`bolrl plot A B`): each method they share, B against A.

For every method (its key: name, noise scale, episodes per round, demonstration style) that
both studies ran, the final success of B minus A, paired by task and seed where both ran the
same (task, seed), with the fixed-task t-interval of the findings and Holm's correction across
the methods compared (`bolrl.stats`); fewer than MIN_PAIRS pairs is descriptive only. The
figure sets each shared method's curves from A (solid) and B (dashed) side by side per task.
Typical use: a study and a variant of it (`--set`), e.g. `bolrl plot quick
results/quick+lr=3e-4/study.toml`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bolrl.report.data import final_scores, scaling_curve
from bolrl.report.findings import ALPHA, METHOD, MIN_PAIRS
from bolrl.report.naming import colour, key_label
from bolrl.stats import holm, paired_difference


@dataclass(frozen=True)
class Difference:
    key: str
    a_mean: float
    b_mean: float
    diff: float
    low: float
    high: float
    pairs: int
    p_holm: float = math.nan
    verdict: str = ""


def shared_keys(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    """The methods both studies' rows hold."""
    return sorted(set(a["key"]) & set(b["key"]))


def differences(a: pd.DataFrame, b: pd.DataFrame) -> list[Difference]:
    """Per shared method, final success of B - A paired by (task, seed), with verdicts after
    Holm's correction across the methods."""
    fa, fb = final_scores(a), final_scores(b)
    out, raw = [], []
    for key in shared_keys(a, b):
        pa = fa[fa["key"] == key].set_index(["task", "seed"])["final"]
        pb = fb[fb["key"] == key].set_index(["task", "seed"])["final"]
        both = pa.index.intersection(pb.index).sort_values()
        if not len(both):
            continue
        tasks = sorted({t for t, _ in both})
        by = {t: [pb[(t, s)] for tt, s in both if tt == t] for t in tasks}
        ay = {t: [pa[(t, s)] for tt, s in both if tt == t] for t in tasks}
        iv = paired_difference(by, ay)
        out.append(Difference(key, float(pa[both].mean()), float(pb[both].mean()), iv.mean,
                              iv.low, iv.high, len(both)))
        raw.append(iv.p_two_sided() if len(both) >= MIN_PAIRS else math.nan)
    adjusted = holm(raw)
    return [_judged(d, p) for d, p in zip(out, adjusted, strict=True)]


def _judged(d: Difference, p: float) -> Difference:
    if d.pairs < MIN_PAIRS:
        verdict = f"descriptive only ({d.pairs} pairs, fewer than {MIN_PAIRS})"
    elif p != p:  # no variance estimate (one seed per task): no test
        verdict = "descriptive only (one run per task: no interval)"
    elif p < ALPHA:
        verdict = "B higher" if d.diff > 0 else "B lower"
    else:
        verdict = "no difference detected"
    return Difference(**{**d.__dict__, "p_holm": p, "verdict": verdict})


def points(x: float) -> str:
    return "-" if x != x else f"{100 * x:+.0f}"


def markdown(diffs: list[Difference], name_a: str, name_b: str) -> str:
    lines = [f"| method | {name_a} (%) | {name_b} (%) | B - A [95% CI] | pairs | p (Holm) | "
             "verdict |", "|---|---:|---:|---|---:|---|---|"]
    for d in diffs:
        p = "-" if d.p_holm != d.p_holm else (f"{d.p_holm:.3f}" if d.p_holm >= 0.001
                                              else "<0.001")
        lines.append(f"| {key_label(d.key)} | {100 * d.a_mean:.0f} | {100 * d.b_mean:.0f} | "
                     f"{points(d.diff)} [{points(d.low)}, {points(d.high)}] | {d.pairs} | {p} | "
                     f"**{d.verdict}** |")
    return "\n".join(lines) + "\n"


def figure(a: pd.DataFrame, b: pd.DataFrame, names: tuple[str, str], stem: Path,
           formats: list[str]) -> list[Path]:
    """Per task, each shared method's scaling curve in A (solid) and B (dashed)."""
    from bolrl.report.figures import _save, panels

    keys = shared_keys(a, b)
    tasks = sorted(set(a.loc[a["key"].isin(keys), "task"]) | set(b.loc[b["key"].isin(keys),
                                                                       "task"]))
    fig, axes, _ = panels(len(tasks))
    for ax, task in zip(axes, tasks, strict=True):
        for key in keys:
            for frame, style, name in ((a, "-", names[0]), (b, "--", names[1])):
                sel = frame[(frame["key"] == key) & (frame["task"] == task)]
                if sel.empty:
                    continue
                c = scaling_curve(sel)
                ax.plot(c.x, 100 * c.mean, style, marker="o", ms=3, color=colour(key),
                        label=f"{name}: {key_label(key)}")
        ax.set_title(task)
        ax.set_xlabel("autonomous episodes (cumulative)")
        ax.set_ylabel("evaluation success (%)")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    fig.suptitle(f"{names[0]} (solid) against {names[1]} (dashed)")
    return _save(fig, stem, formats)


def build(a: pd.DataFrame, b: pd.DataFrame, names: tuple[str, str], out_dir: Path,
          formats: list[str], command: str) -> tuple[list[Difference], Path]:
    """The comparison's figure and REPORT.md in `out_dir`; `a` and `b` are ok rows with keys."""
    out_dir.mkdir(parents=True, exist_ok=True)
    diffs = differences(a, b)
    figures = figure(a, b, names, out_dir / "compare", formats) if diffs else []
    lines = [f"# {names[0]} (A) against {names[1]} (B)", "",
             "Generated by `bolrl plot A B` from the two studies' parquet files; nothing here "
             "is written by hand.", "", f"- regenerate: `{command}`",
             f"- methods in both: {len(diffs)}; in A only: "
             f"{', '.join(sorted(set(a['key']) - set(b['key']))) or 'none'}; in B only: "
             f"{', '.join(sorted(set(b['key']) - set(a['key']))) or 'none'}", "",
             "## B - A per method", "",
             f"Final success (last round), paired by task and seed where both studies ran "
             f"them. Interval and test: {METHOD} (the family: the methods compared "
             f"here); no verdict with fewer than {MIN_PAIRS} pairs.", "",
             markdown(diffs, *names) if diffs
             else "The two studies share no method with a common task and seed.\n"]
    if figures:
        shown = [p for p in figures if p.suffix in (".png", ".svg")]
        lines += ["## Figure", "", f"![compare]({shown[0].name})" if shown
                  else f"- [compare]({figures[0].name}) (PDF)", ""]
    path = out_dir / "REPORT.md"
    path.write_text("\n".join(lines) + "\n")
    return diffs, path
