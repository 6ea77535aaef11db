"""`gaussian`: an MLP giving the mean and a state-dependent standard deviation.

    pi(a | s) = N(a; tanh(mu(s)), diag(sigma(s)^2)),  log sigma(s) clamped to [-5, 1]
    BC loss   = E[ w * -log pi(a | s) ]  (up to a constant)

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
    def __init__(self, obs_dim: int, act_dim: int, hidden: int, layers: int, **_):
        super().__init__()
        self.act_dim = act_dim
        self.net = mlp(obs_dim, hidden, layers, 2 * act_dim)

    def _dist(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(obs)
        mean = torch.tanh(out[:, : self.act_dim])
        log_std = out[:, self.act_dim :].clamp(LOG_STD_MIN, LOG_STD_MAX)
        return mean, log_std

    def loss(self, obs, act, weight=None, generator=None, mask=None):
        mean, log_std = self._dist(obs)
        nll = 0.5 * ((act - mean) / log_std.exp()).pow(2) + log_std
        return weighted_mean(masked_sum(nll, mask), weight)

    def sample(self, obs, n, generator):
        mean, log_std = self._dist(obs)
        eps = torch.randn((obs.shape[0], n, self.act_dim), generator=generator)
        return (mean[:, None] + log_std.exp()[:, None] * eps).clamp(-1.0, 1.0)

    def act(self, obs, generator):
        return self._dist(obs)[0]

    def differentiable_action(self, obs, generator):
        return self._dist(obs)[0]
