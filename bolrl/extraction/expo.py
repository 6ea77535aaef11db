"""`expo`: expressive policy optimisation with an edit policy (Dong et al. 2025).

The BC policy (the base) trains by its own loss as in every method. Beside it a small
Gaussian edit policy proposes a bounded correction of a base action,

    a' = clip(a + delta, -1, 1),   delta = beta * tanh(u),  u ~ N(mu(s, a), sigma(s, a)),

beta = `expo_edit_scale`, trained (SAC-style, with a fixed entropy weight alpha =
`actor_entropy`) to raise Q:  L = E[ alpha log pi_edit(delta | s, a) - Q(s, a') ],  a a sample
of the base policy at s, Q the critic's pessimistic online estimate.

On-the-fly selection: to act, draw N base samples, edit each, and execute the candidate of the
2N with the highest Q (the target critic's, as best-of-n ranks). The same 2N candidates are
the proposal for a critic whose backup samples the policy (with the qc critic, EXPO's max-Q
backup). The edit network has the policy's width and depth.
"""

from __future__ import annotations

import torch

from bolrl.extraction import Extractor, best_of_n
from bolrl.nets import SquashedGaussian, frozen


class Edited:
    """The base policy's samples and their edits, as a proposal: `sample` gives 2n."""

    def __init__(self, edit: SquashedGaussian, policy):
        self.edit, self.policy = edit, policy

    def edited(self, obs: torch.Tensor, base: torch.Tensor, generator: torch.Generator):
        """(a', log pi_edit) for base actions a at obs, (B, D) each."""
        delta, log_prob = self.edit(torch.cat([obs, base], dim=-1), generator)
        return (base + delta).clamp(-1.0, 1.0), log_prob

    @torch.no_grad()
    def sample(self, obs: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
        base = self.policy.sample(obs, n, generator)  # (B, n, D)
        b, _, d = base.shape
        edits, _ = self.edited(obs.repeat_interleave(n, 0), base.reshape(b * n, d), generator)
        return torch.cat([base, edits.view(b, n, d)], dim=1)


class EXPO(Extractor):
    """Settings: extraction.n_samples (N), extraction.expo_edit_scale (beta),
    extraction.actor_entropy (alpha); networks.hidden and networks.layers size the edit."""

    @classmethod
    def from_config(cls, obs_dim, act_dim, cfg):
        net = cfg.networks
        return cls(SquashedGaussian(obs_dim + act_dim, act_dim, net.hidden, net.layers,
                                    cfg.extraction.expo_edit_scale))

    def __init__(self, edit: SquashedGaussian):
        super().__init__()
        self.edit = edit

    def losses(self, policy, critic, batch, p, g):
        obs = batch["obs"]
        with torch.no_grad():
            base = policy.sample(obs, 1, g)[:, 0]
        action, log_prob = Edited(self.edit, policy).edited(obs, base, g)
        with frozen(critic):
            q = critic.q_min(obs, action, target=False)
        return {"actor_loss": (p.actor_entropy * log_prob - q).mean()}

    @torch.no_grad()
    def act(self, policy, critic, obs, p, g):
        candidates = Edited(self.edit, policy).sample(obs, p.n_samples, g)  # (B, 2N, D)
        b, m, d = candidates.shape
        q = critic.q_min(obs.repeat_interleave(m, 0), candidates.reshape(b * m, d), target=True)
        return best_of_n(candidates, q.view(b, m))

    @torch.no_grad()
    def diagnostics(self, critic, batch, p, policy=None, g=None):
        """The mean size of the (deterministic) edit of the batch's actions, as a share of its
        bound: 0 when the edit policy leaves the base alone, 1 when it edits to the bound."""
        delta, _ = self.edit(torch.cat([batch["obs"], batch["chunks"]], dim=-1), None,
                             deterministic=True)
        return {"edit_share": float(delta.abs().mean() / self.edit.bound)}

    def proposal(self, policy, critic, p):
        return Edited(self.edit, policy)
