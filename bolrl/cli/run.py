"""`bolrl run-grid`, `bolrl run-cell` and `bolrl calibrate`: running cells."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from bolrl.cli._app import (
    DEVICE_OPT,
    NAME_OPT,
    RESULTS_OPT,
    SET_OPT,
    STUDY_ARG,
    TRACK_OPT,
    _claim_study_dir,
    _cmd,
    _count,
    _fmt_duration,
    _load_study,
    _on_device,
    _positive,
    _tracked,
    _vet_results,
    _writable_dir,
    app,
    console,
    err_console,
    fail,
)


def _plain(line: str) -> None:
    """One line of progress where there is no terminal to redraw a bar on (nohup, CI, a
    scheduler's log): written and flushed at once, so a log file shows the run as it goes."""
    import sys

    console.print(line, markup=False, highlight=False, soft_wrap=True)
    sys.stdout.flush()


def eta_seconds(elapsed_s: float, done_price: float, left_price: float) -> float | None:
    """Seconds left at this run's own pace: its wall time so far per priced second of the
    cell-rounds it finished (rounds resumed or skipped from earlier runs not counted), times
    the price of the cell-rounds left; None before the first round. Prices are the cost
    model's (round_prices), so a grid whose slow methods run last is not promised an early
    end; and the pace is the whole run's, not a recent window: with several workers rounds
    finish in bursts, and a window's rate jumps from one line to the next."""
    if done_price <= 0:
        return None
    return elapsed_s / done_price * max(left_price, 0.0)


def round_prices(cells: list) -> dict[str, float]:
    """Each cell's price of one round, its cost-model estimate (bolrl.cost.study_seconds)
    over its rounds; only the ratios matter. Equal prices where a cell cannot be priced."""
    from bolrl.cost import study_seconds

    # an estimate must never stop a run: a task that fails to build fails in its own cell,
    # with its own error
    try:
        seconds = study_seconds(cells)
    except Exception:  # noqa: BLE001
        return {c.cell_id: 1.0 for c in cells}
    return {c.cell_id: max(s, 1e-9) / (c.rounds + 1) for c, s in zip(cells, seconds,
                                                                     strict=True)}


def _eta(left_s: float | None) -> str:
    """'about 12m left' (or 'no estimate yet')."""
    return f"about {_fmt_duration(left_s)} left" if left_s is not None else "no estimate yet"


def _open_log(results: Path, s, cells: list):
    """This run's log file, results/<study>/logs/run-<UTC time>.log, opened with a header;
    each event of the run is a line in it, terminal or not."""
    import shlex
    import sys
    from datetime import UTC, datetime

    from bolrl.provenance import git_sha

    logs = results / s.name / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    path = logs / f"run-{now.strftime('%Y%m%dT%H%M%SZ')}-{os.getpid()}.log"
    log = path.open("a", buffering=1)  # a line at a time: it can be read as the run goes
    log.write(f"{now.isoformat(timespec='seconds')} bolrl {shlex.join(sys.argv[1:])}\n"
              f"{now.isoformat(timespec='seconds')} study {s.name} ({s.path}), "
              f"{_count(len(cells), 'cell')} to run, git {git_sha()[:12] or 'unknown'}\n")
    return log


def _run_cells(s, cells, results: Path, workers: int, force: bool, executor: str = "local",
               ray_options: dict | None = None) -> list:
    from bolrl.executors import RayUnavailable, run_local, run_ray

    shown = _RunProgress(s, cells, _open_log(results, s, cells))
    try:
        with shown.progress:
            if executor == "ray":
                try:
                    return run_ray(cells, results, force, shown.on_event, **(ray_options or {}))
                except RayUnavailable as exc:
                    fail(str(exc))
            return run_local(cells, results, workers, force, shown.on_event)
    finally:
        shown.close()


class _RunProgress:
    """A run's progress: bars on a terminal, a line per event in the study's log (and on the
    console where there is no terminal: nohup, CI, Slurm)."""

    def __init__(self, s, cells: list, log):
        from rich.progress import SpinnerColumn, TextColumn

        self.s, self.cells, self.log = s, cells, log
        self.by_id = {c.cell_id: c for c in cells}
        self.total_rounds = sum(c.rounds + 1 for c in cells)
        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
            MofNCompleteColumn(), TimeRemainingColumn(), console=console,
        )
        self.overall = self.progress.add_task(f"{s.name}: 0/{len(cells)} cells, rounds",
                                              total=self.total_rounds)
        self.lines: dict[str, int] = {}
        self.done_rounds: dict[str, int] = {}
        self.finished: list[str] = []
        self.started = time.monotonic()
        self.prices = round_prices(cells)

    def _price(self, rounds: dict[str, int]) -> float:
        return sum(self.prices[cell_id] * n for cell_id, n in rounds.items())

    def _rounds_left(self) -> dict[str, int]:
        """Cell-rounds not yet run, of the cells not finished (a resumed cell's earlier rounds
        counted as left: a slight over-estimate until it finishes)."""
        finished = set(self.finished)
        return {c.cell_id: c.rounds + 1 - self.done_rounds.get(c.cell_id, 0)
                for c in self.cells if c.cell_id not in finished}

    def line(self, text: str, terminal_too: bool = False) -> None:
        """To the log file always; to the console where there is no terminal, or always
        with `terminal_too`."""
        from datetime import UTC, datetime

        self.log.write(f"{datetime.now(UTC).isoformat(timespec='seconds')} {text}\n")
        if terminal_too:
            self.progress.console.print(text, markup=False, highlight=False)
        elif not console.is_terminal:
            _plain(text)

    def on_event(self, event) -> None:
        kind, cell_id = event[0], event[1]
        cell = self.by_id[cell_id]
        if kind == "start":
            self.line(f"{cell.label} ({cell_id}): started")
        elif kind == "round":
            self._round(cell, cell_id, *event[2:])
        elif kind == "done":
            self._done(cell, cell_id, event[3])

    def _round(self, cell, cell_id: str, round_index: int, phase: str, *success) -> None:
        progress = self.progress
        if cell_id not in self.lines:
            self.lines[cell_id] = progress.add_task("", total=cell.rounds + 1)
        if phase == "done":
            self.done_rounds[cell_id] = self.done_rounds.get(cell_id, 0) + 1
            progress.advance(self.overall)
        progress.update(self.lines[cell_id], completed=self.done_rounds.get(cell_id, 0),
                        description=f"  {cell.label}: round {round_index} {phase}")
        if phase == "done":
            rate = f", success {success[0]:.2f}" if success else ""
            completed = progress.tasks[self.overall].completed
            left = eta_seconds(time.monotonic() - self.started, self._price(self.done_rounds),
                               self._price(self._rounds_left()))
            self.line(f"{cell.label} ({cell_id}): round {round_index} done{rate}; "
                      f"{completed:.0f}/{self.total_rounds} cell-rounds of the run, "
                      f"{_eta(left)}")

    def _done(self, cell, cell_id: str, final) -> None:
        if cell_id in self.lines:
            self.progress.remove_task(self.lines.pop(cell_id))
        skipped = cell.rounds + 1 - self.done_rounds.get(cell_id, 0)
        self.finished.append(cell_id)
        self.progress.update(self.overall, advance=skipped, description=f"{self.s.name}: "
                             f"{len(self.finished)}/{len(self.cells)} cells, rounds")
        result = f"final success {final:.2f}" if final is not None else "FAILED"
        self.line(f"{cell.label} ({cell_id}): {result}", terminal_too=True)

    def close(self) -> None:
        self.line(f"run ended: {len(self.finished)} of {_count(len(self.cells), 'cell')} "
                  f"finished or skipped")
        self.log.close()


def _print_plan(p, s, study: str | None, results: Path, rerun: bool) -> None:
    """What run-grid is about to do, and what it leaves as it is."""
    console.print(f"study {s.name}: {_count(len(s.cells), 'cell')}, {p.done} already done, "
                  f"{len(p.todo)} to run -> {results / s.name}")
    if p.extended:
        console.print(f"{_count(len(p.extended), 'cell')} go on from the last round of the "
                      f"same cell run for fewer rounds")
    if p.lost:
        one = len(p.lost) == 1
        err_console.print(f"[yellow]note:[/] {_count(len(p.lost), 'cell')} finished for fewer "
                          f"rounds before, but {'its' if one else 'their'} checkpoints are "
                          f"gone from {results / s.name / 'runs'}: "
                          f"{'it starts' if one else 'they start'} from round 0",
                          highlight=False)
    if p.stale:
        console.print(f"{_count(p.stale, 'stale cell')} of an older configuration of the "
                      f"study {'is' if p.stale == 1 else 'are'} kept beside the study's own "
                      f"(see `{_cmd('status', study, results)}`)", markup=False)
    if p.failed_before and not rerun:
        console.print(f"{_count(len(p.failed_before), 'cell')} failed before and "
                      f"{'is' if len(p.failed_before) == 1 else 'are'} left as they are (see "
                      f"`{_cmd('status', study, results, '--failed')}`; rerun with "
                      f"`{_cmd('run-grid', study, results, '--retry-failed')}`)", markup=False)


def _say_interrupted(s, study: str | None, results: Path, force_run: bool,
                     retry_failed: bool) -> None:
    """What a run-grid stopped by Ctrl-C kept, and the command that goes on."""
    from bolrl.results import cell_status

    done = sum(cell_status(results, s.name, c.cell_id) is not None for c in s.cells)
    if force_run:
        again = "--retry-failed" if retry_failed else "--force"
        err_console.print(f"interrupted: {done}/{len(s.cells)} cells have results; a cell "
                          f"rerun by --force keeps its previous results and checkpoints "
                          f"until its rerun finishes. Rerun with: "
                          f"{_cmd('run-grid', study, results, again)}",
                          markup=False, soft_wrap=True)
    else:
        err_console.print(f"interrupted: {done}/{len(s.cells)} cells finished and saved; "
                          f"unfinished cells resume from their last round with: "
                          f"{_cmd('run-grid', study, results)}", markup=False, soft_wrap=True)


@app.command("run-grid")
def run_grid(
    study: str = STUDY_ARG,
    workers: int = typer.Option(None, help="Worker processes (default: the number of cores)."),
    force: bool = typer.Option(False, "--force", help="Rerun finished cells (and retrain "
                               "their shared base policies)."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Rerun failed cells only."),
    results: Path = RESULTS_OPT,
    sets: list[str] = SET_OPT,
    name: str = NAME_OPT,
    executor: str = typer.Option("local", help="local (a process pool) or ray."),
    address: str = typer.Option(None, help="Ray cluster address (default: start a local "
                                "Ray instance)."),
    cpus_per_cell: float = typer.Option(1.0, help="Ray: CPUs per cell (its torch threads)."),
    gpus_per_cell: float = typer.Option(0.0, help="Ray: GPUs per cell (fractions allowed)."),
    device: str = DEVICE_OPT,
    track: list[str] = TRACK_OPT,
    return_rows: bool = typer.Option(False, "--return-rows", help="Ray: tasks return their "
                                     "rows and this process writes them (no shared "
                                     "filesystem needed; no resume of a lost cell)."),
) -> None:
    """Run every cell of a study (finished cells are skipped) and append results as parquet."""
    import shutil
    import time

    from bolrl.bases import bases_dir, spread
    from bolrl.planning import plan

    s = _load_study(study, sets=sets, name=name)
    workers = _check_run_options(workers, executor, cpus_per_cell, gpus_per_cell, track,
                                 return_rows)
    placed = {c.cell_id: c for c in _tracked(_on_device(s.cells, device), track)}
    results = _writable_dir(results)
    _vet_results(results, s.name)
    _claim_study_dir(results, s)
    ray_options = {"address": address, "cpus_per_cell": cpus_per_cell,
                   "gpus_per_cell": gpus_per_cell, "return_rows": return_rows}
    p = plan(s, results, force, retry_failed)
    _print_plan(p, s, study, results, force or retry_failed)
    todo, force_run = p.todo, p.force_run
    if not todo:
        return
    if force and not retry_failed:
        shutil.rmtree(bases_dir(results, s.name), ignore_errors=True)
    todo = spread([placed[c.cell_id] for c in todo])
    if executor == "ray":
        console.print(f"running on Ray ({address or 'a local instance'})")
    else:
        console.print(f"running with {_count(min(workers, len(todo)), 'worker')}")
    start = time.perf_counter()
    try:
        out = _run_cells(s, todo, results, min(workers, len(todo)), force_run, executor,
                         ray_options)
    except KeyboardInterrupt:
        _say_interrupted(s, study, results, force_run, retry_failed)
        raise typer.Exit(code=130) from None
    except OSError as exc:  # e.g. the results directory made unwritable during the run
        fail(f"cannot write results under {results / s.name}: {exc.strerror or exc}"
             f"{f' ({exc.filename})' if exc.filename else ''}; finished cells are kept, "
             f"rerun once it is writable")
    _say_outcome(out, time.perf_counter() - start, study, results)


def _check_run_options(workers: int | None, executor: str, cpus_per_cell: float,
                       gpus_per_cell: float, track: list[str], return_rows: bool) -> int:
    """run-grid's options checked; returns the number of workers."""
    workers = workers if workers is not None else (os.cpu_count() or 1)
    _positive(workers, "--workers")
    if executor not in ("local", "ray"):
        fail(f"--executor: unknown executor {executor!r}; choose from: local, ray")
    if cpus_per_cell <= 0 or gpus_per_cell < 0:
        fail("--cpus-per-cell must be positive and --gpus-per-cell non-negative")
    if track and return_rows:
        fail("--track with --return-rows: the tasks run in temporary directories that are "
             "deleted with their event files; run without --return-rows on a shared filesystem")
    return workers


def _say_outcome(out: list, seconds: float, study: str | None, results: Path) -> None:
    """How many cells ran, which another process holds, and which failed (exit code 1)."""
    failed = [r.cell_id for r in out if r.status == "failed"]
    locked = [r.cell_id for r in out if r.status == "locked"]
    console.print(f"ran {_count(len(out) - len(locked), 'cell')} in {_fmt_duration(seconds)}")
    if locked:
        console.print(f"{_count(len(locked), 'cell')} being run by another process: "
                      f"{', '.join(locked)}")
    if failed:
        err_console.print(f"[bold red]{_count(len(failed), 'cell')} failed:[/] "
                          f"{', '.join(failed)} (see "
                          f"`{escape(_cmd('status', study, results, '--failed'))}`; rerun them "
                          f"with `{escape(_cmd('run-grid', study, results, '--retry-failed'))}`)")
        raise typer.Exit(code=1)



@app.command("run-cell")
def run_cell_cmd(
    study: str = typer.Argument(..., help="Study name or path."),
    cell_id: str = typer.Argument(..., help="Cell id (see `bolrl show`)."),
    force: bool = typer.Option(False, "--force", help="Rerun even if finished."),
    results: Path = RESULTS_OPT,
    sets: list[str] = SET_OPT,
    name: str = NAME_OPT,
    device: str = DEVICE_OPT,
    track: list[str] = TRACK_OPT,
) -> None:
    """Run one cell in this process (for debugging and for job arrays)."""
    from bolrl.study import StudyError

    s = _load_study(study, sets=sets, name=name)
    try:
        cell = s.cell(cell_id)
    except StudyError as exc:
        fail(str(exc))
    cell = _tracked(_on_device([cell], device), track)[0]
    results = _writable_dir(results)
    _vet_results(results, s.name)
    _claim_study_dir(results, s)
    r = _run_cells(s, [cell], results, 1, force)[0]
    if r.status == "skipped":
        console.print(f"cell {cell_id} is already finished (rerun it with "
                      f"`{_cmd('run-cell', study, results, cell_id, '--force')}`)", markup=False)
    elif r.status == "locked":
        fail(f"cell {cell_id} is being run by another process")
    elif r.status == "failed":
        err_console.print(f"cell {cell_id} failed: {r.error.splitlines()[0]}", markup=False)
        raise typer.Exit(code=1)


@app.command()
def calibrate(
    study: str = STUDY_ARG,
    results: Path = RESULTS_OPT,
    sets: list[str] = SET_OPT,
    name: str = NAME_OPT,
    workers: int = typer.Option(None, help="Worker processes (default: the number of cores)."),
) -> None:
    """Choose each task's demonstration count on the study's calibration seeds, so that the
    base policy's success lies in [study].base_band; prints every point measured and the
    lines to paste into the study file."""
    from bolrl import calibrate as cal
    from bolrl.executors import run_local
    from bolrl.results import load_results

    s = _load_study(study, sets=sets, name=name)
    seeds = list(s.table.calibration_seeds)
    if not seeds:
        fail(f"{s.path}: [study].calibration_seeds is empty: name seeds that are not among the "
             f"study's seeds {s.table.seeds}, e.g. calibration_seeds = [100, 101, 102]")
    workers = _positive(workers if workers is not None else (os.cpu_count() or 1), "--workers")
    results = _writable_dir(results)
    band = cal.study_band(s)
    tasks = list(dict.fromkeys(c.task for c in s.cells))
    console.print(f"calibrating {s.name}: demonstrations per task for a base success of "
                  f"{100 * band[0]:.0f}-{100 * band[1]:.0f}% on calibration seeds {seeds} "
                  f"(results in {results / (s.name + '.calibration')})", markup=False)
    points: list = []
    chosen: dict[tuple[str, str], int] = {}
    for task, style in [(t, st) for t in tasks for st in cal.styles_of(s, t)]:
        template = cal.base_template(s, task, style)
        label = task if len(cal.styles_of(s, task)) == 1 else f"{task} ({style})"

        def measure(n: int, template=template, task=task, style=style, label=label) -> float:
            cells = cal.probes(template, n, seeds)
            out = run_local(cells, results, min(workers, len(cells)))
            bad = [r for r in out if r.status == "failed"]
            if bad:
                fail(f"calibration of {task} at {n} demos failed: {bad[0].error.splitlines()[0]}")
            frame = load_results(results, cells[0].study)
            rates = []
            for c in cells:
                success = float(frame.loc[frame["cell_id"] == c.cell_id,
                                          "eval_success_rate"].iloc[-1])
                points.append(cal.Point(task, n, c.seed, success, style))
                rates.append(success)
            mean = sum(rates) / len(rates)
            console.print(f"  {label}: {n} demos -> " + " / ".join(
                f"{100 * r:.0f}" for r in rates) + f"% (mean {100 * mean:.0f})", markup=False)
            return mean

        low, high = cal.bounds(s, task)
        chosen[(task, style)], _ = cal.bisect(measure, template.demos, low, high, band)
    console.print("paste into the study file's [study] table (with the points above):",
                  markup=False)
    console.print(cal.header(s, chosen, points, s.table.eval_episodes), markup=False,
                  soft_wrap=True)
