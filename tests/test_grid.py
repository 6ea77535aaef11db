"""Study files, grid expansion, the batch online loop, run-grid end to end, resume, failures."""

import dataclasses
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bolrl import loop
from bolrl.agent import NonFiniteLoss
from bolrl.cli import app
from bolrl.results import SCHEMA, load_results
from bolrl.study import StudyError, load_study

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "studies" / "smoke.toml"
runner = CliRunner()
TIMING = ["collect_s", "train_s", "eval_s", "created_at"]


def write_study(tmp_path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


def test_eta_is_the_runs_mean_pace_not_a_bursty_window():
    from bolrl.cli.run import eta_seconds

    assert eta_seconds(120.0, 0, 10) is None  # nothing run yet: no estimate
    # 4 rounds in 10 minutes, 36 left: 90 minutes, whatever the last burst's rate was
    assert eta_seconds(600.0, 4, 36) == pytest.approx(5400.0)
    assert eta_seconds(600.0, 4, 0) == 0.0


def test_eta_prices_a_slow_methods_rounds_higher():
    """The beyond study runs Q-chunking's backup (N policy samples at every next state) last:
    an ETA counting rounds alike promised its end far too early."""
    from bolrl.cli.run import eta_seconds, round_prices

    cells = load_study(ROOT / "studies" / "beyond.toml").cells
    prices = round_prices(cells)
    by = {(c.algorithm, c.extraction, c.policy): prices[c.cell_id] for c in cells}
    assert by[("qc", "best-of-n", "diffusion")] > 2 * by[("iql", "best-of-n", "diffusion")]
    recipe = by[("iql", "best-of-n", "diffusion")]
    qc = by[("qc", "best-of-n", "diffusion")]
    # 10 minutes for 10 of the recipe's rounds; 10 qc rounds left take longer than 10 minutes
    assert eta_seconds(600.0, 10 * recipe, 10 * qc) > 1200.0


def test_run_grid_smoke_end_to_end(tmp_path):
    result = runner.invoke(app, ["run-grid", str(SMOKE), "--results", str(tmp_path),
                                 "--workers", "2"])
    assert result.exit_code == 0, result.output
    # no terminal (as under nohup or CI): a line per cell started and per round finished
    assert result.output.count(": started") == 3
    assert result.output.count(" done, success ") == 9
    assert "9/9 cell-rounds of the run" in result.output
    # ... and the same events, timestamped, in the run's log file
    (log,) = (tmp_path / "smoke" / "logs").glob("run-*.log")
    text = log.read_text()
    assert "bolrl " in text.splitlines()[0] and text.count(" done, success ") == 9
    assert text.count(": started") == 3 and text.count("final success") == 3
    assert "run ended: 3 of 3 cells" in text.splitlines()[-1]
    study = load_study(SMOKE)
    frame = load_results(tmp_path, "smoke")
    assert set(frame["cell_id"]) == {c.cell_id for c in study.cells}
    assert list(frame.columns) == list(SCHEMA)
    assert {c: str(t) for c, t in frame.dtypes.items()} == SCHEMA
    for cell in study.cells:
        rows = frame[frame["cell_id"] == cell.cell_id].sort_values("round")
        assert rows["round"].tolist() == list(range(cell.rounds + 1))
        assert (rows["status"] == "ok").all()
        assert rows["autonomous_episodes"].tolist() == [
            r * cell.episodes_per_round for r in range(cell.rounds + 1)]
        assert rows["autonomous_transitions"].is_monotonic_increasing
        assert rows["eval_success_rate"].between(0, 1).all()
        assert rows["grad_steps"].tolist() == [20, 30, 40]
    # a second run finds everything done and runs nothing
    again = runner.invoke(app, ["run-grid", str(SMOKE), "--results", str(tmp_path)])
    assert again.exit_code == 0 and "0 to run" in again.output
    status = runner.invoke(app, ["status", str(SMOKE), "--results", str(tmp_path)])
    assert f"{len(study.cells)} finished" in status.output


def test_show_lists_cells_and_dropped_combinations():
    result = runner.invoke(app, ["show", str(SMOKE)])
    assert result.exit_code == 0, result.output
    assert "imitation has no policy extraction" in result.output
    assert "estimated cost" in result.output
    ids = runner.invoke(app, ["show", str(SMOKE), "--ids"]).output.split()
    assert ids == [c.cell_id for c in load_study(SMOKE).cells]


def test_interrupted_cell_resumes_to_the_same_rows(tmp_path):
    cell = load_study(SMOKE).cells[1]  # iql + best-of-n: critic, policy and sampling state
    reference = loop.run_cell(cell, tmp_path / "a")

    def interrupt(cell_id, round_index, phase, *detail):
        if round_index == 2 and phase == "train":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        loop.run_cell(cell, tmp_path / "b", progress=interrupt)
    resumed = loop.run_cell(cell, tmp_path / "b")
    a = pd.DataFrame(reference).drop(columns=TIMING)
    b = pd.DataFrame(resumed).drop(columns=TIMING)
    pd.testing.assert_frame_equal(a, b)


def test_same_cell_and_seed_give_identical_rows(tmp_path):
    cell = load_study(SMOKE).cells[2]  # gaussian + awr + OU noise
    a = pd.DataFrame(loop.run_cell(cell, tmp_path / "a")).drop(columns=TIMING)
    b = pd.DataFrame(loop.run_cell(cell, tmp_path / "b")).drop(columns=TIMING)
    pd.testing.assert_frame_equal(a, b)


def test_a_failing_cell_is_recorded_and_the_grid_goes_on(tmp_path, monkeypatch):
    original = loop.Agent.train

    def train(self, demos, autonomous, steps):
        if self.cfg.method.policy == "gaussian" and self.rounds_trained == 1:
            raise NonFiniteLoss("critic", float("nan"), 3)
        return original(self, demos, autonomous, steps)

    monkeypatch.setattr(loop.Agent, "train", train)
    result = runner.invoke(app, ["run-grid", str(SMOKE), "--results", str(tmp_path),
                                 "--workers", "1"])
    assert result.exit_code == 1
    frame = load_results(tmp_path, "smoke")
    failed = frame[frame["status"] == "failed"]
    assert len(failed) == 1 and failed["policy"].iloc[0] == "gaussian"
    assert failed["error"].iloc[0].startswith("round 1: critic loss became nan")
    assert failed["cell_id"].iloc[0] in result.output
    assert (frame.groupby("cell_id")["status"].last() == "ok").sum() == 2  # the others ran
    monkeypatch.setattr(loop.Agent, "train", original)
    retry = runner.invoke(app, ["run-grid", str(SMOKE), "--results", str(tmp_path),
                                "--workers", "1", "--retry-failed"])
    assert retry.exit_code == 0, retry.output
    assert (load_results(tmp_path, "smoke")["status"] == "ok").all()


def test_grid_expansion_drops_nonsense_and_adds_extra_cells():
    study = load_study(SMOKE)
    methods = sorted(c.method_name for c in study.cells)
    assert methods == ["diffusion/bc", "diffusion/iql+best-of-n", "gaussian/iql+awr+ou"]
    reasons = dict(((d["algorithm"], d["extraction"]), why) for d, why in study.dropped)
    assert "no policy extraction" in reasons[("bc", "best-of-n")]
    assert "needs an extraction" in reasons[("iql", "none")]


def test_cell_ids_are_stable_hashes_of_the_configuration():
    a, b = load_study(SMOKE).cells[0], load_study(SMOKE).cells[0]
    assert a.cell_id == b.cell_id and len(a.cell_id) == 12
    changed = dataclasses.replace(a, rounds=a.rounds + 1)
    assert changed.cell_id != a.cell_id


def test_episodes_per_round_is_an_axis(tmp_path):
    path = write_study(tmp_path, '[axes]\nalgorithm = ["bc"]\nextraction = ["none"]\n'
                                 'episodes_per_round = [10, 20, 40]\n')
    cells = load_study(path).cells
    assert sorted(c.episodes_per_round for c in cells) == [10, 20, 40]


@pytest.mark.parametrize("text, message", [
    ("[study]\nrounds = 3\nroundz = 2\n", "unknown key 'roundz' in [study]"),
    ("[study]\nroundz = 2\n", "did you mean 'rounds'"),
    ("[axes]\npolicy = ['difusion']\n",
     "allowed: gaussian, diffusion, flow (did you mean 'diffusion'"),
    ("[study]\ntasks = ['lfit']\n", "unknown task 'lfit'"),
    ("[study]\nrounds = -1\n", "[study].rounds must be between 0 and 200"),
    ("[study]\neval_episodes = 0\n", "[study].eval_episodes must be between 1"),
    ("[study]\nrounds = 'three'\n", "[study].rounds must be an integer"),
    ("[study]\nrounds = 3\n[[cells]]\nalgorithm = 'iql'\n", "must name extraction, policy, noise"),
    ("[studdy]\n", "unknown table [studdy]"),
    ("[study\nrounds = 3\n", "TOML syntax error"),
    ("[critic]\nexpectile = 1.5\n", "[critic].expectile must be strictly between 0 and 1"),
    ("[train]\nlr = -1.0\n", "[train].lr must be in (0, 1], got -1.0"),
    ("[train]\nlr = nan\n", "[train].lr must be in (0, 1], got nan"),
    ("[train]\ndemo_fraction = 1.5\n", "[train].demo_fraction must be a number between 0 and 1"),
    ("[train]\ndemo_fraction = { bcc = 0.5 }\n", "unknown algorithm 'bcc'"),
    ("[train]\nchunk_labels = 'alligned'\n", "did you mean 'aligned'"),
    ("[networks]\ndenoiser = 'resnt'\n", "allowed: mlp, resnet"),
    ("[noise]\ndims = [0, 7]\n", "task 'lift' has 5 action dimensions"),
    ("[noise]\ndims = 'xyz'\n", "[noise].dims must be a list of action dimensions"),
])
def test_bad_study_files_give_one_clear_sentence(tmp_path, text, message):
    path = write_study(tmp_path, text)
    with pytest.raises(StudyError) as err:
        load_study(path)
    assert message in str(err.value) and str(path) in str(err.value)
    result = runner.invoke(app, ["run-grid", str(path), "--results", str(tmp_path / "r")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert not (tmp_path / "r" / "s").exists()  # nothing written


def test_toml_syntax_error_names_the_line(tmp_path):
    path = write_study(tmp_path, "[study]\nrounds = 3\nseeds = [0,,1]\nname = \"x\"\n")
    with pytest.raises(StudyError, match="line 3"):
        load_study(path)


def test_missing_study_file_and_unknown_cell(tmp_path):
    result = runner.invoke(app, ["run-grid", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2 and "study file not found" in result.output
    result = runner.invoke(app, ["run-cell", str(SMOKE), "deadbeef0000"])
    assert result.exit_code == 2 and "no cell with id" in result.output


def test_run_cell_runs_one_cell(tmp_path):
    cell = load_study(SMOKE).cells[0]
    result = runner.invoke(app, ["run-cell", str(SMOKE), cell.cell_id, "--results",
                                 str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "smoke" / "cells" / f"{cell.cell_id}.parquet").exists()


@pytest.mark.parametrize("path", sorted((ROOT / "studies").glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_study_loads(path):
    from bolrl.envs import metaworld, robomimic

    for suite, message in ((metaworld, "Meta-World extra"), (robomimic, "robosuite extra")):
        if suite.PREFIX in path.read_text() and not suite.available():
            with pytest.raises(StudyError, match=f"{message} is not installed"):
                load_study(path)  # the one line a user without the extra gets
            return
    study = load_study(path)
    assert study.name == path.stem and study.cells


def test_demo_fraction_is_set_per_algorithm(tmp_path):
    path = write_study(tmp_path, "[train]\ndemo_fraction = { filtered-bc = 0.25 }\n")
    by_algorithm = {c.algorithm: c.train.demo_fraction for c in load_study(path).cells}
    assert by_algorithm["filtered-bc"] == 0.25
    assert by_algorithm["bc"] == by_algorithm["iql"] == 0.5  # the defaults of the others
    path = write_study(tmp_path, "[train]\ndemo_fraction = 0.3\n")
    assert {c.train.demo_fraction for c in load_study(path).cells} == {0.3}


def test_smoke_cells_give_the_rows_recorded_before_the_config_refactor(tmp_path):
    """The rows of the smoke cells (ids, configuration and every training figure) match those
    recorded in tests/data/smoke_rows.json: first at e874ce2, before settings moved into
    bolrl.config (the move changed no result and no cell id); re-recorded only where a change
    meant to change them says so in its commit. The last digits of the losses of later rounds
    depend on the CPU's vector kernels: the recording of f5fd8b5, made on another machine,
    drifted here by up to 5e-4 (relative) from the IQL cell's round 2 on, with every success
    rate, length and count equal; it was re-recorded on this project's 2-core machine with
    one torch thread, as the tests run."""
    import json

    import mujoco

    majors = (mujoco.__version__.split(".")[0], np.__version__.split(".")[0])
    if majors != ("4", "2"):  # the recording's stack; MuJoCo 3 moves the last digits
        pytest.skip(f"rows recorded under MuJoCo 4 and numpy 2, this is MuJoCo "
                    f"{mujoco.__version__} and numpy {np.__version__}")
    recorded = json.loads((ROOT / "tests" / "data" / "smoke_rows.json").read_text())
    study = load_study(SMOKE)
    assert [c.cell_id for c in study.cells] == list(dict.fromkeys(r["cell_id"]
                                                                  for r in recorded))
    got = []
    for cell in study.cells:
        got += loop.run_cell(cell, tmp_path / cell.cell_id)
    assert len(got) == len(recorded)
    for new, old in zip(got, recorded, strict=True):
        for key, value in old.items():
            if isinstance(value, float):
                np.testing.assert_allclose(new[key], value, rtol=1e-6, err_msg=key)
            elif key == "config":  # settings added since hash to the same cell (neutral values)
                from bolrl.identity import identity

                assert identity(json.loads(new[key])) == identity(json.loads(value))
            else:
                assert new[key] == value, key


def test_noise_sigma_axis_multiplies_noisy_cells_only(tmp_path):
    path = write_study(tmp_path, "[axes]\nalgorithm = ['iql']\nextraction = ['best-of-n']\n"
                                 "noise = ['none', 'ou', 'pink']\nnoise_sigma = [0.05, 0.1]\n")
    cells = load_study(path).cells
    by = sorted((c.noise, c.noise_params.sigma) for c in cells)
    assert by == [("none", 0.1), ("ou", 0.05), ("ou", 0.1), ("pink", 0.05), ("pink", 0.1)]
    bad = write_study(tmp_path, "[axes]\nnoise_sigma = [-1]\n")
    with pytest.raises(StudyError, match="noise_sigma values must be numbers >= 0"):
        load_study(bad)


def test_the_methods_beyond_the_paper_run_through_run_grid_status_and_plot(tmp_path):
    """PA-RL, EXPO, FQL and DSRL (bolrl/extraction/*.py) on the smoke grid with the flow
    policy: rows with their losses and compute, a status and a report."""
    args = [str(SMOKE), "--results", str(tmp_path), "--name", "bey", "--set",
            'axes.policy=["flow"]', "--set", 'axes.algorithm=["iql"]', "--set",
            'axes.extraction=["pa-rl", "expo", "fql", "dsrl"]', "--set",
            "extraction.n_samples=4"]
    run = runner.invoke(app, ["run-grid", *args, "--workers", "1"])
    assert run.exit_code == 0, run.output
    status = runner.invoke(app, ["status", *args])
    assert "0 failed, 0 pending" in status.output, status.output
    frame = load_results(tmp_path, "bey")
    assert (frame["status"] == "ok").all()
    beyond = {f"flow/iql+{x}" for x in ("pa-rl", "expo", "fql", "dsrl")}
    assert beyond <= set(frame["method"])  # beside the smoke study's extra cell
    trained = frame[(frame["round"] > 0) & frame["method"].isin(beyond)].set_index("method")
    assert trained.loc[["flow/iql+expo", "flow/iql+fql", "flow/iql+dsrl"],
                       "actor_loss"].notna().all()
    assert trained.loc["flow/iql+dsrl", "latent_q_loss"].notna().all()
    assert trained.loc["flow/iql+pa-rl", "actor_loss"].isna().all()
    steps = tomllib.loads(SMOKE.read_text())["networks"]["diffusion_steps"]
    assert trained["policy_passes_per_action"].groupby(level=0).first().to_dict() == {
        "flow/iql+pa-rl": 4 * steps, "flow/iql+expo": 4 * steps, "flow/iql+fql": 1,
        "flow/iql+dsrl": steps}
    plot = runner.invoke(app, ["plot", *args, "--format", "png"])
    assert plot.exit_code == 0, plot.output
    # success against compute: the methods differ in passes per action
    assert "![compute](figures/compute.png)" in (tmp_path / "bey" / "REPORT.md").read_text()
    assert (tmp_path / "bey" / "figures" / "compute.png").exists()


def test_the_flow_policy_and_the_qc_critic_run_through_run_grid_status_and_plot(tmp_path):
    """A policy class and a critic, each added as one module and one registry line
    (bolrl/policies/flow.py, bolrl/critics/qc.py), run the smoke grid and read back like the
    others."""
    args = [str(SMOKE), "--results", str(tmp_path), "--name", "fq", "--set",
            'axes.policy=["flow"]', "--set", 'axes.algorithm=["bc", "iql", "qc"]']
    assert runner.invoke(app, ["run-grid", *args, "--workers", "1"]).exit_code == 0
    status = runner.invoke(app, ["status", *args])
    assert "0 failed, 0 pending" in status.output, status.output
    frame = load_results(tmp_path, "fq")
    assert (frame["status"] == "ok").all()
    assert {"flow/bc", "flow/iql+best-of-n", "flow/qc+best-of-n"} <= set(frame["method"])
    qc = frame[(frame["method"] == "flow/qc+best-of-n") & (frame["round"] > 0)]
    assert qc["critic_q_loss"].notna().all() and qc["critic_v_loss"].isna().all()
    plot = runner.invoke(app, ["plot", *args, "--format", "png"])
    assert plot.exit_code == 0, plot.output


def test_the_cost_model_prices_a_shared_base_policy_once():
    """`bolrl show`'s total: a base policy is trained once per study (bolrl.bases), so the
    cells that load it are priced without it."""
    from bolrl.bases import policy_key
    from bolrl.cost import base_seconds, estimate_seconds, study_seconds

    study = load_study(ROOT / "studies" / "paper.toml", runnable=False)
    shared = study_seconds(study.cells)
    bases = {policy_key(c): base_seconds(c) for c in study.cells}
    assert len(bases) == 3 * 5 * 2  # tasks x seeds x (diffusion, Gaussian)
    alone = [estimate_seconds(c) for c in study.cells]
    assert sum(alone) - sum(shared) == pytest.approx(
        sum(base_seconds(c) for c in study.cells) - sum(bases.values()))
    assert all(0 < s <= a for s, a in zip(shared, alone, strict=True))
