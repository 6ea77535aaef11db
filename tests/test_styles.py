"""Demonstration styles: the multimodal experts' two strategies each succeed and their
average fails; the style is a study setting and an axis, part of a cell's identity."""

from pathlib import Path

import numpy as np
import pytest

from bolrl.demos import demo_path
from bolrl.envs import get_task
from bolrl.envs.batched import env_seeds
from bolrl.rollout import ExpertActor, rollout
from bolrl.study import StudyError, load_study

ROOT = Path(__file__).resolve().parent.parent
SMOKE = (ROOT / "studies" / "smoke.toml").read_text()


def success(task, style="multimodal", strategy=None, episodes=30) -> float:
    eps = rollout(task, env_seeds(3, episodes, stream=11), ExpertActor(task, 3, style, strategy),
                  episodes)
    return float(eps.episode_success.mean())


@pytest.mark.parametrize("name", ["lift", "nut-assembly"])
def test_each_strategy_succeeds_and_their_average_fails(name):
    task = get_task(name)
    a, b = task.STRATEGIES
    assert success(task, strategy=a) >= 0.9 and success(task, strategy=b) >= 0.9
    assert success(task, strategy=(a + b) / 2) <= 0.2  # the mean of the modes misses
    assert success(task) >= 0.9  # the multimodal expert, choosing per episode


def _study(tmp_path, text):
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


def test_the_style_is_an_axis_and_part_of_the_identity(tmp_path):
    plain = load_study(ROOT / "studies" / "smoke.toml")
    both = load_study(_study(tmp_path, SMOKE.replace(
        'noise = ["none"]', 'noise = ["none"]\ndemos_style = ["scripted", "multimodal"]')))
    styles = sorted({c.demos_style for c in both.cells})
    assert styles == ["multimodal", "scripted"] and len(both.cells) == 2 * len(plain.cells) - 1
    scripted = {c.cell_id for c in both.cells if c.demos_style == "scripted"}
    assert {c.cell_id for c in plain.cells} <= scripted | {plain.cells[-1].cell_id}
    multimodal = [c for c in both.cells if c.demos_style == "multimodal"]
    assert not {c.cell_id for c in multimodal} & scripted
    assert "demos=multimodal" in multimodal[0].label
    task = get_task("lift")
    assert demo_path(task, 5, 0, tmp_path, "multimodal") != demo_path(task, 5, 0, tmp_path)


def test_a_task_without_a_multimodal_expert_says_so(tmp_path):
    text = SMOKE.replace('tasks = ["lift"]', 'tasks = ["pick-place"]').replace(
        "demos = { lift = 3 }", 'demos = { pick-place = 3 }\ndemos_style = "multimodal"')
    with pytest.raises(StudyError, match="task 'pick-place' has no multimodal expert"):
        load_study(_study(tmp_path, text))


def test_a_multimodal_cell_trains_on_multimodal_demonstrations(tmp_path):
    from bolrl import loop
    from bolrl.demos import demonstrations

    study = load_study(_study(tmp_path, SMOKE.replace(
        "demos = { lift = 3 }", 'demos = { lift = 3 }\ndemos_style = "multimodal"')))
    cell = study.cells[0]
    rows = loop.run_cell(cell, tmp_path / "r")
    assert rows[-1]["status"] == "ok" and rows[0]["demos_style"] == "multimodal"
    task = get_task("lift")
    mine = demonstrations(task, 3, cell.seed, style="multimodal")
    scripted = demonstrations(task, 3, cell.seed)
    assert not np.array_equal(mine.actions[:20], scripted.actions[:20])
