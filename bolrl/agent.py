"""The agent: one cell's policy (and critic), trained on a dataset and acting on observations.

`Agent.train_base(demos, steps)` trains round 0: the base policy pi0 by behaviour cloning on
the demonstrations, the same for every method, as in the paper (all methods of a (task, seed,
policy class) start from one identical base policy), and, for Q-function methods with
`critic_round0`, the critic Q0 on the demonstrations (the paper's Algorithm 1), from a random
stream of its own so that pi0 and its evaluation stay identical across methods. An implicit
method acts with Q0 from round 0 on; without Q0 it acts with the policy alone until its critic
has trained in round 1.

`Agent.train(demos, autonomous, steps)` runs `steps` gradient steps of the method's parts
(`bolrl.trainer`, which names no algorithm): the critic of a Q-function method, the policy by
its extractor's loss, and the extractor's own networks where it has any (an extractor with
networks acts only once they have trained). With action chunks of H, the policy's labels from
autonomous episodes are, with `chunk_labels = "aligned"`, only the chunks the agent actually
planned (t = 0, H, 2H, ...). Networks and optimizers persist across rounds (warm start) unless
`warm_start = false`, in which case each round re-initialises them.

`Agent.act(obs)` returns the actions the extractor chooses, without exploration noise.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict

import numpy as np
import torch

from bolrl.config import AgentConfig
from bolrl.data import Episodes, batch_demo_share, mixed_batch, plan_aligned
from bolrl.extraction import BC, Extractor
from bolrl.nets import Normalizer, seeded
from bolrl.policies import POLICIES
from bolrl.registry import ALGORITHMS, EXTRACTIONS
from bolrl.trainer import (  # noqa: F401  (NonFiniteLoss, cosine_lr: re-exported)
    NonFiniteLoss,
    Parts,
    Pools,
    Trainer,
    cosine_lr,
    policy_pools,
    tail_columns,
    take,
    training_tensors,
)

BASE_EXTRACTOR = BC()  # round 0: behaviour cloning on the demonstrations, for every method
CRITIC_ROUND0_STREAM = 104_729  # the random stream of Q0's training (pi0's is the agent's own)
DIAGNOSTIC_STREAM = 15_485_863  # batches drawn for diagnostics only, never for training
DIAGNOSTIC_ROWS = 4096


def extractor_class(cfg: AgentConfig) -> type[Extractor]:
    """The policy extractor of a method: imitation algorithms are their own; a Q-function
    method names one on the extraction axis."""
    algorithm = ALGORITHMS[cfg.method.algorithm]
    if algorithm.imitation:
        return algorithm.load()
    if cfg.method.extraction not in EXTRACTIONS:
        raise ValueError(f"no extraction {cfg.method.extraction!r} for algorithm "
                         f"{cfg.method.algorithm!r}")
    return EXTRACTIONS[cfg.method.extraction].load()


def torch_device(name: str) -> torch.device:
    """The device a setting names: cpu, cuda, cuda:N, or auto (cuda when torch sees a GPU).
    A ValueError says when the named device is not there."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r}: torch sees no CUDA GPU on this machine (use "
                             f"cpu or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: this machine has {torch.cuda.device_count()} "
                             f"CUDA device(s)")
    return device


class Agent:
    def __init__(self, cfg: AgentConfig, obs_dim: int, act_dim: int, seed: int,
                 unitless_features: tuple[int, ...] = ()):
        self.cfg, self.obs_dim, self.act_dim, self.seed = cfg, obs_dim, act_dim, seed
        self.device = torch_device(cfg.train.device)
        self.params = cfg.extraction
        self.generator = self._generator(seed)
        floor = np.full(obs_dim, cfg.train.obs_std_floor, dtype=np.float32)
        floor[list(unitless_features)] = cfg.train.obs_std_floor_unitless
        self.normalize = Normalizer(obs_dim, clip=cfg.train.obs_clip,
                                    std_floor=floor).to(self.device)
        self.rounds_trained = 0
        self.critic_trained = False
        self.extractor_trained = False  # its own networks, where it has any
        # called every `hook_every` gradient steps of a train() call with (steps so far in the
        # call, losses): what a tracker plots (bolrl.trackers); it never changes the training
        self.step_hook: Callable[[int, dict[str, float]], None] | None = None
        self.hook_every = 50
        self._build(seed)

    @property
    def chunk(self) -> int:
        return self.cfg.networks.action_chunk

    def _generator(self, seed: int) -> torch.Generator:
        """A random stream on the agent's device (on the CPU, the one torch.Generator() is)."""
        return torch.Generator(device=self.device).manual_seed(seed)

    def _build(self, seed: int) -> None:
        net, algorithm = self.cfg.networks, ALGORITHMS[self.cfg.method.algorithm]
        with seeded(seed):
            self.policy = POLICIES[self.cfg.method.policy].from_config(
                self.obs_dim, self.act_dim * net.action_chunk, self.cfg)
            self.critic = (algorithm.load()(self.obs_dim, self.act_dim * net.action_chunk,
                                            self.cfg)
                           if algorithm.needs_critic else None)
            self.extractor = extractor_class(self.cfg).from_config(
                self.obs_dim, self.act_dim * net.action_chunk, self.cfg)
        # initialised on the CPU from the seed, then moved: the same weights on every device
        self.policy.to(self.device)
        self.extractor.to(self.device)
        if self.critic is not None:
            self.critic.to(self.device)
        self.policy_ema = (copy.deepcopy(self.policy).requires_grad_(False)
                           if self.cfg.train.ema > 0 else None)
        lr = self.cfg.train.lr
        self.policy_opt = torch.optim.Adam(self.policy.parameters(), lr=lr, fused=True)
        self.critic_opt = (torch.optim.Adam(self.critic.optimized(), lr=lr, fused=True)
                           if self.critic is not None else None)
        own = [q for q in self.extractor.parameters() if q.requires_grad]
        self.extractor_opt = torch.optim.Adam(own, lr=lr, fused=True) if own else None

    @property
    def acting_policy(self):
        """The policy that acts: the moving average of the weights when there is one."""
        return self.policy_ema if self.policy_ema is not None else self.policy

    def train_base(self, demos: Episodes, steps: int) -> dict[str, float]:
        """Round 0: the base policy, behaviour cloning on the demonstrations; then Q0 on the
        demonstrations if this is a Q-function method with `critic_round0`."""
        out = self.train_base_policy(demos, steps)
        if self.critic is not None and self.cfg.train.critic_round0:
            out.update(self.train_base_critic(demos, steps))
        return out

    def train_base_policy(self, demos: Episodes, steps: int) -> dict[str, float]:
        """pi0: behaviour cloning on the demonstrations, the same for every method."""
        empty = Episodes.empty(self.obs_dim, self.act_dim)
        out = self._train(demos, empty, steps, "base", self.generator)
        return {k: v for k, v in out.items() if not k.startswith(("critic", "q_"))}

    def train_base_critic(self, demos: Episodes, steps: int) -> dict[str, float]:
        """Q0: the critic alone on the demonstrations, from a random stream of its own (pi0
        and its evaluation stay the same as every other method's)."""
        g = self._generator(self.seed + CRITIC_ROUND0_STREAM)
        empty = Episodes.empty(self.obs_dim, self.act_dim)
        out = self._train(demos, empty, steps, "critic", g)
        self.critic_trained = True
        return {k: v for k, v in out.items() if k.startswith(("critic", "q_"))}

    def train(self, demos: Episodes, autonomous: Episodes, steps: int) -> dict[str, float]:
        """`steps` gradient steps of this agent's method on the demonstrations and the
        autonomous episodes; returns mean losses over the last tenth of them and diagnostics."""
        out = self._train(demos, autonomous, steps, "method", self.generator)
        self.critic_trained = self.critic is not None
        self.extractor_trained = self.extractor_opt is not None
        return out

    def _policy_pools(self, data: Episodes, n_demo: int,
                      extractor) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices of the policy's training transitions among the demonstrations and among the
        autonomous episodes."""
        keep = extractor.policy_transitions(data)
        if self.cfg.train.chunk_labels == "aligned":
            is_demo = np.arange(data.n_transitions) < n_demo
            keep = keep & (is_demo | plan_aligned(data, self.chunk))
        return policy_pools(keep, n_demo, self.device)

    def _parts(self, what: str) -> Parts:
        """What a train() call updates: "base" (pi0 by BC), "critic" (Q0 alone) or "method"
        (critic, policy and the extractor's own networks)."""
        parts = Parts(self.policy, self.policy_opt, self.policy_ema)
        if what in ("critic", "method"):
            parts.critic, parts.critic_opt = self.critic, self.critic_opt
        if what == "base":
            parts.extractor = BASE_EXTRACTOR
        elif what == "method":
            parts.extractor, parts.extractor_opt = self.extractor, self.extractor_opt
        return parts

    def _train(self, demos: Episodes, autonomous: Episodes, steps: int, what: str,
               g: torch.Generator) -> dict[str, float]:
        cfg = self.cfg.train
        if self.rounds_trained > 0 and not cfg.warm_start and what != "critic":
            self._build(self.seed + 7919 * self.rounds_trained)
            self.critic_trained = self.extractor_trained = False
        parts = self._parts(what)
        self.normalize.fit(demos.obs)
        data = demos + autonomous
        n_demo = demos.n_transitions
        tensors = training_tensors(data, self.normalize, self.chunk, self.cfg.critic.gamma)
        everything = torch.arange(data.n_transitions, device=self.device)
        critic_pools = (everything[:n_demo], everything[n_demo:])
        pools = Pools(critic_pools, critic_pools if parts.extractor is None else
                      self._policy_pools(data, n_demo, parts.extractor))
        trainer = Trainer(cfg, self.params, self.step_hook, self.hook_every)
        sums, critic_losses = trainer.run(parts, tensors, pools, n_demo, steps, g)
        if parts.extractor is not None:
            self.rounds_trained += 1
        out = tail_columns(sums, critic_losses, parts.critic is not None,
                           parts.extractor is not None)
        out.update(self._diagnostics(data, n_demo, tensors, pools.policy, parts.extractor,
                                     parts.critic))
        return out

    @torch.no_grad()
    def _diagnostics(self, data: Episodes, n_demo: int, tensors: dict, policy_pools,
                     extractor, critic) -> dict[str, float]:
        """Figures that explain a round: the demonstrations' share of the policy's data and
        batches, the share of observations clipped by the standardisation, AWR's effective
        sample size, and Q on transitions of successful vs failed autonomous episodes."""
        n_pol_demo, n_pol_auto = len(policy_pools[0]), len(policy_pools[1])
        out = {
            "demo_share_data": n_pol_demo / max(n_pol_demo + n_pol_auto, 1),
            "demo_share_batch": batch_demo_share(n_pol_demo, n_pol_auto,
                                                 self.cfg.train.demo_fraction),
            "obs_clipped_share": self.normalize.clipped_share(
                torch.as_tensor(data.obs, device=self.device)),
            "q_success": float("nan"),
            "q_failure": float("nan"),
        }
        g = self._generator(self.seed + DIAGNOSTIC_STREAM)
        if extractor is not None and critic is not None:
            idx = mixed_batch(*policy_pools, DIAGNOSTIC_ROWS, self.cfg.train.demo_fraction, g)
            out.update(extractor.diagnostics(critic, take(tensors, idx), self.params,
                                             self.acting_policy, g))
        if critic is not None and data.n_transitions > n_demo:
            q = critic.q_min(tensors["obs"][n_demo:], tensors["chunks"][n_demo:]).cpu().numpy()
            success = data.transition_success[n_demo:]
            for key, rows in (("q_success", success), ("q_failure", ~success)):
                if rows.any():
                    out[key] = float(q[rows].mean())
        return out

    @torch.no_grad()
    def policy_loss_on(self, data: Episodes) -> float:
        """The policy's behaviour-cloning loss on `data` (say, a round's new episodes before
        training on them), on at most DIAGNOSTIC_ROWS transitions, with the same label view
        and masks as training, from a random stream of its own."""
        if data.n_transitions == 0 or not bool(self.normalize.fitted):
            return float("nan")
        tensors = training_tensors(data, self.normalize, self.chunk, self.cfg.critic.gamma)
        rows = np.ones(data.n_transitions, dtype=bool)
        if self.cfg.train.chunk_labels == "aligned":
            rows = plan_aligned(data, self.chunk)
        g = self._generator(self.seed + DIAGNOSTIC_STREAM)
        idx = torch.as_tensor(np.flatnonzero(rows), device=self.device)
        idx = idx[torch.randperm(len(idx), generator=g, device=self.device)[:DIAGNOSTIC_ROWS]]
        batch = take(tensors, idx)
        return float(self.policy.loss(batch["obs"], batch["chunks"], generator=g,
                                      mask=batch.get("mask")))

    @torch.no_grad()
    def plan(self, obs: np.ndarray) -> np.ndarray:
        """A chunk of actions per observation, (B, obs_dim) -> (B, H, act_dim), no noise."""
        obs_t = self.normalize(torch.as_tensor(obs, dtype=torch.float32, device=self.device))
        untrained = ((self.critic is not None and not self.critic_trained)
                     or (self.extractor_opt is not None and not self.extractor_trained))
        extractor = BASE_EXTRACTOR if untrained else self.extractor
        chunk = extractor.act(self.acting_policy, self.critic, obs_t, self.params,
                              self.generator)
        return chunk.cpu().numpy().reshape(len(obs), self.chunk, self.act_dim)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """The next action for each observation, (B, obs_dim) -> (B, act_dim), no noise (the
        first of the chunk when chunks are longer than one)."""
        return self.plan(obs)[:, 0]

    def base_policy_state(self) -> dict:
        """The policy side of the agent: what pi0's training changes."""
        state = {
            "config": asdict(self.cfg),
            "normalize": self.normalize.state_dict(),
            "policy": self.policy.state_dict(),
            "policy_opt": self.policy_opt.state_dict(),
            "generator": self.generator.get_state(),
            "rounds_trained": self.rounds_trained,
        }
        if self.policy_ema is not None:
            state["policy_ema"] = self.policy_ema.state_dict()
        return state

    def load_base_policy_state(self, state: dict) -> None:
        self.rounds_trained = state["rounds_trained"]
        if self.rounds_trained > 0 and not self.cfg.train.warm_start:
            self._build(self.seed + 7919 * (self.rounds_trained - 1))
        self.normalize.load_state_dict(state["normalize"])
        self.policy.load_state_dict(state["policy"])
        self.policy_opt.load_state_dict(state["policy_opt"])
        self.generator.set_state(state["generator"])
        if self.policy_ema is not None:
            self.policy_ema.load_state_dict(state["policy_ema"])

    def critic_state(self) -> dict:
        return {"critic": self.critic.state_dict(), "critic_opt": self.critic_opt.state_dict(),
                "critic_trained": self.critic_trained}

    def load_critic_state(self, state: dict) -> None:
        self.critic.load_state_dict(state["critic"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self.critic_trained = state["critic_trained"]

    def state_dict(self) -> dict:
        state = self.base_policy_state()
        if self.critic is not None:
            state.update(self.critic_state())
        else:
            state["critic_trained"] = self.critic_trained
        if self.extractor_opt is not None:  # an extractor with networks of its own
            state.update(extractor=self.extractor.state_dict(),
                         extractor_opt=self.extractor_opt.state_dict(),
                         extractor_trained=self.extractor_trained)
        return state

    def acting_state(self) -> dict:
        """What acting needs, without the optimizers' states: the normalizer, the acting policy
        (its moving average where there is one), the critic (best-of-N acts with it) and the
        sampling generator. Kept per round (`bolrl eval`): about 1 MB at the paper study's
        sizes."""
        training_only = {"policy_opt", "critic_opt", "extractor_opt"}
        if self.policy_ema is not None:  # the average acts; the trained weights do not
            training_only.add("policy")
        return {k: v for k, v in self.state_dict().items() if k not in training_only}

    def load_acting_state(self, state: dict) -> None:
        """An `acting_state` loaded; the optimizers stay as built (acting never reads them)."""
        self.load_state_dict({**self.state_dict(), **state})

    def load_state_dict(self, state: dict) -> None:
        self.load_base_policy_state(state)
        if self.critic is not None:
            self.load_critic_state(state)
        self.critic_trained = state["critic_trained"]
        if self.extractor_opt is not None:
            self.extractor.load_state_dict(state["extractor"])
            self.extractor_opt.load_state_dict(state["extractor_opt"])
            self.extractor_trained = state["extractor_trained"]
