"""bolrl plot on synthetic results with known differences: verdicts, figures, tables."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bolrl.cli import app
from bolrl.report.data import ok_rows
from bolrl.report.findings import judge, measure
from bolrl.report.report import build
from bolrl.results import SCHEMA, to_frame

# final success per method (the true means); rounds rise linearly from 0.3 to the final value
TRUE_FINAL = {
    ("diffusion", "iql", "best-of-n", "none"): 0.70,
    ("diffusion", "filtered-bc", "none", "none"): 0.50,  # recipe better: reproduced
    ("diffusion", "iql", "awr", "none"): 0.90,  # recipe worse: reversed
    ("diffusion", "iql", "best-of-n", "ou"): 0.70,  # no difference: excludes the paper's +6
}


def synthetic_rows(seeds=6, tasks=("lift", "pick-place", "nut-assembly"), rounds=3, sd=0.03,
                   seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for (policy, algorithm, extraction, noise), final in TRUE_FINAL.items():
        core = algorithm if algorithm != "iql" else f"iql+{extraction}"
        method = f"{policy}/{core}" + (f"+{noise}" if noise != "none" else "")
        for task in tasks:
            for s in range(seeds):
                cell_id = f"{method}-{task}-{s}"
                for r in range(rounds + 1):
                    mean = 0.3 + (final - 0.3) * r / rounds
                    row = {c: None for c in SCHEMA}
                    row.update(study="syn", cell_id=cell_id, task=task, seed=s,
                               algorithm=algorithm, extraction=extraction, policy=policy,
                               noise=noise, method=method, episodes_per_round=10, round=r,
                               demos=5, autonomous_episodes=10 * r,
                               autonomous_transitions=500 * r, collect_success_rate=0.5,
                               eval_success_rate=float(np.clip(mean + rng.normal(0, sd), 0, 1)),
                               eval_episodes=100, eval_episode_length=50.0, policy_loss=0.1,
                               critic_q_loss=0.1, critic_v_loss=0.1, q_mean=0.5,
                               grad_steps=100 * (r + 1), collect_s=1.0, train_s=1.0,
                               eval_s=1.0, status="ok", error="", bolrl_version="0",
                               git_sha="abc", schema_version=1, config=json.dumps({}),
                               created_at="2026-01-01")
                    rows.append(row)
    return to_frame(rows)


def test_verdicts_come_out_right():
    measured = {m.finding.claim: m for m in judge(measure(ok_rows(synthetic_rows())))}
    # the recipe is 20 points above filtered BC; the paper has +9: larger than the paper's
    assert measured["Q-function > imitation (filtered BC)"].verdict == (
        "reproduced, larger than the paper's")
    assert measured["implicit > explicit extraction (AWR)"].verdict == "reversed"
    # no difference, measured to about 1 point: the paper's +6 is excluded
    assert measured["OU noise > none"].verdict.startswith("not seen here")
    q = measured["Q-function > imitation (filtered BC)"]
    assert q.low <= 0.2 <= q.high and q.pairs == 18
    assert "diffusion > Gaussian (implicit)" not in measured  # no Gaussian cells: not measured


def test_three_pairs_are_descriptive_only_and_the_report_names_its_method(tmp_path):
    """One task x 3 seeds: no verdict, however clear the difference (the noise and quick
    studies' size); the report names the interval and the correction."""
    frame = synthetic_rows(seeds=3, tasks=("lift",))
    measured = judge(measure(ok_rows(frame)))
    assert measured and all(m.verdict.startswith("descriptive only (3 pairs") for m in measured)
    build(frame, "syn", frame["cell_id"].nunique(), tmp_path, ["png"], "bolrl plot syn")
    text = (tmp_path / "REPORT.md").read_text()
    assert "**reproduced" not in text and "Holm" in text and "t-interval" in text


def test_build_writes_figures_tables_and_report(tmp_path):
    frame = synthetic_rows()
    report = build(frame, "syn", total_cells=frame["cell_id"].nunique() + 2, out_dir=tmp_path,
                   formats=["png", "pdf"], command="bolrl plot syn")
    names = {p.name for p in report.figures}
    assert {"scaling_all.png", "scaling_all.pdf", "axis_algorithm.png", "axis_noise.png",
            "axis_extraction.png"} <= names
    for p in report.figures:
        assert p.stat().st_size > 5_000
    text = (tmp_path / "REPORT.md").read_text()
    assert "Partial results: 72 of 74 cells finished" in text
    assert "**reproduced, larger than the paper's**" in text and "**reversed**" in text
    assert "## Base policies per seed" in text
    assert "![axis_algorithm](figures/axis_algorithm.png)" in text
    assert "profiles.png" in names and "Probability of improvement" in text
    # the recipe (0.7) over filtered BC (0.5) at sd 0.03: every run of one above the other's
    assert "| Q-function > imitation (filtered BC) | 1.00 [1.00, 1.00] | 18 |" in text
    assert (tmp_path / "tables" / "summary.md").read_text().count("\n") == 2 + 12
    tex = (tmp_path / "tables" / "summary.tex").read_text()
    assert tex.startswith("\\begin{tabular}") and "\\bottomrule" in tex


def test_failed_cells_are_left_out_of_the_figures():
    frame = synthetic_rows()
    bad = frame["cell_id"] == frame["cell_id"].iloc[0]
    frame.loc[bad & (frame["round"] == 3), "status"] = "failed"
    rows = ok_rows(frame)
    assert frame["cell_id"].iloc[0] not in set(rows["cell_id"])


def test_plot_without_results_is_a_clear_message(tmp_path):
    result = CliRunner().invoke(app, ["plot", "smoke", "--results", str(tmp_path)])
    assert result.exit_code == 2 and "no results for study 'smoke'" in result.output


def test_plot_on_real_smoke_results(tmp_path):
    runner = CliRunner()
    assert runner.invoke(app, ["run-grid", "smoke", "--results", str(tmp_path),
                               "--workers", "1"]).exit_code == 0
    result = runner.invoke(app, ["plot", "smoke", "--results", str(tmp_path), "--format", "png"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "smoke" / "REPORT.md").exists()
    assert (tmp_path / "smoke" / "figures" / "scaling_all.png").stat().st_size > 5_000
    bad = runner.invoke(app, ["plot", "smoke", "--results", str(tmp_path), "--format", "gif"])
    assert bad.exit_code == 2 and "unknown format" in bad.output
    sub = runner.invoke(app, ["plot", "smoke", "--results", str(tmp_path), "--tasks", "nut"])
    assert sub.exit_code == 2 and "available: lift" in sub.output


def test_summary_table_gain_over_filtered_bc():
    from bolrl.report.tables import summary_table

    t = summary_table(ok_rows(synthetic_rows(sd=0.0)))
    row = t[(t["method"].str.startswith("Q + implicit (best-of-N), diffusion"))
            & ~t["method"].str.contains("OU") & (t["task"] == "lift")].iloc[0]
    assert round(row["gain_over_filtered_bc"]) == 20 and round(row["final"]) == 70
    assert round(row["base"]) == 30 and round(row["gain_over_base"]) == 40
    assert isinstance(t, pd.DataFrame)


def test_run_wall_time_from_row_timestamps():
    from bolrl.report.report import run_wall_seconds

    frame = pd.DataFrame({
        "created_at": ["2026-01-01T10:00:30+00:00", "2026-01-01T10:05:00+00:00",
                       "2026-01-01T10:02:00+00:00"],
        "collect_s": [0.0, 10.0, float("nan")], "train_s": [20.0, 50.0, 5.0],
        "eval_s": [10.0, 10.0, 5.0],
    })
    # the first round's work began at 10:00:00 (30 s before its row); the last row at 10:05
    assert run_wall_seconds(frame) == 300.0
    # the run resumed two hours later for one more 60 s round: the pause is not counted
    resumed = pd.concat([frame, pd.DataFrame({
        "created_at": ["2026-01-01T12:06:00+00:00"], "collect_s": [20.0], "train_s": [30.0],
        "eval_s": [10.0]})], ignore_index=True)
    assert run_wall_seconds(resumed) == 360.0


def test_side_by_side_with_the_paper(tmp_path):
    """Ours next to the paper's numbers: the synthetic recipe starts at 30 and ends near 70;
    a study with three levels of episodes per round also gets the data-scaling table and
    figure."""
    frames = []
    for level, shift in [(10, -0.2), (20, -0.1), (40, 0.0)]:
        f = synthetic_rows(seeds=3, seed=level)
        f["episodes_per_round"] = level
        f["cell_id"] = f["cell_id"] + f"-E{level}"
        f.loc[f["round"] == 3, "eval_success_rate"] += shift
        frames.append(f)
    frame = pd.concat(frames, ignore_index=True)
    report = build(frame, "syn", total_cells=frame["cell_id"].nunique(), out_dir=tmp_path,
                   formats=["png"], command="bolrl plot syn")
    assert "data_scaling.png" in {p.name for p in report.figures}
    text = (tmp_path / "REPORT.md").read_text()
    recipe = [line for line in text.splitlines()
              if line.startswith("| policy extraction | Q + implicit (best-of-N), diffusion")]
    assert len(recipe) == 1
    before, after = recipe[0].split("|")[4].split("->")
    assert abs(float(before.split("[")[0]) - 30) <= 3 and abs(float(after.split("[")[0]) - 70) <= 3
    scaling = [line for line in text.splitlines()
               if line.startswith("| Q + implicit (best-of-N), diffusion |")]
    assert len(scaling) == 1
    finals = [float(c.split("/")[1].split("[")[0]) for c in scaling[0].split("|")[2:5]]
    assert [round(x, -1) for x in finals] == [50, 60, 70]  # the shifts per level
    assert "E = 10 (paper M = 50)" in text


def test_a_noise_sweep_is_measured_per_kind_and_scale(tmp_path):
    """With the noise scale as an axis, each (kind, sigma) is its own method key, paired
    against the same method without noise."""
    frame = synthetic_rows(seeds=4)
    frame = frame[frame["noise"] == "none"]
    recipe = frame[frame["method"] == "diffusion/iql+best-of-n"]
    noisy = []
    for sigma, shift in ((0.05, 0.15), (0.2, -0.2)):
        part = recipe.copy()
        part["noise"], part["method"] = "ou", "diffusion/iql+best-of-n+ou"
        part["noise_sigma"] = sigma
        part["cell_id"] = part["cell_id"] + f"-ou{sigma}"
        last = part["round"] == part["round"].max()
        part.loc[last, "eval_success_rate"] += shift
        noisy.append(part)
    frame = pd.concat([frame, *noisy], ignore_index=True)
    rows = ok_rows(frame)
    assert {"diffusion/iql+best-of-n+ou sigma=0.05", "diffusion/iql+best-of-n+ou sigma=0.2"} <= set(
        rows["key"])
    from bolrl.report.findings import noise_findings

    measured = {m.finding.claim: m for m in judge(measure(rows, noise_findings(rows)))}
    assert measured["ou noise, sigma 0.05 > none (diffusion/iql+best-of-n)"].verdict == (
        "reproduced, larger than the paper's")
    assert measured["ou noise, sigma 0.2 > none (diffusion/iql+best-of-n)"].verdict == (
        "reversed")
    report = build(frame, "syn", frame["cell_id"].nunique(), tmp_path, ["png"], "bolrl plot")
    assert any(p.stem == "noise" for p in report.figures)
    assert "The noise scale, swept" in (tmp_path / "REPORT.md").read_text()


def test_a_data_scaling_study_draws_no_axis_its_methods_do_not_vary_along(tmp_path):
    """BC, filtered BC and the recipe at three levels of data: the algorithm axis is drawn;
    extraction, expressivity and noise are not (the recipe's levels are not an axis)."""
    frames = []
    for level in (10, 20, 40):
        f = synthetic_rows(seeds=2, seed=level)
        f = f[(f["policy"] == "diffusion") & (f["noise"] == "none")
              & f["extraction"].isin(["none", "best-of-n"])].copy()
        f["episodes_per_round"] = level
        f["cell_id"] = f["cell_id"] + f"-E{level}"
        frames.append(f)
    frame = pd.concat(frames, ignore_index=True)
    report = build(frame, "syn", total_cells=frame["cell_id"].nunique(), out_dir=tmp_path,
                   formats=["png"], command="bolrl plot syn")
    names = {p.name for p in report.figures}
    assert "axis_algorithm.png" in names and "data_scaling.png" in names
    assert not names & {"axis_extraction.png", "axis_policy.png", "axis_noise.png"}


def test_curve_shapes_say_nothing_of_a_method_the_study_lacks():
    """A noise study runs only the recipe: no 'no rise' or 'does not end above' claim about
    filtered BC, which it never ran."""
    from bolrl.report.shapes import shapes_markdown

    f = synthetic_rows(seeds=2, tasks=("pick-place",))
    only_recipe = f[(f["policy"] == "diffusion") & (f["algorithm"] == "iql")
                    & (f["extraction"] == "best-of-n") & (f["noise"] == "none")]
    ours = [line for line in shapes_markdown(ok_rows(only_recipe)).splitlines()
            if line.startswith("| pick-place, ours")]
    assert len(ours) == 1
    cells = [c.strip() for c in ours[0].strip("|").split("|")]
    assert cells[2:5] == ["-", "-", "-"] and cells[6] == "-"
    assert cells[5].startswith("+")  # the recipe's own change is still stated



BESIDE, ALONE = "ours beside the paper's digitized Fig. 3", "ours alone: no task of this study"


@pytest.mark.parametrize("task, labels, says, unsaid", [
    ("robomimic/lift", ["robomimic/lift, ours", "Lift, paper"], BESIDE, ALONE),
    ("metaworld/pick-place-v3", ["metaworld/pick-place-v3, ours"], ALONE, BESIDE),
])
def test_curve_shapes_set_the_papers_curve_beside_only_the_papers_own_tasks(
        tmp_path, task, labels, says, unsaid):
    """robomimic's Lift is the paper's Lift: its paper curve is tabled beside ours, and the
    report says so. Meta-World's tasks have no counterpart in the paper: only our rows, and
    the report says the curves stand alone."""
    from bolrl.report.shapes import shapes_markdown

    rows = synthetic_rows(seeds=2, tasks=(task,))
    table = shapes_markdown(ok_rows(rows)).splitlines()[2:]
    assert [line.split("|")[1].strip() for line in table] == labels
    build(rows, "syn", 1, tmp_path, ["png"], "bolrl plot")
    text = (tmp_path / "REPORT.md").read_text()
    assert says in text and unsaid not in text


@pytest.mark.slow
def test_a_study_of_two_demonstration_styles_reports_how_multimodal_each_is(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setenv("BOLRL_CACHE", str(tmp_path / "cache"))
    frame = synthetic_rows(seeds=3, tasks=("lift",))
    other = frame.copy()
    other["cell_id"] += "-mm"
    other["demos_style"] = "multimodal"
    frame["demos_style"] = "scripted"
    both = pd.concat([frame, other], ignore_index=True)
    build(both, "syn", both["cell_id"].nunique(), tmp_path / "out", ["png"], "bolrl plot syn")
    text = (tmp_path / "out" / "REPORT.md").read_text()
    section = text.split("## How multimodal the demonstrations are")[1]
    assert "| lift | scripted | 0/90 deg at 60/40 |" in section
    assert "| lift | multimodal | 0/90 deg at 50/50 |" in section
    build(frame, "syn", frame["cell_id"].nunique(), tmp_path / "one", ["png"], "bolrl plot syn")
    assert "How multimodal" not in (tmp_path / "one" / "REPORT.md").read_text()


def test_figures_fit_a_page_and_name_tasks_in_words(tmp_path):
    from bolrl.report.figures import panel_grid
    from bolrl.report.naming import task_label

    assert [panel_grid(n) for n in (1, 2, 3, 4, 5, 7)] == [(1, 1), (1, 2), (1, 3), (2, 2),
                                                         (2, 3), (3, 3)]
    assert task_label("metaworld/peg-insert-side-v3") == "peg-insert-side (Meta-World)"
    assert task_label("robomimic/lift") == "lift (robomimic)" and task_label("lift") == "lift"
    frame = synthetic_rows()
    report = build(frame, "syn", frame["cell_id"].nunique(), tmp_path, ["png"], "bolrl plot")
    names = {p.name for p in report.figures}
    assert "seeds.png" in names  # every seed's curve of BC, filtered BC and the recipe
    from PIL import Image

    with Image.open(tmp_path / "figures" / "scaling_all.png") as image:  # 3 tasks + aggregate
        width, height = image.size
    assert width < 1.6 * height  # 2 x 2, not one row four panels wide


def test_each_demonstration_style_has_its_own_base_line():
    from bolrl.report.tables import base_per_seed_markdown

    frame = synthetic_rows(seeds=1, tasks=("lift",))
    other = frame.copy()
    other["cell_id"] += "-mm"
    other["demos_style"] = "multimodal"
    other.loc[other["round"] == 0, "eval_success_rate"] = 0.9
    frame["demos_style"] = "scripted"
    both = pd.concat([frame, other], ignore_index=True)
    text = base_per_seed_markdown(ok_rows(both), (0.3, 0.65))
    assert "| demos style |" in text
    assert "| lift | 0 | diffusion | multimodal | 90 | **no** |" in text
    assert "| lift | 0 | diffusion | scripted |" in text and "bases outside" in text


def test_a_finding_that_grows_with_the_style_shows_between_styles():
    from bolrl.report.findings import style_contrasts

    scripted = synthetic_rows(seed=3).assign(demos_style="scripted")
    multimodal = synthetic_rows(seed=4).assign(demos_style="multimodal")
    multimodal["cell_id"] += "-mm"
    recipe = multimodal["method"] == "diffusion/iql+best-of-n"
    multimodal.loc[recipe & (multimodal["round"] == 3), "eval_success_rate"] += 0.2
    contrasts = dict(style_contrasts(ok_rows(pd.concat([scripted, multimodal],
                                                        ignore_index=True))))
    grown = contrasts["Q-function > imitation (filtered BC): multimodal - scripted demos"]
    assert grown.runs == 18 and grown.low < 0.2 < grown.high and grown.low > 0.1
    assert style_contrasts(ok_rows(scripted)) == []  # one style: nothing between styles


def test_each_finding_carries_its_pairs_difference_at_round_0():
    from bolrl.report.findings import findings_markdown

    frame = synthetic_rows()
    first = frame["round"] == 0
    frame.loc[first, "eval_success_rate"] = 0.3  # one base for every method, as in a study
    moved = first & (frame["method"] == "diffusion/filtered-bc")
    measured = judge(measure(ok_rows(frame)))
    assert all(m.base_interval.mean == 0 for m in measured)
    assert "| 0 in every pair |" in findings_markdown(measured)
    frame.loc[moved, "eval_success_rate"] = 0.1  # filtered BC started 20 points lower
    q = {m.finding.claim: m for m in measure(ok_rows(frame))}["Q-function > imitation "
                                                              "(filtered BC)"]
    assert abs(q.base_interval.mean - 0.2) < 1e-9


def test_the_diagnostics_table_shows_each_methods_last_round_and_only_columns_it_has():
    from bolrl.report.tables import diagnostics_markdown

    rows = ok_rows(synthetic_rows(seeds=2, tasks=("lift",), rounds=2))
    rows["q_success"] = np.where(rows["algorithm"] == "iql", rows["round"] * 0.3, np.nan)
    rows["demo_share_batch"] = 0.5
    rows["train_s"] = rows["round"] * 2.0  # rounds 1, 2: a mean of 3 s
    md = diagnostics_markdown(rows)
    assert "| method | Q, successful episodes | demos in policy batches (%) |" in md
    assert "Q, failed episodes" not in md and "actor" not in md  # no method has them
    lines = {line.split(" | ")[0]: line for line in md.splitlines()[2:]}
    recipe = next(v for k, v in lines.items() if "best-of-N" in k and "Gaussian" not in k)
    assert recipe.endswith("| 0.60 | 50 | 3 |")  # Q at the last round (2 x 0.3), not the mean
    bc = next(v for k, v in lines.items() if k.startswith("| Filtered BC, diffusion"))
    assert "| - | 50 |" in bc


def test_log_dodge_spreads_only_points_that_share_an_x():
    from bolrl.report.figures import log_dodge

    xs = log_dodge([160.0, 1.0, 160.0, 10.0, 160.0])
    assert xs[1] == 1.0 and xs[3] == 10.0  # alone at their count: not moved
    assert xs[0] < xs[2] < xs[4]  # the three at 160 side by side, in order
    assert xs[2] == pytest.approx(160.0)  # ... around their true count
    assert xs[0] * xs[4] == pytest.approx(160.0**2)  # symmetric on the log axis


def test_diagnostics_sentence_names_only_the_columns_the_table_shows():
    from bolrl.report.tables import DIAGNOSTICS, diagnostics_markdown

    rows = pd.DataFrame({"key": ["diffusion/iql+best-of-n"] * 2, "cell_id": ["c"] * 2,
                         "round": [0, 1]})
    for column, *_ in DIAGNOSTICS:
        rows[column] = np.nan
    rows[["q_success", "q_failure", "train_s", "policy_passes_per_action"]] = [
        [0.5, 0.1, 10.0, 160.0], [0.7, 0.2, 20.0, 160.0]]
    text = diagnostics_markdown(rows)
    sentence, table = text.split("\n\n", 1)
    assert "successful autonomous episodes" in sentence and "passes per action" in sentence
    assert "effective sample size" not in sentence and "actor's loss" not in sentence
    assert "AWR" not in table and "| 0.70 | 0.20 | 20 | 160 |" in table
