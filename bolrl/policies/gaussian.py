"""`gaussian`: an MLP giving the mean and a state-dependent standard deviation.

    pi(a | s) = N(a; tanh(mu(s)), diag(sigma(s)^2)),  log sigma(s) clamped to [m, 1]
    BC loss   = E[ w * sg(sigma(s)^(2 beta)) * -log pi(a | s) ]  (up to a constant)

beta is the beta-NLL of Seitzer et al. (ICLR 2022), `[train].gaussian_nll_beta`, sg a stop-
gradient. With beta = 0 this is the plain NLL, whose gradient on the mean is
(mu - a) / sigma^2: once sigma has shrunk to its floor on a few demonstrations (e^-5), each
error on a state the demonstrations did not cover weighs ~2e4 times a squared error, and a
round of autonomous data wrecks the mean (measured: the policy's loss on its own new episodes
1,700-40,000 against -60 on demos; Gaussian + AWR 83% -> 20% at round 1 on lift). With
beta = 1 the mean gets the gradient of a squared error and sigma is still fitted by the NLL.
The paper's Gaussian is the plain NLL with a sensibly bounded std: beta = 0 and a floor m
(`[train].gaussian_log_std_min`) well above -5, e.g. -2 (an error then weighs at most 55
times a squared error).

The mean is squashed into [-1, 1]; samples are clipped to [-1, 1] (not squashed, so that
demonstrated actions at the bounds, such as a fully closed gripper, keep a finite likelihood).
Executed on its own (explicit extraction), the policy acts with its mean.
"""

from __future__ import annotations

import torch

from bolrl.nets import mlp
from bolrl.policies.base import Policy, masked_sum, weighted_mean

LOG_STD_MIN, LOG_STD_MAX = -5.0, 1.0


class GaussianPolicy(Policy):
    @classmethod
    def from_config(cls, obs_dim: int, act_dim: int, cfg) -> GaussianPolicy:
        return cls(obs_dim, act_dim, hidden=cfg.networks.hidden, layers=cfg.networks.layers,
                   nll_beta=cfg.train.gaussian_nll_beta,
                   log_std_min=cfg.train.gaussian_log_std_min)

    def __init__(self, obs_dim: int, act_dim: int, hidden: int, layers: int,
                 nll_beta: float = 0.0, log_std_min: float = LOG_STD_MIN, **_):
        super().__init__()
        self.act_dim = act_dim
        self.nll_beta = nll_beta
        self.log_std_min = log_std_min
        self.net = mlp(obs_dim, hidden, layers, 2 * act_dim)

    def _dist(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(obs)
        mean = torch.tanh(out[:, : self.act_dim])
        log_std = out[:, self.act_dim :].clamp(self.log_std_min, LOG_STD_MAX)
        return mean, log_std

    def loss(self, obs, act, weight=None, generator=None, mask=None):
        mean, log_std = self._dist(obs)
        nll = 0.5 * ((act - mean) / log_std.exp()).pow(2) + log_std
        if self.nll_beta:
            nll = nll * (2.0 * self.nll_beta * log_std).detach().exp()
        return weighted_mean(masked_sum(nll, mask), weight)

    def sample(self, obs, n, generator, noise=None):
        mean, log_std = self._dist(obs)
        eps = noise if noise is not None else torch.randn(
            (obs.shape[0], n, self.act_dim), generator=generator, device=obs.device)
        return (mean[:, None] + log_std.exp()[:, None] * eps).clamp(-1.0, 1.0)

    def decode(self, obs, noise):
        mean, log_std = self._dist(obs)
        return (mean + log_std.exp() * noise).clamp(-1.0, 1.0)

    def act(self, obs, generator):
        return self._dist(obs)[0]

    def differentiable_action(self, obs, generator):
        return self._dist(obs)[0]
