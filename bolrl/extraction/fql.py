"""`fql`: flow Q-learning's one-step policy (Park, Li, Levine 2025).

The BC policy (flow or diffusion) trains by its own loss as in every method. Beside it a
one-step policy mu_w(s, z) maps noise z ~ N(0, I) straight to an action, trained to raise Q
while staying near the BC policy's action for the same noise:

    L(w) = -Q(s, mu_w(s, z)) / mean|Q|  +  alpha * E[ ||mu_w(s, z) - pi_BC(s, z)||^2 ]

pi_BC(s, z) is the BC policy's deterministic map from its initial noise to an action
(`Policy.decode`: the flow's Euler steps, DDIM for diffusion), never differentiated: no
gradient runs through the denoising chain. Q is the critic's pessimistic online estimate;
the Q term is divided by its batch mean |Q| (detached), as FQL's authors advise, so that alpha
(`fql_alpha`) weighs the two terms on a fixed scale. The one-step policy acts (one network
pass per action); it is the acting policy's proposal for a critic whose backup samples the
policy. Its network has the policy's width and depth.
"""

from __future__ import annotations

import torch

from bolrl.extraction import Extractor
from bolrl.nets import frozen, mlp


def fql_loss(q: torch.Tensor, action: torch.Tensor, teacher: torch.Tensor,
             alpha: float) -> torch.Tensor:
    """-mean Q / mean|Q| + alpha * mean squared distance to the teacher's action (`action`
    unclipped; Q rates it clipped to the box, as FQL's authors do)."""
    lam = 1.0 / q.abs().mean().detach().clamp(min=1e-6)
    return -lam * q.mean() + alpha * (action - teacher).pow(2).mean()


class OneStep(torch.nn.Module):
    """mu_w(s, z); `forward` clips it to the action box (what acts and what Q rates), `raw`
    does not (what is distilled: a clipped output past the box would get no gradient back);
    `sample` draws z (the proposal protocol)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int, layers: int):
        super().__init__()
        self.act_dim = act_dim
        self.net = mlp(obs_dim + act_dim, hidden, layers, act_dim)

    def raw(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs, z], dim=-1))

    def forward(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.raw(obs, z).clamp(-1.0, 1.0)

    def noise(self, rows: int, generator: torch.Generator, device) -> torch.Tensor:
        return torch.randn((rows, self.act_dim), generator=generator, device=device)

    def sample(self, obs: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
        flat = obs.repeat_interleave(n, dim=0)
        out = self(flat, self.noise(len(flat), generator, obs.device))
        return out.view(obs.shape[0], n, self.act_dim)


class FQL(Extractor):
    """Settings: extraction.fql_alpha; networks.hidden and networks.layers size mu_w."""

    @classmethod
    def from_config(cls, obs_dim, act_dim, cfg):
        return cls(OneStep(obs_dim, act_dim, cfg.networks.hidden, cfg.networks.layers))

    def __init__(self, actor: OneStep):
        super().__init__()
        self.actor = actor

    def losses(self, policy, critic, batch, p, g):
        obs = batch["obs"]
        z = self.actor.noise(len(obs), g, obs.device)
        with torch.no_grad():
            teacher = policy.decode(obs, z)
        raw = self.actor.raw(obs, z)
        with frozen(critic):
            q = critic.q_min(obs, raw.clamp(-1.0, 1.0), target=False)
        return {"actor_loss": fql_loss(q, raw, teacher, p.fql_alpha)}

    @torch.no_grad()
    def act(self, policy, critic, obs, p, g):
        return self.actor(obs, self.actor.noise(len(obs), g, obs.device))

    def proposal(self, policy, critic, p):
        return self.actor
