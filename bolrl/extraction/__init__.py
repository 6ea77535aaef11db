"""The policy-extraction axis (and the imitation baselines): how the policy that acts comes
from the data, and from the Q-function where there is one.

Each extractor says which transitions the policy is trained on, what its training loss is,
and how it acts. Looked up by name in `bolrl.registry` (ALGORITHMS for the imitation
baselines, EXTRACTIONS for Q-function methods), which also says what each one costs. The
policy's labels come with a mask (batch["mask"]) that leaves out chunk actions padded past
an episode's end.

- `bc`          imitation on all data:        L = E[ l_BC(s, a) ]
- `filtered-bc` imitation on successful episodes only (the prior batch online work)
- `awr`         explicit, advantage-weighted:  L = E[ min(exp(beta (Q(s,a) - V(s))), w_max) l_BC ]
- `ddpg-bc`     explicit, Q-maximising with a BC term (TD3+BC; Fujimoto & Gu, 2021):
                L = -alpha Q(s, pi(s)) / mean|Q| + E[ l_BC(s, a) ]
- `best-of-n`   implicit (IDQL): the policy is trained by BC on all data; at action time
                sample N actions and execute argmax_i min(Qbar_1, Qbar_2)(s, a_i)
- `softmax-of-n` implicit and stochastic (IDQL's and DPPO's sampling mode): as best-of-n, but
                execute a_i with probability softmax_i(beta Q(s, a_i)), beta = awr_beta
                (exp(beta Q) is AWR's exp(beta (Q - V)) up to a constant per state)
- `pa-rl`, `expo`, `fql`, `dsrl`: the methods published since the paper, one module each in
                this package (each module's docstring gives its maths).
l_BC is the policy class's own loss (Gaussian NLL, or the denoising loss of diffusion).

An extractor is a torch module: one that owns networks (an edit policy, a one-step actor, a
latent-noise actor, a critic over noise) builds them in `from_config`, returns their losses
from `losses` (the trainer steps one optimizer over its parameters after each policy step, on
the critic's batch), keeps any target networks in `update_target`, and is saved with the
agent. `proposal` is the action distribution of the method for critics whose backup samples
the policy at s' (Q-chunking's): the policy itself unless the method acts otherwise.

Action chunks: with `action_chunk` H > 1 the policy models the next H actions as one vector
(batch["chunks"], (B, H * A)), executed open-loop for H steps, and the critic rates whole
chunks, Q(s, a_{t:t+H}), trained on H-step returns (see bolrl.critics). Every formula above
holds with a = the chunk; with H = 1 the chunk is the action.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bolrl.config import ExtractionTable
from bolrl.critics import Critic
from bolrl.data import Episodes
from bolrl.policies import Policy


def awr_weights(q: torch.Tensor, v: torch.Tensor, beta: float, max_weight: float) -> torch.Tensor:
    """exp(beta * (Q - V)), clipped at max_weight."""
    return torch.exp(beta * (q - v)).clamp(max=max_weight)


def effective_sample_size(w: torch.Tensor) -> float:
    """(sum w)^2 / (n sum w^2) in (0, 1]: 1 when all weights are equal, 1/n when one weight
    carries the batch (Kish's effective sample size, as a share of the batch)."""
    return float(w.sum() ** 2 / (len(w) * w.pow(2).sum()).clamp(min=1e-12))


def best_of_n(candidates: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """The candidate with the highest Q per observation: (B, N, A), (B, N) -> (B, A)."""
    best = q.argmax(dim=1)
    return candidates[torch.arange(candidates.shape[0], device=best.device), best]


class Extractor(nn.Module):
    """The protocol of an extraction method (see the module docstring); the default is BC."""

    @classmethod
    def from_config(cls, obs_dim: int, act_dim: int, cfg) -> Extractor:
        """The extractor of an agent with configuration `cfg` (bolrl.config.AgentConfig), for
        actions (or chunks) of `act_dim`: one that owns networks builds them here, reading its
        own settings (listed in its registry entry)."""
        return cls()

    def policy_transitions(self, data: Episodes) -> np.ndarray:
        """Which transitions of `data` the policy trains on, (T,) bool."""
        return np.ones(data.n_transitions, dtype=bool)

    def policy_loss(self, policy: Policy, critic: Critic | None, batch: dict,
                    p: ExtractionTable, g: torch.Generator) -> torch.Tensor:
        return policy.loss(batch["obs"], batch["chunks"], generator=g, mask=batch.get("mask"))

    def losses(self, policy: Policy, critic: Critic | None, batch: dict, p: ExtractionTable,
               g: torch.Generator) -> dict[str, torch.Tensor]:
        """The losses of the extractor's own networks on a batch (names are row columns),
        summed into one backward pass; none for an extractor without networks."""
        return {}

    def update_target(self) -> None:
        """The Polyak step of the extractor's target networks, if it has any."""

    def proposal(self, policy: Policy, critic: Critic | None, p: ExtractionTable):
        """What a critic that samples the policy at s' samples: an object with
        `sample(obs, n, generator) -> (B, m, act_dim)`."""
        return policy

    @torch.no_grad()
    def diagnostics(self, critic: Critic | None, batch: dict, p: ExtractionTable,
                    policy: Policy | None = None,
                    g: torch.Generator | None = None) -> dict[str, float]:
        """Figures that explain this method's training on a batch (recorded per round);
        `policy` is the acting policy, `g` a random stream of the diagnostics' own."""
        return {}

    @torch.no_grad()
    def act(self, policy: Policy, critic: Critic | None, obs: torch.Tensor,
            p: ExtractionTable, g: torch.Generator) -> torch.Tensor:
        """A chunk of actions per observation, (B, H * act_dim)."""
        return policy.act(obs, g)


class BC(Extractor):
    pass


class FilteredBC(Extractor):
    def policy_transitions(self, data: Episodes) -> np.ndarray:
        return data.transition_success


class AWR(Extractor):
    def policy_loss(self, policy, critic, batch, p, g):
        with torch.no_grad():
            w = self._weights(critic, batch, p)
        return policy.loss(batch["obs"], batch["chunks"], weight=w, generator=g,
                           mask=batch.get("mask"))

    @staticmethod
    def _weights(critic, batch, p):
        q = critic.q_min(batch["obs"], batch["chunks"], target=True)
        return awr_weights(q, critic.value(batch["obs"]), p.awr_beta, p.awr_max_weight)

    @torch.no_grad()
    def diagnostics(self, critic, batch, p, policy=None, g=None):
        return {"awr_ess": effective_sample_size(self._weights(critic, batch, p))}


class DDPGBC(Extractor):
    def policy_loss(self, policy, critic, batch, p, g):
        bc = policy.loss(batch["obs"], batch["chunks"], generator=g, mask=batch.get("mask"))
        q = critic.q_min(batch["obs"], policy.differentiable_action(batch["obs"], g),
                         target=False)
        lam = p.ddpg_alpha / q.abs().mean().detach().clamp(min=1e-6)
        return bc - lam * q.mean()


# the diagnostics score every 16th state of a diagnostic batch (4096 rows: 256 states)
CHOICE_STRIDE = 16


class BestOfN(Extractor):
    @torch.no_grad()
    def act(self, policy, critic, obs, p, g):
        candidates, q = self.scored(policy, critic, obs, p, g)
        return self.choose(candidates, q, p, g)

    @staticmethod
    def scored(policy, critic, obs, p, g) -> tuple[torch.Tensor, torch.Tensor]:
        """N policy samples per observation and the critic's Q of each: (B, N, A), (B, N)."""
        candidates = policy.sample(obs, p.n_samples, g)  # (B, N, H * A)
        b, n, d = candidates.shape
        q = critic.q_min(obs.repeat_interleave(n, 0), candidates.reshape(b * n, d), target=True)
        return candidates, q.view(b, n)

    def choose(self, candidates: torch.Tensor, q: torch.Tensor, p: ExtractionTable,
               g: torch.Generator) -> torch.Tensor:
        """One of N scored candidates per observation: (B, N, A), (B, N) -> (B, A)."""
        return best_of_n(candidates, q)

    def choice_probs(self, q: torch.Tensor, p: ExtractionTable) -> torch.Tensor:
        """The probability of choosing each of N scored candidates, (B, N) -> (B, N)."""
        return torch.nn.functional.one_hot(q.argmax(dim=1), q.shape[1]).to(q.dtype)

    @torch.no_grad()
    def diagnostics(self, critic, batch, p, policy=None, g=None):
        """`choice_q_gain`: what the choice adds by the critic's own measure, at every
        CHOICE_STRIDE-th state of the batch (demonstrations' and autonomous states alike)."""
        if policy is None or critic is None:
            return {}
        _, q = self.scored(policy, critic, batch["obs"][::CHOICE_STRIDE], p, g)
        return {"choice_q_gain": choice_q_gain(q, self.choice_probs(q, p))}


class SoftmaxOfN(BestOfN):
    """Scores N samples as best-of-n does, then draws one by softmax(beta Q)."""

    def choose(self, candidates, q, p, g):
        return softmax_of_n(candidates, q, p.awr_beta, g)

    def choice_probs(self, q, p):
        return softmax_probs(q, p.awr_beta)


def choice_q_gain(q: torch.Tensor, probs: torch.Tensor) -> float:
    """The expected Q of the chosen candidate minus the mean Q of all N, averaged over
    observations, (B, N), (B, N) -> float: 0 for a uniform choice (the policy acting by
    itself), half the candidates' Q spread or so for the argmax."""
    return float(((probs * q).sum(dim=1) - q.mean(dim=1)).mean())


def softmax_probs(q: torch.Tensor, beta: float) -> torch.Tensor:
    """Softmax-of-n's probability of each of N candidates, softmax(beta q): (B, N) -> (B, N)."""
    return torch.softmax(beta * q, dim=1)


def softmax_of_n(candidates: torch.Tensor, q: torch.Tensor, beta: float,
                 g: torch.Generator) -> torch.Tensor:
    """One candidate per observation, drawn with probability softmax(beta q): (B, N, A),
    (B, N) -> (B, A). As beta grows this is best-of-n; beta = 0 picks uniformly."""
    choice = torch.multinomial(softmax_probs(q, beta), 1, generator=g).squeeze(1)
    return candidates[torch.arange(candidates.shape[0], device=choice.device), choice]
