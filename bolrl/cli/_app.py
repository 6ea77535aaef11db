"""The shared parts of the `bolrl` command line: the Typer app, its consoles, the options
several commands take, and small helpers (one-line errors, studies loaded with overrides)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

app = typer.Typer(
    help="Batch online RL ablation studies in MuJoCo (after Dong et al., 2025).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,  # plain help: reads on any terminal, flags without a "<bool>"
)
console = Console()
err_console = Console(stderr=True)

def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"bolrl {version('bolrl')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            print("bolrl (not installed)")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: bool = typer.Option(False, "--version", callback=_print_version,
                                      is_eager=True, help="Print the version and exit."),
) -> None:
    """Batch online RL ablation studies in MuJoCo (after Dong et al., 2025)."""


def fail(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def _progress() -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def _embedded_task(name: str):
    from bolrl.envs import TASKS, get_task
    from bolrl.envs.external import is_external

    if is_external(name) and name not in TASKS:
        fail(f"{name!r} is an external task: its demonstrations come from the expert or "
             f"demos_file its study names (check it with `bolrl tasks --check`)")
    try:
        return get_task(name)
    except ValueError as exc:
        fail(str(exc))


def _writable_dir(path: Path) -> Path:
    """Create `path` if needed and check that files can be written there."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
    except OSError as exc:
        fail(f"cannot write to {path}: {exc.strerror or exc}")
    return path


def _count(n: int, noun: str) -> str:
    """'1 cell', '2 cells'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _positive(value: int, what: str) -> int:
    if value <= 0:
        fail(f"{what} must be a positive integer, got {value}")
    return value



def _on_device_name(device: str) -> str:
    """`device` checked: a name this machine has (auto resolved)."""
    import re

    from bolrl.config import DEVICE_PATTERN

    if not re.fullmatch(DEVICE_PATTERN, device):
        fail(f"--device must be cpu, cuda, cuda:N or auto, got {device!r}")
    from bolrl.agent import torch_device

    try:
        return str(torch_device(device))
    except ValueError as exc:
        fail(str(exc))

# the --set overrides and --name of this command, repeated in the commands it suggests
_given: dict = {"sets": [], "name": None}


def _load_study(study: str | None, runnable: bool = True, sets: list[str] | None = None,
                name: str | None = None):
    """The study, validated, with `sets` (--set TABLE.KEY=VALUE) applied over its file;
    `runnable=False` for commands that only read its results (its tasks are not built, so a
    suite's study reads without the suite's extra)."""
    from bolrl.study import StudyError, find_study, load_study

    _given.update(sets=list(sets or []), name=name)
    try:
        s = load_study(find_study(study), runnable=runnable, overrides=sets or [], name=name)
    except StudyError as exc:
        fail(str(exc))
    _warn(s)
    return s


def _warn(s) -> None:
    """The study's likely mistakes (bolrl.study.likely_mistakes), one line each."""
    for warning in s.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False,
                          soft_wrap=True)


def _cmd(verb: str, study: str | None, results: Path, *args: str) -> str:
    """A bolrl command line to suggest, repeating the study, the --set overrides, --name and
    the --results the user gave: 'bolrl run-grid studies/x.toml --results /tmp/r
    --retry-failed'."""
    import shlex

    parts = ["bolrl", verb, *([study] if study else []), *args]
    for assignment in _given["sets"]:
        parts += ["--set", shlex.quote(assignment)]
    if _given["name"]:
        parts += ["--name", shlex.quote(_given["name"])]
    if Path(results) != Path("results"):
        parts += ["--results", str(results)]
    return " ".join(parts)


def _vet_results(results: Path, study_name: str) -> None:
    """Move corrupted cell files aside (their cells rerun) and refuse other schema versions."""
    from bolrl.results import IncompatibleResults, check_results

    try:
        moved = check_results(results, study_name)
    except IncompatibleResults as exc:
        fail(str(exc))
    for path in moved:
        err_console.print(f"[yellow]warning:[/] unreadable results file moved aside to {path}; "
                          f"its cell will be rerun")


TRACK_OPT = typer.Option([], "--track", help="An experiment tracker that watches every cell "
                         "(repeatable): tensorboard (event files in results/<study>/tensorboard/), "
                         "wandb (offline runs in results/<study>/wandb/), mlflow (a file store "
                         "in results/<study>/mlruns/); each its own extra. Not part of a "
                         "cell's identity.")


def _tracked(cells: list, track: list[str]) -> list:
    """The cells with these trackers, after checking that each is known and installed."""
    import dataclasses

    from bolrl.trackers import TrackerMissing, check

    if not track:
        return cells
    try:
        check(track)
    except (TrackerMissing, ValueError) as exc:
        fail(str(exc))
    return [dataclasses.replace(c, track=tuple(dict.fromkeys(track))) for c in cells]


DEVICE_OPT = typer.Option(None, "--device", help="Where networks train and act, for every "
                          "cell: cpu, cuda, cuda:N or auto (default: the study's "
                          "[train].device). Not part of a cell's identity.")


def _on_device(cells: list, device: str | None) -> list:
    """The cells with `device` (if given) in place of their [train].device, after checking
    that every device they name is on this machine."""
    import dataclasses

    if device is not None:
        _on_device_name(device)
        cells = [dataclasses.replace(c, train=dataclasses.replace(c.train, device=device))
                 for c in cells]
    for name in sorted({c.train.device for c in cells} - {"cpu", "auto"}):
        _on_device_name(name)
    return cells


def _claim_study_dir(results: Path, s) -> None:
    """Record which study file writes results/<name>, and warn when another file of the same
    [study].name has written there before (their cells would share one directory); save the
    study as it runs there (study.toml, an earlier different one to study-history/)."""
    from bolrl.files import write_atomic
    from bolrl.overrides import save as save_resolved

    marker = results / s.name / "study-file"
    here = str(Path(s.path).resolve())
    if Path(here) == (results / s.name / "study.toml").resolve():
        return  # the study as it ran, run again from its saved file: nothing new to record
    try:
        before = marker.read_text().strip() if marker.exists() else ""
        if before and before != here and Path(before).exists():
            err_console.print(f"[yellow]warning:[/] {results / s.name} also holds results of "
                              f"{before}, another study file with the name {s.name!r}; give "
                              f"one of them its own [study].name", highlight=False)
        if before != here:
            write_atomic(marker, lambda tmp: Path(tmp).write_text(here + "\n"))
        moved = save_resolved(results / s.name, s.resolved)
    except OSError as exc:
        fail(f"cannot write to {results / s.name}: {exc.strerror or exc}")
    if moved:
        err_console.print(f"note: the study's settings differ from its last run's; that run's "
                          f"study.toml is now {moved}", highlight=False, markup=False)


def _fmt_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


STUDY_ARG = typer.Argument(None, help="Study name (in ./studies) or path to a study TOML "
                                      "(default: quick).")
RESULTS_OPT = typer.Option(Path("results"), "--results", help="Results root directory.")
SET_OPT = typer.Option([], "--set", help="Override a setting of the study file, TABLE.KEY="
                       "VALUE (a TOML value; repeatable), e.g. --set train.lr=3e-4 --set "
                       "study.seeds=[0,1]. The study then has its own name and results "
                       "directory, e.g. quick+lr=3e-4 (or --name).")
NAME_OPT = typer.Option(None, "--name", help="The study's name (its results directory) in "
                        "place of the file's, or of the one --set derives.")
