"""An IQL critic (Kostrikov et al., 2022): the paper's Q-function.

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

import torch
from torch import nn

from bolrl.config import AgentConfig
from bolrl.critics import TwinQ, expectile_loss, td_target
from bolrl.nets import mlp


class IQLCritic(TwinQ):
    """Settings: networks.critic_hidden, networks.critic_layers, critic.expectile (tau),
    critic.target_tau (rho); critic.gamma enters through the batch's discount."""

    def __init__(self, obs_dim: int, act_dim: int, cfg: AgentConfig):
        super().__init__(obs_dim, act_dim, cfg)
        self.expectile = cfg.critic.expectile
        net = cfg.networks
        self.v = mlp(obs_dim, net.critic_hidden, net.critic_layers, 1, layer_norm=True)
        self._make_target()

    def optimized(self) -> list[nn.Parameter]:
        return [*self.q.parameters(), *self.v.parameters()]

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.v(obs).squeeze(-1)

    def losses(self, batch: dict, policy=None,
               generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """L_V and L_Q on a batch of standardised transitions: obs, chunks (the actions),
        rewards (H-step returns), next_obs, terminated, discount. In-sample: the policy is
        not sampled."""
        with torch.no_grad():
            q_tgt = self.q_min(batch["obs"], batch["chunks"], target=True)
            next_v = self.value(batch["next_obs"])
        v_loss = expectile_loss(q_tgt - self.value(batch["obs"]), self.expectile)
        y = td_target(batch["rewards"], batch["terminated"], next_v, batch["discount"])
        return {"critic_v_loss": v_loss, "critic_q_loss": self.q_loss(batch, y)}
