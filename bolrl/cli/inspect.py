"""`bolrl show` and `bolrl status`: a study's cells, costs, design, and progress."""

from __future__ import annotations

import math
import os
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from bolrl.cli._app import (
    NAME_OPT,
    RESULTS_OPT,
    SET_OPT,
    STUDY_ARG,
    _cmd,
    _count,
    _fmt_duration,
    _given,
    _load_study,
    _vet_results,
    _warn,
    app,
    console,
    err_console,
    fail,
)


@app.command()
def show(
    study: str = STUDY_ARG,
    ids: bool = typer.Option(False, "--ids", help="Print only the cell ids, one per line "
                             "(for job arrays)."),
    keys: bool = typer.Option(False, "--keys", help="Print every key a study file can set, "
                              "with its default, allowed values and meaning."),
    results: Path = RESULTS_OPT,
    sets: list[str] = SET_OPT,
    name: str = NAME_OPT,
    resolved: bool = typer.Option(False, "--resolved", help="Print only the study as it would "
                                  "run (TOML, --set overrides applied; what run-grid saves as "
                                  "results/<study>/study.toml)."),
) -> None:
    """Print a study's grid without running it: cells, dropped combinations, estimated cost,
    and the smallest difference it can detect (from its rows in --results where it has some,
    else from a stated prior), beside the paper's and against more seeds or episodes."""
    from bolrl.cost import study_seconds

    if keys:
        from bolrl.study import keys_markdown

        print(keys_markdown())
        return
    from bolrl.study import StudyError, SuiteMissing, find_study, load_study

    _given.update(sets=list(sets), name=name)
    try:  # its tasks built, as run-grid will build them: a bad task or file is an error here
        s = load_study(find_study(study), overrides=sets, name=name)
    except SuiteMissing as exc:  # ... but a suite's study reads without the suite's extra
        err_console.print(f"[yellow]note:[/] it cannot run here: {escape(str(exc))}",
                          highlight=False, soft_wrap=True)
        s = load_study(find_study(study), runnable=False, overrides=sets, name=name)
    except StudyError as exc:
        fail(str(exc))
    if resolved:
        print(s.resolved, end="")
        return
    if not ids:
        _warn(s)
    if ids:
        for c in s.cells:
            print(c.cell_id)
        return
    estimates = study_seconds(s.cells)
    _print_cells(s, estimates)
    for point, reason in s.dropped:
        console.print(f"dropped {point['algorithm']} + extraction {point['extraction']}: {reason}")
    total, workers = sum(estimates), os.cpu_count() or 1
    _print_cost(s, estimates, workers)
    _print_design(s, results, total, workers)


def _print_cells(s, estimates: list[float]) -> None:
    """The study's cells as a table, a column with one value in every row in its title."""
    rows = [{"cell id": c.cell_id, "task": c.task, "seed": str(c.seed),
             "method": c.method_name,
             "sigma": f"{c.noise_params.sigma:g}" if c.noise != "none" else "-",
             "E/round": str(c.episodes_per_round),
             "rounds": str(c.rounds), "est. time": _fmt_duration(est)}
            for c, est in zip(s.cells, estimates, strict=True)]
    # a column with one value in every row goes to the title, so the table fits 80 columns
    shared = [k for k in ("sigma", "E/round", "rounds") if len({r[k] for r in rows}) == 1]
    title = f"study {s.name}: {_count(len(s.cells), 'cell')}" + "".join(
        f", {k} {rows[0][k]}" for k in shared if rows[0][k] != "-") + f" ({s.path})"
    table = Table(title=title)
    columns = [k for k in rows[0] if k not in shared] if rows else []
    longest = {k: max(len(r[k]) for r in rows) for k in columns}
    for col in columns:  # ids never cut (run-cell takes them); long names fold
        table.add_column(col, no_wrap=col not in ("method", "task"), overflow="fold",
                         min_width={"cell id": 12, "method": min(longest[col], 26),
                                    "task": min(longest[col], 14)}.get(col))
    for r in rows:
        table.add_row(*(r[k] for k in columns))
    console.print(table)


def _print_cost(s, estimates: list[float], workers: int) -> None:
    """The cost model's estimate here, on Ray workers, and what it does not price."""
    total = sum(estimates)
    console.print(f"estimated cost: {_fmt_duration(total)} on one core, about "
                  f"{_fmt_duration(total / workers)} with {_count(workers, 'worker')} (a rough "
                  f"model, bolrl/cost.py)")
    if total > 4 * 3600:  # worth spreading: Ray workers of one core each, cells whole
        longest = max(estimates)
        spread = ", ".join(f"{n}: {_fmt_duration(max(total / n, longest))}"
                           for n in (16, 64))
        console.print(f"on N Ray workers of one core each (a cell is never split): {spread}")
    if any(c.train.device != "cpu" for c in s.cells):
        console.print("on a GPU: not estimated; the cost model has no GPU measurements yet "
                      "(measure with `bolrl bench train --device cuda` and `bolrl run-cell "
                      "--device cuda`)")


def _print_design(s, results: Path, total: float, workers: int) -> None:
    """What the study can detect (bolrl/design.py), and what more seeds or evaluation
    episodes would buy and cost."""
    import dataclasses

    from bolrl import design
    from bolrl.cost import study_seconds
    from bolrl.inventory import take
    from bolrl.report.findings import ALPHA, FINDINGS, MIN_PAIRS
    from bolrl.results import load_results

    methods = {c.method_name for c in s.cells}
    findings = [f for f in FINDINGS if f.better in methods and f.worse in methods]
    tasks = len({c.task for c in s.cells})
    seeds = len(s.table.seeds)
    episodes = s.table.eval_episodes
    frame = load_results(results, s.name)
    frame = frame[frame["cell_id"].isin(take(s, results).current)] if not frame.empty else frame
    spread = design.spread_from_rows(frame) or design.PRIOR
    console.print(f"design: {tasks} {'task' if tasks == 1 else 'tasks'} x {seeds} "
                  f"{'seed' if seeds == 1 else 'seeds'} = {tasks * seeds} pairs per finding, "
                  f"{episodes} evaluation episodes; SD of a paired difference "
                  f"{100 * design.paired_sd(spread, episodes):.1f} points ({spread.source})",
                  markup=False)
    if tasks * seeds < MIN_PAIRS:
        console.print(f"  fewer than {MIN_PAIRS} pairs: its findings are descriptive only (no "
                      f"verdict); {-(-MIN_PAIRS // tasks)} seeds per task would give verdicts",
                      markup=False)
    k = max(1, len(findings) * len({c.demos_style for c in s.cells}))  # per style, if several

    def mdd(seeds_: int, episodes_: int) -> str:
        one = design.detectable(spread, tasks, seeds_, episodes_)
        first = design.detectable(spread, tasks, seeds_, episodes_, 1 - ALPHA / k)
        return (f"{100 * one:.0f} points" if one < math.inf else "none (one seed per task)") + (
            f" ({100 * first:.0f} for the first of {k} findings under Holm)"
            if k > 1 and first < math.inf else "")

    console.print(f"  smallest difference detected with 80% power at a two-sided 5%: "
                  f"{mdd(seeds, episodes)}", markup=False)
    now = design.detectable(spread, tasks, seeds, episodes)
    for f in findings:
        if f.paper:
            claimed = f.paper[0] - f.paper[1]
            console.print(f"  the paper's {f.claim}: {claimed:+.0f} points: "
                          f"{'detectable' if claimed >= 100 * now else 'below what it detects'}",
                          markup=False)
    more_eval = [dataclasses.replace(c, eval_episodes=2 * c.eval_episodes) for c in s.cells]
    extra_eval = sum(study_seconds(more_eval)) - total
    console.print(f"  2x seeds ({2 * seeds}): {mdd(2 * seeds, episodes)}, about "
                  f"+{_fmt_duration(total / workers)} with {_count(workers, 'worker')}",
                  markup=False)
    console.print(f"  2x evaluation episodes ({2 * episodes}): {mdd(seeds, 2 * episodes)}, about "
                  f"+{_fmt_duration(extra_eval / workers)} with {_count(workers, 'worker')}",
                  markup=False)


@app.command()
def status(
    study: str = STUDY_ARG,
    results: Path = RESULTS_OPT,
    sets: list[str] = SET_OPT,
    name: str = NAME_OPT,
    failed_only: bool = typer.Option(False, "--failed", help="List only the failed cells, "
                                     "with their errors."),
) -> None:
    """Print a study's finished, running, failed and pending cells (failed ones with why),
    and the stale ones: finished under an older configuration, with the settings that
    differ."""
    from bolrl.executors import is_running
    from bolrl.inventory import take
    from bolrl.results import cell_error, cells_dir

    s = _load_study(study, runnable=False, sets=sets, name=name)
    _vet_results(results, s.name)
    if not cells_dir(results, s.name).is_dir():
        err_console.print(f"[yellow]note:[/] no results of study {s.name!r} under {results} "
                          f"(is this the directory it ran in? pass --results)")
    inventory = take(s, results)
    groups: dict[str, list] = {"finished": [], "running": [], "failed": [], "pending": []}
    for c in s.cells:
        st = inventory.current.get(c.cell_id)
        if st == "ok":
            groups["finished"].append(c)
        elif st == "failed":
            groups["failed"].append(c)
        elif is_running(results, s.name, c.cell_id):
            groups["running"].append(c)
        else:
            groups["pending"].append(c)
    stale = inventory.stale
    by_successor = {cell.successor: cell for cell in stale if cell.successor}
    console.print(f"study {s.name}: " + ", ".join(f"{len(v)} {k}" for k, v in groups.items())
                  + (f"; {len(stale)} stale" if stale else ""), markup=False)
    for name in ("failed",) if failed_only else ("running", "failed", "pending"):
        for c in groups[name]:
            old = by_successor.get(c.cell_id)
            console.print(f"  {name:8s} {c.cell_id}  {c.label}"
                          + (f"  (stale: {old.cell_id})" if old else ""), markup=False)
            if name == "failed":
                console.print(f"           {cell_error(results, s.name, c.cell_id)}",
                              markup=False)
    if stale and not failed_only:
        for cell in stale:
            if cell.successor is None or cell.successor not in by_successor:
                console.print(f"  stale    {cell.cell_id}  {cell.label}", markup=False)
        console.print(f"{_count(len(stale), 'stale cell')}: finished under an older "
                      f"configuration of the study, not counted as finished; the settings "
                      f"that differ from the study file now (in how many cells):",
                      markup=False, soft_wrap=True)
        for change, n in inventory.changes_summary():
            console.print(f"  {change} ({n})", markup=False, soft_wrap=True)
        console.print(f"see them as they ran: {_cmd('plot', study, results, '--as-run')}; "
                      f"run the study as it stands: {_cmd('run-grid', study, results)}",
                      markup=False, soft_wrap=True)
