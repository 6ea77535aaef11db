"""The Q-function side of the algorithm-class axis: an IQL critic (Kostrikov et al., 2022).

    L_V = E[ L_2^tau( min_i Qbar_i(s, a) - V(s) ) ],   L_2^tau(u) = |tau - 1(u < 0)| u^2
    L_Q = sum_i E[ (r + gamma (1 - d) V(s') - Q_i(s, a))^2 ]
    Qbar <- (1 - rho) Qbar + rho Q   (Polyak averaging of the target twin)

d is 1 only when the episode *terminated* (success ends the task); a horizon cut bootstraps
from V(s'). Rewards are sparse: 1 on the success step, else 0. The twin Q networks are one
ensemble network (one batched matmul per layer).

With action chunks of H steps, a is the chunk a_{t:t+H}, r the discounted H-step return
sum_j gamma^j r_{t+j}, s' = s_{t+h} and gamma becomes gamma^h, h = min(H, steps left in the
episode) (see `bolrl.data.chunk_returns`); with H = 1 these are the formulas above.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from bolrl.nets import ensemble_mlp, mlp, polyak


def expectile_loss(diff: torch.Tensor, tau: float) -> torch.Tensor:
    """Mean asymmetric squared loss |tau - 1(diff < 0)| diff^2."""
    weight = torch.where(diff < 0, 1.0 - tau, tau)
    return (weight * diff.pow(2)).mean()


def td_target(reward: torch.Tensor, terminated: torch.Tensor, next_v: torch.Tensor,
              discount: torch.Tensor | float) -> torch.Tensor:
    """r + discount * (1 - d) * V(s'); discount is gamma, or gamma^h for an h-step chunk."""
    return reward + discount * (1.0 - terminated) * next_v


class IQLCritic(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hidden: int, layers: int):
        super().__init__()
        self.q = ensemble_mlp(2, obs_dim + act_dim, hidden, layers, 1)
        self.v = mlp(obs_dim, hidden, layers, 1, layer_norm=True)
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)

    def q_values(self, obs: torch.Tensor, act: torch.Tensor, target: bool = False):
        """Both Q estimates, (B, .) -> (2, B)."""
        x = torch.cat([obs, act], dim=-1).expand(2, -1, -1)
        return (self.q_target if target else self.q)(x).squeeze(-1)

    def q_min(self, obs: torch.Tensor, act: torch.Tensor, target: bool = True) -> torch.Tensor:
        return self.q_values(obs, act, target).min(0).values

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.v(obs).squeeze(-1)

    def losses(self, batch: dict, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(L_V, L_Q) on a batch of standardised transitions: obs, chunks (the actions),
        rewards (H-step returns), next_obs, terminated, discount."""
        with torch.no_grad():
            q_tgt = self.q_min(batch["obs"], batch["chunks"], target=True)
            next_v = self.value(batch["next_obs"])
        v_loss = expectile_loss(q_tgt - self.value(batch["obs"]), tau)
        y = td_target(batch["rewards"], batch["terminated"], next_v, batch["discount"])
        q_loss = (self.q_values(batch["obs"], batch["chunks"]) - y).pow(2).mean(1).sum()
        return v_loss, q_loss

    def update_target(self, rho: float) -> None:
        polyak(self.q_target, self.q, rho)
