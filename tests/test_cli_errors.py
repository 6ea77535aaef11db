"""User mistakes through the command line: each gives exit code 2, one line that says what is
wrong, no traceback, and writes nothing. And what a failed cell leaves behind explains itself."""

import dataclasses
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bolrl.cli import app
from bolrl.results import cell_path, load_results

runner = CliRunner()
STUDIES = Path(__file__).resolve().parent.parent / "studies"
SMOKE = (STUDIES / "smoke.toml").read_text()


def user_error(args: list[str], *fragments: str):
    """Run the CLI and check that it refused with one clear line naming `fragments`."""
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return result


def smoke_study(tmp_path: Path, name: str = "smoke", **replace: str) -> Path:
    text = SMOKE.replace('name = "smoke"', f'name = "{name}"')
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []


# ---------------------------------------------------------------- bad input, refused up front


@pytest.mark.parametrize("old, new, message", [
    ("lr = 1e-3", "lr = -1.0", "[train].lr must be in (0, 1], got -1.0"),
    ("lr = 1e-3", "lr = nan", "[train].lr must be in (0, 1], got nan"),
    ("awr_beta = 3.0", "awr_beta = -1.0", "[extraction].awr_beta must be >= 0"),
    ('name = "smoke"', 'name = "../../etc/x"', "[study].name must be a plain name"),
])
def test_bad_study_values_are_refused_before_anything_runs(tmp_path, old, new, message):
    path = tmp_path / "bad.toml"
    path.write_text(SMOKE.replace(old, new))
    for command in (["show", str(path)], ["run-grid", str(path), "--results",
                                          str(tmp_path / "r")]):
        user_error(command, message)
    assert files_under(tmp_path / "r") == []
    assert not (tmp_path.parent / "etc").exists()


def test_a_binary_file_as_the_study(tmp_path):
    path = tmp_path / "study.toml"
    path.write_bytes(bytes(range(256)) * 4)
    user_error(["show", str(path)], "not a text file")


def test_bench_with_a_non_positive_measuring_time(tmp_path):
    for seconds in ("-1", "0", "nan"):
        user_error(["bench", "envs", "--seconds", seconds, "--output",
                    str(tmp_path / "b.json")], "--seconds must be a positive number")
    assert files_under(tmp_path) == []


def _point_demos(tmp_path: Path, **changes) -> Path:
    from bolrl.demos import generate
    from bolrl.envs import get_task
    from bolrl.envs.external import TaskSpec

    demos, _ = generate(get_task(TaskSpec("point_env:make_env", horizon=40,
                                          expert="point_env:expert")), 3, seed=0)
    demos = dataclasses.replace(demos, **{k: edit(getattr(demos, k))
                                          for k, edit in changes.items()})
    path = tmp_path / "demos.npz"
    demos.save(path)
    return path


@pytest.mark.parametrize("changes, message", [
    ({"actions": lambda a: np.where(np.arange(a.size).reshape(a.shape) == 7, np.nan, a)},
     "actions has 1 non-finite values"),
    ({"actions": lambda a: a * 50.0}, "actions must lie in [-1, 1]"),
    ({}, "not an .npz archive"),
])
def test_bad_demonstration_files(tmp_path, changes, message):
    demos = _point_demos(tmp_path, **changes)
    if not changes:  # a text file where the demonstrations should be
        demos.write_text("obs,actions\n0.1,0.2\n")
    study = tmp_path / "ext.toml"
    text = SMOKE.replace('tasks = ["lift"]', 'tasks = ["point_env:make_env"]')
    text = text.replace("demos = { lift = 3 }", 'demos = { "point_env:make_env" = 3 }')
    study.write_text(text.replace('name = "smoke"', 'name = "ext"') +
                     f'\n[tasks."point_env:make_env"]\nhorizon = 40\n'
                     f'demos_file = "{demos}"\n')
    user_error(["show", str(study)], "demonstration file", message)


def test_run_cell_takes_a_unique_id_prefix_and_refuses_an_ambiguous_one(tmp_path):
    path = smoke_study(tmp_path)
    ids = runner.invoke(app, ["show", str(path), "--ids"]).output.split()
    assert len(ids) == 3
    user_error(["run-cell", str(path), "", "--results", str(tmp_path / "r")], "no cell")
    user_error(["run-cell", str(path), "zzz", "--results", str(tmp_path / "r")],
               "no cell with id 'zzz'")
    first = ids[0]
    unique = next(first[:n] for n in range(1, 13)
                  if sum(i.startswith(first[:n]) for i in ids) == 1)
    result = runner.invoke(app, ["run-cell", str(path), unique, "--results", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert cell_path(tmp_path / "r", "smoke", first).exists()


def test_version_and_short_help():
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.output.startswith("bolrl ")
    short = runner.invoke(app, ["run-grid", "-h"])
    assert short.exit_code == 0 and "--retry-failed" in short.output
    assert "<bool>" not in short.output


def test_show_fits_80_columns_without_cutting_ids():
    result = runner.invoke(app, ["show", "paper"])  # the runner's terminal is 80 columns
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    ids = runner.invoke(app, ["show", "paper", "--ids"]).output.split()
    assert all(cell_id in result.output for cell_id in ids)


# ---------------------------------------------------------------- failed cells explain themselves


@pytest.fixture
def failing_setup(monkeypatch):
    """The agent cannot be built: the cell fails in its setup, before round 0."""
    import bolrl.loop

    def broken(*args, **kwargs):
        raise ValueError("the agent cannot be built (a test's doing)")

    monkeypatch.setattr(bolrl.loop, "Agent", broken)


def test_a_cell_failing_in_setup_is_recorded_and_explained(tmp_path, failing_setup):
    path, results = smoke_study(tmp_path), tmp_path / "r"
    result = runner.invoke(app, ["run-grid", str(path), "--results", str(results),
                                 "--workers", "1"])
    assert result.exit_code == 1 and "3 cells failed" in result.stderr
    assert "Traceback" not in result.output
    frame = load_results(results, "smoke")
    assert (frame["status"] == "failed").all() and frame["cell_id"].nunique() == 3
    status = runner.invoke(app, ["status", str(path), "--results", str(results), "--failed"])
    assert status.exit_code == 0
    assert status.output.count("the agent cannot be built") == 3
    assert "pending" not in status.output.split(":", 1)[1].replace("0 pending", "")
    user_error(["plot", str(path), "--results", str(results)], "all 3 finished cells",
               "failed", "status")
    again = runner.invoke(app, ["run-grid", str(path), "--results", str(results)])
    assert again.exit_code == 0
    assert "0 already done, 0 to run" in again.output and "3 cells failed before" in again.output


def test_retry_failed_runs_the_failed_and_the_pending_cells(tmp_path, monkeypatch):
    import bolrl.loop

    path, results = smoke_study(tmp_path), tmp_path / "r"
    ids = runner.invoke(app, ["show", str(path), "--ids"]).output.split()
    real = bolrl.loop.Agent
    monkeypatch.setattr(bolrl.loop, "Agent", lambda *a, **k: (_ for _ in ()).throw(
        ValueError("broken")))
    assert runner.invoke(app, ["run-cell", str(path), ids[0], "--results",
                               str(results)]).exit_code == 1
    monkeypatch.setattr(bolrl.loop, "Agent", real)
    result = runner.invoke(app, ["run-grid", str(path), "--results", str(results),
                                 "--workers", "1", "--retry-failed"])
    assert result.exit_code == 0, result.output
    assert "0 already done, 3 to run" in result.output
    assert (load_results(results, "smoke")["status"] == "ok").all()


# ---------------------------------------------------------------- plots and where results go


def test_plot_output_filtered_beside_elsewhere_and_unwritable(tmp_path):
    path, results = smoke_study(tmp_path), tmp_path / "r"
    assert runner.invoke(app, ["run-grid", str(path), "--results", str(results),
                               "--workers", "1"]).exit_code == 0
    full = runner.invoke(app, ["plot", str(path), "--results", str(results), "--format", "svg"])
    assert full.exit_code == 0, full.output
    assert "AUC" in full.output  # the table's last column, on the runner's 80 columns
    assert max(len(line) for line in full.output.splitlines()) <= 80
    report = (results / "smoke" / "REPORT.md").read_text()
    assert "figures/scaling_all.svg" in report  # svg figures are shown in the report
    method = load_results(results, "smoke")["method"].iloc[0]
    part = runner.invoke(app, ["plot", str(path), "--results", str(results), "--format", "png",
                               "--methods", method])
    assert part.exit_code == 0, part.output
    assert (results / "smoke" / "REPORT.md").read_text() == report  # the full one untouched
    filtered = list((results / "smoke" / "filtered").glob("*/REPORT.md"))
    assert len(filtered) == 1 and "Partial results" not in filtered[0].read_text()
    assert not list(filtered[0].parent.glob("figures/*.svg"))
    out = runner.invoke(app, ["plot", str(path), "--results", str(results), "--format", "png",
                              "--out", str(tmp_path / "elsewhere")])
    assert out.exit_code == 0 and (tmp_path / "elsewhere" / "REPORT.md").exists()
    # png replaces the svg figures of the earlier full plot: no stale ones are left behind
    again = runner.invoke(app, ["plot", str(path), "--results", str(results), "--format", "png"])
    assert again.exit_code == 0
    assert not list((results / "smoke" / "figures").glob("*.svg"))
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the output directory should be")
    user_error(["plot", str(path), "--results", str(results), "--out", str(blocked / "x")],
               "cannot write the report", "--out")


def test_results_files_are_readable_by_the_group(tmp_path):
    path, results = smoke_study(tmp_path), tmp_path / "r"
    old = os.umask(0o022)
    try:
        ids = runner.invoke(app, ["show", str(path), "--ids"]).output.split()
        assert runner.invoke(app, ["run-cell", str(path), ids[0], "--results",
                                   str(results)]).exit_code == 0
    finally:
        os.umask(old)
    mode = stat.S_IMODE(cell_path(results, "smoke", ids[0]).stat().st_mode)
    assert mode == 0o644


def test_two_study_files_with_one_name_are_warned_about(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = smoke_study(tmp_path / "a")
    second = smoke_study(tmp_path / "b", **{"seeds = [0]": "seeds = [1]"})
    results = tmp_path / "r"
    for path in (first, second):
        result = runner.invoke(app, ["run-grid", str(path), "--results", str(results),
                                     "--workers", "1"])
        assert result.exit_code == 0, result.output
    assert "another study file with the name 'smoke'" in result.stderr


def test_status_where_no_results_are(tmp_path):
    result = runner.invoke(app, ["status", "smoke", "--results", str(tmp_path / "nowhere")])
    assert result.exit_code == 0
    assert "no results of study 'smoke'" in result.stderr and "3 pending" in result.output


def test_results_that_become_unwritable_during_a_run(tmp_path, monkeypatch):
    import bolrl.executors

    def denied(results, study, cell_id, rows):
        raise PermissionError(13, "Permission denied", str(tmp_path / "r" / "x.parquet"))

    monkeypatch.setattr(bolrl.executors, "write_cell", denied)
    result = runner.invoke(app, ["run-grid", str(smoke_study(tmp_path)), "--results",
                                 str(tmp_path / "r"), "--workers", "1"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "cannot write results" in result.stderr and "Permission denied" in result.stderr


def test_a_device_that_is_no_device(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(SMOKE.replace("[train]\n", '[train]\ndevice = "gpu"\n'))
    user_error(["show", str(path)], "[train].device must be cpu, cuda, cuda:N or auto")
    user_error(["run-grid", "smoke", "--device", "tpu", "--results", str(tmp_path / "r")],
               "--device must be")
    assert not (tmp_path / "r").exists()


def test_likely_mistakes_are_warned_about_and_names_get_a_suggestion(tmp_path):
    path = tmp_path / "w.toml"
    path.write_text('[study]\ntasks = ["lift", "lift"]\nseeds = [0, 0, 1]\n'
                    'demos = { lift = 3, pick-place = 5 }\n')
    result = runner.invoke(app, ["show", str(path)])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "[study].demos names 'pick-place', which [study].tasks does not run" in out
    assert "[study].tasks lists 'lift' more than once" in out
    assert "[study].seeds lists 0 more than once" in out
    typo = runner.invoke(app, ["demos", "lifft"])
    assert typo.exit_code == 2 and "did you mean 'lift'?" in typo.output
