"""bolrl plot A B: each shared method, B - A, with verdicts of known truth."""

from pathlib import Path

from typer.testing import CliRunner

from bolrl.cli import app
from bolrl.report import compare
from bolrl.report.data import ok_rows
from tests.test_report import synthetic_rows

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def test_a_method_that_moved_is_seen_and_the_others_are_not():
    a = ok_rows(synthetic_rows(seed=1))
    b = synthetic_rows(seed=2)
    moved = b["method"] == "diffusion/filtered-bc"
    b.loc[moved & (b["round"] == 3), "eval_success_rate"] += 0.2
    b = ok_rows(b)
    found = {d.key: d for d in compare.differences(a, b)}
    assert set(found) == set(a["key"])
    assert found["diffusion/filtered-bc"].verdict == "B higher"
    assert found["diffusion/filtered-bc"].low < 0.2 < found["diffusion/filtered-bc"].high
    assert all(d.verdict == "no difference detected" for k, d in found.items()
               if k != "diffusion/filtered-bc")
    assert all(d.pairs == 18 for d in found.values())


def test_only_shared_tasks_and_seeds_are_paired_and_few_pairs_are_descriptive():
    a = ok_rows(synthetic_rows(seeds=3, tasks=("lift", "pick-place")))
    b = ok_rows(synthetic_rows(seeds=2, tasks=("lift",)))
    for d in compare.differences(a, b):
        assert d.pairs == 2 and d.verdict.startswith("descriptive only (2 pairs")


def test_plot_two_studies_writes_one_report(tmp_path):
    smoke = ROOT / "studies" / "smoke.toml"
    for extra in ([], ["--set", "train.lr=5e-4"]):
        assert runner.invoke(app, ["run-grid", str(smoke), "--results", str(tmp_path),
                                   "--workers", "1", *extra]).exit_code == 0
    variant = tmp_path / "smoke+lr=5e-4" / "study.toml"
    result = runner.invoke(app, ["plot", str(smoke), str(variant), "--results", str(tmp_path),
                                 "--format", "png"])
    assert result.exit_code == 0, result.output
    report = (tmp_path / "smoke-vs-smoke+lr=5e-4" / "REPORT.md").read_text()
    assert "| BC, diffusion |" in report and "descriptive only (1 pairs" in report
    assert (tmp_path / "smoke-vs-smoke+lr=5e-4" / "compare.png").stat().st_size > 5_000
    three = runner.invoke(app, ["plot", "a", "b", "c"])
    assert three.exit_code == 2 and "one study, or two" in three.output
    mixed = runner.invoke(app, ["plot", str(smoke), str(variant), "--set", "train.lr=1"])
    assert mixed.exit_code == 2 and "saved file" in mixed.output


def test_one_run_per_task_has_no_test_however_many_pairs():
    """6 tasks x 1 seed: 6 pairs but no variance estimate, so no verdict (not 'no
    difference')."""
    tasks = tuple(f"t{i}" for i in range(6))
    a = ok_rows(synthetic_rows(seeds=1, tasks=tasks))
    b = synthetic_rows(seeds=1, tasks=tasks)
    b.loc[b["round"] == 3, "eval_success_rate"] = 1.0
    for d in compare.differences(a, ok_rows(b)):
        assert d.pairs == 6 and d.verdict.startswith("descriptive only")
