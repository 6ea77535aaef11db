"""--set TABLE.KEY=VALUE over a study file, the name it derives, and the saved resolved study."""

import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bolrl import overrides
from bolrl.cli import app
from bolrl.study import StudyError, load_study

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "studies" / "smoke.toml"
runner = CliRunner()


@pytest.mark.parametrize("assignment, tables", [
    ("train.lr=3e-4", {"train": {"lr": 3e-4}}),
    ("study.seeds=[0, 1]", {"study": {"seeds": [0, 1]}}),
    ("study.demos.lift=8", {"study": {"demos": {"lift": 8}}}),
    ("axes.policy=gaussian", {"axes": {"policy": ["gaussian"]}}),  # one value: a 1-value axis
    ("axes.noise=[\"none\", \"ou\"]", {"axes": {"noise": ["none", "ou"]}}),
    ("train.lr_schedule=constant", {"train": {"lr_schedule": "constant"}}),  # bare string
    ("train.warm_start=false", {"train": {"warm_start": False}}),
    ('study.demos."metaworld/pick-place-v3"=10',
     {"study": {"demos": {"metaworld/pick-place-v3": 10}}}),
])
def test_an_override_is_a_typed_toml_assignment(assignment, tables):
    assert overrides.parse(assignment) == tables


@pytest.mark.parametrize("assignment, says", [
    ("train.lr", "expected TABLE.KEY=VALUE"),
    ("lr=1", "name a table and a key"),
    ("train..lr=1", "is not a key"),
])
def test_a_malformed_override_says_what_was_expected(assignment, says):
    with pytest.raises(overrides.OverrideError, match=says):
        overrides.parse(assignment)


def test_overrides_merge_into_the_files_tables():
    raw = {"study": {"demos": {"lift": 3, "nut-assembly": 10}, "seeds": [0]}}
    out = overrides.apply(raw, ["study.demos.lift=8", "study.seeds=[4, 5]"])
    assert out == {"study": {"demos": {"lift": 8, "nut-assembly": 10}, "seeds": [4, 5]}}
    assert raw["study"]["demos"]["lift"] == 3  # the file's tables are left as they were


def test_a_study_with_overrides_has_its_own_name_and_cells():
    plain = load_study(SMOKE)
    same = load_study(SMOKE, overrides=["train.lr=1e-3"])  # the file's own value
    other = load_study(SMOKE, overrides=["train.lr=5e-4", "study.seeds=[0, 1]"])
    assert same.name == "smoke+lr=1e-3" and other.name == "smoke+lr=5e-4+seeds=0_1"
    assert [c.cell_id for c in same.cells] == [c.cell_id for c in plain.cells]
    assert len(other.cells) == 2 * len(plain.cells)
    assert all(c.train.lr == 5e-4 for c in other.cells)
    assert load_study(SMOKE, overrides=["train.lr=5e-4"], name="mine").name == "mine"
    assert load_study(SMOKE, overrides=['study.name="x"', "train.lr=5e-4"]).name == "x"


def test_an_override_is_validated_like_the_file():
    with pytest.raises(StudyError, match=r"\[train\].lr must be .* \(with --set train.lr=-1\)"):
        load_study(SMOKE, overrides=["train.lr=-1"])
    with pytest.raises(StudyError, match="did you mean 'batch_size'"):
        load_study(SMOKE, overrides=["train.batch_sise=64"])


def test_cli_errors_are_one_line():
    for args, says in [(["--set", "train.lr"], "expected TABLE.KEY=VALUE"),
                       (["--set", "axes.policy=gausian"], "did you mean 'gaussian'")]:
        result = runner.invoke(app, ["show", str(SMOKE), *args])
        assert result.exit_code == 2 and says in result.output
        assert "Traceback" not in result.output


def test_show_resolved_is_the_study_as_it_runs():
    result = runner.invoke(app, ["show", str(SMOKE), "--resolved", "--set", "train.lr=5e-4"])
    assert result.exit_code == 0, result.output
    assert "--set train.lr=5e-4" in result.output.splitlines()[1]
    resolved = tomllib.loads(result.output)
    assert resolved["train"]["lr"] == 5e-4 and resolved["study"]["name"] == "smoke+lr=5e-4"


@pytest.mark.slow
def test_run_grid_saves_the_resolved_study_and_keeps_its_history(tmp_path):
    args = ["run-grid", str(SMOKE), "--results", str(tmp_path), "--workers", "1",
            "--set", "axes.algorithm=bc", "--set", "axes.extraction=none", "--name", "s"]
    assert runner.invoke(app, args).exit_code == 0
    saved = tmp_path / "s" / "study.toml"
    # the saved file is itself a study: the same cells, all finished
    again = load_study(saved)
    ran = load_study(SMOKE, overrides=["axes.algorithm=bc", "axes.extraction=none"], name="s")
    assert again.name == "s" and [c.cell_id for c in again.cells] == [
        c.cell_id for c in ran.cells]
    status = runner.invoke(app, ["status", str(saved), "--results", str(tmp_path)])
    assert f"{len(ran.cells)} finished" in status.output and "0 pending" in status.output
    cell = ran.cells[0].cell_id
    again = runner.invoke(app, ["run-cell", str(SMOKE), cell, "--results", str(tmp_path),
                                *args[6:]])
    assert (f"--set axes.algorithm=bc --set axes.extraction=none --name s --results {tmp_path}"
            in " ".join(again.output.split())), again.output  # the hint repeats them
    first = saved.read_text()
    result = runner.invoke(app, [*args, "--set", "study.seeds=[1]"])  # other settings
    assert result.exit_code == 0 and "study-history" in result.output
    history = list((tmp_path / "s" / "study-history").glob("study-*.toml"))
    assert [p.read_text() for p in history] == [first]
    assert tomllib.loads(saved.read_text())["study"]["seeds"] == [1]


def test_a_file_without_a_study_table_still_gets_the_variants_name(tmp_path):
    path = tmp_path / "bare.toml"  # every [study] key at its default
    path.write_text("[train]\nsteps_round0 = 20\n")
    assert load_study(path).name == "bare"
    assert load_study(path, overrides=["train.lr=5e-4"]).name == "bare+lr=5e-4"
    assert load_study(path, name="mine").name == "mine"
