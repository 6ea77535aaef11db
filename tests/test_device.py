"""Where networks train: the device is recorded in every row, is not part of a cell's identity,
and a CUDA run works where a GPU is present (skipped elsewhere: nothing depends on one)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from bolrl.cli import app
from bolrl.results import load_results
from bolrl.study import load_study

runner = CliRunner()
SMOKE = Path(__file__).resolve().parent.parent / "studies" / "smoke.toml"


def test_the_device_is_recorded_and_not_part_of_the_identity(tmp_path):
    auto = tmp_path / "auto.toml"
    auto.write_text(SMOKE.read_text().replace("[train]\n", '[train]\ndevice = "auto"\n'))
    assert [c.cell_id for c in load_study(auto).cells] == \
        [c.cell_id for c in load_study(SMOKE).cells]
    cell = load_study(SMOKE).cells[0].cell_id
    result = runner.invoke(app, ["run-cell", str(SMOKE), cell, "--results", str(tmp_path),
                                 "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert set(load_results(tmp_path, "smoke")["device"]) == {"cpu"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_one_clear_error(tmp_path):
    cell = load_study(SMOKE).cells[0].cell_id
    for args in (["run-grid", str(SMOKE)], ["run-cell", str(SMOKE), cell]):
        result = runner.invoke(app, [*args, "--results", str(tmp_path / "r"),
                                     "--device", "cuda"])
        assert result.exit_code == 2 and "no CUDA GPU" in result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "r").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_a_cell_on_the_gpu(tmp_path):
    result = runner.invoke(app, ["run-grid", str(SMOKE), "--results", str(tmp_path),
                                 "--workers", "1", "--device", "cuda"])
    assert result.exit_code == 0, result.output
    frame = load_results(tmp_path, "smoke")
    assert (frame["status"] == "ok").all() and set(frame["device"]) == {"cuda:0"}
    assert np.isfinite(frame["policy_loss"]).all()
