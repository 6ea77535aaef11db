"""The smoke study moved onto another task: the tests of the optional suites run it on theirs."""

from pathlib import Path

SMOKE = (Path(__file__).resolve().parent.parent / "studies" / "smoke.toml").read_text()


def smoke_study_on(tmp_path: Path, name: str, task: str, options: str = "") -> Path:
    """studies/smoke.toml on `task` (3 demonstrations), renamed `name`, with `options` as the
    task's [tasks."<task>"] table; written to tmp_path/<name>.toml."""
    text = SMOKE.replace('tasks = ["lift"]', f'tasks = ["{task}"]')
    text = text.replace("demos = { lift = 3 }", f'demos = {{ "{task}" = 3 }}')
    text = text.replace('name = "smoke"', f'name = "{name}"')
    path = tmp_path / f"{name}.toml"
    path.write_text(text + (f'\n[tasks."{task}"]\n{options}\n' if options else ""))
    return path


def run_plot_and_status(tmp_path: Path, path: Path, name: str) -> None:
    """Run the study at `path` through `run-grid` (one worker), `status` and `plot`, and
    check each: 3 finished cells, a report written under tmp_path/r/<name>."""
    from typer.testing import CliRunner

    from bolrl.cli import app

    runner = CliRunner()
    results = tmp_path / "r"
    run = runner.invoke(app, ["run-grid", str(path), "--results", str(results),
                              "--workers", "1"])
    assert run.exit_code == 0, run.output
    status = runner.invoke(app, ["status", str(path), "--results", str(results)])
    assert "3 finished" in status.output
    plot = runner.invoke(app, ["plot", str(path), "--results", str(results), "--format", "png"])
    assert plot.exit_code == 0, plot.output
    assert (results / name / "REPORT.md").exists()
