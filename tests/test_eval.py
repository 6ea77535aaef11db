"""bolrl eval: a round's agent loaded from its kept weights gives its row again, and renders."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bolrl import evaluation
from bolrl.cli import app
from bolrl.results import load_results, run_dir
from bolrl.study import load_study

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "studies" / "smoke.toml"
TASK = "point_env:make_env"
runner = CliRunner()


@pytest.fixture(scope="module")
def point_study(tmp_path_factory):
    """The smoke grid on the point task, trained enough to succeed sometimes (so that a wrong
    agent would show in success and episode lengths), run once."""
    tmp = tmp_path_factory.mktemp("eval")
    text = (SMOKE.read_text().replace('tasks = ["lift"]', f'tasks = ["{TASK}"]')
            .replace("demos = { lift = 3 }", f'demos = {{ "{TASK}" = 20 }}')
            .replace('name = "smoke"', 'name = "pe"').replace("steps_round0 = 20",
                                                               "steps_round0 = 300")
            .replace("eval_episodes = 4", "eval_episodes = 20"))
    path = tmp / "pe.toml"
    path.write_text(text + f'\n[tasks."{TASK}"]\nexpert = "point_env:expert"\nhorizon = 40\n')
    result = runner.invoke(app, ["run-grid", str(path), "--results", str(tmp / "r"),
                                 "--workers", "1"])
    assert result.exit_code == 0, result.output
    return path, tmp / "r"


def test_every_rounds_agent_gives_its_row_again(point_study):
    path, results = point_study
    study, frame = load_study(path), load_results(results, "pe")
    assert frame["eval_success_rate"].between(0.01, 0.99).any()  # not all 0 or all 1
    for cell in study.cells:
        for k in range(cell.rounds + 1):
            agent, _ = evaluation.load_agent(cell, run_dir(results, "pe", cell.cell_id), k)
            got = evaluation.evaluate(cell, agent, cell.eval_episodes, cell.seed)
            row = frame[(frame["cell_id"] == cell.cell_id) & (frame["round"] == k)].iloc[0]
            assert (got.success, got.mean_length) == (row["eval_success_rate"],
                                                      row["eval_episode_length"])


def test_the_command_says_the_rows_success_beside_its_own(point_study):
    path, results = point_study
    cell = load_study(path).cells[1]
    out = runner.invoke(app, ["eval", str(path), cell.cell_id[:6], "--results", str(results),
                              "--round", "1"])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "round 1: success" in text and "its row:" in text and "on the same states" in text
    other = runner.invoke(app, ["eval", str(path), cell.cell_id, "--results", str(results),
                                "--seed", "7", "--episodes", "5"])
    assert "over 5 episodes (seed 7)" in " ".join(other.output.split())
    assert "its row" not in other.output  # other states: nothing to compare with


@pytest.mark.parametrize("args, says", [
    (["--round", "9"], "keeps the weights of rounds 0, 1, 2, not of round 9"),
    (["--video", "x.mp4"], "write a .gif"),
    (["--episodes", "0"], "--episodes must be a positive integer"),
])
def test_mistakes_are_one_line(point_study, args, says):
    path, results = point_study
    cell = load_study(path).cells[0]
    out = runner.invoke(app, ["eval", str(path), cell.cell_id, "--results", str(results), *args])
    assert out.exit_code == 2 and says in " ".join(out.output.split()), out.output


def test_a_cell_that_has_not_run_says_so(tmp_path):
    cell = load_study(SMOKE).cells[0]
    out = runner.invoke(app, ["eval", str(SMOKE), cell.cell_id, "--results", str(tmp_path)])
    assert out.exit_code == 2 and "has no kept weights" in out.output


@pytest.mark.slow
def test_a_video_of_an_embedded_task(tmp_path):
    """Rendered offscreen (EGL) in a process of its own: MuJoCo picks its GL backend when it
    is first imported."""
    assert runner.invoke(app, ["run-grid", str(SMOKE), "--results", str(tmp_path),
                               "--workers", "1"]).exit_code == 0
    cell = load_study(SMOKE).cells[2]
    gif = tmp_path / "v.gif"
    code = ("import sys\nfrom bolrl.cli import main\nsys.argv = ['bolrl', 'eval', "
            f"{str(SMOKE)!r}, {cell.cell_id!r}, '--results', {str(tmp_path)!r}, '--video', "
            f"{str(gif)!r}, '--video-episodes', '2', '--episodes', '2']\nmain()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "MUJOCO_GL": "egl"}, timeout=300)
    if "MuJoCo cannot render here" in out.stdout + out.stderr:
        pytest.skip("no offscreen GL (EGL) on this machine")
    assert out.returncode == 0, out.stdout + out.stderr
    from PIL import Image

    with Image.open(gif) as image:
        assert image.size == (320, 240) and image.n_frames > 10
    assert "wrote" in out.stdout and "2 episodes, 160 frames" in " ".join(out.stdout.split())
