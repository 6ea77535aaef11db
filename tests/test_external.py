"""Bring your own task: a Gymnasium environment defined in the tests runs the smoke grid."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bolrl.cli import app
from bolrl.data import Episodes
from bolrl.demos import generate
from bolrl.envs import get_task
from bolrl.envs.external import TaskSpec
from bolrl.results import SCHEMA, load_results
from bolrl.study import StudyError, load_study

runner = CliRunner()
SMOKE = (Path(__file__).resolve().parent.parent / "studies" / "smoke.toml").read_text()


def study_for(tmp_path, task: str, options: str, demos: int = 3) -> Path:
    text = SMOKE.replace('tasks = ["lift"]', f'tasks = ["{task}"]')
    text = text.replace("demos = { lift = 3 }", f'demos = {{ "{task}" = {demos} }}')
    path = tmp_path / "ext.toml"
    path.write_text(text.replace('name = "smoke"', 'name = "ext"') +
                    f'\n[tasks."{task}"]\n{options}\n')
    return path


def test_external_factory_task_runs_the_smoke_grid(tmp_path):
    path = study_for(tmp_path, "point_env:make_env",
                     'expert = "point_env:expert"\nhorizon = 40')
    result = runner.invoke(app, ["run-grid", str(path), "--results", str(tmp_path / "r"),
                                 "--workers", "1"])
    assert result.exit_code == 0, result.output
    frame = load_results(tmp_path / "r", "ext")
    assert list(frame.columns) == list(SCHEMA)
    assert frame["cell_id"].nunique() == 3 and (frame["status"] == "ok").all()
    assert (frame.groupby("cell_id")["round"].apply(list) == [[0, 1, 2]] * 3).all()
    assert (frame["task"] == "point_env:make_env").all()


def test_gym_id_task_with_imports_and_a_demonstration_file(tmp_path):
    spec = TaskSpec("gym:PointReach-v0", imports=("point_env",), expert="point_env:expert")
    demos, rate = generate(get_task(spec), 5, seed=0)
    assert rate > 0.9 and demos.n_episodes == 5
    demos.save(tmp_path / "demos.npz")
    path = study_for(tmp_path, "gym:PointReach-v0",
                     f'imports = ["point_env"]\ndemos_file = "{tmp_path / "demos.npz"}"')
    cells = load_study(path).cells
    assert cells[0].task_spec.demos_file.endswith("demos.npz")
    (tmp_path / "more").mkdir()
    too_many = study_for(tmp_path / "more", "gym:PointReach-v0", f'imports = ["point_env"]\n'
                         f'demos_file = "{tmp_path / "demos.npz"}"', demos=6)
    with pytest.raises(StudyError, match="has 5 episodes, the study asks for 6"):
        load_study(too_many)
    result = runner.invoke(app, ["run-cell", str(path), cells[0].cell_id, "--results",
                                 str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert Episodes.load(tmp_path / "demos.npz").actions.max() <= 1.0


@pytest.mark.parametrize("task, options, message", [
    ("no_such_module:make_env", 'expert = "point_env:expert"\nhorizon = 40',
     "module 'no_such_module' not found"),
    ("point_env:make_env_without_success", 'expert = "point_env:expert"\nhorizon = 40',
     "no success signal"),
    ("point_env:make_env_discrete", 'expert = "point_env:expert"\nhorizon = 40',
     "the action space is Discrete; bolrl needs a continuous Box"),
    ("point_env:make_env", 'expert = "point_env:expert"', "no horizon"),
    ("point_env:make_env", "horizon = 40", "no demonstrations"),
    ("gym:Nope-v0", 'expert = "point_env:expert"', "no Gymnasium environment 'Nope-v0'"),
    ("point_env:make_env", 'expert = "point_env:expert"\nhorizn = 40', "did you mean 'horizon'"),
])
def test_wrong_specs_name_what_is_missing(tmp_path, task, options, message):
    path = study_for(tmp_path, task, options)
    with pytest.raises(StudyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_study(path)
    result = runner.invoke(app, ["run-grid", str(path), "--results", str(tmp_path / "r")])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_success_function_instead_of_info():
    spec = TaskSpec("point_env:make_env_without_success", horizon=40,
                    success="point_env:close_to_goal", expert="point_env:expert")
    _, rate = generate(get_task(spec), 5, seed=1)
    assert rate > 0.9


def test_dict_observation_expert_and_success_get_the_environments_own_observation():
    spec = TaskSpec("point_env:make_goal_env", horizon=40, success="point_env:goal_reached",
                    expert="point_env:goal_expert")
    task = get_task(spec)
    assert task.obs_dim == 6  # the agents see the flat vector: keys sorted, concatenated
    demos, rate = generate(task, 5, seed=1)
    assert rate > 0.9 and demos.obs.shape[1] == 6


def test_tasks_check(tmp_path):
    result = runner.invoke(app, ["tasks", "--check", "point_env:make_env", "--expert",
                                 "point_env:expert", "--horizon", "40", "--episodes", "20"])
    assert result.exit_code == 0, result.output
    assert "observation 4 floats, action 2 floats" in result.output
    assert "expert success 100%" in result.output and "steps/s" in result.output
    bad = runner.invoke(app, ["tasks", "--check", "point_env:make_env_discrete",
                              "--horizon", "40"])
    assert bad.exit_code == 2 and "Discrete" in bad.output


def test_async_environments_run_the_same_episodes_as_sync_ones(tmp_path):
    import numpy as np

    from bolrl.envs.batched import env_seeds
    from bolrl.rollout import ExpertActor, rollout

    task = get_task(TaskSpec("point_env:make_env", horizon=30, expert="point_env:expert"))
    runs = {vector: rollout(task, env_seeds(3, 4), ExpertActor(task, 0), 10, vector_env=vector)
            for vector in ("sync", "async")}
    sync, parallel = runs["sync"], runs["async"]
    assert sync.n_episodes == parallel.n_episodes == 10
    for field in ("obs", "actions", "rewards", "next_obs", "terminated", "truncated"):
        np.testing.assert_array_equal(getattr(sync, field), getattr(parallel, field))
    # a study's knob, and no part of a cell's identity: the episodes are the same
    path = study_for(tmp_path, "point_env:make_env", 'expert = "point_env:expert"\nhorizon = 40')
    plain = load_study(path)
    path.write_text(path.read_text().replace('vector_env = "sync"', 'vector_env = "async"'))
    stepped = load_study(path)
    assert {c.vector_env for c in stepped.cells} == {"async"}
    assert [c.cell_id for c in stepped.cells] == [c.cell_id for c in plain.cells]
