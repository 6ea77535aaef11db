"""`bolrl bench`: throughput figures into results/bench.json."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from bolrl.cli._app import (
    _on_device_name,
    _positive,
    app,
    console,
    err_console,
    fail,
)
from bolrl.envs.suites import SUITES

BENCHMARKS = ("envs", "train", "cell", *SUITES)


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
    for suite in SUITES:
        if what == suite or (what == "all" and _suite(suite).available()):
            _bench_suite(suite, seconds, output)


def _suite(name: str):
    """The module of an optional suite (its `available()` and `INSTALL`)."""
    return SUITES[name].load()


def _bench_suite(suite: str, seconds: float, output: Path) -> None:
    from bolrl import bench as benchmarks

    module = _suite(suite)
    if not module.available():
        fail(f"bench {suite}: {module.INSTALL}")
    task, n_envs = SUITES[suite].bench_task, SUITES[suite].bench_envs
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
