"""`bolrl plot`: figures, tables and REPORT.md for one study's results."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bolrl.report.data import comparison_keys, demos_styles, ok_rows
from bolrl.report.figures import (
    MAX_BANDS,
    comparison_figure,
    compute_figure,
    data_scaling_figure,
    noise_figure,
    profiles_figure,
    seeds_figure,
)
from bolrl.report.findings import (
    ALPHA,
    METHOD,
    MIN_PAIRS,
    STATISTIC,
    findings_markdown,
    improvement_markdown,
    judge,
    measure,
    noise_findings,
    style_contrasts,
    style_contrasts_markdown,
)
from bolrl.report.paper import scaling_side_by_side, side_by_side
from bolrl.report.shapes import has_paper_curves, shapes_figure, shapes_markdown
from bolrl.report.tables import (
    base_per_seed_markdown,
    diagnostics_markdown,
    summary_table,
    to_latex,
    to_markdown,
)

PAUSE_S = 600.0  # no round at work for longer than this: the run was paused, not working

AXIS_FIGURES = [
    ("algorithm", "algorithm class: imitation vs. Q-function (diffusion policy)"),
    ("extraction", "policy extraction with a Q-function (diffusion policy): explicit vs. implicit"),
    ("policy", "policy expressivity with a Q-function: Gaussian vs. diffusion"),
    ("noise", "exploration noise during collection (the recipe)"),
]


@dataclass
class Report:
    directory: Path
    figures: list[Path]
    table: pd.DataFrame
    findings_md: str
    partial: str
    findings: list = dataclasses.field(default_factory=list)  # judged Measured, main then swept


def build(results: pd.DataFrame, study_name: str, total_cells: int, out_dir: Path,
          formats: list[str], command: str, notes: list[str] | None = None,
          band: tuple[float, float] = (0.3, 0.65), videos_md: str = "") -> Report:
    """Figures, tables and REPORT.md of `results` in `out_dir`; `notes` go under the report's
    header (e.g. that its rows ran under an older configuration); `band` is the study's
    target for the base policy's success, against which each seed's base is flagged;
    `videos_md` shows the final policies acting (bolrl.report.videos)."""
    rows = ok_rows(results)
    figures = _figures(rows, study_name, out_dir / "figures", formats)
    table = summary_table(rows)
    findings_md, judged = _findings(rows)
    paper_md = side_by_side(rows) + "\n" + scaling_side_by_side(rows)
    shapes_md = "".join((f"With {style} demonstrations:\n\n" if style else "")
                        + shapes_markdown(part) + "\n" for style, part in _by_style(rows)
                        if shapes_markdown(part))
    tab_dir = out_dir / "tables"
    tab_dir.mkdir(parents=True, exist_ok=True)
    (tab_dir / "summary.md").write_text(to_markdown(table))
    (tab_dir / "summary.tex").write_text(to_latex(table))
    finished = results["cell_id"].nunique()
    failed = results.loc[results["status"] != "ok", "cell_id"].nunique()
    partial = ""
    if finished < total_cells or failed:
        partial = (f"Partial results: {finished - failed} of {total_cells} cells finished"
                   + (f", {failed} failed (excluded)" if failed else "") + ".")
    base_md = base_per_seed_markdown(rows, band)
    demos_md = _multimodality_markdown(rows)
    _write_report(out_dir, study_name, results, figures, table, findings_md, paper_md,
                  shapes_md, partial, command, notes or [], base_md, demos_md, videos_md,
                  diagnostics_markdown(rows))
    return Report(out_dir, figures, table, findings_md, partial, judged)


def _figures(rows: pd.DataFrame, study_name: str, fig_dir: Path,
             formats: list[str]) -> list[Path]:
    """Every figure of the report, written to `fig_dir` (earlier ones not redrawn removed)."""
    fig_dir.mkdir(parents=True, exist_ok=True)
    figures: list[Path] = []
    keys = sorted(rows["key"].unique())
    figures += comparison_figure(rows, keys, f"{study_name}: all methods",
                                 fig_dir / "scaling_all", formats)
    for axis, title in AXIS_FIGURES:
        axis_keys = comparison_keys(rows, axis)
        if axis_keys:
            figures += comparison_figure(rows, axis_keys, title, fig_dir / f"axis_{axis}",
                                         formats)
    figures += profiles_figure(rows, keys, f"{study_name}: performance profiles",
                               fig_dir / "profiles", formats)
    seed_keys = comparison_keys(rows, "algorithm") or (keys if len(keys) <= MAX_BANDS else [])
    if seed_keys:
        figures += seeds_figure(rows, seed_keys, f"{study_name}: every seed (thin) and the mean",
                                fig_dir / "seeds", formats)
    for style, part in _by_style(rows):  # curve shapes per demonstration style
        figures += shapes_figure(part, fig_dir / ("shapes" + (f"_{style}" if style else "")),
                                 formats)
    figures += noise_figure(rows, f"{study_name}: exploration noise", fig_dir / "noise",
                            formats)
    figures += compute_figure(rows, f"{study_name}: success against compute",
                              fig_dir / "compute", formats)
    if rows["episodes_per_round"].nunique() > 1:
        figures += data_scaling_figure(rows, f"{study_name}: final success against data",
                                       fig_dir / "data_scaling", formats)
    for stale in fig_dir.iterdir():  # figures of an earlier plot this one did not redraw
        if stale.suffix in (".png", ".pdf", ".svg") and stale not in figures:
            stale.unlink()
    return figures


def _findings(rows: pd.DataFrame) -> tuple[str, list]:
    """The findings section's Markdown, and the judged findings (main, then the swept noise
    scales): one family, Holm across all of them."""
    main, swept = measure(rows), measure(rows, noise_findings(rows))
    judged = judge(main + swept)
    main, swept = judged[:len(main)], judged[len(main):]
    md = (findings_markdown(main) if main
          else "No finding has both of its methods in these results.\n")
    improvement = improvement_markdown(main)
    if improvement:
        md += ("\nProbability of improvement (Agarwal et al., 2021): how often a run of the "
               "better method scores above a run of the worse one on the same task, averaged "
               "over tasks (0.5: no difference), with a 95% stratified bootstrap interval; "
               "figure `profiles`: the share of each method's runs above each final "
               "success.\n\n" + improvement)
    contrasts = style_contrasts(rows)
    if contrasts:
        md += ("\nBetween the demonstration styles, paired by task and seed: how much each "
               "finding's difference changes with the style (a secondary analysis, outside the "
               "family above: unadjusted p, no verdict).\n\n"
               + style_contrasts_markdown(contrasts))
    if swept:
        md += ("\nThe noise scale, swept: each noisy method against the same method without "
               "noise (paired by task and seed).\n\n" + findings_markdown(swept))
    return md, judged


def _by_style(rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The rows per demonstration style where a study varies it, else [("", rows)]."""
    styles = demos_styles(rows)
    if styles.nunique() < 2:
        return [("", rows)]
    return [(style, rows[styles == style]) for style in sorted(styles.unique())]


def run_wall_seconds(results: pd.DataFrame, pause_s: float = PAUSE_S) -> float:
    """Wall time of the run, read from the rows' timestamps: each round's work spans its row's
    time minus the seconds it spent collecting, training and evaluating. The spans are merged,
    bridging gaps shorter than `pause_s` (a worker starting its next cell); a longer stretch
    with no round at work is a pause (a run interrupted and resumed later) and is not counted.
    Excludes start-up and demonstration generation."""
    stamps = pd.to_datetime(results["created_at"])
    work = pd.to_timedelta(results[["collect_s", "train_s", "eval_s"]].fillna(0).sum(axis=1),
                           unit="s")
    spans = sorted(zip((stamps - work).dt.to_pydatetime(), stamps.dt.to_pydatetime(),
                       strict=True))
    total, (start, end) = 0.0, spans[0]
    for s, e in spans[1:]:
        if (s - end).total_seconds() > pause_s:
            total += (end - start).total_seconds()
            start, end = s, e
        else:
            end = max(end, e)
    return total + (end - start).total_seconds()


# Columns that say what produced a row, and how the report names them.
PROVENANCE = {"git_sha": "git revision", "git_dirty": "uncommitted code changes",
              "bolrl_version": "bolrl", "python_version": "python", "torch_version": "torch",
              "numpy_version": "numpy", "mujoco_version": "mujoco",
              "gymnasium_version": "gymnasium", "suite_version": "suite package"}


def provenance_lines(results: pd.DataFrame) -> list[str]:
    """What produced the rows, once per study: each provenance column's value where every row
    agrees, and a line per column where rows differ (with how many cells have each value).
    Rows written before a column existed read "not recorded"."""
    same, differ = [], []
    for column, name in PROVENANCE.items():
        values = results[column].astype("string").fillna("not recorded")
        values = values.replace({"": "none" if column == "suite_version" else "not recorded",
                                 "True": "yes", "False": "no"})
        # cells per value (a cell extended by more rounds can have rows of two revisions)
        counts = (pd.DataFrame({"cell": results["cell_id"], "value": values})
                  .drop_duplicates().groupby("value")["cell"].count()
                  .sort_values(ascending=False))
        if len(counts) == 1:
            same.append(f"{name} {counts.index[0]}")
        else:
            differ.append(f"- **rows differ in {name}**: " + ", ".join(
                f"{value} ({n} cells)" for value, n in counts.items()))
    return [f"- produced by: {'; '.join(same)}", *differ]


def _multimodality_markdown(rows: pd.DataFrame) -> str:
    """Where a study varies the demonstration style: how multimodal each style's
    demonstrations are (measured on 60 fresh ones per task and style, bolrl/multimodality.py)."""
    styles = demos_styles(rows)
    if styles.nunique() < 2:
        return ""
    from bolrl import multimodality

    measured = multimodality.for_rows(list(zip(rows["task"], styles, strict=True)))
    if not measured:
        return ""
    return (f"{multimodality.markdown(measured)}\n{multimodality.READING} Measured on "
            f"{measured[0].demos} demonstrations per task and style (seed 0), not on the "
            "study's few.\n")


def _write_report(out_dir: Path, name: str, results: pd.DataFrame, figures: list[Path],
                  table: pd.DataFrame, findings_md: str, paper_md: str, shapes_md: str,
                  partial: str, command: str, notes: list[str], base_md: str,
                  demos_md: str = "", videos_md: str = "", diagnostics_md: str = "") -> None:
    lines = _header(name, results, command, notes, partial)
    lines += ["", "## Findings", "",
              f"Statistic: {STATISTIC}. Interval and test: {METHOD}. Verdicts: *reproduced* "
              f"(Holm-adjusted p < {ALPHA:g} and above zero; *as large as*, *larger than* or "
              f"*smaller than* the paper's by where the interval lies against the paper's "
              f"difference), *reversed* (significantly below zero), *not seen here* (not "
              f"significant, and the interval excludes the paper's difference), *inconclusive* "
              f"(it contains both zero and the paper's difference), *descriptive only* (fewer "
              f"than {MIN_PAIRS} task-seed pairs: no verdict). The paper's numbers are its "
              f"averages over six tasks after 10-20 rounds of 200 episodes. The last column "
              f"is the same pairs' difference at round 0, between the base policies (*0 in "
              f"every pair* where both methods start from the same one): the part of the final "
              f"difference that was there before any online round.", "", findings_md,
              "## Side by side with the paper", "",
              "Success in %: the paper's averages over its six tasks, ours over our tasks and "
              "seeds (mean, 95% t-interval with tasks fixed); before = the base policy (round 0), "
              "after = the last round. Only the ordering of methods is comparable: the "
              "paper ran 10-20 rounds of 50-200 episodes on robomimic tasks.", "", paper_md]
    if shapes_md:
        beside = ("ours beside the paper's digitized Fig. 3 on the same robomimic task (or "
                  "the one an embedded task stands in for)" if has_paper_curves(results["task"])
                  else "ours alone: no task of this study is, or stands in for, one of the "
                  "paper's")
        lines += ["## Curve shapes", "",
                  "Computed from the curves (mean over seeds per round) of BC, filtered BC and "
                  f"the recipe (diffusion, Q-function + best-of-N), {beside} "
                  "(`bolrl/report/shapes.py`; figure `shapes` below). The paper: BC flat or "
                  "slowly declining, filtered BC rising for 3-6 rounds then levelling off, the "
                  "recipe passing filtered BC after a few rounds and still climbing.", "",
                  shapes_md]
    lines += ["## Figures", "", *_figure_lines(figures)]
    if videos_md:
        lines += ["## The final policies acting", "", videos_md]
    if demos_md:
        lines += ["## How multimodal the demonstrations are", "", demos_md]
    if base_md:
        lines += ["## Base policies per seed", "", base_md]
    if diagnostics_md:
        lines += ["## What each method's training looked like", "", diagnostics_md]
    lines += ["## Final success per method and task", "",
              "Success in %, mean over seeds with a 95% t-interval; gains in points; AUC: "
              "mean success over the scaling curve.", "", to_markdown(table)]
    (out_dir / "REPORT.md").write_text("\n".join(lines) + "\n")


def _header(name: str, results: pd.DataFrame, command: str, notes: list[str],
            partial: str) -> list[str]:
    """The report's title, how to regenerate it, provenance, size and cost."""
    compute = results[["collect_s", "train_s", "eval_s"]].sum().sum()
    lines = [
        f"# {name}: results",
        "",
        "Generated by `bolrl plot` from the parquet files in `cells/`; nothing here is written "
        "by hand.",
        "",
        f"- regenerate: `{command}`",
        *(f"- **{note}**" for note in notes),
        *provenance_lines(results),
        f"- cells: {results['cell_id'].nunique()}; compute time inside cells: "
        f"{compute / 3600:.2f} core-hours; wall time from first to last round (row "
        f"timestamps, pauses of over {PAUSE_S / 60:.0f} min with no round at work left out): "
        f"{run_wall_seconds(results) / 60:.0f} min",
    ]
    if partial:
        lines += [f"- **{partial}**"]
    return lines


def _figure_lines(figures: list[Path]) -> list[str]:
    """Each figure once, as an image (PNG or SVG; a PDF alone as a link)."""
    lines = []
    for stem in dict.fromkeys(path.stem for path in figures):
        shown = [p for fmt in (".png", ".svg", ".pdf") for p in figures
                 if p.stem == stem and p.suffix == fmt][0]
        lines += [f"![{stem}](figures/{shown.name})" if shown.suffix != ".pdf"
                  else f"- [{stem}](figures/{shown.name}) (PDF)", ""]
    return lines

