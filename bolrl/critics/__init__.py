"""The Q-function side of the algorithm-class axis: what a critic is to the rest of bolrl.

A critic class is one module here and one line in `bolrl.registry.ALGORITHMS`. The trainer
(`bolrl.agent`) and the extractors (`bolrl.extraction`) use only this protocol:

- `Critic(obs_dim, act_dim, cfg)`: built from the agent's configuration, reading its own
  settings (and declaring them in its registry entry, so that they enter a cell's identity);
- `losses(batch, policy, generator) -> {name: loss}`: the losses of one gradient step on a
  batch of standardised transitions (obs, chunks, rewards, next_obs, terminated, discount),
  summed into one backward pass; `policy` (the acting policy) is there for backups that
  sample it; names are row columns (`critic_q_loss`, `critic_v_loss`);
- `optimized()`: the parameters its optimizer updates, in a fixed order;
- `q_min(obs, act, target=True)`: the pessimistic Q estimate extractors rank actions with;
- `value(obs)`: a state value V(s), for critics that learn one (their registry entry
  says `learns_value`; AWR needs it);
- `update_target()`: the Polyak step of its target networks, after each gradient step.

The shared maths of TD learning is here as small functions.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from bolrl.nets import ensemble_mlp, polyak


def expectile_loss(diff: torch.Tensor, tau: float) -> torch.Tensor:
    """Mean asymmetric squared loss |tau - 1(diff < 0)| diff^2."""
    weight = torch.where(diff < 0, 1.0 - tau, tau)
    return (weight * diff.pow(2)).mean()


def td_target(reward: torch.Tensor, terminated: torch.Tensor, next_v: torch.Tensor,
              discount: torch.Tensor | float) -> torch.Tensor:
    """r + discount * (1 - d) * V(s'); discount is gamma, or gamma^h for an h-step chunk."""
    return reward + discount * (1.0 - terminated) * next_v


class Critic(nn.Module):
    """The protocol (see the module docstring); subclasses implement it."""

    def losses(self, batch: dict, policy=None,
               generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def optimized(self) -> list[nn.Parameter]:
        raise NotImplementedError

    def q_min(self, obs: torch.Tensor, act: torch.Tensor, target: bool = True) -> torch.Tensor:
        raise NotImplementedError

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} learns no state value")

    def update_target(self) -> None:
        raise NotImplementedError


class TwinQ(Critic):
    """Twin Q networks on (s, a) as one ensemble network (one batched matmul per layer), with a
    Polyak-averaged target twin: the part of a critic that IQL and Q-chunking share."""

    def __init__(self, obs_dim: int, act_dim: int, cfg):
        """Reads networks.critic_hidden, networks.critic_layers and critic.target_tau of the
        agent's configuration (bolrl.config.AgentConfig)."""
        super().__init__()
        net = cfg.networks
        self.target_tau = cfg.critic.target_tau
        self.q = ensemble_mlp(2, obs_dim + act_dim, net.critic_hidden, net.critic_layers, 1)

    def _make_target(self) -> None:
        """The target twin, a copy of the online one (after every network is built: the
        copy draws no random numbers, the networks' initialisation does)."""
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)

    def q_values(self, obs: torch.Tensor, act: torch.Tensor, target: bool = False):
        """Both Q estimates, (B, .) -> (2, B)."""
        x = torch.cat([obs, act], dim=-1).expand(2, -1, -1)
        return (self.q_target if target else self.q)(x).squeeze(-1)

    def q_min(self, obs: torch.Tensor, act: torch.Tensor, target: bool = True) -> torch.Tensor:
        return self.q_values(obs, act, target).min(0).values

    def q_loss(self, batch: dict, y: torch.Tensor) -> torch.Tensor:
        """sum_i E[(y - Q_i(s, a))^2] for the TD target y."""
        return (self.q_values(batch["obs"], batch["chunks"]) - y).pow(2).mean(1).sum()

    def update_target(self) -> None:
        polyak(self.q_target, self.q, self.target_tau)
