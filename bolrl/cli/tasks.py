"""`bolrl tasks` and `bolrl demos`: the tasks, their experts, and demonstrations."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from bolrl.cli._app import (
    _embedded_task,
    _positive,
    _progress,
    _writable_dir,
    app,
    console,
    fail,
)


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
    table = _tasks_table(names, suite, episodes, seed)
    console.print(table)
    if suite == "embedded":
        for name in names:
            console.print(f"{name}: {get_task(name).description}", markup=False)
        for name, entry in SUITES.items():
            console.print(f"{entry.doc} ({entry.prefix}...): bolrl tasks --suite {name}"
                          if suites[name] else f"{entry.doc}: {modules[name].INSTALL}",
                          markup=False)


def _tasks_table(names: list[str], suite: str, episodes: int, seed: int) -> Table:
    """The tasks' sizes, horizon and scripted experts' success (the multimodal expert's too,
    for the embedded tasks), running each expert for `episodes` seeded episodes."""
    from bolrl.demos import expert_success_rate
    from bolrl.envs import get_task

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
    return table


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
        table.add_column(col, no_wrap=col in ("task", "style"), overflow="fold")
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
