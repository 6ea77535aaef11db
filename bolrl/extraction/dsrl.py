"""`dsrl`: diffusion steering by reinforcement learning in the policy's noise space
(Wagenmaker et al. 2025), the noise-aliased variant (DSRL-NA).

The BC policy trains by its own loss as in every method and is steered, not changed: acting
is a = pi_BC(s, w), the policy's deterministic map from an initial noise w to an action
(`Policy.decode`), with w chosen by a latent-noise actor. Two networks of the extractor's own:

- Q_W(s, w), twin, distilled from the critic through the policy, never differentiating the
  denoising chain:  L_W = sum_i E[ (Q_W,i(s, w) - Q(s, pi_BC(s, w)))^2 ],  with w drawn half
  from N(0, I) and half from the actor (so Q_W is accurate where the actor acts);
- the actor pi_W(w | s) = b * tanh(u), u Gaussian (SAC's), b = `dsrl_noise_bound`, trained to
  maximise Q_W with an entropy bonus of fixed weight alpha = `actor_entropy`:
  L_pi = E[ alpha log pi_W(w | s) - min_i Q_W,i(s, w) ],  w ~ pi_W(. | s).

Acting samples w from the actor (exploration happens in the noise space; in evaluation too,
as every policy here samples, where DSRL's authors evaluate its mean) and decodes it: one
sample of K policy passes per action. The actor's decoded samples are the proposal for a
critic whose backup samples the policy. Both networks have the critic's width and depth.
"""

from __future__ import annotations

import torch

from bolrl.extraction import Extractor
from bolrl.nets import SquashedGaussian, ensemble_mlp, frozen


class NoiseSteered:
    """The steered policy as a proposal: `sample` decodes the actor's noise."""

    def __init__(self, actor: SquashedGaussian, policy):
        self.actor, self.policy = actor, policy

    @torch.no_grad()
    def sample(self, obs: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
        flat = obs.repeat_interleave(n, dim=0)
        w, _ = self.actor(flat, generator)
        return self.policy.decode(flat, w).view(obs.shape[0], n, -1)


class DSRL(Extractor):
    """Settings: extraction.dsrl_noise_bound, extraction.actor_entropy; networks.critic_hidden
    and networks.critic_layers size both networks."""

    @classmethod
    def from_config(cls, obs_dim, act_dim, cfg):
        net = cfg.networks
        actor = SquashedGaussian(obs_dim, act_dim, net.critic_hidden, net.critic_layers,
                                 cfg.extraction.dsrl_noise_bound)
        q_noise = ensemble_mlp(2, obs_dim + act_dim, net.critic_hidden, net.critic_layers, 1)
        return cls(actor, q_noise)

    def __init__(self, actor: SquashedGaussian, q_noise: torch.nn.Module):
        super().__init__()
        self.actor, self.q_noise = actor, q_noise

    def q_w(self, obs: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Both Q_W estimates, (2, B)."""
        return self.q_noise(torch.cat([obs, w], dim=-1).expand(2, -1, -1)).squeeze(-1)

    def losses(self, policy, critic, batch, p, g):
        obs = batch["obs"]
        with torch.no_grad():
            w_actor, _ = self.actor(obs, g)
            w_prior = torch.randn(w_actor.shape, generator=g, device=obs.device)
            w = torch.cat([w_prior, w_actor])
            both = torch.cat([obs, obs])
            target = critic.q_min(both, policy.decode(both, w), target=False)
        distill = (self.q_w(both, w) - target).pow(2).mean(1).sum()
        w_pi, log_prob = self.actor(obs, g)
        with frozen(self.q_noise):
            q = self.q_w(obs, w_pi).min(0).values
        actor = (p.actor_entropy * log_prob - q).mean()
        return {"latent_q_loss": distill, "actor_loss": actor}

    @torch.no_grad()
    def act(self, policy, critic, obs, p, g):
        return NoiseSteered(self.actor, policy).sample(obs, 1, g)[:, 0]

    def proposal(self, policy, critic, p):
        return NoiseSteered(self.actor, policy)
