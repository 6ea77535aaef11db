"""The Ray executor on a local instance: same results as the local executor, lost workers
retried. Skipped where Ray is not installed (make install-ray)."""

import os
import signal
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from typer.testing import CliRunner  # noqa: E402

from bolrl.cli import app  # noqa: E402
from bolrl.executors import run_ray  # noqa: E402
from bolrl.results import load_results  # noqa: E402
from bolrl.study import load_study  # noqa: E402

SMOKE = Path(__file__).resolve().parent.parent / "studies" / "smoke.toml"
runner = CliRunner()


@pytest.fixture(scope="module")
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"BOLRL_CACHE": os.environ["BOLRL_CACHE"]}})
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def local_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("local")
    assert runner.invoke(app, ["run-grid", str(SMOKE), "--results", str(root),
                               "--workers", "1"]).exit_code == 0
    return success_table(root)


def success_table(root: Path):
    frame = load_results(root, "smoke")
    return frame.set_index(["cell_id", "round"])["eval_success_rate"].sort_index()


@pytest.mark.parametrize("mode", [[], ["--return-rows"]], ids=["shared-fs", "return-rows"])
def test_smoke_on_ray_equals_the_local_executor(local_ray, local_results, tmp_path, mode):
    result = runner.invoke(app, ["run-grid", str(SMOKE), "--results", str(tmp_path),
                                 "--executor", "ray", *mode])
    assert result.exit_code == 0, result.output
    assert success_table(tmp_path).equals(local_results)
    again = runner.invoke(app, ["run-grid", str(SMOKE), "--results", str(tmp_path),
                                "--executor", "ray"])
    assert "0 to run" in again.output  # finished cells are skipped, as locally


def test_a_killed_worker_is_retried_and_the_grid_completes(local_ray, local_results, tmp_path):
    cells = load_study(SMOKE).cells
    victim = cells[1].cell_id
    pids, starts, killed = {}, [], []

    def on_event(event):
        if event[0] == "start":
            pids[event[1]] = event[2]
            starts.append(event[1])
        elif event[0] == "round" and event[1] == victim and event[2] == 1 and not killed:
            os.kill(pids[victim], signal.SIGKILL)
            killed.append(pids[victim])

    out = run_ray(cells, tmp_path, on_event=on_event)
    assert killed, "the victim cell never reached round 1"
    assert starts.count(victim) == 2  # Ray ran it again after its worker was killed
    assert sorted(r.status for r in out) == ["ok", "ok", "ok"]
    assert success_table(tmp_path).equals(local_results)  # resumed, same numbers


def test_unknown_executor_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["run-grid", str(SMOKE), "--executor", "slurm"])
    assert result.exit_code == 2 and "choose from: local, ray" in result.output
