"""The agent: one cell's policy (and critic), trained on a dataset and acting on observations.

`Agent.train_base(demos, steps)` trains the base policy (round 0): behaviour cloning on the
demonstrations, the same for every method, as in the paper: all methods of a (task, seed,
policy class) start from one identical base policy, and a critic first trains in round 1, on
demonstrations and autonomous data together (on demonstrations alone, all successes, it would
learn nothing that ranks actions). Until then a best-of-N agent acts with the policy alone.
`Agent.train(data, steps)` runs `steps` gradient steps on uniformly sampled transitions. Each
step updates the IQL critic (when the extraction needs one; V and Q, then the Polyak target)
and then the policy with its extractor's loss. Networks and optimizers persist across rounds
(warm start) unless `warm_start = false`, in which case each round re-initialises them.
`Agent.act(obs)` returns the actions the extractor chooses, without exploration noise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from bolrl.critics import IQLCritic
from bolrl.data import Episodes
from bolrl.extraction import EXTRACTORS, ExtractionParams
from bolrl.nets import Normalizer, seeded
from bolrl.policies import POLICIES

ALGORITHMS = ("bc", "filtered-bc", "iql")


class NonFiniteLoss(RuntimeError):
    """A training loss became NaN or infinite."""

    def __init__(self, name: str, value: float, step: int):
        super().__init__(f"{name} loss became {value} at gradient step {step}")
        self.name, self.value, self.step = name, value, step


@dataclass(frozen=True)
class AgentConfig:
    algorithm: str = "iql"  # bc | filtered-bc | iql
    extraction: str = "best-of-n"  # none (imitation) | awr | ddpg-bc | best-of-n
    policy: str = "diffusion"  # gaussian | diffusion
    hidden: int = 256
    layers: int = 3
    critic_hidden: int = 256
    critic_layers: int = 2
    diffusion_steps: int = 10
    lr: float = 3e-4
    batch_size: int = 256
    gamma: float = 0.99
    expectile: float = 0.8
    target_tau: float = 0.005
    awr_beta: float = 3.0
    awr_max_weight: float = 100.0
    ddpg_alpha: float = 2.5
    n_samples: int = 32
    action_chunk: int = 1  # actions per policy query, executed open-loop (1: per-step)
    warm_start: bool = True

    @property
    def extractor_name(self) -> str:
        return self.algorithm if self.algorithm != "iql" else self.extraction


def _chunk_index(data: Episodes, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices t + j (j < H) clipped to the episode's last transition, and their validity."""
    t = np.arange(data.n_transitions)
    last = np.flatnonzero(data.ends)[data.episode_index]
    raw = t[:, None] + np.arange(chunk)[None]
    return np.minimum(raw, last[:, None]), raw <= last[:, None]


def action_chunks(data: Episodes, chunk: int) -> np.ndarray:
    """For each transition t, the actions a_t .. a_{t+H-1} of its episode, the episode's last
    action repeated past its end: (T, H * act_dim)."""
    idx, _ = _chunk_index(data, chunk)
    return data.actions[idx].reshape(data.n_transitions, -1)


def chunk_returns(data: Episodes, chunk: int, gamma: float) -> dict[str, np.ndarray]:
    """The H-step view of each transition t, for a critic of action chunks:
        return    R_t = sum_{j < h} gamma^j r_{t+j},  h = min(H, steps left in the episode)
        next_obs  s_{t+h}, terminated: the episode ended in success within the chunk,
        discount  gamma^h (the bootstrap factor of V(s_{t+h}) unless terminated).
    With H = 1 this is the transition itself (r_t, s_{t+1}, d_t, gamma)."""
    idx, valid = _chunk_index(data, chunk)
    weights = (gamma ** np.arange(chunk))[None] * valid
    h = valid.sum(axis=1)
    end = idx[np.arange(data.n_transitions), h - 1]
    return {
        "returns": (data.rewards[idx] * weights).sum(axis=1).astype(np.float32),
        "next_obs": data.next_obs[end],
        "terminated": data.terminated[end],
        "discount": (gamma ** h).astype(np.float32),
    }


def _tensors(data: Episodes, normalize: Normalizer, chunk: int,
             gamma: float) -> dict[str, torch.Tensor]:
    """The training tensors: observations standardised once; per-step actions, action
    chunks and their H-step returns (identical to the plain transition when H = 1)."""
    view = chunk_returns(data, chunk, gamma)
    with torch.no_grad():
        actions = torch.as_tensor(data.actions)
        return {
            "obs": normalize(torch.as_tensor(data.obs)),
            "next_obs": normalize(torch.as_tensor(view["next_obs"])),
            "actions": actions,
            "chunks": actions if chunk == 1 else torch.as_tensor(action_chunks(data, chunk)),
            "rewards": torch.as_tensor(view["returns"]),
            "discount": torch.as_tensor(view["discount"]),
            "terminated": torch.as_tensor(view["terminated"], dtype=torch.float32),
        }


def _check(name: str, loss: torch.Tensor, step: int) -> None:
    value = float(loss.detach())
    if not math.isfinite(value):
        raise NonFiniteLoss(name, value, step)


class Agent:
    def __init__(self, cfg: AgentConfig, obs_dim: int, act_dim: int, seed: int):
        if cfg.extractor_name not in EXTRACTORS:
            raise ValueError(
                f"no extraction {cfg.extractor_name!r} for algorithm {cfg.algorithm!r}"
            )
        self.cfg, self.obs_dim, self.act_dim, self.seed = cfg, obs_dim, act_dim, seed
        self.extractor = EXTRACTORS[cfg.extractor_name]
        self.params = ExtractionParams(cfg.awr_beta, cfg.awr_max_weight, cfg.ddpg_alpha,
                                       cfg.n_samples)
        self.generator = torch.Generator().manual_seed(seed)
        self.normalize = Normalizer(obs_dim)
        self.rounds_trained = 0
        self.critic_trained = False
        self._build(seed)

    def _build(self, seed: int) -> None:
        cfg = self.cfg
        with seeded(seed):
            self.policy = POLICIES[cfg.policy](
                self.obs_dim, self.act_dim * cfg.action_chunk, hidden=cfg.hidden, layers=cfg.layers,
                diffusion_steps=cfg.diffusion_steps,
            )
            self.critic = (
                IQLCritic(self.obs_dim, self.act_dim * cfg.action_chunk, cfg.critic_hidden,
                          cfg.critic_layers)
                if self.extractor.needs_critic else None
            )
        self.policy_opt = torch.optim.Adam(self.policy.parameters(), lr=cfg.lr, fused=True)
        self.critic_opt = (
            torch.optim.Adam(
                [*self.critic.q.parameters(), *self.critic.v.parameters()], lr=cfg.lr, fused=True
            )
            if self.critic is not None else None
        )

    def train_base(self, demos: Episodes, steps: int) -> dict[str, float]:
        """Round 0: the base policy, behaviour cloning on the demonstrations (no critic)."""
        return self._train(demos, steps, EXTRACTORS["bc"], critic=None)

    def train(self, data: Episodes, steps: int) -> dict[str, float]:
        """`steps` gradient steps of this agent's method on `data`; returns mean losses over
        the last tenth of them."""
        out = self._train(data, steps, self.extractor, self.critic)
        self.critic_trained = self.critic is not None
        return out

    def _train(self, data: Episodes, steps: int, extractor, critic) -> dict[str, float]:
        cfg, g = self.cfg, self.generator
        if self.rounds_trained > 0 and not cfg.warm_start:
            self._build(self.seed + 7919 * self.rounds_trained)
            self.critic_trained = False
            critic = self.critic if critic is not None else None
        self.normalize.fit(data.obs)
        all_data = _tensors(data, self.normalize, cfg.action_chunk, cfg.gamma)
        policy_source = extractor.policy_data(data)
        pol_data = (all_data if policy_source is data
                    else _tensors(policy_source, self.normalize, cfg.action_chunk, cfg.gamma))
        n_all, n_pol = len(data.rewards), len(policy_source.rewards)
        tail = max(1, steps // 10)
        sums = {"policy_loss": 0.0, "critic_q_loss": 0.0, "critic_v_loss": 0.0, "q_mean": 0.0}
        separate_policy_data = pol_data is not all_data
        for step in range(steps):
            # One batch serves critic and policy; a policy with data of its own (filtered BC)
            # draws only its own, so that with the same data it trains exactly as BC does.
            if critic is not None or not separate_policy_data:
                idx = torch.randint(n_all, (cfg.batch_size,), generator=g)
                batch = {k: v[idx] for k, v in all_data.items()}
            if critic is not None:
                v_loss, q_loss = critic.losses(batch, cfg.expectile)
                _check("critic", v_loss + q_loss, step)
                self.critic_opt.zero_grad(set_to_none=True)
                (v_loss + q_loss).backward()
                self.critic_opt.step()
                critic.update_target(cfg.target_tau)
            if separate_policy_data:
                pidx = torch.randint(n_pol, (cfg.batch_size,), generator=g)
                batch = {k: v[pidx] for k, v in pol_data.items()}
            p_loss = extractor.policy_loss(self.policy, critic, batch, self.params, g)
            _check("policy", p_loss, step)
            self.policy_opt.zero_grad(set_to_none=True)
            p_loss.backward()
            self.policy_opt.step()
            if step >= steps - tail:
                sums["policy_loss"] += float(p_loss.detach())
                if critic is not None:
                    sums["critic_q_loss"] += float(q_loss.detach())
                    sums["critic_v_loss"] += float(v_loss.detach())
                    with torch.no_grad():
                        q = critic.q_min(batch["obs"], batch["chunks"])
                        sums["q_mean"] += float(q.mean())
        self.rounds_trained += 1
        out = {k: v / tail for k, v in sums.items()}
        if critic is None:
            for k in ("critic_q_loss", "critic_v_loss", "q_mean"):
                out[k] = float("nan")
        return out

    @torch.no_grad()
    def plan(self, obs: np.ndarray) -> np.ndarray:
        """A chunk of actions per observation, (B, obs_dim) -> (B, H, act_dim), no noise."""
        obs_t = self.normalize(torch.as_tensor(obs, dtype=torch.float32))
        base = self.critic is not None and not self.critic_trained
        extractor = EXTRACTORS["bc"] if base else self.extractor
        chunk = extractor.act(self.policy, self.critic, obs_t, self.params, self.generator)
        return chunk.numpy().reshape(len(obs), self.cfg.action_chunk, self.act_dim)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """The next action for each observation, (B, obs_dim) -> (B, act_dim), no noise (the
        first of the chunk when chunks are longer than one)."""
        return self.plan(obs)[:, 0]

    def state_dict(self) -> dict:
        state = {
            "config": asdict(self.cfg),
            "normalize": self.normalize.state_dict(),
            "policy": self.policy.state_dict(),
            "policy_opt": self.policy_opt.state_dict(),
            "generator": self.generator.get_state(),
            "rounds_trained": self.rounds_trained,
            "critic_trained": self.critic_trained,
        }
        if self.critic is not None:
            state["critic"] = self.critic.state_dict()
            state["critic_opt"] = self.critic_opt.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.rounds_trained = state["rounds_trained"]
        self.critic_trained = state["critic_trained"]
        if self.rounds_trained > 0 and not self.cfg.warm_start:
            self._build(self.seed + 7919 * (self.rounds_trained - 1))
        self.normalize.load_state_dict(state["normalize"])
        self.policy.load_state_dict(state["policy"])
        self.policy_opt.load_state_dict(state["policy_opt"])
        self.generator.set_state(state["generator"])
        if self.critic is not None:
            self.critic.load_state_dict(state["critic"])
            self.critic_opt.load_state_dict(state["critic_opt"])
