"""Results that stay true: cell identity, stale cells, provenance, and --force that loses
nothing."""

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bolrl import identity, loop
from bolrl.cli import app
from bolrl.executors import run_job
from bolrl.results import cell_path, load_results, run_dir
from bolrl.study import find_study, load_study

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "studies" / "smoke.toml"
runner = CliRunner()
VOLATILE = ["collect_s", "train_s", "eval_s", "created_at", "config", "cell_id"]


def test_every_setting_has_a_baseline_or_names_a_cell():
    """A new setting needs a BASELINE entry (its neutral value), or ids would change."""
    for path in sorted((ROOT / "studies").glob("*.toml")):
        for cell in load_study(path, runnable=False).cells:
            keys = set(identity.flatten(cell.config()))
            loose = keys - set(identity.BASELINE) - identity.ALWAYS - identity.IGNORED
            assert not loose, f"{path.name}: give {sorted(loose)} a BASELINE entry"


def test_cell_ids_are_pinned():
    """The smoke study's ids as first computed by bolrl.identity: a changed BASELINE value or
    hashing scheme would orphan every result, and fails here first."""
    assert [c.cell_id for c in load_study(SMOKE).cells] == [
        "0af6476aa35c", "5575547c4784", "c5b4ae81534d"]


def test_a_new_setting_at_its_neutral_value_leaves_ids_alone(monkeypatch):
    config = load_study(SMOKE).cells[1].config()
    before = identity.cell_id(config)
    monkeypatch.setitem(identity.BASELINE, "agent.new_knob", 7)
    neutral = {**config, "agent": {**config["agent"], "new_knob": 7}}
    other = {**config, "agent": {**config["agent"], "new_knob": 8}}
    assert identity.cell_id(neutral) == before
    assert identity.cell_id(other) != before
    assert identity.lineage_id(neutral) == identity.lineage_id(config)


def test_demonstrations_version_and_content_are_identity(tmp_path, monkeypatch):
    from bolrl.config import DEMOS_VERSION

    cell = load_study(SMOKE).cells[0]
    assert cell.config()["demos_version"] == DEMOS_VERSION
    older = {**cell.config(), "demos_version": 1}
    assert identity.cell_id(older) != cell.cell_id
    # an imported file: its bytes, not its path, name the cell
    path = tmp_path / "demos.npz"
    path.write_bytes(b"one")
    spec = dataclasses.replace(cell.task_spec, demos_file=str(path))
    a = dataclasses.replace(cell, task_spec=spec).cell_id
    path.write_bytes(b"two, different content")
    b = dataclasses.replace(cell, task_spec=spec).cell_id
    moved = tmp_path / "moved.npz"
    moved.write_bytes(b"two, different content")
    c = dataclasses.replace(cell, task_spec=dataclasses.replace(spec, demos_file=str(moved)))
    assert a != b and c.cell_id == b


def test_settings_a_method_never_reads_leave_its_id_and_rows_alone(tmp_path):
    """A BC cell reads no critic setting: its id and its rows are the same at another target
    rate and discount, while a Q-function cell's id changes."""
    bc, iql = load_study(SMOKE).cells[:2]
    critic = dataclasses.replace(bc.critic, target_tau=0.02, gamma=0.9)
    bc2 = dataclasses.replace(bc, critic=critic)
    assert bc2.cell_id == bc.cell_id
    assert dataclasses.replace(iql, critic=critic).cell_id != iql.cell_id
    a = pd.DataFrame(loop.run_cell(bc, tmp_path / "a")).drop(columns=VOLATILE)
    b = pd.DataFrame(loop.run_cell(bc2, tmp_path / "b")).drop(columns=VOLATILE)
    pd.testing.assert_frame_equal(a, b)


def test_changes_name_the_settings_as_a_study_file_does():
    cell = load_study(SMOKE).cells[1]
    new = cell.config()
    old = json.loads(json.dumps(new))
    old.pop("demos_version")  # written before the version was recorded: v1
    old["agent"]["target_tau"] = 0.005
    new = {**new, "agent": {**new["agent"], "target_tau": 0.02}}
    words = [identity.describe(c, "lift") for c in identity.changes(old, new)]
    assert words == ["critic.target_tau 0.005 -> 0.02", "demos_version v1 -> v2"]


def _smoke_copy(tmp_path: Path, extra: str = "") -> Path:
    text = SMOKE.read_text().replace("target_tau = 0.005", extra or "target_tau = 0.005")
    path = tmp_path / "study" / "smoke.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_status_and_plot_name_stale_cells_and_the_changed_setting(tmp_path):
    results = tmp_path / "r"
    path = _smoke_copy(tmp_path)
    run = runner.invoke(app, ["run-grid", str(path), "--results", str(results),
                              "--workers", "1"])
    assert run.exit_code == 0, run.output
    _smoke_copy(tmp_path, "target_tau = 0.02")  # the study file edited after the run
    status = runner.invoke(app, ["status", str(path), "--results", str(results)])
    assert status.exit_code == 0, status.output
    out = " ".join(status.output.split())
    # BC reads no critic setting: still finished; the two Q-function cells are stale
    assert "1 finished" in out and "2 pending; 2 stale" in out, out
    assert "critic.target_tau 0.005 -> 0.02 (2)" in out
    assert f"bolrl plot {path} --as-run --results {results}" in out
    plot = runner.invoke(app, ["plot", str(path), "--results", str(results), "--format", "png"])
    assert plot.exit_code == 0, plot.output
    report = (results / "smoke" / "REPORT.md").read_text()
    assert "Partial results: 1 of 3 cells" in report and "Rows as they ran" not in report
    as_run = runner.invoke(app, ["plot", str(path), "--results", str(results), "--format",
                                 "png", "--as-run"])
    assert as_run.exit_code == 0, as_run.output
    report = (results / "smoke" / "REPORT.md").read_text()
    assert "Rows as they ran: 2 cells" in report and "critic.target_tau 0.005 -> 0.02" in report
    assert "Partial results" not in report  # every cell of the rows as they ran is there
    # the stale cells rerun at the new settings; the old files stay beside them
    again = runner.invoke(app, ["run-grid", str(path), "--results", str(results),
                                "--workers", "1"])
    assert again.exit_code == 0 and "2 stale cells of an older configuration" in again.output
    status = runner.invoke(app, ["status", str(path), "--results", str(results)])
    assert "3 finished" in status.output and "2 stale" in status.output
    mixed = runner.invoke(app, ["plot", str(path), "--results", str(results), "--as-run"])
    assert mixed.exit_code == 2 and "cells at one grid point" in mixed.output


def test_rows_record_provenance_and_the_report_prints_it(tmp_path):
    import mujoco
    import numpy as np
    import torch

    cell = load_study(SMOKE).cells[0]
    rows = pd.DataFrame(loop.run_cell(cell, tmp_path))
    assert (rows["torch_version"] == torch.__version__).all()
    assert (rows["numpy_version"] == np.__version__).all()
    assert (rows["mujoco_version"] == mujoco.__version__).all()
    assert rows["python_version"].str.match(r"3\.\d+\.\d+").all()
    assert rows["git_dirty"].isin([True, False, None]).all() and (rows["suite_version"] == "").all()
    from bolrl.report.report import provenance_lines
    from bolrl.results import to_frame

    frame = to_frame(rows.to_dict("records"))
    lines = provenance_lines(frame)
    assert lines[0].startswith("- produced by:") and f"torch {torch.__version__}" in lines[0]
    other = frame.assign(cell_id="other", torch_version="9.9.9")
    lines = provenance_lines(pd.concat([frame, other]))
    assert any(line.startswith("- **rows differ in torch**") and "9.9.9 (1 cells)" in line
               for line in lines)


class _Interrupt:
    """An events queue that interrupts a cell when it reaches round 1's training."""

    def put(self, event):
        if event[0] == "round" and event[2:] == (1, "train"):
            raise KeyboardInterrupt


def test_interrupted_force_loses_nothing_of_the_old_cell(tmp_path):
    cell = load_study(SMOKE).cells[1]
    assert run_job(cell, tmp_path).status == "ok"
    parquet = cell_path(tmp_path, "smoke", cell.cell_id)
    rdir = run_dir(tmp_path, "smoke", cell.cell_id)
    before = parquet.read_bytes(), (rdir / "checkpoint.pt").read_bytes()
    data = sorted(p.name for p in rdir.glob("data-round*.npz"))
    with pytest.raises(KeyboardInterrupt):
        run_job(cell, tmp_path, force=True, events=_Interrupt())
    assert (parquet.read_bytes(), (rdir / "checkpoint.pt").read_bytes()) == before
    assert sorted(p.name for p in rdir.glob("data-round*.npz")) == data
    # extending the study goes on from the intact checkpoint, not from round 0
    longer = dataclasses.replace(cell, rounds=cell.rounds + 1)
    from bolrl.extend import predecessor

    assert predecessor(tmp_path, longer) == (cell.cell_id, cell.rounds)
    # the rerun, finished, replaces the old cell whole, and leaves no scratch behind
    assert run_job(cell, tmp_path, force=True).status == "ok"
    assert not [p for p in rdir.parent.glob(f"{cell.cell_id}.*") if p.suffix != ".lock"]
    assert load_results(tmp_path, "smoke")["round"].tolist() == [0, 1, 2]


def test_a_swap_cut_short_is_finished_at_the_next_start(tmp_path):
    from bolrl.executors import OLD, finish_swap

    target = tmp_path / "runs" / "abc"
    aside = target.with_name(target.name + OLD)
    aside.mkdir(parents=True)
    (aside / "checkpoint.pt").write_text("old")
    finish_swap(target)  # the new one never arrived: the old one comes back
    assert (target / "checkpoint.pt").read_text() == "old" and not aside.exists()
    aside.mkdir()
    finish_swap(target)  # both there: the swap had happened
    assert target.exists() and not aside.exists()


def test_read_only_commands_work_without_the_suite(tmp_path):
    """status, show and plot read a Meta-World or robomimic study without its extra."""
    for name in ("metaworld", "robomimic"):
        path = find_study(name)
        study = load_study(path, runnable=False)
        assert study.cells
        status = runner.invoke(app, ["status", str(path), "--results", str(tmp_path)])
        assert status.exit_code == 0, status.output
        assert f"0 finished, 0 running, 0 failed, {len(study.cells)} pending" in status.output
        show = runner.invoke(app, ["show", str(path)])
        assert show.exit_code == 0 and "estimated cost" in show.output, show.output


class Payload:
    """An object a checkpoint must not carry: unpickling it could run code."""


def test_a_checkpoint_or_base_carrying_a_pickled_object_is_refused(tmp_path):
    import torch

    from bolrl.bases import load_or_train
    from bolrl.files import UnsafeFile

    cell = load_study(SMOKE).cells[0]
    rdir = run_dir(tmp_path, "smoke", cell.cell_id)
    rdir.mkdir(parents=True)
    torch.save({"round": 0, "payload": Payload()}, rdir / "checkpoint.pt")
    rows = loop.run_cell(cell, tmp_path)
    assert rows[-1]["status"] == "failed"
    first = rows[-1]["error"].splitlines()[0]
    assert "checkpoint.pt holds objects other than tensors and plain data" in first
    base = tmp_path / "pi0-x.pt"
    torch.save({"state": Payload(), "losses": {}}, base)
    with pytest.raises(UnsafeFile, match="weights_only=True"):
        load_or_train(base, lambda: {}, lambda: {}, lambda state: None)


def test_setting_names_know_every_learner_knob():
    """identity.setting_name maps agent.<key> back to its study table: a knob added to
    [networks], [critic] or [extraction] must be listed there too."""
    from bolrl.config import CriticTable, ExtractionTable, NetworksTable

    for table, cls in (("networks", NetworksTable), ("critic", CriticTable),
                       ("extraction", ExtractionTable)):
        for f in dataclasses.fields(cls):
            assert identity.setting_name(f"agent.{f.name}") == f"{table}.{f.name}"
