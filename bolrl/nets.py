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


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Transformer-style embedding of (diffusion) time steps t (B,) -> (B, dim): sines and
    cosines of t at `dim / 2` frequencies from 1 down to 1 / max_period."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


STD_FLOOR = 0.01  # 1 cm for positions: features nearly constant in the demos are not blown up
STD_FLOOR_UNITLESS = 0.1  # quaternion components, sines and cosines, tilt: no physical unit


class Normalizer(nn.Module):
    """Observation standardisation with statistics fitted once, from the first training data
    (the demonstrations), then frozen so a warm-started network keeps seeing the same inputs:

        z = clip((s - mean) / max(std, floor), -clip, clip)

    The floor is per feature (`std_floor`, a number or an array). Features that barely vary in
    the demonstrations (a cube's quaternion x/y: std 1e-4; a nut's tilt: std 0) would otherwise
    reach |z| of 70-100 once an object tips in an autonomous episode, and the policy's loss on
    those rows (thousands, against ~0.03 on demos) wrecks a warm-started network. Clipping
    bounds every input; `clip = 0` turns it off."""

    def __init__(self, dim: int, clip: float = 0.0, std_floor: float | np.ndarray = STD_FLOOR):
        super().__init__()
        self.clip = float(clip)
        floor = np.array(np.broadcast_to(std_floor, (dim,)), dtype=np.float32)
        self.register_buffer("floor", torch.as_tensor(floor))
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def fit(self, obs: np.ndarray) -> None:
        if bool(self.fitted):
            return
        device = self.floor.device
        self.mean.copy_(torch.as_tensor(obs.mean(axis=0), device=device))
        self.std.copy_(torch.maximum(torch.as_tensor(obs.std(axis=0), device=device),
                                     self.floor))
        self.fitted.fill_(True)

    def standardize(self, obs: torch.Tensor) -> torch.Tensor:
        """(s - mean) / std, before clipping."""
        return (obs - self.mean) / self.std

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        z = self.standardize(obs)
        return z.clamp(-self.clip, self.clip) if self.clip > 0 else z

    def clipped_share(self, obs: torch.Tensor) -> float:
        """The share of observations with at least one feature beyond the clip."""
        if self.clip <= 0 or len(obs) == 0:
            return 0.0
        return float((self.standardize(obs).abs() > self.clip).any(dim=1).float().mean())


class ResidualMLP(nn.Module):
    """A residual MLP with LayerNorm (the IDQL / Diffusion Policy denoiser, after Hansen-Estruch
    et al., 2023): an input layer to `hidden`, `blocks` pre-norm residual blocks
        x <- x + W2 SiLU(W1 LayerNorm(x)),   W1: hidden -> hidden * expand, W2: back,
    then LayerNorm, SiLU and an output layer."""

    def __init__(self, in_dim: int, hidden: int, blocks: int, out_dim: int, expand: int = 1):
        super().__init__()
        self.inp = nn.Linear(in_dim, hidden)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden * expand), nn.SiLU(),
                          nn.Linear(hidden * expand, hidden))
            for _ in range(blocks)
        )
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.SiLU(), nn.Linear(hidden, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        for block in self.blocks:
            x = x + block(x)
        return self.out(x)


def _tensors_of(module: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """A module's parameters and buffers, listed once and kept on the module (walking its
    submodules on every call cost 12% of a training step). The list holds the Parameter
    objects themselves, which loading a state or moving the module updates in place."""
    cached = module.__dict__.get("_polyak_tensors")
    if cached is None:
        cached = (list(module.parameters()), list(module.buffers()))
        module.__dict__["_polyak_tensors"] = cached
    return cached


def polyak(target: nn.Module, online: nn.Module, rho: float) -> None:
    """target <- (1 - rho) target + rho online, parameter by parameter (buffers copied)."""
    (tp, tb), (p, b) = _tensors_of(target), _tensors_of(online)
    if len(tp) != len(p) or len(tb) != len(b):
        raise ValueError("polyak: the two modules differ in their parameters or buffers")
    with torch.no_grad():
        torch._foreach_lerp_(tp, p, rho)
        for target_buffer, buffer in zip(tb, b, strict=True):
            target_buffer.copy_(buffer)


@contextmanager
def frozen(*modules: nn.Module | None):
    """Gradients flow through these modules to their inputs, not into their parameters (an
    actor's loss through a critic it must not train); their flags are restored after."""
    params = [p for m in modules if m is not None for p in m.parameters()]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)


class SquashedGaussian(nn.Module):
    """A bounded Gaussian actor (SAC's): x = bound * tanh(u), u ~ N(mu(inp), sigma(inp)),
    reparameterised, with its log-density (the tanh's change of variables included)."""

    LOG_STD = (-5.0, 2.0)

    def __init__(self, in_dim: int, out_dim: int, hidden: int, layers: int, bound: float):
        super().__init__()
        self.out_dim, self.bound = out_dim, float(bound)
        self.net = mlp(in_dim, hidden, layers, 2 * out_dim)

    def forward(self, inp: torch.Tensor, generator: torch.Generator | None,
                deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, log pi(x | inp)) per row: (B, in_dim) -> (B, out_dim), (B,)."""
        mean, log_std = self.net(inp).chunk(2, dim=-1)
        log_std = log_std.clamp(*self.LOG_STD)
        eps = (torch.zeros_like(mean) if deterministic else
               torch.randn(mean.shape, generator=generator, device=mean.device))
        u = mean + log_std.exp() * eps
        x = torch.tanh(u)
        log_prob = (-0.5 * eps.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_prob = log_prob - torch.log(self.bound * (1 - x.pow(2)) + 1e-6).sum(-1)
        return self.bound * x, log_prob
