"""Imported demonstrations are what a dataset written by Minari's own DataCollector holds:
episode by episode against `minari.load_dataset`, with both success conventions, failed and
truncated episodes, the environment spec from Minari's metadata.json, and a study that trains
on the imported file (its content in the cells' identity)."""

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from typer.testing import CliRunner

from bolrl.cli import app
from bolrl.importers import DatasetError, Options, Target, read, target

minari = pytest.importorskip("minari", reason="Minari's writer: pip install -e '.[minari]'")

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()
POINT = "bolrl-test/PointReach-v0"
FALLING = "bolrl-test/PointFalls-v0"


def _register():
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    if POINT not in gym.registry:
        gym.register(POINT, entry_point="point_env:PointReachInfo", max_episode_steps=40)
    if FALLING not in gym.registry:
        gym.register(FALLING, entry_point="point_env:PointFalls", max_episode_steps=30)


@pytest.fixture
def datasets(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    _register()
    import bolrl.envs  # noqa: F401  (registers bolrl/Lift-v0)
    return tmp_path / "minari"


def collect(env_id: str, dataset_id: str, episodes: int, act, seed: int = 0):
    """A dataset written by Minari's DataCollector, `act(obs, rng)` choosing actions."""
    from minari import DataCollector

    env = DataCollector(gym.make(env_id), record_infos=True)
    rng = np.random.default_rng(seed)
    for e in range(episodes):
        obs, _ = env.reset(seed=seed + e)
        done = False
        while not done:
            obs, _, terminated, truncated, _ = env.step(act(obs, rng, e))
            done = terminated or truncated
    dataset = env.create_dataset(dataset_id=dataset_id, algorithm_name="test")
    env.close()
    return dataset


def _expert_or_random(obs, rng, episode):
    """Episodes 0, 2, 4: the expert (success, then on to the time limit); 1, 3: random."""
    if episode % 2 == 0:
        return np.clip(obs[2:] - obs[:2], -0.1, 0.1).astype(np.float32)
    return rng.uniform(-0.1, 0.1, 2).astype(np.float32)


def test_is_success_infos_cut_each_episode_at_its_first_success(datasets):
    written = collect(POINT, "bolrl-test/point-v0", 5, _expert_or_random)
    path = Path(written.spec.data_path) / "main_data.hdf5"
    found = read(path, target(f"gym:{POINT}"))
    assert found.env_name == POINT  # from data/metadata.json, where Minari 0.5 puts it
    assert found.available == 5 and found.unsuccessful == 2
    data = found.episodes
    loaded = list(minari.load_dataset("bolrl-test/point-v0").iterate_episodes())
    idx = data.episode_index
    for e, episode in enumerate(loaded):
        mine = data.select(idx == e)
        success = np.asarray(episode.infos["is_success"], bool)[1:]
        hits = np.flatnonzero(success)
        length = hits[0] + 1 if hits.size else len(episode.actions)
        np.testing.assert_array_equal(mine.obs, episode.observations[:length])
        np.testing.assert_array_equal(mine.next_obs, episode.observations[1:length + 1])
        np.testing.assert_allclose(mine.actions, episode.actions[:length] / 0.1, atol=1e-6)
        assert bool(mine.terminated[-1]) == bool(hits.size)  # success ends it; else truncated
        assert bool(mine.truncated[-1]) == (not hits.size)
        assert mine.rewards.sum() == float(bool(hits.size))
    assert hits.size and len(loaded[0].actions) == 40  # ran on to the time limit
    only = read(path, target(f"gym:{POINT}"), options=Options(only_successful=True))
    assert only.episodes.n_episodes == 3 and only.unsuccessful == 0


def test_terminations_are_success_only_when_the_user_says_so(datasets):
    written = collect(FALLING, "bolrl-test/falls-v0", 3, lambda o, r, e: r.uniform(-0.1, 0.1, 2))
    path = Path(written.spec.data_path) / "main_data.hdf5"
    # the task as the importer sees it (bolrl would not run it: it reports no success)
    falls = Target(f"gym:{FALLING}", 4, 2, -0.1 * np.ones(2), 0.1 * np.ones(2), FALLING)
    with pytest.raises(DatasetError, match="records no success .* --terminations-are-success"):
        read(path, falls)
    said = read(path, falls, options=Options(terminations_are_success=True))
    assert said.unsuccessful == 0  # what the user asserted: every fall counted a success


def test_an_embedded_task_imports_trains_on_and_is_identified_by_the_file(datasets, tmp_path):
    written = collect("bolrl/Lift-v0", "bolrl/lift-random-v0", 3,
                      lambda o, r, e: r.uniform(-1, 1, 5).astype(np.float32))
    directory = Path(written.spec.data_path).parent  # the dataset's directory will do
    out = tmp_path / "lift-demos.npz"
    result = runner.invoke(app, ["demos", "import", str(directory), "--task", "lift",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "(bolrl/Lift-v0)" in result.output and "3 of them never succeed" in result.output
    wrong = runner.invoke(app, ["demos", "import", str(directory), "--task", "pick-place"])
    assert wrong.exit_code == 2 and "recorded on 'bolrl/Lift-v0'" in wrong.output
    study = tmp_path / "imp.toml"
    text = (ROOT / "studies" / "smoke.toml").read_text().replace('name = "smoke"',
                                                                 'name = "imp"')
    study.write_text(text + f'\n[tasks."lift"]\ndemos_file = "{out}"\n')
    results = tmp_path / "r"
    run = runner.invoke(app, ["run-grid", str(study), "--results", str(results),
                              "--workers", "1"])
    assert run.exit_code == 0, run.output
    from bolrl.files import content_hash
    from bolrl.results import load_results

    rows = load_results(results, "imp")
    configs = {json.loads(c)["demos_sha256"] for c in rows["config"]}
    assert configs == {content_hash(out)}
    from bolrl.data import Episodes

    imported = Episodes.load(out).first_episodes(3)
    assert (rows.loc[rows["round"] == 0, "demos"] == 3).all()
    assert rows["status"].eq("ok").all() and imported.n_episodes == 3
    # a different dataset imported to the same path: the cells are new, the old ones stale
    collect("bolrl/Lift-v0", "bolrl/lift-random-v1", 3,
            lambda o, r, e: r.uniform(-1, 1, 5).astype(np.float32), seed=50)
    again = runner.invoke(app, ["demos", "import", str(datasets / "bolrl" / "lift-random-v1"),
                                "--task", "lift", "--out", str(out)])
    assert again.exit_code == 0, again.output
    status = runner.invoke(app, ["status", str(study), "--results", str(results)])
    assert "0 finished" in status.output and "3 stale" in status.output
    assert "demos_sha256" in status.output
