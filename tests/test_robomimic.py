"""robomimic tasks on robosuite (the optional extra): layouts, seeded resets, the scripted
experts, a study end to end. Without the extra only the message that says how to get it is
tested (make test-robosuite runs the rest in .venv-robosuite)."""

import os

import numpy as np
import pytest
from smoke_study import check_video, run_plot_and_status, smoke_study_on
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
def test_a_study_on_a_robomimic_task_runs_plots_reports_status_and_films(tmp_path):
    path = smoke_study_on(tmp_path, "rm", "robomimic/lift", "horizon = 120")
    results = run_plot_and_status(tmp_path, path, "rm")
    check_video(path, results)  # and a rollout video of its first cell


@needs_robosuite
def test_live_first_observation_has_the_relative_object_pose():
    """robosuite 1.5 reads an object's pose relative to the hand as 0 in reset's own
    observation; the live task reads it again, as the next step (with no motion) has it."""
    from bolrl.envs.robomimic import RobosuiteEnv, layout

    env = RobosuiteEnv(layout("robomimic/can"))
    first, _ = env.reset(seed=3)
    relative = slice(9 + 7, 9 + 14)  # Can_to_robot0_eef_pos, _quat in the live order
    assert np.abs(first[relative]).max() > 0.05
    after, *_ = env.step(np.zeros(7))
    np.testing.assert_allclose(first[relative], after[relative], atol=0.01)
    env.close()


@needs_robosuite
@pytest.mark.parametrize("name", ["robomimic/lift", "robomimic/can"])
def test_a_dataset_written_by_robosuite_imports_where_the_live_task_puts_features(tmp_path,
                                                                                 name):
    """robosuite 1.5.2's own writers: DataCollectionWrapper records an expert's episode
    (its states), gather_demonstrations_as_hdf5 gathers it; then the conversion that robomimic's
    convert_robosuite.py and dataset_states_to_obs.py make, step by step (their scripts import
    mujoco_py, MuJoCo 2.1, so they cannot run here): env_args with the robosuite version, and
    obs replayed from each state with robosuite's own observations (`object` is its
    object-state, in robosuite 1.5's order). The imported vectors equal bolrl's live
    observations of the same states, feature by feature; a tiny study trains on the file."""
    import json

    import h5py
    import robosuite
    from robosuite.scripts.collect_human_demonstrations import gather_demonstrations_as_hdf5
    from robosuite.wrappers import DataCollectionWrapper

    from bolrl.envs.robomimic import RobosuiteEnv, flat_obs, layout
    from bolrl.importers import read, target

    lay = layout(name)
    task = get_task(name)
    live = RobosuiteEnv(lay)
    raw = live.env
    live.env = DataCollectionWrapper(raw, str(tmp_path / "raw"))  # records every state
    obs, _ = live.reset(seed=1)
    expert = task.expert(np.random.default_rng(1))
    for _ in range(task.horizon):
        obs, _, _, _, info = live.step(expert.act(obs))
        if info["is_success"]:
            break
    assert info["is_success"]
    live.env.close()  # writes the episode's states
    env_info = json.dumps({"env_name": lay.env_name, "robots": "Panda"})
    gather_demonstrations_as_hdf5(str(tmp_path / "raw"), str(tmp_path), env_info)
    # robomimic's convert_robosuite.py: env_args (with the robosuite version) on `data`;
    # dataset_states_to_obs.py: each state restored, its observation written as obs/<key>
    replay = RobosuiteEnv(lay).env
    replay.reset()
    with h5py.File(tmp_path / "demo.hdf5", "a") as f:
        data = f["data"]
        data.attrs["env_args"] = json.dumps({"env_name": lay.env_name, "type": 1,
                                             "env_version": robosuite.__version__})
        demo = data[sorted(data.keys())[0]]
        states = np.asarray(demo["states"])
        observations, expected = [], []
        for state in states:
            replay.sim.set_state_from_flattened(state)
            replay.sim.forward()
            o = replay._get_observations(force_update=True)
            observations.append(o)
            expected.append(flat_obs(o, lay))  # the live task's vector of the same state
        for key in ("robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos"):
            demo.create_dataset(f"obs/{key}", data=np.stack([o[key] for o in observations]))
        demo.create_dataset("obs/object", data=np.stack([o["object-state"]
                                                         for o in observations]))
        rewards = np.zeros(len(states))
        rewards[-1] = 1.0
        demo.create_dataset("rewards", data=rewards)
        demo.create_dataset("dones", data=rewards.astype(int))
        written_object = np.stack([o["object-state"] for o in observations])
    out = tmp_path / "demos.npz"
    result = runner.invoke(app, ["demos", "import", str(tmp_path / "demo.hdf5"), "--task", name,
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    found = read(tmp_path / "demo.hdf5", target(name))
    got = found.episodes.obs
    assert (found.source, found.env_name, found.unsuccessful) == ("robomimic", lay.env_name, 0)
    np.testing.assert_allclose(got, np.stack(expected)[:len(got)], atol=1e-6)
    # Can's block in the file is in robosuite 1.5's order, not the live one (Lift's is alike)
    reordered = lay.object_keys_15 != lay.object_keys
    assert reordered == (name == "robomimic/can")
    assert np.allclose(written_object[:len(got)], got[:, 9:]) != reordered
    # a tiny study trains on the imported file
    study = tmp_path / "imp.toml"
    study.write_text(f"""[study]
name = "imp"
tasks = ["{name}"]
seeds = [0]
rounds = 1
episodes_per_round = 2
eval_episodes = 2
n_envs = 2
demos = {{ "{name}" = 1 }}
[train]
steps_round0 = 10
steps_per_round = 5
batch_size = 16
[networks]
hidden = 16
layers = 1
critic_hidden = 16
diffusion_steps = 2
[axes]
algorithm = ["bc"]
extraction = ["none"]
[tasks."{name}"]
demos_file = "{out}"
horizon = 30
""")
    run = runner.invoke(app, ["run-grid", str(study), "--results", str(tmp_path / "r"),
                              "--workers", "1"])
    assert run.exit_code == 0, run.output
    from bolrl.files import content_hash
    from bolrl.results import load_results

    rows = load_results(tmp_path / "r", "imp")
    assert rows["status"].eq("ok").all() and len(rows) == 2
    assert {json.loads(c)["demos_sha256"] for c in rows["config"]} == {content_hash(out)}
