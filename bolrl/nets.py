"""Network building blocks shared by policies and critics.

Sizes are study knobs (`hidden`, `layers`); the defaults are sized for a CPU budget (see
FACTS: a 3 x 256 MLP trains at about 170 steps/s on one thread).
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn


@contextmanager
def seeded(seed: int):
    """Create parameters from a private torch RNG stream: deterministic, global state untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class EnsembleLinear(nn.Module):
    """`members` independent linear layers applied as one batched matmul: (E, B, i) -> (E, B, o)."""

    def __init__(self, members: int, in_dim: int, out_dim: int):
        super().__init__()
        bound = 1.0 / math.sqrt(in_dim)
        self.weight = nn.Parameter(torch.empty(members, in_dim, out_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, 1, out_dim).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


def mlp(in_dim: int, hidden: int, layers: int, out_dim: int, layer_norm: bool = False) -> nn.Module:
    """`layers` hidden layers of width `hidden`, SiLU activations (optionally LayerNorm first)."""
    mods: list[nn.Module] = []
    d = in_dim
    for _ in range(layers):
        mods.append(nn.Linear(d, hidden))
        if layer_norm:
            mods.append(nn.LayerNorm(hidden))
        mods.append(nn.SiLU())
        d = hidden
    mods.append(nn.Linear(d, out_dim))
    return nn.Sequential(*mods)


def ensemble_mlp(
    members: int, in_dim: int, hidden: int, layers: int, out_dim: int, layer_norm: bool = True
) -> nn.Module:
    """`members` MLPs evaluated together (twin Q networks in one matmul per layer)."""
    mods: list[nn.Module] = []
    d = in_dim
    for _ in range(layers):
        mods.append(EnsembleLinear(members, d, hidden))
        if layer_norm:
            mods.append(nn.LayerNorm(hidden))
        mods.append(nn.SiLU())
        d = hidden
    mods.append(EnsembleLinear(members, d, out_dim))
    return nn.Sequential(*mods)


def sinusoidal_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer-style embedding of (diffusion) time steps t (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


STD_FLOOR = 0.01  # 1 cm for positions: features nearly constant in the demos are not blown up


class Normalizer(nn.Module):
    """Observation standardisation with statistics fitted once, from the first training data
    (the demonstrations), then frozen so a warm-started network keeps seeing the same inputs.
    The standard deviation is floored at STD_FLOOR."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def fit(self, obs: np.ndarray) -> None:
        if bool(self.fitted):
            return
        self.mean.copy_(torch.as_tensor(obs.mean(axis=0)))
        self.std.copy_(torch.as_tensor(np.maximum(obs.std(axis=0), STD_FLOOR)))
        self.fitted.fill_(True)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return (obs - self.mean) / self.std
