"""Q-chunking's critic (Li, Zhou, Levine 2025): twin Q-functions on action chunks whose target
backs up from the policy's own best-of-N action at the next state, where IQL backs up from an
in-sample expectile V(s'):

    a'_j ~ pi(. | s'),  j = 1..N                    (N = [extraction].n_samples)
    y   = r + gamma^h (1 - d) max_j min_i Qbar_i(s', a'_j)
    L_Q = sum_i E[ (y - Q_i(s, a))^2 ]
    Qbar <- (1 - rho) Qbar + rho Q

The max over N policy samples is the value of acting by best-of-N with this critic, so the
backup and the actor agree (Q-chunking acts that way, with the same N). pi is the policy that
acts (its moving average); its samples are drawn from the trainer's random stream. The critic
learns no V(s), so AWR, which weighs by Q - V, does not combine with it (a study drops that
combination, saying why). Each gradient step samples N actions per transition of the batch
at s' (N x the policy's passes per sample): the price of the backup (`bolrl show` counts it).
"""

from __future__ import annotations

import torch
from torch import nn

from bolrl.config import AgentConfig
from bolrl.critics import TwinQ, td_target


def max_q_backup(q: torch.Tensor) -> torch.Tensor:
    """The next state's value from the Q of N candidate actions: (B, N) -> (B,), the max."""
    return q.max(dim=1).values


class QChunkingCritic(TwinQ):
    """Settings: networks.critic_hidden, networks.critic_layers, critic.target_tau (rho),
    extraction.n_samples (N); critic.gamma enters through the batch's discount."""

    def __init__(self, obs_dim: int, act_dim: int, cfg: AgentConfig):
        super().__init__(obs_dim, act_dim, cfg)
        self.n_samples = cfg.extraction.n_samples
        self._make_target()

    def optimized(self) -> list[nn.Parameter]:
        return list(self.q.parameters())

    def next_value(self, next_obs: torch.Tensor, policy,
                   generator: torch.Generator | None) -> torch.Tensor:
        """max_j min_i Qbar_i(s', a'_j) over N samples a'_j of the policy at s'."""
        candidates = policy.sample(next_obs, self.n_samples, generator)  # (B, N, D)
        b, n, d = candidates.shape
        q = self.q_min(next_obs.repeat_interleave(n, 0), candidates.reshape(b * n, d),
                       target=True)
        return max_q_backup(q.view(b, n))

    def losses(self, batch: dict, policy=None,
               generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """L_Q on a batch of standardised transitions (obs, chunks, rewards, next_obs,
        terminated, discount), its target backed up from the policy's samples at s'."""
        if policy is None:
            raise ValueError("Q-chunking's backup samples the policy: pass it to losses()")
        with torch.no_grad():
            next_q = self.next_value(batch["next_obs"], policy, generator)
        y = td_target(batch["rewards"], batch["terminated"], next_q, batch["discount"])
        return {"critic_q_loss": self.q_loss(batch, y)}
