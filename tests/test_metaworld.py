"""Meta-World tasks (the optional extra): names, seeded resets, the experts, a study end to end.
Without the extra only the message that says how to get it is tested."""

import os

import numpy as np
import pytest
from smoke_study import check_video, run_plot_and_status, smoke_study_on
from typer.testing import CliRunner

from bolrl.cli import app
from bolrl.envs import get_task
from bolrl.envs.metaworld import available
from bolrl.study import StudyError, load_study

if os.environ.get("BOLRL_REQUIRE_METAWORLD") and not available():
    raise RuntimeError("BOLRL_REQUIRE_METAWORLD is set but metaworld cannot be imported")
runner = CliRunner()
needs_metaworld = pytest.mark.skipif(not available(), reason="the Meta-World extra is not "
                                     "installed (make test-metaworld tests it)")


@pytest.mark.skipif(available(), reason="the Meta-World extra is installed")
def test_without_the_extra_a_study_says_how_to_get_it(tmp_path):
    with pytest.raises(StudyError, match=r"pip install -e '\.\[metaworld\]'"):
        load_study(smoke_study_on(tmp_path, "mw", "metaworld/pick-place-v3"))
    result = runner.invoke(app, ["tasks", "--suite", "metaworld"])
    assert result.exit_code == 2 and "not installed" in result.output


@needs_metaworld
def test_names_and_wrong_names():
    from bolrl.envs.metaworld import task_names

    names = task_names()
    assert len(names) == 50 and "metaworld/pick-place-v3" in names
    with pytest.raises(ValueError, match="did you mean 'metaworld/pick-place-v3'"):
        get_task("metaworld/pick-plce-v3")


@needs_metaworld
def test_seeded_resets_fix_every_episode_of_a_slot():
    task = get_task("metaworld/pick-place-v3")
    a, b, c = task.batch([3, 4]), task.batch([3, 4]), task.batch([5, 6])
    np.testing.assert_array_equal(a.observe(), b.observe())
    assert not np.allclose(a.observe()[:, -3:], c.observe()[:, -3:])  # other goals
    assert not np.allclose(a.observe()[0, 4:7], a.observe()[1, 4:7])  # per slot
    assert np.abs(a.observe()[:, -3:]).sum() > 0  # the goal is observed, not zeros
    for _ in range(task.horizon):  # to the horizon: autoreset draws the next placement
        ra = a.step(np.zeros((2, 4), np.float32))
        rb = b.step(np.zeros((2, 4), np.float32))
    assert ra.truncated.all()
    np.testing.assert_array_equal(ra.obs, rb.obs)


@needs_metaworld
def test_the_expert_succeeds_and_success_ends_the_episode():
    from bolrl.demos import generate

    task = get_task("metaworld/drawer-close-v3")
    demos, rate = generate(task, 8, seed=0)
    assert rate >= 0.9 and demos.n_episodes == 8
    assert demos.rewards.sum() == 8 and demos.terminated.sum() == 8
    lengths = np.diff(np.r_[0, np.flatnonzero(demos.ends) + 1])
    assert lengths.max() < task.horizon
    assert np.abs(demos.actions).max() <= 1.0


@needs_metaworld
def test_a_study_on_a_metaworld_task_runs_plots_reports_status_and_films(tmp_path):
    path = smoke_study_on(tmp_path, "mw", "metaworld/drawer-close-v3", "horizon = 120")
    results = run_plot_and_status(tmp_path, path, "mw")
    check_video(path, results)  # and a rollout video of its first cell
