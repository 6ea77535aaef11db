"""`bolrl plot`, `bolrl export` and `bolrl eval`: reports, rows and a round's agent again."""

from __future__ import annotations

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
    _load_study,
    _positive,
    _vet_results,
    app,
    console,
    err_console,
    fail,
)


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



def _rows_to_plot(s, study: str | None, results: Path, as_run: bool):
    """The rows `plot` renders, and the notes its report carries: the study's current cells,
    or with `as_run` every finished cell as it ran where they are one configuration. Fails
    with the command that shows what there is when there is nothing of the kind asked for."""
    from bolrl.inventory import mixed_configurations, superseded, take
    from bolrl.results import cells_dir, load_results

    frame = load_results(results, s.name)
    folder = cells_dir(results, s.name)
    if frame.empty:
        fail(f"no results for study {s.name!r} in {folder}; run "
             f"`{_cmd('run-grid', study, results)}` first")
    inventory = take(s, results)
    changed = "; ".join(f"{change} ({n} cells)" for change, n in inventory.changes_summary())
    notes: list[str] = []
    if as_run:
        frame = frame[~frame["cell_id"].isin(superseded(frame))]
        problems = mixed_configurations(frame)
        if problems:
            fail(f"the {frame['cell_id'].nunique()} cells in {folder} are not one "
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
            fail(f"none of the {others} cells in {folder} belongs to study {s.name!r} as its "
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
    from bolrl.report.report import build
    from bolrl.results import study_dir

    studies = list(studies or [])
    if len(studies) > 2:
        fail(f"plot takes one study, or two to compare; got {len(studies)}")
    fmts = _formats(formats)
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
    frame, cells = _only(frame, s.cells, tasks, methods)
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
                   *(["--as-run"] if as_run else []), *(["--videos"] if videos else []))
    try:
        out.mkdir(parents=True, exist_ok=True)
        videos_md = _film(cells, results, s.name, out) if videos else ""
        with console.status("drawing figures..."):
            report = build(frame, s.name, total, out, fmts, command, notes,
                           band=tuple(s.table.base_band), videos_md=videos_md)
    except OSError as exc:
        fail(f"cannot write the report to {out}: {exc.strerror or exc}; choose another "
             f"directory with --out")
    _print_report(report, s.name, out)


def _formats(formats: str) -> list[str]:
    """--format's figure formats, checked."""
    fmts = [f.strip().lower() for f in formats.split(",") if f.strip()]
    bad = [f for f in fmts if f not in ("png", "pdf", "svg")]
    if bad or not fmts:
        fail(f"--format: unknown format {', '.join(bad) or formats!r}; choose from png, pdf, svg")
    return fmts


def _only(frame, cells: list, tasks: str | None, methods: str | None):
    """The rows and cells of --tasks and --methods (each comma-separated; a name without
    results is an error that lists the available ones)."""
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
    return frame, cells


def _print_report(report, study_name: str, out: Path) -> None:
    """The report's table and findings on the terminal, and where it was written."""
    from bolrl.report.findings import findings_rich
    from bolrl.report.tables import to_rich

    console.print(to_rich(report.table, f"{study_name}: final success (%)"))
    if report.findings:
        console.print(findings_rich(report.findings, f"{study_name}: findings (ours: "
                                                     f"better/worse method's final success, %)"))
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

        def warn(cell, message: str) -> None:
            err_console.print(f"[yellow]warning:[/] --videos: {escape(cell.label)} not "
                              f"filmed: {escape(message)}", highlight=False)

        try:
            films = film(cells, results, study_name, out, progress, warn)
        except EvalError as exc:
            err_console.print(f"[yellow]warning:[/] --videos: {escape(str(exc))}; the report "
                              f"has no videos", highlight=False)
            return ""
    if not films:
        err_console.print("[yellow]warning:[/] --videos: no cell was filmed (none keeps a "
                          "round's weights here, or none could be filmed: see above)")
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
