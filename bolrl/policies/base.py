"""The interface shared by the policy classes of the expressivity axis.

Policies see observations already standardised by the agent, and actions in [-1, 1] (the
action space of every task; external tasks are mapped to it).
"""

from __future__ import annotations

import torch
from torch import nn


class Policy(nn.Module):
    @classmethod
    def from_config(cls, obs_dim: int, act_dim: int, cfg) -> Policy:
        """The policy an agent with configuration `cfg` (bolrl.config.AgentConfig) uses, for
        actions (or chunks) of `act_dim`: each class reads its own settings from it (and lists
        them in its registry entry); by default the network's width and depth."""
        return cls(obs_dim, act_dim, hidden=cfg.networks.hidden, layers=cfg.networks.layers)

    def loss(
        self,
        obs: torch.Tensor,
        act: torch.Tensor,
        weight: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Behaviour-cloning loss, averaged over the batch with optional per-sample weights;
        `mask` (B, act_dim) leaves label dimensions out (0: padding past an episode's end)."""
        raise NotImplementedError

    def sample(self, obs: torch.Tensor, n: int, generator: torch.Generator,
               noise: torch.Tensor | None = None) -> torch.Tensor:
        """`n` actions per observation, (B, obs_dim) -> (B, n, act_dim), in [-1, 1]. `noise`
        (B, n, act_dim), where given, is the sampler's initial standard normal draw (the
        diffusion chain's a_T, the Gaussian's epsilon) in place of one from `generator`: what a
        method that steers the policy through its input noise chooses (DSRL)."""
        raise NotImplementedError

    def decode(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The deterministic map from the sampler's initial noise to an action, (B, obs_dim),
        (B, act_dim) -> (B, act_dim), differentiable in both: the BC policy as a function of
        its noise, which FQL distils a one-step policy towards and DSRL steers. The flow
        policy's Euler steps are this map already; diffusion's is the DDIM (eta = 0) sampler
        of the same noise-prediction network; the Gaussian's is mean + std * noise."""
        raise NotImplementedError(f"{type(self).__name__} has no deterministic noise map")

    def act(self, obs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The action the policy executes by itself (explicit extraction), (B, act_dim)."""
        raise NotImplementedError

    def differentiable_action(self, obs: torch.Tensor, generator: torch.Generator):
        """An action through which gradients reach the policy parameters (for ddpg-bc)."""
        raise NotImplementedError


def masked_sum(per_dim: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Sum over the last axis of the dimensions the mask keeps (all without a mask)."""
    return per_dim.sum(-1) if mask is None else (per_dim * mask).sum(-1)


def masked_mean(per_dim: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean over the last axis of the dimensions the mask keeps (all without a mask)."""
    if mask is None:
        return per_dim.mean(-1)
    return (per_dim * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)


def weighted_mean(per_sample: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    if weight is None:
        return per_sample.mean()
    return (per_sample * weight).mean()
