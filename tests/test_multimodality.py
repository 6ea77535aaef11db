"""The multimodality measures, on data whose truth is known, and on the embedded styles."""

import numpy as np
import pytest

from bolrl import multimodality as mm
from bolrl.envs import get_task


def synthetic(bimodal: bool, episodes: int = 40, steps: int = 50, seed: int = 0):
    """Episodes whose observation is their progress and whose action
    follows the progress; when bimodal, each episode also takes +1 or -1 on one action
    dimension by a coin the observation does not show."""
    rng = np.random.default_rng(seed)
    obs, actions, episode = [], [], []
    for e in range(episodes):
        t = np.linspace(0, 1, steps)
        side = rng.choice([-1.0, 1.0]) if bimodal else 0.0
        obs.append(np.c_[t, np.cos(t)])
        a = np.c_[np.sin(3 * t), np.cos(3 * t), np.full(steps, side)]
        actions.append(a + rng.normal(0, 0.05, a.shape))
        episode.append(np.full(steps, e))
    return np.concatenate(obs), np.concatenate(actions), np.concatenate(episode)


def test_unimodal_actions_split_about_as_often_as_the_null_allows():
    assert mm.split_rate(*synthetic(bimodal=False)) <= 0.12


def test_actions_of_a_hidden_choice_split_at_almost_every_state():
    assert mm.split_rate(*synthetic(bimodal=True)) >= 0.9


def test_the_null_threshold_lets_about_five_percent_of_gaussian_neighbourhoods_split():
    threshold = mm.null_threshold(20, 7)
    rng = np.random.default_rng(123)  # fresh draws, not the threshold's own
    splits = [d > threshold and share >= mm.MINORITY
              for d, share in (mm.best_split(rng.normal(size=(20, 7))) for _ in range(1000))]
    assert 0.02 <= np.mean(splits) <= 0.09


def test_best_split_finds_two_groups_and_their_sizes():
    noise = np.random.default_rng(0).normal(0, 0.01, (20, 2))
    a = np.r_[np.zeros((6, 2)), np.ones((14, 2))] + noise
    d, share = mm.best_split(a)
    assert d > 50 and share == pytest.approx(0.3)


def test_mean_strategy_weighs_the_odds():
    assert mm.mean_strategy((0.0, np.pi / 2), (0.5, 0.5)) == pytest.approx(np.pi / 4)
    assert mm.mean_strategy((0.0, 1.0, -1.0), (0.6, 0.2, 0.2)) == pytest.approx(0.0)


def test_too_few_episodes_is_a_clear_error():
    obs, actions, episode = synthetic(False, episodes=3)
    with pytest.raises(ValueError, match="at least 4 episodes"):
        mm.split_rate(obs, actions, episode)


def test_lift_multimodal_demos_are_the_ones_whose_average_fails(tmp_path):
    task = get_task("lift")
    scripted = mm.measure(task, "scripted", demos=20, episodes=20, root=tmp_path)
    multimodal = mm.measure(task, "multimodal", demos=20, episodes=20, root=tmp_path)
    assert scripted.mean_strategy_success >= 0.9  # its choice does not matter on average
    assert multimodal.mean_strategy_success <= 0.3  # a mean-seeking imitator misses
    assert multimodal.strategies == "0/90 deg at 50/50"
    assert scripted.averaging_loss <= 0.1 and multimodal.averaging_loss >= 0.6  # larger


def test_a_task_without_a_strategy_choice_has_only_the_split_rate(tmp_path):
    m = mm.measure(get_task("pick-place"), "scripted", demos=8, episodes=5, root=tmp_path)
    assert m.mean_strategy_success is None and m.strategies == "" and 0 <= m.split_rate <= 1
