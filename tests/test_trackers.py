"""Trackers watch a cell without changing it: TensorBoard event files, W&B offline runs and an
MLflow file store, each written locally and read back (TensorBoard's and MLflow's own readers;
W&B's record file through its protobuf schema), and a tracked grid writes the rows of an
untracked one."""

import importlib.util
import json
import struct

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


INSTALLED = [name for name, module in (("tensorboard", "tensorboard"), ("wandb", "wandb"),
                                        ("mlflow", "mlflow")) if importlib.util.find_spec(module)]
TIMING = ["collect_s", "train_s", "eval_s", "created_at"]


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """The smoke study (60 gradient steps a round: past one point of the losses) run once
    untracked and once with every installed tracker; (results root, tracked rows, the iql
    cell's id and rows)."""
    if not INSTALLED:
        pytest.skip("no tracker installed (make install installs tensorboard, wandb, mlflow)")
    root = tmp_path_factory.mktemp("trackers")
    longer = ["--set", "train.steps_per_round=60", "--name", "s"]
    track = [arg for name in INSTALLED for arg in ("--track", name)]
    for results, extra in ((root / "plain", []), (root / "tracked", track)):
        out = runner.invoke(app, ["run-grid", str(SMOKE), "--results", str(results),
                                  "--workers", "1", *longer, *extra])
        assert out.exit_code == 0, out.output
    rows = load_results(root / "tracked", "s")
    cell = rows[rows["algorithm"] == "iql"]["cell_id"].iloc[0]
    return root, rows, cell, rows[rows["cell_id"] == cell].sort_values("round")


def _expected(cell_rows) -> list[tuple[int, float]]:
    return [(int(r), pytest.approx(v)) for r, v in
            zip(cell_rows["round"], cell_rows["eval_success_rate"], strict=True)]


LOSS_STEPS = [20 + 50, 20 + 60 + 50]  # step 50 of rounds 1 and 2 (round 0: 20 steps), from 0


def test_a_tracked_grid_writes_the_rows_of_an_untracked_one(tracked):
    root, rows, _, _ = tracked
    untracked = load_results(root / "plain", "s")
    pd.testing.assert_frame_equal(
        rows.drop(columns=TIMING).sort_values(["cell_id", "round"]).reset_index(drop=True),
        untracked.drop(columns=TIMING).sort_values(["cell_id", "round"]).reset_index(drop=True))


def test_tensorboard_gets_every_round_and_the_training_losses(tracked):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root, _, cell, cell_rows = tracked
    (run,) = (root / "tracked" / "s" / "tensorboard" / cell).iterdir()  # one run of it
    events = EventAccumulator(str(run))
    events.Reload()
    success = [(e.step, e.value) for e in events.Scalars("eval/success_rate")]
    assert success == _expected(cell_rows)
    assert "steps/critic_q_loss" in events.Tags()["scalars"]
    assert [e.step for e in events.Scalars("steps/policy_loss")] == LOSS_STEPS


def _wandb_records(path):
    """The records of a W&B run file: a 7-byte header, then LevelDB-log blocks of 32 KiB whose
    chunks (crc32, length, type: 1 full, 2 first, 3 middle, 4 last) carry protobuf Records."""
    from wandb.proto import wandb_internal_pb2

    data, block, pos, part = path.read_bytes(), 32768, 7, b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a chunk header: padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0 and length == 0:
            break
        part += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(part)
            part = b""
            yield record


def test_wandb_offline_gets_every_round_and_the_training_losses(tracked):
    pytest.importorskip("wandb")
    root, _, cell, cell_rows = tracked
    runs = {}  # display name -> records, one offline run per cell
    for run_dir in (root / "tracked" / "s" / "wandb" / "wandb").glob("offline-run-*"):
        records = list(_wandb_records(next(run_dir.glob("run-*.wandb"))))
        (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"][:1]
        runs[run.display_name] = (run, records)
    assert len(runs) == len(set(tracked[1]["cell_id"]))
    (name,) = [name for name in runs if name.startswith(cell)]
    run, records = runs[name]
    assert run.project == "s" and run.run_group == cell_rows["method"].iloc[0]
    config = {item.key: json.loads(item.value_json) for item in run.config.update}
    assert config["seed"] == int(cell_rows["seed"].iloc[0])
    history = [{item.key or "/".join(item.nested_key): json.loads(item.value_json)
                for item in r.history.item}  # "eval/success_rate" comes as a nested key
               for r in records if r.WhichOneof("record_type") == "history"]
    success = [(h["round"], h["eval/success_rate"]) for h in history
               if "eval/success_rate" in h]
    assert success == _expected(cell_rows)
    assert [h["grad_step"] for h in history if "steps/policy_loss" in h] == LOSS_STEPS


def test_mlflow_file_store_gets_every_round_and_the_training_losses(tracked):
    pytest.importorskip("mlflow")
    import os

    from mlflow.tracking import MlflowClient

    root, _, cell, cell_rows = tracked
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=(root / "tracked" / "s" / "mlruns").as_uri())
    experiment = client.get_experiment_by_name("s")
    (run,) = client.search_runs([experiment.experiment_id],
                                filter_string=f"tags.cell_id = '{cell}'")
    assert run.data.tags["method"] == cell_rows["method"].iloc[0]
    assert run.data.params["seed"] == str(cell_rows["seed"].iloc[0])
    assert run.info.status == "FINISHED"
    success = [(m.step, m.value) for m in
               client.get_metric_history(run.info.run_id, "eval/success_rate")]
    assert sorted(success) == _expected(cell_rows)
    losses = client.get_metric_history(run.info.run_id, "steps/policy_loss")
    assert sorted(m.step for m in losses) == LOSS_STEPS
