"""Exploration noise added to executed actions during collection (never during evaluation).

Every process has unit stationary variance per action dimension and is multiplied by `sigma`;
it is added to the action dimensions listed in `dims` (empty: the task's own choice, the
gripper's translation for the embedded tasks, every dimension for external ones) and the noisy
action is clipped to [-1, 1]. Per environment row, a process restarts with each
episode (`begin`) and advances one step per action (`sample`). The processes are looked up by
name in `bolrl.registry.NOISES`.

- `none`   zero
- `white`  i.i.d. N(0, 1) per step
- `ou`     Ornstein-Uhlenbeck, discretised with unit time step:
           x_{t+1} = (1 - theta) x_t + sqrt(1 - (1 - theta)^2) eps_t,  x_0 ~ N(0, 1),
           so Var x_t = 1 and the autocorrelation at lag k is (1 - theta)^k
- `pink`   colored noise with power spectrum S(f) ~ 1 / f^beta (beta = 1: pink), one whole
           sequence per episode drawn by the FFT method (Timmer & Koenig, 1995), standardised
"""

from __future__ import annotations

import numpy as np

from bolrl.config import NoiseTable


def ou_step(x: np.ndarray, theta: float, rng: np.random.Generator) -> np.ndarray:
    """One step of the unit-variance OU process."""
    return (1.0 - theta) * x + np.sqrt(1.0 - (1.0 - theta) ** 2) * rng.standard_normal(x.shape)


def colored_noise(beta: float, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f^beta along the last axis, standardised to zero
    mean and unit variance per sequence. `shape` = (..., length)."""
    length = shape[-1]
    freqs = np.fft.rfftfreq(length)
    freqs[0] = freqs[1] if length > 1 else 1.0  # no infinite power at f = 0
    amplitude = freqs ** (-beta / 2.0)
    size = (*shape[:-1], len(freqs))
    spectrum = amplitude * (rng.standard_normal(size) + 1j * rng.standard_normal(size))
    spectrum[..., 0] = spectrum[..., 0].real * np.sqrt(2)
    if length % 2 == 0:
        spectrum[..., -1] = spectrum[..., -1].real * np.sqrt(2)
    x = np.fft.irfft(spectrum, n=length, axis=-1)
    x -= x.mean(axis=-1, keepdims=True)
    return x / x.std(axis=-1, keepdims=True).clip(min=1e-12)


class Noise:
    """A noise process for `rows` environments and `dims` action dimensions."""

    name = ""

    def __init__(self, rows: int, dims: int, horizon: int, params: NoiseTable,
                 rng: np.random.Generator):
        self.rows, self.dims, self.horizon, self.p, self.rng = rows, dims, horizon, params, rng

    def begin(self, rows: np.ndarray) -> None:
        pass

    def sample(self, rows: np.ndarray) -> np.ndarray:
        """Noise for the given rows, (len(rows), dims), already scaled by sigma."""
        return np.zeros((len(rows), self.dims))


class NoNoise(Noise):
    name = "none"


class WhiteNoise(Noise):
    name = "white"

    def sample(self, rows):
        return self.p.sigma * self.rng.standard_normal((len(rows), self.dims))


class OUNoise(Noise):
    name = "ou"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.x = np.zeros((self.rows, self.dims))

    def begin(self, rows):
        self.x[rows] = self.rng.standard_normal((len(rows), self.dims))

    def sample(self, rows):
        out = self.x[rows].copy()
        self.x[rows] = ou_step(self.x[rows], self.p.theta, self.rng)
        return self.p.sigma * out


class PinkNoise(Noise):
    name = "pink"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seq = np.zeros((self.rows, self.dims, self.horizon))
        self.t = np.zeros(self.rows, dtype=np.int64)

    def begin(self, rows):
        self.seq[rows] = colored_noise(self.p.beta, (len(rows), self.dims, self.horizon), self.rng)
        self.t[rows] = 0

    def sample(self, rows):
        t = np.minimum(self.t[rows], self.horizon - 1)
        out = self.seq[rows, :, t]
        self.t[rows] += 1
        return self.p.sigma * out
