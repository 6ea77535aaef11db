"""`bolrl demos import`: robomimic and Minari HDF5 files, written here in their real layouts
with h5py, converted into bolrl's demonstrations; and one line for each malformed file."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from bolrl.cli import app
from bolrl.data import Episodes
from bolrl.envs.robomimic import LAYOUTS
from bolrl.importers import DatasetError, Options, read, target

h5py = pytest.importorskip("h5py")
runner = CliRunner()
LIFT = LAYOUTS["lift"]


def robomimic_file(path, demos=3, env_name="Lift", keys=None, success_at=None,
                   next_obs=True, actions_scale=1.0):
    """A robomimic low-dim dataset: data/demo_<i>/{obs,next_obs}/<key>, actions, rewards,
    dones, with env_args naming the environment. Demo i has 10 + i steps; each observation
    key holds a known ramp so the concatenation order can be checked."""
    rng = np.random.default_rng(0)
    sizes = dict(LIFT.keys) if keys is None else keys
    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        data.attrs["env_args"] = json.dumps({"env_name": env_name, "type": 1})
        for i in range(demos):
            steps = 10 + i
            g = data.create_group(f"demo_{i}")
            for group in ("obs", "next_obs") if next_obs else ("obs",):
                shift = 1 if group == "next_obs" else 0
                for j, (key, size) in enumerate(sizes.items()):
                    t = np.arange(steps)[:, None] + shift
                    g.create_dataset(f"{group}/{key}", data=100 * j + t + np.zeros((1, size)))
            g.create_dataset("actions", data=actions_scale * rng.uniform(-1, 1, (steps, 7)))
            rewards = np.zeros(steps)
            at = steps - 3 if success_at is None else success_at
            if at is not None and at >= 0:
                rewards[at:] = 1.0  # robomimic's sparse reward stays 1 after success
            g.create_dataset("rewards", data=rewards)
            g.create_dataset("dones", data=(np.arange(steps) == steps - 1).astype(int))
    return path


def test_robomimic_demos_in_order_cut_at_first_success(tmp_path):
    found = read(robomimic_file(tmp_path / "lift.hdf5"), target("robomimic/lift"))
    data = found.episodes
    assert (found.source, found.env_name, found.available, found.unsuccessful) == (
        "robomimic", "Lift", 3, 0)
    # demo i has 10 + i steps and succeeds at step 7 + i: it ends there, reward 1
    np.testing.assert_array_equal(data.episode_lengths, [8, 9, 10])
    assert data.rewards.sum() == 3 and data.terminated.sum() == 3 and not data.truncated.any()
    assert data.obs.shape == (27, LIFT.obs_dim) and data.actions.shape == (27, 7)
    # keys in the layout's order: eef_pos (3), eef_quat (4), gripper_qpos (2), object (10)
    first = data.obs[0]
    np.testing.assert_array_equal(first[:3], 0)
    np.testing.assert_array_equal(first[3:7], 100)
    np.testing.assert_array_equal(first[7:9], 200)
    np.testing.assert_array_equal(first[9:], 300)
    np.testing.assert_array_equal(data.next_obs[0], data.obs[1])


def test_n_keeps_the_first_demos_and_next_obs_is_rebuilt(tmp_path):
    path = robomimic_file(tmp_path / "lift.hdf5", demos=4, next_obs=False)
    data = read(path, target("robomimic/lift"), n=2).episodes
    assert data.n_episodes == 2
    np.testing.assert_array_equal(data.next_obs[:7], data.obs[1:8])


def test_a_demo_that_never_succeeds_is_a_truncated_failure(tmp_path):
    path = robomimic_file(tmp_path / "lift.hdf5", demos=2, success_at=-1)
    found = read(path, target("robomimic/lift"))
    assert found.unsuccessful == 2
    assert found.episodes.truncated.sum() == 2 and found.episodes.rewards.sum() == 0
    np.testing.assert_array_equal(found.episodes.episode_lengths, [10, 11])


@pytest.mark.parametrize("make, task, message", [
    (lambda p: robomimic_file(p, env_name="PickPlaceCan"), "robomimic/lift",
     "recorded on 'PickPlaceCan'"),
    (lambda p: robomimic_file(p, keys={"agentview_image": 12, "robot0_eye_in_hand_image": 12}),
     "robomimic/lift", "image-only dataset"),
    (lambda p: robomimic_file(p, keys={"robot0_eef_pos": 3, "object": 10}),
     "robomimic/lift", "no observation key 'robot0_eef_quat'"),
    (lambda p: robomimic_file(p, actions_scale=3.0), "robomimic/lift", "absolute-pose"),
    (lambda p: robomimic_file(p), "lift", "import it for a robomimic task"),
    (lambda p: robomimic_file(p, keys={**dict(LIFT.keys), "object": 14}), "robomimic/lift",
     "expects 10"),
])
def test_malformed_robomimic_files_are_one_sentence(tmp_path, make, task, message):
    path = make(tmp_path / "bad.hdf5")
    with pytest.raises(DatasetError, match=message):
        read(path, target(task))


def minari_file(path, episodes=3, obs_dim=19, act_dim=5, dict_obs=False,
                env_id="bolrl/Lift-v0"):
    """A Minari dataset in the older layout: episode_<i>/{observations (one more than
    actions), actions, rewards, terminations, truncations, infos/is_success (one more than
    actions: the reset's first)}; the environment's spec in the file's attributes. Episodes
    0 and 2 succeed (and terminate) at their last step, episode 1 runs out of time. (The
    Minari library's own writer: tests/test_minari.py.)"""
    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as f:
        f.attrs["env_spec"] = json.dumps({"id": env_id})
        for i in range(episodes):
            steps = 6 + i
            g = f.create_group(f"episode_{i}")
            if dict_obs:
                g.create_dataset("observations/a", data=rng.normal(size=(steps + 1, 3)))
            else:
                g.create_dataset("observations", data=rng.normal(size=(steps + 1, obs_dim)))
            g.create_dataset("actions", data=rng.uniform(-1, 1, (steps, act_dim)))
            g.create_dataset("rewards", data=np.zeros(steps))
            terminations = np.zeros(steps, bool)
            if i != 1:  # episode 1 runs out of time
                terminations[-1] = True
            g.create_dataset("terminations", data=terminations)
            g.create_dataset("infos/is_success", data=np.r_[False, terminations])
            g.create_dataset("truncations", data=~terminations & (np.arange(steps) == steps - 1))
    return path


def test_minari_episodes_for_an_embedded_task(tmp_path):
    found = read(minari_file(tmp_path / "main_data.hdf5"), target("lift"))
    data = found.episodes
    assert (found.source, found.available, found.unsuccessful) == ("minari", 3, 1)
    np.testing.assert_array_equal(data.episode_lengths, [6, 7, 8])
    np.testing.assert_array_equal(data.terminated[data.ends], [True, False, True])
    with h5py.File(tmp_path / "main_data.hdf5") as f:
        observations = np.asarray(f["episode_0/observations"])
    np.testing.assert_allclose(data.obs[:6], observations[:-1], rtol=1e-6)
    np.testing.assert_allclose(data.next_obs[:6], observations[1:], rtol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    ({"obs_dim": 7}, "observations of 7"),
    ({"dict_obs": True}, "dict of spaces"),
])
def test_malformed_minari_files(tmp_path, kwargs, message):
    with pytest.raises(DatasetError, match=message):
        read(minari_file(tmp_path / "m.hdf5", **kwargs), target("lift"))


def test_cli_import_writes_a_demos_file_a_study_can_name(tmp_path):
    path = robomimic_file(tmp_path / "low_dim.hdf5", demos=5)
    out = tmp_path / "lift-demos.npz"
    result = runner.invoke(app, ["demos", "import", str(path), "--task", "robomimic/lift",
                                 "--n", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "4 of the file's 5 robomimic demos (Lift)" in " ".join(result.output.split())
    assert f'demos_file = "{out}"' in result.output  # on one line, to copy
    assert Episodes.load(out).n_episodes == 4


@pytest.mark.parametrize("args, message", [
    (["demos", "import"], "name the dataset file"),
    (["demos", "import", "x.hdf5"], "name the task with --task"),
    (["demos", "import", "missing.hdf5", "--task", "robomimic/lift"], "no such file"),
    (["demos", "import", "x.hdf5", "--task", "robomimic/pour"], "unknown robomimic task"),
    (["demos", "lift", "x.hdf5"], "go with `bolrl demos import`"),
])
def test_cli_import_mistakes_are_one_line(tmp_path, args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_cli_import_of_a_text_file(tmp_path):
    text = tmp_path / "notes.hdf5"
    text.write_text("not hdf5")
    result = runner.invoke(app, ["demos", "import", str(text), "--task", "robomimic/lift"])
    assert result.exit_code == 2 and "not an HDF5 file" in result.output


def test_cli_import_refuses_non_finite_values_and_leaves_no_file(tmp_path):
    path = robomimic_file(tmp_path / "low_dim.hdf5", demos=2)
    with h5py.File(path, "r+") as f:
        f["data/demo_0/obs/object"][2, 0] = np.nan
    out = tmp_path / "demos.npz"
    result = runner.invoke(app, ["demos", "import", str(path), "--task", "robomimic/lift",
                                 "--out", str(out)])
    assert result.exit_code == 2 and "non-finite" in result.output
    assert not out.exists()


def test_a_robomimic_split_and_only_successful_demos(tmp_path):
    path = robomimic_file(tmp_path / "lift.hdf5", demos=4)
    with h5py.File(path, "a") as f:
        f.create_dataset("mask/train", data=np.array([b"demo_0", b"demo_2", b"demo_3"]))
        f.create_dataset("mask/valid", data=np.array([b"demo_1"]))
        f["data/demo_2/rewards"][...] = 0.0  # demo_2 never succeeds
    train = read(path, target("robomimic/lift"), options=Options(split="train"))
    np.testing.assert_array_equal(train.episodes.episode_lengths, [8, 12, 11])
    assert train.unsuccessful == 1
    valid = read(path, target("robomimic/lift"), options=Options(split="valid"))
    np.testing.assert_array_equal(valid.episodes.episode_lengths, [9])
    ok = read(path, target("robomimic/lift"), n=2,
              options=Options(split="train", only_successful=True))
    np.testing.assert_array_equal(ok.episodes.episode_lengths, [8, 11])  # demo_0, demo_3
    with pytest.raises(DatasetError, match="no mask/test"):
        read(path, target("robomimic/lift"), options=Options(split="test"))
    with pytest.raises(DatasetError, match="only 2 of its demos succeed, --n asks for 3"):
        read(path, target("robomimic/lift"), n=3,
             options=Options(split="train", only_successful=True))


@pytest.mark.parametrize("version, reordered", [("1.5.2", True), ("1.4.1", False), (None, False)])
def test_a_robosuite_15_object_block_is_put_in_the_live_order(tmp_path, version, reordered):
    """robosuite 1.5 writes Can's object-state as [to_eef_pos, to_eef_quat, pos, quat]; the
    live task (and robosuite 1.4's datasets) as [pos, quat, to_eef_pos, to_eef_quat]."""
    from bolrl.envs.robomimic import layout

    can = layout("robomimic/can")
    path = robomimic_file(tmp_path / "can.hdf5", env_name="PickPlaceCan", keys=dict(can.keys))
    block_15 = np.r_[np.full(3, 7.0), np.full(4, 8.0), np.full(3, 5.0), np.full(4, 6.0)]
    with h5py.File(path, "a") as f:
        args = {"env_name": "PickPlaceCan", "type": 1}
        if version:
            args["env_version"] = version
        f["data"].attrs["env_args"] = json.dumps(args)
        for group in ("obs", "next_obs"):
            obj = f[f"data/demo_0/{group}/object"]
            obj[...] = np.broadcast_to(block_15, obj.shape)
    obs = read(path, target("robomimic/can"), n=1).episodes.obs[0][9:]
    live = np.r_[np.full(3, 5.0), np.full(4, 6.0), np.full(3, 7.0), np.full(4, 8.0)]
    np.testing.assert_array_equal(obs, live if reordered else block_15)
