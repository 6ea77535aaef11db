"""Exploration noise: spectra, autocorrelation, reproducibility, clipping-free scale."""

import numpy as np
import pytest

from bolrl.config import NoiseTable
from bolrl.noise import colored_noise
from bolrl.registry import NOISES


def spectrum_slope(x: np.ndarray) -> float:
    power = (np.abs(np.fft.rfft(x, axis=-1)) ** 2).mean(axis=0)
    f = np.fft.rfftfreq(x.shape[-1])
    return float(np.polyfit(np.log(f[1:]), np.log(power[1:]), 1)[0])


def run(name, steps=512, rows=64, seed=0, **kw):
    params = NoiseTable(sigma=1.0, **kw)
    noise = NOISES[name].load()(rows, 1, steps, params, np.random.default_rng(seed))
    all_rows = np.arange(rows)
    noise.begin(all_rows)
    return np.stack([noise.sample(all_rows)[:, 0] for _ in range(steps)], axis=1)  # (rows, T)


def test_white_noise_has_a_flat_spectrum():
    assert abs(spectrum_slope(run("white"))) < 0.1


@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_colored_noise_spectrum_slope_is_minus_beta(beta):
    x = colored_noise(beta, (64, 512), np.random.default_rng(1))
    assert abs(spectrum_slope(x) + beta) < 0.1
    np.testing.assert_allclose(x.std(axis=-1), 1.0, rtol=1e-6)


def test_pink_process_matches_its_spectrum():
    assert abs(spectrum_slope(run("pink")) + 1.0) < 0.15


def test_ou_has_the_expected_autocorrelation():
    theta = 0.2
    x = run("ou", steps=2000, rows=32, theta=theta)
    for lag in (1, 3, 5):
        acf = np.mean(x[:, :-lag] * x[:, lag:]) / np.mean(x * x)
        assert abs(acf - (1 - theta) ** lag) < 0.05
    assert abs(x.std() - 1.0) < 0.1  # unit stationary variance


@pytest.mark.parametrize("name", list(NOISES))
def test_noise_is_reproducible_from_a_seed(name):
    np.testing.assert_array_equal(run(name, 50, 4, seed=3), run(name, 50, 4, seed=3))


def test_sigma_scales_and_none_is_zero():
    assert not run("none", 20, 2).any()
    a = NOISES["white"].load()(2, 3, 10, NoiseTable(sigma=0.5), np.random.default_rng(0))
    b = NOISES["white"].load()(2, 3, 10, NoiseTable(sigma=1.0), np.random.default_rng(0))
    np.testing.assert_allclose(a.sample(np.arange(2)), 0.5 * b.sample(np.arange(2)))
