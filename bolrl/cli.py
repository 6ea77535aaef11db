"""The `bolrl` command line. Thin: parse, validate, call, print."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

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


@app.command()
def tasks(
    episodes: int = typer.Option(100, help="Expert episodes per task for its success rate."),
    seed: int = typer.Option(0, help="Seed of the expert episodes."),
    check: str = typer.Option(None, "--check", help="Validate an external task instead: "
                              "gym:ENV-ID or module.path:make_env."),
    imports: list[str] = typer.Option([], "--import", help="Module to import first (for "
                                      "gym ids); repeatable."),
    expert: str = typer.Option(None, help="Scripted expert of the external task, "
                               "module.path:fn."),
    success: str = typer.Option(None, help="Success function of the external task, "
                                "module.path:fn (else info['is_success'])."),
    horizon: int = typer.Option(None, help="Horizon, if the environment has none."),
    suite: str = typer.Option("embedded", help="Which tasks to list: embedded, metaworld "
                              "(the Meta-World extra's 50 tasks) or robomimic (the robosuite "
                              "extra's Lift, Can and Square)."),
    modes: bool = typer.Option(False, "--modes", help="Instead: how multimodal each embedded "
                               "task's demonstrations are, per style (bolrl/multimodality.py)."),
) -> None:
    """List the embedded tasks (sizes, horizon, expert success), or check an external one."""
    from bolrl.demos import expert_success_rate
    from bolrl.envs import TASKS, get_task
    from bolrl.envs.suites import SUITES

    _positive(episodes, "--episodes")
    if check is not None:
        _check_task(check, tuple(imports), expert, success, horizon, episodes, seed)
        return
    if modes:
        _print_modes([get_task(name) for name in TASKS], episodes, seed)
        return
    modules = {name: entry.load() for name, entry in SUITES.items()}
    suites = {"embedded": list(TASKS),
              **{name: module.task_names() for name, module in modules.items()}}
    if suite not in suites:
        fail(f"--suite: unknown suite {suite!r}; choose from: {', '.join(suites)}")
    if suite != "embedded" and not suites[suite]:
        fail(f"--suite {suite}: {modules[suite].INSTALL}")
    names = suites[suite]
    table = Table(title=f"bolrl tasks (expert success over {episodes} seeded episodes)")
    columns = ("task", "gym id", "obs", "act", "horizon", "expert")
    if suite == "embedded":
        columns = (*columns, "multimodal")
    for col in columns if suite == "embedded" else [c for c in columns if c != "gym id"]:
        table.add_column(col, no_wrap=col != "gym id", overflow="fold")  # 80 columns fit
    with _progress() as progress:
        job = progress.add_task("running the scripted experts", total=len(names))
        for name in names:
            task = get_task(name)
            scripted = getattr(getattr(task, "layout", None), "scripted", True)
            rate = expert_success_rate(task, episodes, seed) if scripted else None
            sizes = [str(task.obs_dim), str(task.act_dim), str(task.horizon),
                     f"{100 * rate:.0f}%" if rate is not None else "none (import demos)"]
            if suite == "embedded":  # and the multimodal expert, where the task has one
                multi = ("-" if "multimodal" not in task.styles else
                         f"{100 * expert_success_rate(task, episodes, seed, 'multimodal'):.0f}%")
                table.add_row(name, task.gym_id, *sizes, multi)
            else:
                table.add_row(name, *sizes)
            progress.advance(job)
    console.print(table)
    if suite == "embedded":
        for name in names:
            console.print(f"{name}: {get_task(name).description}", markup=False)
        for name, entry in SUITES.items():
            console.print(f"{entry.doc} ({entry.prefix}...): bolrl tasks --suite {name}"
                          if suites[name] else f"{entry.doc}: {modules[name].INSTALL}",
                          markup=False)


def _print_modes(tasks: list, episodes: int, seed: int) -> None:
    from bolrl import multimodality

    pairs = [(task, style) for task in tasks for style in task.styles]
    measured = []
    with _progress() as progress:
        job = progress.add_task("measuring the demonstrations", total=len(pairs))
        for task, style in pairs:
            measured.append(multimodality.measure(task, style, episodes=episodes, seed=seed))
            progress.advance(job)
    table = Table(title="How multimodal the demonstrations are")
    for col in multimodality.COLUMNS:
        table.add_column(col, no_wrap=col == "task", overflow="fold")
    for row in multimodality.rows(measured):
        table.add_row(*row)
    console.print(table)
    console.print(multimodality.READING, markup=False)


def _check_task(name, imports, expert, success, horizon, episodes, seed) -> None:
    from bolrl.envs.external import TaskError, TaskSpec, is_external, probe

    if not is_external(name):
        fail(f"--check: {name!r} is not an external task; write gym:ENV-ID or "
             f"module.path:make_env")
    spec = TaskSpec(name, imports=imports, horizon=horizon, success=success, expert=expert)
    try:
        found = probe(spec, episodes, seed)
    except TaskError as exc:
        fail(str(exc))
    task = found.task
    console.print(f"[green]ok[/] {escape(name)}: observation {task.obs_dim} floats, action "
                  f"{task.act_dim} floats (Box, finite bounds), horizon {task.horizon}")
    source = f"success function {success}" if success else "info['is_success']"
    console.print(f"[green]ok[/] success signal: {escape(source)}")
    console.print(f"[green]ok[/] {found.steps_per_s:,.0f} steps/s "
                  f"(16 environments, Gymnasium SyncVectorEnv, random actions)")
    if found.expert_success is not None:
        rate = found.expert_success
        mark = "[green]ok[/]" if rate >= 0.5 else "[yellow]warning[/]"
        console.print(f"{mark} expert success {100 * rate:.0f}% over {episodes} episodes")
    else:
        console.print("[yellow]note[/] no --expert: demonstrations must come from a demos_file")


@app.command()
def demos(
    task: str = typer.Argument(..., help="Task name (see `bolrl tasks`), or `import` to "
                               "convert a dataset: bolrl demos import FILE --task TASK."),
    file: Path = typer.Argument(None, help="With import: a robomimic or Minari HDF5 file."),
    episodes: int = typer.Option(None, "--episodes", "-n", "--n",
                                 help="Successful demonstrations to generate (default 20); "
                                 "with import: the first N demos of the file (default all)."),
    seed: int = typer.Option(0, help="Seed of the demonstrations."),
    style: str = typer.Option("scripted", "--style", help="Demonstration style: scripted or "
                              "multimodal (lift, nut-assembly)."),
    cache_dir: Path = typer.Option(
        None, help="Cache root (default $BOLRL_CACHE or ~/.cache/bolrl)."
    ),
    into: str = typer.Option(None, "--task", help="With import: the task the demos are for, "
                             "e.g. robomimic/lift."),
    out: Path = typer.Option(None, "--out", help="With import: the .npz to write (default "
                             "<cache>/demos/imported/<file>-<task>.npz)."),
    split: str = typer.Option(None, "--split", help="With import of a robomimic dataset: only "
                              "the demos of its mask/<split> (train or valid)."),
    only_successful: bool = typer.Option(False, "--only-successful", help="With import: drop "
                                         "demos that never succeed (as bolrl's own demos)."),
    terminations_are_success: bool = typer.Option(
        False, "--terminations-are-success", help="With import of a Minari dataset: its "
        "terminations mean success (for files whose infos record none)."),
) -> None:
    """Generate (or load from the cache) scripted demonstrations of a task, or import a
    robomimic or Minari dataset as a task's demonstrations."""
    from bolrl.demos import cache_dir as default_cache
    from bolrl.demos import demo_path, demonstrations

    if task == "import":
        from bolrl.importers import Options

        _import_demos(file, into, episodes, out, cache_dir or default_cache(),
                      Options(split=split, only_successful=only_successful,
                              terminations_are_success=terminations_are_success))
        return
    if split or only_successful or terminations_are_success:
        fail("--split, --only-successful and --terminations-are-success go with `bolrl demos "
             "import`")
    if file is not None or into is not None or out is not None:
        fail(f"a file, --task and --out go with `bolrl demos import`; to generate demos of "
             f"{task!r}, give only its name")
    t = _embedded_task(task)
    if style not in getattr(t, "styles", ("scripted",)):
        fail(f"--style: task {task!r} has the styles {', '.join(getattr(t, 'styles', ()))}, "
             f"not {style!r}")
    episodes = 20 if episodes is None else _positive(episodes, "--episodes")
    root = _writable_dir(cache_dir or default_cache())
    path = demo_path(t, episodes, seed, root, style)
    cached = path.exists()
    with _progress() as bar:
        job = bar.add_task(f"{task} demos", total=episodes, completed=episodes if cached else 0)
        data = demonstrations(t, episodes, seed, root, progress=lambda k: bar.advance(job, k),
                              style=style)
    lengths = data.episode_lengths
    console.print(
        f"{'loaded' if cached else 'wrote'} {path}: {data.n_episodes} episodes, "
        f"{data.n_transitions} transitions, length {lengths.mean():.0f} "
        f"(min {lengths.min()}, max {lengths.max()})"
    )


def _import_demos(file: Path | None, task_name: str | None, n: int | None, out: Path | None,
                  root: Path, options=None) -> None:
    from bolrl.demos import from_file
    from bolrl.envs.external import TaskError
    from bolrl.importers import DatasetError, read, target

    if file is None:
        fail("bolrl demos import: name the dataset file, e.g. bolrl demos import "
             "low_dim.hdf5 --task robomimic/lift")
    if task_name is None:
        fail(f"bolrl demos import {file}: name the task with --task, e.g. --task "
             f"robomimic/lift")
    if n is not None:
        _positive(n, "--n")
    if options is not None and options.split not in (None, "train", "valid"):
        fail(f"--split: unknown split {options.split!r}; choose train or valid")
    try:
        goal = target(task_name)
        found = read(file, goal, n, options)
    except (DatasetError, TaskError, ValueError) as exc:
        fail(str(exc))
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in task_name)
    if out is None:
        stem = Path(file).stem if not Path(file).is_dir() else Path(file).name
        tags = [f"n{n}" if n else "", options.split if options and options.split else "",
                "ok" if options and options.only_successful else ""]
        out = _writable_dir(root / "demos" / "imported") / (
            "-".join([f"{stem}-{safe}", *filter(None, tags)]) + ".npz")
    else:
        _writable_dir(out.parent if str(out.parent) else Path("."))
    data = found.episodes
    data.save(out, task=task_name, source=found.source, dataset=str(file))
    try:  # the file reads back as a study will read it (finite values, actions in [-1, 1])
        from_file(goal, out, data.n_episodes)
    except ValueError as exc:
        out.unlink(missing_ok=True)
        fail(f"{file}: {exc}")
    lengths = data.episode_lengths
    console.print(
        f"wrote {out}: {data.n_episodes} of the file's {found.available} "
        f"{found.source} demos ({found.env_name or 'environment not recorded'}), "
        f"{data.n_transitions} transitions, length {lengths.mean():.0f} (min {lengths.min()}, "
        f"max {lengths.max()})", markup=False, soft_wrap=True)
    if found.unsuccessful:
        console.print(f"[yellow]note[/] {found.unsuccessful} of them never succeed: kept as "
                      f"failed episodes (filtered BC drops them; --only-successful drops "
                      f"them here)")
    console.print(f'use it in a study: [tasks."{task_name}"] demos_file = "{out}"',
                  markup=False, soft_wrap=True)  # a path to copy whole


BENCHMARKS = ("envs", "train", "cell", "metaworld", "robomimic")
# the suites' benchmarks: (task measured, environments in the batch)
SUITE_BENCHMARKS = {"metaworld": ("metaworld/pick-place-v3", 16),
                    "robomimic": ("robomimic/lift", 8)}


@app.command()
def bench(
    what: str = typer.Argument("all", help="What to measure: envs, train, cell, metaworld "
                               "or robomimic (with their extras), or all."),
    n_envs: int = typer.Option(100, help="Environments in the batch."),
    seconds: float = typer.Option(2.0, help="Measuring time per figure."),
    output: Path = typer.Option(Path("results/bench.json"), help="Where to write the figures."),
    device: str = typer.Option("cpu", "--device", help="Device of the training benchmark: cpu, "
                               "cuda, cuda:N (its figures go to section train-<device>)."),
) -> None:
    """Measure throughput and write it to results/bench.json."""
    if what not in (*BENCHMARKS, "all"):
        fail(f"unknown benchmark {what!r}; choose from: {', '.join(BENCHMARKS)}, all")
    _positive(n_envs, "--n-envs")
    if not seconds > 0:  # also refuses nan
        fail(f"--seconds must be a positive number, got {seconds}")
    if what in ("envs", "all"):
        _bench_envs(n_envs, seconds, output)
    if what in ("train", "all"):
        _bench_train(output, _on_device_name(device))
    if what in ("cell", "all"):
        _bench_cell(output)
    for suite in SUITE_BENCHMARKS:
        if what == suite or (what == "all" and _suite(suite).available()):
            _bench_suite(suite, seconds, output)


def _suite(name: str):
    """The module of an optional suite (its `available()` and `INSTALL`)."""
    from bolrl.envs.suites import SUITES

    return SUITES[name].load()


def _bench_suite(suite: str, seconds: float, output: Path) -> None:
    from bolrl import bench as benchmarks

    module = _suite(suite)
    if not module.available():
        fail(f"bench {suite}: {module.INSTALL}")
    task, n_envs = SUITE_BENCHMARKS[suite]
    with console.status(f"measuring {suite} collection throughput..."):
        f = benchmarks.bench_vector(task, n_envs, seconds)
    console.print(f"{f['task']}, random actions, control steps/s: one environment "
                  f"{f['single_env_steps_per_s']:,.0f}; {f['batch']} in this process "
                  f"(vector_env = \"sync\") {f['sync_vector_steps_per_s']:,.0f}; "
                  f"{f['batch']} in a worker process each (vector_env = \"async\") "
                  f"{f['async_vector_steps_per_s']:,.0f}, on {f['cpus']} cores", markup=False)
    benchmarks.write_section(output, suite, f)
    console.print(f"wrote {output}")


def _bench_cell(output: Path) -> None:
    import subprocess

    from bolrl import bench as benchmarks
    from bolrl.study import find_study

    workers = os.cpu_count() or 1
    with console.status("running one cell of the paper study (round 0 and round 1)..."):
        cell = benchmarks.bench_cell(find_study("paper"), rounds=1)
    console.print(f"one paper-study cell, {cell['cell']}, rounds 0-{cell['rounds_run']}: "
                  f"{cell['wall_s']} s wall (collect {cell['collect_s']} s, train "
                  f"{cell['train_s']} s, evaluate {cell['eval_s']} s), peak worker memory "
                  f"{cell['peak_memory_mib']} MiB (target <= 2048)", markup=False)
    reference = None
    with console.status(f"the same cell at {benchmarks.REFERENCE_REVISION}..."):
        try:
            reference = benchmarks.bench_cell_reference(rounds=1)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            err_console.print(f"no ratio: {escape(str(exc))}", highlight=False)
    if reference and reference.get("cell") == cell["cell"]:  # ids differ: demos versions
        times = {k: benchmarks.ratio(reference[k], cell[k]) for k in
                 ("train_s", "collect_s", "eval_s", "wall_s")}
        cell["speedup_vs_reference"] = {k: round(v, 2) for k, v in times.items()}
        console.print(f"  x faster than at {benchmarks.REFERENCE_REVISION} in the same run: "
                      f"train {times['train_s']:.2f}, collect {times['collect_s']:.2f}, "
                      f"evaluate {times['eval_s']:.2f}, wall {times['wall_s']:.2f}",
                      markup=False)
    elif reference:
        console.print(f"  (no ratio: at {benchmarks.REFERENCE_REVISION} the paper study's most "
                      f"expensive cell was {reference.get('cell')})", markup=False)
    cell["reference"] = {"revision": benchmarks.REFERENCE_REVISION, "figures": reference}
    projections = [benchmarks.project_study(find_study(name), workers)
                   for name in ("paper", "quick")]
    for p in projections:
        console.print(f"projected: study {p['study']}, {p['cells']} cells, {p['core_hours']} "
                      f"core-hours, about {p['projected_wall_h']} h on {workers} cores "
                      f"(cost model of bolrl/cost.py)")
    benchmarks.write_section(output, "cell", {"paper_cell": cell, "projections": projections})
    console.print(f"wrote {output}")


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


def _bench_train(output: Path, device: str = "cpu") -> None:
    import dataclasses
    import subprocess

    from bolrl import bench as benchmarks
    from bolrl.study import find_study, load_study

    base = load_study(find_study("paper")).cells[0].agent  # the paper study's sizes
    base = dataclasses.replace(base, train=dataclasses.replace(base.train, device=device))
    with console.status(f"measuring training and acting throughput (1 thread, {device})..."):
        figures = benchmarks.bench_train(base)
    speedups = None
    if device == "cpu":
        with console.status(f"this tree against {benchmarks.REFERENCE_REVISION} (the code before "
                            f"the speed-ups), alternately in fresh processes, 3 times each..."):
            try:
                speedups = benchmarks.train_speedups()
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                err_console.print(f"no ratio: {escape(str(exc))}", highlight=False)
    figures["device"] = device
    sizes = figures["sizes"]
    table = Table(title=f"learning on {device}, 1 CPU thread: {sizes}")
    matmuls = figures["matmul_reference_gflops"]
    table.add_column("policy/method", no_wrap=True)
    table.add_column("gradient steps/s (batch 256)")
    table.add_column("actions/s (100 obs)")
    table.add_column(f"GFLOP/s (matmuls alone: {matmuls:.0f})")
    if speedups:
        table.add_column(f"x steps/s of {benchmarks.REFERENCE_REVISION} (median of 3)")
    for name, f in figures.items():
        if isinstance(f, dict) and "grad_steps_per_s" in f:
            row = [name, f"{f['grad_steps_per_s']:,.0f}", f"{f['actions_per_s']:,.0f}",
                   f"{f['achieved_gflops']:.1f} ({f['achieved_gflops'] / matmuls:.2f})"]
            if speedups:
                row.append(f"{speedups[name]['speedup']:.2f}" if name in speedups else "-")
            table.add_row(*row)
    console.print(table)
    if speedups is None and device == "cpu":
        console.print(f"(no ratio: revision {benchmarks.REFERENCE_REVISION} is not in this "
                      f"checkout's git history)", markup=False)
    figures["speedup_vs_reference"] = {"revision": benchmarks.REFERENCE_REVISION,
                                       "methods": speedups}
    benchmarks.write_section(output, "train" if device == "cpu" else f"train-{device}", figures)
    console.print(f"wrote {output}")


def _bench_envs(n_envs: int, seconds: float, output: Path) -> None:
    from bolrl import bench as benchmarks

    with console.status("measuring environment throughput..."):
        figures = benchmarks.bench_envs(n_envs, seconds)
    table = Table(title=f"environments: batch of {n_envs}, one process, raw MuJoCo")
    table.add_column("task", no_wrap=True)
    for col in ("control steps/s", "raw mj_step/s", "substeps", "ratio (target >= 0.5)"):
        table.add_column(col)
    for name, f in figures.items():
        table.add_row(
            name, f"{f['control_steps_per_s']:,.0f}", f"{f['raw_mj_steps_per_s']:,.0f}",
            str(f["substeps"]), f"{f['ratio']:.2f}",
        )
    console.print(table)
    benchmarks.write_section(output, "envs", figures)
    console.print(f"wrote {output}")


# ---------------------------------------------------------------- studies and the grid


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
    from bolrl.cost import estimate_seconds

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
    estimates = [estimate_seconds(c) for c in s.cells]
    rows = [{"cell id": c.cell_id, "task": c.task, "seed": str(c.seed),
             "method": c.method_name,
             "sigma": f"{c.noise_params.sigma:g}" if c.noise != "none" else "-",
             "E/round": str(c.episodes_per_round),
             "rounds": str(c.rounds), "est. time": _fmt_duration(est)}
            for c, est in zip(s.cells, estimates, strict=True)]
    total = sum(estimates)
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
    for point, reason in s.dropped:
        console.print(f"dropped {point['algorithm']} + extraction {point['extraction']}: {reason}")
    workers = os.cpu_count() or 1
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
    _print_design(s, results, total, workers)


def _print_design(s, results: Path, total: float, workers: int) -> None:
    """What the study can detect (bolrl/design.py), and what more seeds or evaluation
    episodes would buy and cost."""
    import dataclasses

    from bolrl import design
    from bolrl.cost import estimate_seconds
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
    extra_eval = sum(estimate_seconds(c) for c in more_eval) - total
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
    from bolrl.results import cell_error, study_dir

    s = _load_study(study, runnable=False, sets=sets, name=name)
    _vet_results(results, s.name)
    if not (study_dir(results, s.name) / "cells").is_dir():
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


def _plain(line: str) -> None:
    """One line of progress where there is no terminal to redraw a bar on (nohup, CI, a
    scheduler's log): written and flushed at once, so a log file shows the run as it goes."""
    import sys

    console.print(line, markup=False, highlight=False, soft_wrap=True)
    sys.stdout.flush()


def _eta(task) -> str:
    """'about 12m left' from a rich progress task's own rate (or 'no estimate yet')."""
    left = task.time_remaining
    return f"about {_fmt_duration(left)} left" if left is not None else "no estimate yet"


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
    from datetime import UTC, datetime

    from rich.progress import SpinnerColumn, TextColumn

    from bolrl.executors import RayUnavailable, run_local, run_ray

    total_rounds = sum(c.rounds + 1 for c in cells)
    by_id = {c.cell_id: c for c in cells}
    progress = Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(), console=console,
    )
    overall = progress.add_task(f"{s.name}: 0/{len(cells)} cells, rounds", total=total_rounds)
    lines: dict[str, int] = {}
    done_rounds: dict[str, int] = {}
    finished: list[str] = []
    log = _open_log(results, s, cells)

    def event_line(line: str, terminal_too: bool = False) -> None:
        """To the log file always; to the console where there is no terminal (nohup, CI,
        Slurm: a line each), or always with `terminal_too`."""
        log.write(f"{datetime.now(UTC).isoformat(timespec='seconds')} {line}\n")
        if terminal_too:
            progress.console.print(line, markup=False, highlight=False)
        elif not console.is_terminal:
            _plain(line)

    def on_event(event) -> None:
        kind, cell_id = event[0], event[1]
        cell = by_id[cell_id]
        if kind == "start":
            event_line(f"{cell.label} ({cell_id}): started")
            return
        if kind == "round":
            round_index, phase = event[2], event[3]
            if cell_id not in lines:
                lines[cell_id] = progress.add_task("", total=cell.rounds + 1)
            if phase == "done":
                done_rounds[cell_id] = done_rounds.get(cell_id, 0) + 1
                progress.advance(overall)
            progress.update(lines[cell_id], completed=done_rounds.get(cell_id, 0),
                            description=f"  {cell.label}: round {round_index} {phase}")
            if phase == "done":
                success = f", success {event[4]:.2f}" if len(event) > 4 else ""
                event_line(f"{cell.label} ({cell_id}): round {round_index} done{success}; "
                           f"{progress.tasks[overall].completed:.0f}/{total_rounds} cell-rounds "
                           f"of the run, {_eta(progress.tasks[overall])}")
        elif kind == "done":
            _, _, st, final = event
            if cell_id in lines:
                progress.remove_task(lines.pop(cell_id))
            skipped = cell.rounds + 1 - done_rounds.get(cell_id, 0)
            finished.append(cell_id)
            progress.update(overall, advance=skipped,
                            description=f"{s.name}: {len(finished)}/{len(cells)} cells, rounds")
            result = f"final success {final:.2f}" if final is not None else "FAILED"
            event_line(f"{cell.label} ({cell_id}): {result}", terminal_too=True)

    try:
        with progress:
            if executor == "ray":
                try:
                    return run_ray(cells, results, force, on_event, **(ray_options or {}))
                except RayUnavailable as exc:
                    fail(str(exc))
            return run_local(cells, results, workers, force, on_event)
    finally:
        event_line(f"run ended: {len(finished)} of {_count(len(cells), 'cell')} finished or "
                   f"skipped")
        log.close()


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
    from bolrl.results import cell_status

    s = _load_study(study, sets=sets, name=name)
    workers = workers if workers is not None else (os.cpu_count() or 1)
    _positive(workers, "--workers")
    if executor not in ("local", "ray"):
        fail(f"--executor: unknown executor {executor!r}; choose from: local, ray")
    if cpus_per_cell <= 0 or gpus_per_cell < 0:
        fail("--cpus-per-cell must be positive and --gpus-per-cell non-negative")
    if track and return_rows:
        fail("--track with --return-rows: the tasks run in temporary directories that are "
             "deleted with their event files; run without --return-rows on a shared filesystem")
    placed = {c.cell_id: c for c in _tracked(_on_device(s.cells, device), track)}
    results = _writable_dir(results)
    _vet_results(results, s.name)
    _claim_study_dir(results, s)
    ray_options = {"address": address, "cpus_per_cell": cpus_per_cell,
                   "gpus_per_cell": gpus_per_cell, "return_rows": return_rows}
    states = {c.cell_id: cell_status(results, s.name, c.cell_id) for c in s.cells}
    failed_before = [c for c in s.cells if states[c.cell_id] == "failed"]
    if retry_failed:  # the failed cells again, and whatever has not run yet
        todo = [c for c in s.cells if states[c.cell_id] in ("failed", None)]
        force_run = True
    else:
        todo = [c for c in s.cells if force or states[c.cell_id] is None]
        force_run = force
    done = sum(states[c.cell_id] == "ok" for c in s.cells if c not in todo)
    console.print(f"study {s.name}: {_count(len(s.cells), 'cell')}, {done} already done, "
                  f"{len(todo)} to run -> {results / s.name}")
    if not force_run:
        from bolrl.extend import finished_lineages, predecessor

        lineages = finished_lineages(results, s.name)
        extended = [c for c in todo if predecessor(results, c, lineages) is not None]
        if extended:
            console.print(f"{_count(len(extended), 'cell')} go on from the last round of the "
                          f"same cell run for fewer rounds")
        any_run = finished_lineages(results, s.name, need_checkpoint=False)
        lost = [c for c in todo if c not in extended and predecessor(results, c, any_run)]
        if lost:
            err_console.print(f"[yellow]note:[/] {_count(len(lost), 'cell')} finished for fewer "
                              f"rounds before, but {'its' if len(lost) == 1 else 'their'} "
                              f"checkpoints are gone from {results / s.name / 'runs'}: "
                              f"{'it starts' if len(lost) == 1 else 'they start'} from round 0",
                              highlight=False)
    from bolrl.inventory import take

    stale = take(s, results).stale
    if stale:
        console.print(f"{_count(len(stale), 'stale cell')} of an older configuration of the "
                      f"study {'is' if len(stale) == 1 else 'are'} kept beside the study's own "
                      f"(see `{_cmd('status', study, results)}`)", markup=False)
    if failed_before and not retry_failed and not force:
        console.print(f"{_count(len(failed_before), 'cell')} failed before and "
                      f"{'is' if len(failed_before) == 1 else 'are'} left as they are (see "
                      f"`{_cmd('status', study, results, '--failed')}`; rerun with "
                      f"`{_cmd('run-grid', study, results, '--retry-failed')}`)", markup=False)
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
        done = sum(cell_status(results, s.name, c.cell_id) is not None for c in s.cells)
        again = "--retry-failed" if retry_failed else "--force"
        if force_run:
            err_console.print(f"interrupted: {done}/{len(s.cells)} cells have results; a cell "
                              f"rerun by --force keeps its previous results and checkpoints "
                              f"until its rerun finishes. Rerun with: "
                              f"{_cmd('run-grid', study, results, again)}",
                              markup=False, soft_wrap=True)
        else:
            err_console.print(f"interrupted: {done}/{len(s.cells)} cells finished and saved; "
                              f"unfinished cells resume from their last round with: "
                              f"{_cmd('run-grid', study, results)}", markup=False,
                              soft_wrap=True)
        raise typer.Exit(code=130) from None
    except OSError as exc:  # e.g. the results directory made unwritable during the run
        fail(f"cannot write results under {results / s.name}: {exc.strerror or exc}"
             f"{f' ({exc.filename})' if exc.filename else ''}; finished cells are kept, "
             f"rerun once it is writable")
    failed = [r.cell_id for r in out if r.status == "failed"]
    locked = [r.cell_id for r in out if r.status == "locked"]
    elapsed = _fmt_duration(time.perf_counter() - start)
    console.print(f"ran {_count(len(out) - len(locked), 'cell')} in {elapsed}")
    if locked:
        console.print(f"{_count(len(locked), 'cell')} being run by another process: "
                      f"{', '.join(locked)}")
    if failed:
        err_console.print(f"[bold red]{_count(len(failed), 'cell')} failed:[/] "
                          f"{', '.join(failed)} (see "
                          f"`{escape(_cmd('status', study, results, '--failed'))}`; rerun them "
                          f"with `{escape(_cmd('run-grid', study, results, '--retry-failed'))}`)")
        raise typer.Exit(code=1)


@app.command()
def export(
    study: str = STUDY_ARG,
    results: Path = RESULTS_OPT,
    sets: list[str] = SET_OPT,
    name: str = NAME_OPT,
    out: Path = typer.Option(None, "--out", help="The CSV to write (default: "
                             "results/<study>/rows.csv)."),
    as_run: bool = typer.Option(False, "--as-run", help="Every finished cell of the folder as "
                                "it ran, stale ones included (as plot --as-run)."),
) -> None:
    """Write a study's rows (one per cell and round, every column of the results schema) to
    CSV, for spreadsheets and other tools: the study's current cells, or --as-run."""
    s = _load_study(study, runnable=False, sets=sets, name=name)
    _vet_results(results, s.name)
    frame, _ = _rows_to_plot(s, study, results, as_run)
    if out is None:
        from bolrl.results import study_dir

        out = study_dir(results, s.name) / "rows.csv"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.sort_values(["cell_id", "round"]).to_csv(out, index=False)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}; choose another file with --out")
    console.print(f"wrote {out}: {len(frame)} rows of {_count(frame['cell_id'].nunique(), 'cell')}",
                  markup=False)


@app.command("eval")
def eval_cmd(
    study: str = typer.Argument(..., help="Study name or path."),
    cell_id: str = typer.Argument(..., help="Cell id (see `bolrl show`; a unique prefix)."),
    round_index: int = typer.Option(None, "--round", help="The round whose agent to load "
                                    "(default: the last one kept)."),
    episodes: int = typer.Option(None, "--episodes", help="Evaluation episodes (default: the "
                                 "cell's eval_episodes)."),
    seed: int = typer.Option(None, "--seed", help="Seed of the evaluation states (default: "
                             "the cell's seed, i.e. the states its rows were evaluated on)."),
    video: Path = typer.Option(None, "--video", help="Also render rollouts of the agent to this "
                               "GIF (tasks that run on MuJoCo; MUJOCO_GL=egl where there is "
                               "no display)."),
    video_episodes: int = typer.Option(2, "--video-episodes", help="Episodes in the video."),
    results: Path = RESULTS_OPT,
    sets: list[str] = SET_OPT,
    name: str = NAME_OPT,
) -> None:
    """Load a round's agent of a finished (or running) cell, evaluate it again, and watch it
    act: a rollout video of the policy as it was at that round."""
    from bolrl import evaluation
    from bolrl.results import load_results, run_dir
    from bolrl.study import StudyError

    s = _load_study(study, sets=sets, name=name)
    try:
        cell = s.cell(cell_id)
    except StudyError as exc:
        fail(str(exc))
    seed = cell.seed if seed is None else seed
    episodes = _positive(cell.eval_episodes if episodes is None else episodes, "--episodes")
    _positive(video_episodes, "--video-episodes")
    try:
        if video is not None:
            evaluation.check_video_path(video)
        agent, k = evaluation.load_agent(cell, run_dir(results, s.name, cell.cell_id),
                                         round_index)
        with console.status(f"evaluating round {k} of {cell.label} on {episodes} episodes..."):
            got = evaluation.evaluate(cell, agent, episodes, seed)
        line = (f"{cell.label} ({cell.cell_id}), round {k}: success {100 * got.success:.0f}% "
                f"over {episodes} episodes (seed {seed}), mean length {got.mean_length:.0f} steps")
        if seed == cell.seed and episodes == cell.eval_episodes:
            frame = load_results(results, s.name)
            row = frame[(frame["cell_id"] == cell.cell_id) & (frame["round"] == k)]
            if len(row):
                line += (f"; its row: {100 * row['eval_success_rate'].iloc[0]:.0f}% on the "
                         f"same states")
        console.print(line, markup=False, highlight=False)
        if video is not None:
            agent, _ = evaluation.load_agent(cell, run_dir(results, s.name, cell.cell_id), k)
            recorded = evaluation.record(cell, agent, video_episodes, seed)
            frames = evaluation.render(recorded)
            evaluation.write_video(frames, video)
            outcomes = ", ".join("success" if ok else "failure" for ok in recorded.success)
            console.print(f"wrote {video}: {len(recorded.episodes)} episodes, {len(frames)} "
                          f"frames ({outcomes})",
                          markup=False, highlight=False)
    except evaluation.EvalError as exc:
        fail(str(exc))


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


def _rows_to_plot(s, study: str | None, results: Path, as_run: bool):
    """The rows `plot` renders, and the notes its report carries: the study's current cells,
    or with `as_run` every finished cell as it ran where they are one configuration. Fails
    with the command that shows what there is when there is nothing of the kind asked for."""
    from bolrl.inventory import mixed_configurations, superseded, take
    from bolrl.results import load_results, study_dir

    frame = load_results(results, s.name)
    cells_dir = study_dir(results, s.name) / "cells"
    if frame.empty:
        fail(f"no results for study {s.name!r} in {cells_dir}; run "
             f"`{_cmd('run-grid', study, results)}` first")
    inventory = take(s, results)
    changed = "; ".join(f"{change} ({n} cells)" for change, n in inventory.changes_summary())
    notes: list[str] = []
    if as_run:
        frame = frame[~frame["cell_id"].isin(superseded(frame))]
        problems = mixed_configurations(frame)
        if problems:
            fail(f"the {frame['cell_id'].nunique()} cells in {cells_dir} are not one "
                 f"configuration of study {s.name!r}, so --as-run would mix them in one "
                 f"curve: {'; '.join(problems[:4])}"
                 f"{'; ...' if len(problems) > 4 else ''}. Plot the current cells with "
                 f"`{_cmd('plot', study, results)}`, or move the others aside")
        if inventory.stale:
            notes.append(f"Rows as they ran: {_count(len(inventory.stale), 'cell')} of this "
                         f"report ran under an older configuration of the study than its file "
                         f"now holds ({changed}). They are shown as recorded, not as the study "
                         f"file would run them now.")
    else:
        others = frame["cell_id"].nunique()
        frame = frame[frame["cell_id"].isin(inventory.current)]
        if frame.empty:
            fail(f"none of the {others} cells in {cells_dir} belongs to study {s.name!r} as its "
                 f"file stands now: {len(inventory.stale)} are stale ({changed}). See them as "
                 f"they ran: `{_cmd('plot', study, results, '--as-run')}`; run the study as it "
                 f"stands: `{_cmd('run-grid', study, results)}`")
        if inventory.stale:
            err_console.print(f"[yellow]note:[/] {_count(len(inventory.stale), 'stale cell')} "
                              f"(an older configuration: {escape(changed)}) not shown; see "
                              f"them as they ran: {_cmd('plot', study, results, '--as-run')}",
                              highlight=False, soft_wrap=True)
    return frame, notes


@app.command()
def plot(
    studies: list[str] = typer.Argument(None, help="Study name (in ./studies) or path to a "
                                        "study TOML (default: quick); two studies: one report "
                                        "comparing them, method by method (B - A)."),
    results: Path = RESULTS_OPT,
    sets: list[str] = SET_OPT,
    name: str = NAME_OPT,
    formats: str = typer.Option("png,pdf", "--format", help="Figure formats, comma-separated."),
    tasks: str = typer.Option(None, help="Only these tasks, comma-separated."),
    methods: str = typer.Option(None, help="Only these methods (as in `bolrl show`), "
                                           "comma-separated."),
    out: Path = typer.Option(None, "--out", help="Write the report, tables and figures here "
                             "(default: results/<study>/, or results/<study>/filtered/<...>/ "
                             "with --tasks/--methods, beside the full report)."),
    as_run: bool = typer.Option(False, "--as-run", help="Render every finished cell in the "
                                "results folder as it ran (its recorded configuration), stale "
                                "ones included, where they form one configuration; the "
                                "report names the settings that differ from the study file."),
    videos: bool = typer.Option(False, "--videos", help="Film one episode of each method's "
                                "final policy per task (GIFs in videos/, shown in the report; "
                                "MuJoCo offscreen rendering, MUJOCO_GL=egl)."),
) -> None:
    """Figures, tables and REPORT.md for a study's results (what has finished so far): the
    cells of the study as its file stands now, or with --as-run the rows as they ran. Two
    studies: a report of each method they share, B against A."""
    from bolrl.report.findings import findings_rich
    from bolrl.report.report import build
    from bolrl.report.tables import to_rich
    from bolrl.results import study_dir

    studies = list(studies or [])
    if len(studies) > 2:
        fail(f"plot takes one study, or two to compare; got {len(studies)}")
    fmts = [f.strip().lower() for f in formats.split(",") if f.strip()]
    bad = [f for f in fmts if f not in ("png", "pdf", "svg")]
    if bad or not fmts:
        fail(f"--format: unknown format {', '.join(bad) or formats!r}; choose from png, pdf, svg")
    if len(studies) == 2:
        if sets or name or tasks or methods or videos:
            fail("plot A B compares the two studies as their files stand: give a variant by "
                 "its saved file (results/<study>/study.toml), without --set, --name, --tasks, "
                 "--methods or --videos")
        _plot_two(studies, results, fmts, out, as_run)
        return
    study = studies[0] if studies else None
    s = _load_study(study, runnable=False, sets=sets, name=name)
    _vet_results(results, s.name)
    frame, notes = _rows_to_plot(s, study, results, as_run)
    cells = s.cells
    for option, column, value in (("--tasks", "task", tasks), ("--methods", "method", methods)):
        if value:
            wanted = [v.strip() for v in value.split(",")]
            unknown = sorted(set(wanted) - set(frame[column]))
            if unknown:
                fail(f"{option}: no results for {', '.join(unknown)}; available: "
                     f"{', '.join(sorted(frame[column].unique()))}")
            frame = frame[frame[column].isin(wanted)]
            attr = "task" if column == "task" else "method_name"
            cells = [c for c in cells if getattr(c, attr) in wanted]
    total = frame["cell_id"].nunique() if as_run else len(cells)
    failed = frame.loc[frame["status"] != "ok", "cell_id"].unique()
    if len(failed) == frame["cell_id"].nunique():
        fail(f"all {_count(len(failed), 'finished cell')} of study {s.name!r} failed: nothing "
             f"to plot (see `{_cmd('status', study, results, '--failed')}`)")
    if out is None:
        out = study_dir(results, s.name)
        if tasks or methods:  # beside the full report, never over it
            out = out / "filtered" / _slug(tasks, methods)
    command = _cmd("plot", study, results, *(f"--{k} {v}" for k, v in
                                             (("tasks", tasks), ("methods", methods)) if v),
                   *(["--as-run"] if as_run else []))
    try:
        out.mkdir(parents=True, exist_ok=True)
        videos_md = _film(cells, results, s.name, out) if videos else ""
        with console.status("drawing figures..."):
            report = build(frame, s.name, total, out, fmts, command, notes,
                           band=tuple(s.table.base_band), videos_md=videos_md)
    except OSError as exc:
        fail(f"cannot write the report to {out}: {exc.strerror or exc}; choose another "
             f"directory with --out")
    console.print(to_rich(report.table, f"{s.name}: final success (%)"))
    if report.findings:
        console.print(findings_rich(report.findings, f"{s.name}: findings (ours: better/worse "
                                                     f"method's final success, %)"))
    else:
        console.print(report.findings_md, markup=False)
    if report.partial:
        console.print(f"[yellow]{report.partial}[/]")
    console.print(f"wrote {_count(len(report.figures), 'figure')}, tables and "
                  f"{out / 'REPORT.md'}", markup=False)


def _film(cells: list, results: Path, study_name: str, out: Path) -> str:
    """plot --videos: the report's section of GIFs, or "" with a warning where MuJoCo cannot
    render (the rest of the report is written all the same)."""
    from bolrl.evaluation import EvalError
    from bolrl.report.videos import film, videos_markdown

    with console.status("filming the final policies...") as status:
        def progress(i, n, cell):
            status.update(f"filming the final policies: {i + 1}/{n}, {cell.label}")

        try:
            films = film(cells, results, study_name, out, progress)
        except EvalError as exc:
            from rich.markup import escape

            err_console.print(f"[yellow]warning:[/] --videos: {escape(str(exc))}; the report "
                              f"has no videos", highlight=False)
            return ""
    if not films:
        err_console.print("[yellow]warning:[/] --videos: no cell keeps a round's weights here "
                          "(nothing has run, or it ran before bolrl kept them)")
    return videos_markdown(films, out)


def _plot_two(studies: list[str], results: Path, fmts: list[str], out: Path | None,
              as_run: bool) -> None:
    """`plot A B`: one report of the methods both studies ran, B - A."""
    import pandas as pd

    from bolrl.report import compare
    from bolrl.report.data import ok_rows
    from bolrl.report.naming import key_label

    loaded, raw = [], []
    for side, study in enumerate(studies):
        s = _load_study(study, runnable=False)
        _vet_results(results, s.name)
        frame, _ = _rows_to_plot(s, study, results, as_run)
        loaded.append(s)
        raw.append(frame.assign(_side=side))
    # method keys named over both studies at once: a setting one of them varies (episodes per
    # round, noise scale, demonstration style) then names the other's methods too
    both = ok_rows(pd.concat(raw, ignore_index=True))
    frames = [both[both["_side"] == side].drop(columns="_side") for side in (0, 1)]
    names = (loaded[0].name, loaded[1].name)
    if names[0] == names[1]:
        fail(f"both studies are named {names[0]!r}: their results are one directory")
    out = out or results / f"{names[0]}-vs-{names[1]}"
    command = " ".join(["bolrl plot", *studies, *(["--as-run"] if as_run else []),
                        *(["--results", str(results)] if Path(results) != Path("results")
                          else [])])
    try:
        with console.status("comparing..."):
            diffs, path = compare.build(frames[0], frames[1], names, out, fmts, command)
    except OSError as exc:
        fail(f"cannot write the report to {out}: {exc.strerror or exc}; choose another "
             f"directory with --out")
    if not diffs:
        fail(f"{names[0]} and {names[1]} share no method with a common task and seed: nothing "
             f"to compare")
    table = Table(title=f"{names[0]} (A) against {names[1]} (B): final success")
    for col in ("method", "A (%)", "B (%)", "B - A [95% CI]", "pairs", "verdict"):
        table.add_column(col, overflow="fold")
    for d in diffs:
        ci = f"{compare.points(d.low)}, {compare.points(d.high)}"
        table.add_row(key_label(d.key), f"{100 * d.a_mean:.0f}", f"{100 * d.b_mean:.0f}",
                      f"{compare.points(d.diff)} [{ci}]", str(d.pairs), d.verdict)
    console.print(table)
    console.print(f"wrote {path}", markup=False)


def _slug(tasks: str | None, methods: str | None) -> str:
    """A directory name for a filtered report: 'tasks-lift_methods-diffusion-bc'."""
    parts = [f"{k}-{v}" for k, v in (("tasks", tasks), ("methods", methods)) if v]
    return "".join(c if c.isalnum() or c in "-_.," else "-" for c in "_".join(parts))[:120]


def main() -> None:
    import sys

    # offscreen rendering (bolrl eval --video) where there is no display: MuJoCo reads the
    # setting when it is first imported, before any command runs
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        os.environ.setdefault("MUJOCO_GL", "egl")  # (macOS and Windows have their own GL)
    app()


if __name__ == "__main__":
    main()
