"""The `bolrl` command line. Thin: parse, validate, call, print."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

app = typer.Typer(
    help="Batch online RL ablation studies in MuJoCo (after Dong et al., 2025).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


class UserError(Exception):
    """A mistake a user can make: reported as one line, exit code 2."""


def fail(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
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


def _task(name: str):
    from bolrl.envs import get_task

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


def _positive(value: int, what: str) -> int:
    if value <= 0:
        fail(f"{what} must be a positive integer, got {value}")
    return value


@app.command()
def tasks(
    episodes: int = typer.Option(100, help="Expert episodes per task for its success rate."),
    seed: int = typer.Option(0, help="Seed of the expert episodes."),
) -> None:
    """List the embedded tasks: sizes, horizon and the scripted expert's success."""
    from bolrl.demos import expert_success_rate
    from bolrl.envs import TASKS

    _positive(episodes, "--episodes")
    table = Table(title=f"bolrl tasks (expert success over {episodes} seeded episodes)")
    for col in ("task", "gym id", "obs", "act", "horizon", "expert"):
        table.add_column(col, no_wrap=True)
    table.add_column("what")
    with console.status("running the scripted experts..."):
        for name, task in TASKS.items():
            rate = expert_success_rate(task, episodes, seed)
            table.add_row(
                name, task.gym_id, str(task.obs_dim), str(task.act_dim), str(task.horizon),
                f"{100 * rate:.0f}%", task.description,
            )
    console.print(table)


@app.command()
def demos(
    task: str = typer.Argument(..., help="Task name (see `bolrl tasks`)."),
    episodes: int = typer.Option(20, "--episodes", "-n", help="Successful demonstrations."),
    seed: int = typer.Option(0, help="Seed of the demonstrations."),
    cache_dir: Path = typer.Option(
        None, help="Cache root (default $BOLRL_CACHE or ~/.cache/bolrl)."
    ),
) -> None:
    """Generate (or load from the cache) scripted demonstrations of a task."""
    from bolrl.demos import cache_dir as default_cache
    from bolrl.demos import demo_path, demonstrations

    t = _task(task)
    _positive(episodes, "--episodes")
    root = _writable_dir(cache_dir or default_cache())
    path = demo_path(t, episodes, seed, root)
    cached = path.exists()
    with _progress() as bar:
        job = bar.add_task(f"{task} demos", total=episodes, completed=episodes if cached else 0)
        data = demonstrations(t, episodes, seed, root, progress=lambda k: bar.advance(job, k))
    lengths = data.episode_lengths
    console.print(
        f"{'loaded' if cached else 'wrote'} {path}: {data.n_episodes} episodes, "
        f"{data.n_transitions} transitions, length {lengths.mean():.0f} "
        f"(min {lengths.min()}, max {lengths.max()})"
    )


BENCHMARKS = ("envs", "train")


@app.command()
def bench(
    what: str = typer.Argument("all", help="What to measure: envs, train, or all."),
    n_envs: int = typer.Option(100, help="Environments in the batch."),
    seconds: float = typer.Option(2.0, help="Measuring time per figure."),
    output: Path = typer.Option(Path("results/bench.json"), help="Where to write the figures."),
) -> None:
    """Measure throughput and write it to results/bench.json."""
    if what not in (*BENCHMARKS, "all"):
        fail(f"unknown benchmark {what!r}; choose from: {', '.join(BENCHMARKS)}, all")
    _positive(n_envs, "--n-envs")
    if what in ("envs", "all"):
        _bench_envs(n_envs, seconds, output)
    if what in ("train", "all"):
        _bench_train(output)


def _bench_train(output: Path) -> None:
    from bolrl import bench as benchmarks
    from bolrl.agent import AgentConfig

    base = AgentConfig()
    with console.status("measuring training and acting throughput (1 thread)..."):
        figures = benchmarks.bench_train(base)
    sizes = figures["sizes"]
    table = Table(title=f"learning, 1 thread: {sizes}")
    table.add_column("policy/method", no_wrap=True)
    table.add_column("gradient steps/s (batch 256)")
    table.add_column("actions/s (100 obs)")
    for name, f in figures.items():
        if name != "sizes":
            table.add_row(name, f"{f['grad_steps_per_s']:,.0f}", f"{f['actions_per_s']:,.0f}")
    console.print(table)
    benchmarks.write_section(output, "train", figures)
    console.print(f"wrote {output}")


def _bench_envs(n_envs: int, seconds: float, output: Path) -> None:
    from bolrl import bench as benchmarks

    torch_threads = os.environ.get("OMP_NUM_THREADS", "default")
    with console.status("measuring environment throughput..."):
        figures = benchmarks.bench_envs(n_envs, seconds)
    table = Table(title=f"environments: batch of {n_envs}, 1 process (threads: {torch_threads})")
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
