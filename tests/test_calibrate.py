"""Held-out calibration (bolrl calibrate) and design before compute (bolrl show)."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bolrl.calibrate import bisect, header
from bolrl.cli import app
from bolrl.study import StudyError, load_study

ROOT = Path(__file__).resolve().parent.parent
SMOKE = (ROOT / "studies" / "smoke.toml").read_text()
runner = CliRunner()


def test_bisect_finds_a_count_in_the_band_and_records_every_point():
    chosen, tried = bisect(lambda n: n / 20, start=2, low=1, high=20, band=(0.3, 0.65))
    assert chosen == 11 and tried == [(2, 0.1), (11, 0.55)]
    chosen, tried = bisect(lambda n: 0.9, start=5, low=1, high=8, band=(0.3, 0.65))
    assert [n for n, _ in tried] == [5, 2, 1] and chosen == 1  # always too good: the least
    chosen, _ = bisect(lambda n: 0.0 if n < 4 else 0.8, start=3, low=1, high=6,
                       band=(0.3, 0.65))
    assert chosen in (3, 4)  # no count lands in the band: the one closest to its middle


def _study(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "cal.toml"
    text = SMOKE.replace('name = "smoke"', 'name = "cal"')
    path.write_text(text.replace("demos = { lift = 3 }", "demos = { lift = 3 }\n" + extra))
    return path


def test_calibrate_runs_on_calibration_seeds_and_prints_every_point(tmp_path):
    path = _study(tmp_path, "calibration_seeds = [7, 8]\ndemos_bounds = { lift = [2, 4] }\n"
                            "base_band = [0.5, 1.0]")
    result = runner.invoke(app, ["calibrate", str(path), "--results", str(tmp_path / "r"),
                                 "--workers", "1"])
    assert result.exit_code == 0, result.output
    out = result.output
    measured = out.count("\n  lift: ")  # a line per point as it is measured
    assert "calibration seeds [7, 8]" in out and "\n  lift: 3 demos -> " in out
    assert measured == 2  # the smoke base never reaches 50%: it searches up, to 4
    assert "# demos calibrated by `bolrl calibrate cal` on calibration seeds [7, 8]" in out
    assert "demos = { lift = " in out
    study_seeds = {c.seed for c in load_study(path).cells}
    runs = {p.name for p in (tmp_path / "r" / "cal.calibration" / "cells").glob("*.parquet")}
    assert len(runs) == 2 * measured and not study_seeds & {7, 8}
    again = runner.invoke(app, ["calibrate", str(path), "--results", str(tmp_path / "r"),
                                "--workers", "1"])
    assert again.output == out  # the points are read back, nothing is measured again
    assert len(list((tmp_path / "r" / "cal.calibration" / "cells").glob("*"))) == len(runs)


def test_demos_bounds_may_name_any_known_task_but_not_an_unknown_one(tmp_path):
    """As [study].demos: a study shrunk with --set study.tasks=[...] keeps its other tasks'
    bounds; a misspelt task is an error that names the study's tasks."""
    load_study(_study(tmp_path, "demos_bounds = { lift = [2, 4], nut-assembly = [4, 40] }"))
    with pytest.raises(StudyError, match="demos_bounds: unknown task 'lfit'.*did you mean"):
        load_study(_study(tmp_path, "demos_bounds = { lfit = [2, 4] }"))


def test_calibration_seeds_must_be_held_out(tmp_path):
    path = _study(tmp_path, "calibration_seeds = [0, 9]")
    result = runner.invoke(app, ["calibrate", str(path)])
    assert result.exit_code == 2 and "calibration_seeds [0] are also study seeds" in result.output
    path = _study(tmp_path, "")
    result = runner.invoke(app, ["calibrate", str(path)])
    assert result.exit_code == 2 and "calibration_seeds is empty" in result.output
    path = _study(tmp_path, "base_band = [0.7, 0.2]")
    result = runner.invoke(app, ["show", str(path)])
    assert result.exit_code == 2 and "base_band must be [low, high]" in result.output


def test_header_quotes_task_names_toml_needs_quoted():
    from bolrl.calibrate import Point

    study = load_study(ROOT / "studies" / "quick.toml")
    text = header(study, {("lift", "scripted"): 5, ("metaworld/reach-v3", "scripted"): 8},
                  [Point("lift", 5, 100, 0.4), Point("lift", 5, 101, 0.5),
                   Point("metaworld/reach-v3", 8, 100, 0.3)], 50)
    assert text.endswith('demos = { lift = 5, "metaworld/reach-v3" = 8 }')
    assert "#   lift: 5 demos -> 40 / 50% (mean 45)  <- chosen" in text
    styled = header(study, {("lift", "scripted"): 5, ("lift", "multimodal"): 11},
                    [Point("lift", 5, 100, 0.4), Point("lift", 11, 100, 0.45, "multimodal")], 50)
    assert styled.endswith("demos = { lift = { scripted = 5, multimodal = 11 } }")
    assert "#   lift (multimodal): 11 demos -> 45% (mean 45)  <- chosen" in styled


def test_demonstration_counts_by_style(tmp_path):
    path = _study(tmp_path, "").read_text().replace(
        "demos = { lift = 3 }", "demos = { lift = { scripted = 3, multimodal = 7 } }").replace(
        'noise = ["none"]', 'noise = ["none"]\ndemos_style = ["scripted", "multimodal"]')
    (tmp_path / "cal.toml").write_text(path)
    cells = load_study(tmp_path / "cal.toml").cells
    assert {(c.demos_style, c.demos) for c in cells} == {("scripted", 3), ("multimodal", 7)}
    bad = path.replace("multimodal = 7", "multimodl = 7")
    (tmp_path / "cal.toml").write_text(bad)
    with pytest.raises(StudyError, match="unknown demonstration style 'multimodl'"):
        load_study(tmp_path / "cal.toml")


def test_show_prints_what_the_study_can_detect_and_what_more_would_cost():
    result = runner.invoke(app, ["show", "paper", "--results", "/nonexistent"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "3 tasks x 5 seeds = 15 pairs per finding" in out and "prior:" in out
    assert "smallest difference detected with 80% power" in out
    assert "the paper's Q-function > imitation (filtered BC): +9 points: below what it detects" \
        in out
    assert "2x seeds (10):" in out and "2x evaluation episodes (100):" in out
    quick = " ".join(runner.invoke(app, ["show", "quick"]).output.split())
    assert "fewer than 6 pairs: its findings are descriptive only" in quick
