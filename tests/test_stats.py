"""Statistics, against hand-computed values, plus coverage and property checks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bolrl.stats import bootstrap_ci, iqm, paired_difference, stratified_bootstrap, verdict


def test_iqm_by_hand():
    # 8 values: drop the 2 lowest (-50, 1) and the 2 highest (6, 100), average 2, 3, 4, 5
    assert iqm(np.array([100, 1, 2, 3, 4, 5, 6, -50])) == pytest.approx(3.5)
    # 4 values: drop one each side
    assert iqm(np.array([0.0, 1.0, 2.0, 10.0])) == pytest.approx(1.5)
    assert iqm(np.array([0.3])) == pytest.approx(0.3)


def test_bootstrap_ci_of_constant_data_is_a_point():
    assert bootstrap_ci(np.full(5, 0.4)) == pytest.approx((0.4, 0.4, 0.4))


def test_stratified_bootstrap_keeps_every_task():
    # Task a always 0, task b always 1: any stratified resample has mean exactly 0.5.
    point, lo, hi = stratified_bootstrap({"a": np.zeros(3), "b": np.ones(3)}, statistic=np.mean)
    assert (point, lo, hi) == pytest.approx((0.5, 0.5, 0.5))


def test_paired_difference_by_hand():
    a = {"t": np.array([0.5, 0.6, 0.7])}
    b = {"t": np.array([0.4, 0.5, 0.6])}
    assert paired_difference(a, b) == pytest.approx((0.1, 0.1, 0.1))
    with pytest.raises(ValueError, match="pairs need equal runs"):
        paired_difference(a, {"t": np.array([0.1])})


def test_verdicts():
    assert verdict(0.01, 0.2) == "reproduced"
    assert verdict(-0.2, -0.01) == "not reproduced"
    assert verdict(-0.1, 0.1) == "inconclusive"


def test_bootstrap_ci_covers_the_true_mean_at_about_the_stated_rate():
    rng = np.random.default_rng(0)
    trials, covered = 300, 0
    for i in range(trials):
        x = rng.normal(0.5, 0.1, 30)
        _, lo, hi = bootstrap_ci(x, reps=1000, seed=i)
        covered += lo <= 0.5 <= hi
    assert 0.89 <= covered / trials <= 0.99  # percentile bootstrap, n = 30: close to 95%


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=40))
def test_iqm_lies_within_the_data(values):
    x = np.array(values)
    assert x.min() - 1e-12 <= iqm(x) <= x.max() + 1e-12


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=2, max_size=12), st.integers(0, 1000))
def test_bootstrap_interval_contains_the_point_estimate_for_the_mean(values, seed):
    point, lo, hi = bootstrap_ci(np.array(values), reps=500, seed=seed)
    assert lo - 1e-9 <= hi + 1e-9 and min(values) - 1e-9 <= lo and hi <= max(values) + 1e-9
