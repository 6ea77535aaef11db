"""Interrupted, concurrent and corrupted runs lose nothing; the grid expansion's properties."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bolrl.cli import app
from bolrl.config import AxesTable, knobs
from bolrl.results import load_results, to_frame
from bolrl.study import AXES, AXIS_VALUES, expand, parse, why_invalid

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "studies" / "smoke.toml"
runner = CliRunner()
VOLATILE = ["collect_s", "train_s", "eval_s", "created_at"]


def bolrl(*args: str) -> list[str]:
    return [sys.executable, "-c", "from bolrl.cli import main; main()", *args]


def sorted_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=VOLATILE).sort_values(["cell_id", "round"]).reset_index(drop=True)


def check_complete(results: Path) -> pd.DataFrame:
    cells = results / "smoke" / "cells"
    assert not list(cells.glob(".*.tmp")), "a temporary file was left behind"
    frame = load_results(results, "smoke")
    assert frame.groupby(["cell_id", "round"]).size().max() == 1  # every row exactly once
    assert frame["cell_id"].nunique() == 3
    assert (frame["status"] == "ok").all()
    return frame


def test_interrupted_ten_times_then_completed_equals_an_uninterrupted_run(tmp_path):
    reference = tmp_path / "reference"
    subprocess.run(bolrl("run-grid", str(SMOKE), "--results", str(reference)), check=True,
                   capture_output=True, env={**os.environ, "CI": "true"})
    interrupted = tmp_path / "interrupted"
    rng = random.Random(0)
    for i in range(10):
        proc = subprocess.Popen(bolrl("run-grid", str(SMOKE), "--results", str(interrupted)),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        time.sleep(rng.uniform(1.0, 6.0))
        proc.send_signal(signal.SIGINT if i % 2 == 0 else signal.SIGKILL)
        out, _ = proc.communicate(timeout=60)
        if i % 2 == 0 and proc.returncode == 130:
            assert b"resume" in out  # Ctrl-C says what finished and how to resume
    time.sleep(0.5)  # let workers of the last SIGKILLed run see their parent gone
    final = subprocess.run(bolrl("run-grid", str(SMOKE), "--results", str(interrupted)),
                           capture_output=True, text=True)
    assert final.returncode == 0, final.stdout + final.stderr
    got = check_complete(interrupted)
    pd.testing.assert_frame_equal(sorted_rows(got), sorted_rows(check_complete(reference)))


def test_a_study_extended_by_more_rounds_goes_on_from_its_finished_cells(tmp_path):
    text = SMOKE.read_text()
    short, long = tmp_path / "short" / "smoke.toml", tmp_path / "long" / "smoke.toml"
    for path, rounds in ((short, 1), (long, 2)):
        path.parent.mkdir()
        path.write_text(text.replace("rounds = 2", f"rounds = {rounds}"))
    reference, extended = tmp_path / "reference", tmp_path / "extended"
    assert runner.invoke(app, ["run-grid", str(long), "--results", str(reference),
                               "--workers", "1"]).exit_code == 0
    assert runner.invoke(app, ["run-grid", str(short), "--results", str(extended),
                               "--workers", "1"]).exit_code == 0
    first = load_results(extended, "smoke")
    result = runner.invoke(app, ["run-grid", str(long), "--results", str(extended),
                                 "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "3 cells go on from the last round" in result.output
    ids = set(runner.invoke(app, ["show", str(long), "--ids"]).output.split())
    got = load_results(extended, "smoke")
    got = got[got["cell_id"].isin(ids)]
    # rounds 0 and 1 were not run again: their rows are those of the 1-round run, renamed
    old = got[got["round"] <= 1].sort_values(["task", "seed", "method", "round"])
    assert list(old["created_at"]) == list(first.sort_values(
        ["task", "seed", "method", "round"])["created_at"])
    # and the whole is what a 2-round run from scratch writes
    pd.testing.assert_frame_equal(sorted_rows(got), sorted_rows(check_complete(reference)))


def test_two_concurrent_run_grids_run_each_cell_once(tmp_path):
    procs = [subprocess.Popen(bolrl("run-grid", str(SMOKE), "--results", str(tmp_path),
                                    "--workers", "1"), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    finished_lines = [line for out in outputs for line in out.splitlines()
                      if "final success" in line]
    assert len(finished_lines) == 3  # three cells, each run by exactly one of the processes
    check_complete(tmp_path)


def test_corrupted_results_file_is_moved_aside_and_its_cell_rerun(tmp_path):
    assert runner.invoke(app, ["run-grid", str(SMOKE), "--results", str(tmp_path),
                               "--workers", "1"]).exit_code == 0
    victim = sorted((tmp_path / "smoke" / "cells").glob("*.parquet"))[0]
    victim.write_bytes(b"PAR1 this is not a parquet file")
    result = runner.invoke(app, ["run-grid", str(SMOKE), "--results", str(tmp_path),
                                 "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "moved aside" in result.output and "1 to run" in result.output
    assert len(list((tmp_path / "smoke" / "cells" / "corrupt").iterdir())) == 1
    check_complete(tmp_path)


def test_results_of_another_schema_version_are_refused(tmp_path):
    cells = tmp_path / "smoke" / "cells"
    cells.mkdir(parents=True)
    frame = to_frame([])
    frame.loc[0, "schema_version"] = 99
    frame.to_parquet(cells / "old.parquet")
    result = runner.invoke(app, ["run-grid", str(SMOKE), "--results", str(tmp_path)])
    assert result.exit_code == 2 and "schema version [99]" in result.output
    assert list(cells.iterdir()) == [cells / "old.parquet"]  # nothing written


def test_unwritable_results_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = runner.invoke(app, ["run-grid", str(SMOKE), "--results", str(blocker / "r")])
    assert result.exit_code == 2 and "cannot write" in result.output


axis_subsets = {name: st.lists(st.sampled_from(values), min_size=1, unique=True)
                for name, values in AXIS_VALUES.items()}


@settings(max_examples=60, deadline=None)
@given(st.fixed_dictionaries(axis_subsets), st.lists(st.integers(0, 5), min_size=1,
                                                      max_size=3, unique=True))
def test_expansion_is_the_valid_part_of_the_product(axes, seeds):
    raw = {"study": {"name": "p", "tasks": ["lift", "nut-assembly"], "seeds": seeds},
           "axes": axes}
    settings_ = parse(Path("p.toml"), raw)
    cells, dropped = expand(settings_)
    valid = [
        (a, e) for a in axes["algorithm"] for e in axes["extraction"]
        if why_invalid({"algorithm": a, "extraction": e}) is None
    ]
    expected = (2 * len(seeds) * len(valid) * len(axes["policy"]) * len(axes["noise"])
                * len(axes["demos_style"]))
    assert len(cells) == expected
    assert len({c.cell_id for c in cells}) == len(cells)
    assert all(why_invalid({"algorithm": c.algorithm, "extraction": c.extraction}) is None
               for c in cells)
    assert all(why_invalid(point) for point, _ in dropped)


def test_the_axes_table_has_every_axis():
    assert {f.name for f in knobs(AxesTable)} == set(AXES) >= set(AXIS_VALUES)
