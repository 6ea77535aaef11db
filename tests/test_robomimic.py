"""robomimic tasks on robosuite (the optional extra): layouts, seeded resets, the scripted
experts, a study end to end. Without the extra only the message that says how to get it is
tested (make test-robosuite runs the rest in .venv-robosuite)."""

import os

import numpy as np
import pytest
from smoke_study import run_plot_and_status, smoke_study_on
from typer.testing import CliRunner

from bolrl.cli import app
from bolrl.envs import get_task
from bolrl.envs.robomimic import LAYOUTS, available
from bolrl.study import StudyError, load_study

if os.environ.get("BOLRL_REQUIRE_ROBOSUITE") and not available():
    raise RuntimeError("BOLRL_REQUIRE_ROBOSUITE is set but robosuite cannot be imported")
runner = CliRunner()
needs_robosuite = pytest.mark.skipif(not available(), reason="the robosuite extra is not "
                                     "installed (make test-robosuite tests it)")


def test_layouts_match_robomimic_low_dim_sizes():
    # robomimic's low-dim observations: 19 floats for Lift, 23 for Can and Square
    assert {k: lay.obs_dim for k, lay in LAYOUTS.items()} == {"lift": 19, "can": 23,
                                                              "square": 23}


@pytest.mark.skipif(available(), reason="the robosuite extra is installed")
def test_without_the_extra_a_study_says_how_to_get_it(tmp_path):
    with pytest.raises(StudyError, match=r"pip install -e '\.\[robosuite\]'"):
        load_study(smoke_study_on(tmp_path, "rm", "robomimic/lift"))
    result = runner.invoke(app, ["tasks", "--suite", "robomimic"])
    assert result.exit_code == 2 and "not installed" in result.output


def test_unknown_robomimic_task(tmp_path):
    with pytest.raises(StudyError, match="unknown robomimic task 'robomimic/pour'"):
        load_study(smoke_study_on(tmp_path, "rm", "robomimic/pour"))


@needs_robosuite
def test_seeded_resets_fix_every_episode_of_a_slot():
    task = get_task("robomimic/lift")
    a, b, c = task.batch([3, 4]), task.batch([3, 4]), task.batch([5, 6])
    np.testing.assert_array_equal(a.observe(), b.observe())
    cube = slice(9, 12)
    assert not np.allclose(a.observe()[:, cube], c.observe()[:, cube])  # other placements
    assert not np.allclose(a.observe()[0, cube], a.observe()[1, cube])  # per slot
    ra, rb = (x.step(np.zeros((2, 7), np.float32)) for x in (a, b))
    np.testing.assert_array_equal(ra.obs, rb.obs)


@needs_robosuite
@pytest.mark.parametrize("name", ["robomimic/lift", "robomimic/can"])
def test_scripted_experts_succeed(name):
    from bolrl.demos import expert_success_rate

    assert expert_success_rate(get_task(name), 6, seed=0) >= 5 / 6


@needs_robosuite
def test_square_has_no_scripted_expert_and_says_what_to_do():
    from bolrl.envs.external import TaskError

    with pytest.raises(TaskError, match="bolrl demos import"):
        get_task("robomimic/square").expert(np.random.default_rng(0))


@needs_robosuite
def test_a_study_on_a_robomimic_task_runs_plots_and_reports_status(tmp_path):
    path = smoke_study_on(tmp_path, "rm", "robomimic/lift", "horizon = 120")
    run_plot_and_status(tmp_path, path, "rm")
