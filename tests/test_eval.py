"""bolrl eval: a round's agent loaded from its kept weights gives its row again, and renders."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from smoke_study import check_video
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
    (["--video", "x.gif"], "does not run on MuJoCo"),
    (["--episodes", "0"], "--episodes must be a positive integer"),
])
def test_mistakes_are_one_line(point_study, args, says):
    path, results = point_study
    cell = load_study(path).cells[0]
    out = runner.invoke(app, ["eval", str(path), cell.cell_id, "--results", str(results), *args])
    assert out.exit_code == 2 and says in " ".join(out.output.split()), out.output


def test_plot_videos_leaves_out_a_cell_it_cannot_film_and_says_why(point_study):
    path, results = point_study
    out = runner.invoke(app, ["plot", str(path), "--results", str(results), "--format", "png",
                              "--videos"])
    assert out.exit_code == 0, out.output
    said = " ".join(out.output.split())
    assert "not filmed" in said and "does not run on MuJoCo" in said
    report = (results / "pe" / "REPORT.md").read_text()
    assert "final policies acting" not in report and "--videos" in report  # regenerate line


def test_a_gymnasium_task_on_mujoco_is_recorded_from_its_own_data(tmp_path):
    """An external task whose environment has MuJoCo `model` and `data` (as Gymnasium's own
    MuJoCo environments): each episode's states come from that data, step by step, and the
    film frames the whole scene (it names none of the suites' cameras)."""
    from point_env import make_mujoco_env

    from bolrl.agent import Agent
    from bolrl.envs import get_task
    from bolrl.envs.batched import env_seeds
    from bolrl.loop import EVAL_STREAM

    task_name = "point_env:make_mujoco_env"
    text = (SMOKE.read_text().replace('tasks = ["lift"]', f'tasks = ["{task_name}"]')
            .replace("demos = { lift = 3 }", f'demos = {{ "{task_name}" = 3 }}'))
    path = tmp_path / "mp.toml"
    path.write_text(text + f'\n[tasks."{task_name}"]\nexpert = "point_env:expert"\n'
                           f'horizon = 15\n')
    cell = load_study(path).cells[0]
    task = get_task(cell.task_spec)
    agent = Agent(cell.agent, task.obs_dim, task.act_dim, seed=0)  # untrained: it moves
    recorded = evaluation.record(cell, agent, 2, seed=3)
    assert [len(states) for states in recorded.episodes] == [15, 15]  # never at the goal
    qpos = np.array([states[0] for states in recorded.episodes[0]])
    assert qpos.shape == (15, 2) and np.abs(np.diff(qpos, axis=0)).max() > 0  # it moved
    assert recorded.models[0].nq == 2 and recorded.success == [False, False]
    # each episode is filmed in its own model: its goal marker where that episode's goal was
    # (the vector environment's autoreset has moved the live one on to the next episode)
    goals = [recorded.models[i].body("goal").pos[:2].copy() for i in range(2)]
    first_obs = [states[0] for states in recorded.episodes]
    assert not np.allclose(goals[0], goals[1])
    env = make_mujoco_env()
    for i, (goal, seed_i) in enumerate(zip(goals, env_seeds(3, 2, stream=EVAL_STREAM),
                                           strict=True)):
        obs, _ = env.reset(seed=int(seed_i))
        np.testing.assert_allclose(goal, obs[2:], rtol=1e-6, err_msg=f"episode {i}")
        np.testing.assert_allclose(first_obs[i][0], obs[:2], rtol=1e-6)
    assert not isinstance(recorded.camera, str) and not recorded.upside_down


def test_a_cell_that_has_not_run_says_so(tmp_path):
    cell = load_study(SMOKE).cells[0]
    out = runner.invoke(app, ["eval", str(SMOKE), cell.cell_id, "--results", str(tmp_path)])
    assert out.exit_code == 2 and "has no kept weights" in out.output


@pytest.mark.slow
def test_a_video_of_an_embedded_task(tmp_path):
    """Rendered offscreen (EGL) in a process of its own: a GIF whose frames change."""
    assert runner.invoke(app, ["run-grid", str(SMOKE), "--results", str(tmp_path),
                               "--workers", "1"]).exit_code == 0
    check_video(SMOKE, tmp_path)


@pytest.mark.slow
def test_the_report_shows_each_methods_final_policy_acting(tmp_path):
    """plot --videos (EGL, in a process of its own): a GIF per method of the smoke study, each
    shown in REPORT.md with its cell and round; without --videos the section is gone again."""
    assert runner.invoke(app, ["run-grid", str(SMOKE), "--results", str(tmp_path),
                               "--workers", "1"]).exit_code == 0
    code = ("import sys\nfrom bolrl.cli import main\nsys.argv = ['bolrl', 'plot', "
            f"{str(SMOKE)!r}, '--results', {str(tmp_path)!r}, '--format', 'png', "
            "'--videos']\nmain()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "MUJOCO_GL": "egl"}, timeout=300)
    if "MuJoCo cannot render here" in out.stdout + out.stderr:
        pytest.skip("no offscreen GL (EGL) on this machine")
    assert out.returncode == 0, out.stdout + out.stderr
    from PIL import Image

    report = (tmp_path / "smoke" / "REPORT.md").read_text()
    study = load_study(SMOKE)
    for cell in study.cells:  # one seed, one task: every cell is its method's film
        gif = tmp_path / "smoke" / "videos" / f"{cell.cell_id}.gif"
        assert f"![{cell.method_name}](videos/{gif.name})" in report
        assert f"{cell.cell_id}, seed 0, round {study.table.rounds}" in report
        with Image.open(gif) as image:  # one episode of at most 80 steps, every second
            # frame (Pillow merges identical neighbours), at half size
            assert image.size == (160, 120) and 10 <= image.n_frames <= 40
    assert runner.invoke(app, ["plot", str(SMOKE), "--results", str(tmp_path), "--format",
                               "png"]).exit_code == 0
    assert "final policies acting" not in (tmp_path / "smoke" / "REPORT.md").read_text()
