"""Trackers watch a cell without changing it: TensorBoard event files written locally, read
back with TensorBoard's own reader."""

import pandas as pd
import pytest
from typer.testing import CliRunner

from bolrl.cli import app
from bolrl.results import load_results
from tests.test_grid import SMOKE

runner = CliRunner()


def test_an_unknown_or_missing_tracker_is_a_one_line_error(tmp_path, monkeypatch):
    out = runner.invoke(app, ["run-grid", str(SMOKE), "--results", str(tmp_path),
                              "--track", "wandb-online"])
    assert out.exit_code == 2 and "unknown tracker 'wandb-online'" in out.output
    import bolrl.trackers as trackers

    def missing():
        raise trackers.TrackerMissing("--track tensorboard: the tensorboard package is not "
                                      "installed here: pip install 'bolrl[tensorboard]'")

    monkeypatch.setattr(trackers.TensorBoard, "check", staticmethod(missing))
    out = runner.invoke(app, ["run-grid", str(SMOKE), "--results", str(tmp_path),
                              "--track", "tensorboard"])
    assert out.exit_code == 2 and "pip install 'bolrl[tensorboard]'" in out.output
    assert not (tmp_path / "smoke" / "cells").exists()  # nothing ran


def test_tensorboard_gets_every_round_and_the_training_losses(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    plain = tmp_path / "plain"
    longer = ["--set", "train.steps_per_round=60", "--name", "s"]  # past 50 steps a round
    for results, extra in ((plain, []), (tmp_path / "tracked", ["--track", "tensorboard"])):
        out = runner.invoke(app, ["run-grid", str(SMOKE), "--results", str(results),
                                  "--workers", "1", *longer, *extra])
        assert out.exit_code == 0, out.output
    tracked = load_results(tmp_path / "tracked", "s")
    cell = tracked[tracked["algorithm"] == "iql"]["cell_id"].iloc[0]
    (run,) = (tmp_path / "tracked" / "s" / "tensorboard" / cell).iterdir()  # one run of it
    events = EventAccumulator(str(run))
    events.Reload()
    success = [(e.step, e.value) for e in events.Scalars("eval/success_rate")]
    rows = tracked[tracked["cell_id"] == cell].sort_values("round")
    assert success == [(int(r), pytest.approx(v)) for r, v in
                       zip(rows["round"], rows["eval_success_rate"], strict=True)]
    assert "steps/critic_q_loss" in events.Tags()["scalars"]  # every 50 gradient steps...
    steps = [e.step for e in events.Scalars("steps/policy_loss")]
    assert steps == [20 + 50, 20 + 60 + 50]  # at step 50 of rounds 1 and 2, counted from 0
    # ... and the rows are those of the same grid run without a tracker
    timing = ["collect_s", "train_s", "eval_s", "created_at"]
    untracked = load_results(plain, "s")
    pd.testing.assert_frame_equal(
        tracked.drop(columns=timing).sort_values(["cell_id", "round"]).reset_index(drop=True),
        untracked.drop(columns=timing).sort_values(["cell_id", "round"]).reset_index(drop=True))
