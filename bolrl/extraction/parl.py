"""`pa-rl`: policy-agnostic RL (Mark et al. 2024): improve the policy's own samples under Q,
then distil the improved actions into the policy by its ordinary supervised loss.

Action optimisation at a state s:
1. global: draw N samples of the policy, keep the k with the highest Q (k = `parl_top_k`);
2. local: `parl_steps` gradient-ascent steps on Q with respect to each kept action,
   a <- clip(a + eta * grad_a Q / ||grad_a Q||, -1, 1), eta = `parl_step_size` (a normalised
   step, so eta is a distance in action units whatever Q's scale; PA-RL's steps are plain
   gradient steps);
3. the action of the k with the highest Q.
Q is the target critic's pessimistic estimate, as best-of-n ranks with.

The policy's loss is its BC loss on (s, a*(s)) for `parl_distill_rows` states of each batch,
every k-th row (a policy batch holds its demonstrations first: a stride keeps their share in
the distilled states as in the batch, and draws no random numbers): the policy itself
learns to produce what the optimisation finds (where best-of-n never changes the policy).
It acts by the same optimisation. The price: N samples of the policy per distilled state, and
k x steps critic gradients (at the paper study's sizes, a step on all 256 states of a batch
trained about 15x slower than the recipe's; 64 states, the default, about 4x).
"""

from __future__ import annotations

import torch

from bolrl.extraction import Extractor, best_of_n


def distilled_rows(batch: int, rows: int) -> slice:
    """`rows` of a batch's `batch` rows spread evenly over it (every k-th, k = batch // rows)."""
    return slice(None, None, max(1, batch // rows)) if rows < batch else slice(None)


def ascend(critic, obs: torch.Tensor, actions: torch.Tensor, steps: int,
           step_size: float) -> torch.Tensor:
    """`steps` normalised gradient-ascent steps on min Q_target(s, a) from `actions` (R, D)."""
    a = actions.detach()
    for _ in range(steps):
        with torch.enable_grad():
            a = a.requires_grad_(True)
            grad, = torch.autograd.grad(critic.q_min(obs, a, target=True).sum(), a)
        direction = grad / grad.norm(dim=-1, keepdim=True).clamp(min=1e-8)
        a = (a.detach() + step_size * direction).clamp(-1.0, 1.0)
    return a.detach()


@torch.no_grad()
def optimise_actions(policy, critic, obs: torch.Tensor, p, g: torch.Generator) -> torch.Tensor:
    """a*(s) per observation, (B, obs_dim) -> (B, D): global then local steps (module doc)."""
    candidates = policy.sample(obs, p.n_samples, g)  # (B, N, D)
    b, n, d = candidates.shape
    q = critic.q_min(obs.repeat_interleave(n, 0), candidates.reshape(b * n, d), target=True)
    k = min(p.parl_top_k, n)
    top = q.view(b, n).topk(k, dim=1).indices
    kept = candidates[torch.arange(b, device=obs.device)[:, None], top]  # (B, k, D)
    obs_k = obs.repeat_interleave(k, 0)
    local = ascend(critic, obs_k, kept.reshape(b * k, d), p.parl_steps, p.parl_step_size)
    q_local = critic.q_min(obs_k, local, target=True).view(b, k)
    return best_of_n(local.view(b, k, d), q_local)


class PARL(Extractor):
    """Settings: extraction.n_samples (N), parl_distill_rows, parl_top_k (k), parl_steps,
    parl_step_size."""

    def policy_loss(self, policy, critic, batch, p, g):
        obs = batch["obs"][distilled_rows(len(batch["obs"]), p.parl_distill_rows)]
        return policy.loss(obs, optimise_actions(policy, critic, obs, p, g), generator=g)

    @torch.no_grad()
    def act(self, policy, critic, obs, p, g):
        return optimise_actions(policy, critic, obs, p, g)
