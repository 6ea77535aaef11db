"""The command line: working commands and one-line errors for user mistakes."""

import pytest
from typer.testing import CliRunner

from bolrl.cli import app

runner = CliRunner()


def test_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("tasks", "demos", "bench"):
        assert command in result.output


def test_demos_writes_cache(tmp_path):
    result = runner.invoke(app, ["demos", "lift", "-n", "3", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "demos" / "lift-v2-n3-seed0.npz").exists()
    again = runner.invoke(app, ["demos", "lift", "-n", "3", "--cache-dir", str(tmp_path)])
    assert "loaded" in again.output


def test_unknown_task_is_one_clear_line():
    result = runner.invoke(app, ["demos", "lfit"])
    assert result.exit_code == 2
    assert "unknown task 'lfit'" in result.output and "lift, pick-place" in result.output
    assert "Traceback" not in result.output


def test_non_positive_episode_count():
    result = runner.invoke(app, ["demos", "lift", "--episodes", "0"])
    assert result.exit_code == 2 and "positive" in result.output


def test_unwritable_cache_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = runner.invoke(app, ["demos", "lift", "--cache-dir", str(blocker / "sub")])
    assert result.exit_code == 2 and "cannot write" in result.output


def test_tasks_table():
    result = runner.invoke(app, ["tasks", "--episodes", "10"])
    assert result.exit_code == 0, result.output
    assert "nut-assembly" in result.output and "horizon" in result.output


@pytest.mark.slow
def test_tasks_modes_measures_every_embedded_style(tmp_path, monkeypatch):
    monkeypatch.setenv("BOLRL_CACHE", str(tmp_path))
    result = runner.invoke(app, ["tasks", "--modes", "--episodes", "20"])
    assert result.exit_code == 0, result.output
    for task, style in [("lift", "multimodal"), ("nut-assembly", "scripted"),
                        ("pick-place", "scripted"), ("pick-place-post", "multimodal")]:
        assert any(task in line and style in line for line in result.output.splitlines())
    assert "Mean-strategy success" in result.output


def test_show_and_status_do_not_import_torch(tmp_path):
    import subprocess
    import sys

    code = ("import sys\nfrom typer.testing import CliRunner\nfrom bolrl.cli import app\n"
            "r = CliRunner()\n"
            "assert r.invoke(app, ['show', 'smoke']).exit_code == 0\n"
            f"assert r.invoke(app, ['status', 'smoke', '--results', {str(tmp_path)!r}])"
            ".exit_code == 0\n"
            "print('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_export_writes_the_rows_as_csv(tmp_path):
    import pandas as pd

    from bolrl.results import SCHEMA, load_results

    assert runner.invoke(app, ["run-grid", "smoke", "--results", str(tmp_path),
                               "--workers", "1"]).exit_code == 0
    result = runner.invoke(app, ["export", "smoke", "--results", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(tmp_path / "smoke" / "rows.csv")
    assert list(rows.columns) == list(SCHEMA) and len(rows) == 9
    frame = load_results(tmp_path, "smoke").sort_values(["cell_id", "round"])
    assert rows["eval_success_rate"].tolist() == frame["eval_success_rate"].tolist()
    empty = runner.invoke(app, ["export", "smoke", "--results", str(tmp_path / "none")])
    assert empty.exit_code == 2 and "no results for study 'smoke'" in empty.output
