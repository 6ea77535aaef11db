"""`flow`: a flow-matching policy over actions (rectified flow / conditional flow matching;
Lipman et al. 2023, Liu et al. 2023), as FQL's behaviour policy.

A straight path from noise to the action, a_t = (1 - t) a_0 + t a_1 with a_0 ~ N(0, I) and
a_1 the demonstrated action, t ~ U(0, 1); the network learns its velocity:
    L = E[ w * || v_theta(s, a_t, t) - (a_1 - a_0) ||^2 ].
Sampling integrates da/dt = v_theta(s, a, t) from t = 0 to 1 with K Euler steps (K is
`[networks].diffusion_steps`, the number of network passes per sample of an iterative policy),
then clips to [-1, 1]. Given its initial noise a_0 (`sample(..., noise=)`), sampling is
deterministic: the map from noise to action that noise-steering methods (DSRL) act through.

The velocity network is the diffusion policy's (`[networks].denoiser`: `mlp` or IDQL's
`resnet`), on [s, a_t, emb(t)], emb a sinusoidal embedding of t in units of the K steps.
"""

from __future__ import annotations

import torch

from bolrl.config import DENOISERS
from bolrl.nets import ResidualMLP, mlp, sinusoidal_embedding
from bolrl.policies.base import Policy, masked_mean, weighted_mean

TIME_EMBEDDING = 16


class FlowPolicy(Policy):
    @classmethod
    def from_config(cls, obs_dim: int, act_dim: int, cfg) -> FlowPolicy:
        net = cfg.networks
        return cls(obs_dim, act_dim, hidden=net.hidden, layers=net.layers,
                   diffusion_steps=net.diffusion_steps, denoiser=net.denoiser)

    def __init__(self, obs_dim: int, act_dim: int, hidden: int, layers: int,
                 diffusion_steps: int, denoiser: str = "mlp", **_):
        super().__init__()
        self.act_dim, self.steps = act_dim, diffusion_steps
        in_dim = obs_dim + act_dim + TIME_EMBEDDING
        if denoiser not in DENOISERS:
            raise ValueError(f"unknown denoiser {denoiser!r}; allowed: {', '.join(DENOISERS)}")
        self.net = (mlp(in_dim, hidden, layers, act_dim) if denoiser == "mlp"
                    else ResidualMLP(in_dim, hidden, layers, act_dim))

    def velocity(self, obs: torch.Tensor, a_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """v_theta(s, a_t, t) for t in [0, 1], (B,) -> (B, act_dim)."""
        emb = sinusoidal_embedding(t * self.steps, TIME_EMBEDDING, max_period=4.0 * self.steps)
        return self.net(torch.cat([obs, a_t, emb], dim=-1))

    def loss(self, obs, act, weight=None, generator=None, mask=None):
        noise = torch.randn(act.shape, generator=generator, device=obs.device)
        t = torch.rand((obs.shape[0],), generator=generator, device=obs.device)
        a_t = (1.0 - t[:, None]) * noise + t[:, None] * act
        per_sample = masked_mean((self.velocity(obs, a_t, t) - (act - noise)).pow(2), mask)
        return weighted_mean(per_sample, weight)

    def _integrate(self, obs: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        dt = 1.0 / self.steps
        for k in range(self.steps):
            t = torch.full((obs.shape[0],), k * dt, device=obs.device)
            a = a + dt * self.velocity(obs, a, t)
        return a.clamp(-1.0, 1.0)

    def _noise(self, obs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return torch.randn((obs.shape[0], self.act_dim), generator=generator, device=obs.device)

    def sample(self, obs, n, generator, noise=None):
        flat = obs.repeat_interleave(n, dim=0)
        start = self._noise(flat, generator) if noise is None else noise.reshape(-1, self.act_dim)
        return self._integrate(flat, start).view(obs.shape[0], n, self.act_dim)

    def decode(self, obs, noise):
        return self._integrate(obs, noise)

    def act(self, obs, generator):
        return self._integrate(obs, self._noise(obs, generator))

    def differentiable_action(self, obs, generator):
        """A sample with gradients through the Euler steps (ddpg-bc)."""
        return self._integrate(obs, self._noise(obs, generator))
