"""The agent: one cell's policy (and critic), trained on a dataset and acting on observations.

`Agent.train_base(demos, steps)` trains round 0: the base policy pi0 by behaviour cloning on
the demonstrations, the same for every method, as in the paper (all methods of a (task, seed,
policy class) start from one identical base policy), and, for Q-function methods with
`critic_round0`, the critic Q0 on the demonstrations (the paper's Algorithm 1), from a random
stream of its own so that pi0 and its evaluation stay identical across methods. An implicit
method acts with Q0 from round 0 on; without Q0 it acts with the policy alone until its critic
has trained in round 1.

`Agent.train(demos, autonomous, steps)` runs `steps` gradient steps. Each step updates the
critic of a Q-function method (its losses, then its target; `bolrl.critics` says what a critic
is, the agent never names one) on a batch drawn uniformly from all transitions, and then the
policy with its extractor's loss on a batch of its own transitions (all, or the successful
episodes' for filtered BC) of which at least `demo_fraction` are demonstrations
(`bolrl.data.mixed_batch`). With action chunks of H, the policy's labels from autonomous
episodes are, with `chunk_labels = "aligned"`, only the chunks the agent actually planned (t =
0, H, 2H, ...), and label actions past an episode's end are masked out. The policy's learning
rate follows `lr_schedule` within each round, and an exponential moving average of its weights
(`ema` > 0) is the policy that acts. Networks and optimizers persist across rounds (warm start)
unless `warm_start = false`, in which case each round re-initialises them.

`Agent.act(obs)` returns the actions the extractor chooses, without exploration noise.
"""

from __future__ import annotations

import copy
import functools
import math
import operator
from collections.abc import Callable
from dataclasses import asdict

import numpy as np
import torch

from bolrl.config import AgentConfig
from bolrl.data import (
    Episodes,
    action_chunks,
    batch_demo_share,
    chunk_label_mask,
    chunk_returns,
    mixed_batch,
    plan_aligned,
)
from bolrl.extraction import BC, Extractor
from bolrl.nets import Normalizer, polyak, seeded
from bolrl.policies import POLICIES
from bolrl.registry import ALGORITHMS, EXTRACTIONS

BASE_EXTRACTOR = BC()  # round 0: behaviour cloning on the demonstrations, for every method
CRITIC_ROUND0_STREAM = 104_729  # the random stream of Q0's training (pi0's is the agent's own)
DIAGNOSTIC_STREAM = 15_485_863  # batches drawn for diagnostics only, never for training
DIAGNOSTIC_ROWS = 4096


class NonFiniteLoss(RuntimeError):
    """A training loss became NaN or infinite."""

    def __init__(self, name: str, value: float, step: int):
        super().__init__(f"{name} loss became {value} at gradient step {step}")
        self.name, self.value, self.step = name, value, step


def _tensors(data: Episodes, normalize: Normalizer, chunk: int,
             gamma: float) -> dict[str, torch.Tensor]:
    """The training tensors, on the normalizer's device (they stay there for the round):
    observations standardised once; per-step actions, action chunks with their label masks,
    and their H-step returns (identical to the plain transition when H = 1)."""
    view = chunk_returns(data, chunk, gamma)
    device = normalize.floor.device

    def put(x, dtype=None) -> torch.Tensor:
        return torch.as_tensor(x, dtype=dtype, device=device)

    with torch.no_grad():
        actions = put(data.actions)
        out = {
            "obs": normalize(put(data.obs)),
            "next_obs": normalize(put(view["next_obs"])),
            "actions": actions,
            "chunks": actions if chunk == 1 else put(action_chunks(data, chunk)),
            "rewards": put(view["returns"]),
            "discount": put(view["discount"]),
            "terminated": put(view["terminated"], dtype=torch.float32),
        }
        if chunk > 1:
            out["mask"] = put(chunk_label_mask(data, chunk))
        return out


def _take(tensors: dict[str, torch.Tensor], idx: torch.Tensor) -> dict[str, torch.Tensor]:
    return {k: v[idx] for k, v in tensors.items()}


def _check(name: str, loss: torch.Tensor, step: int) -> None:
    value = float(loss.detach())
    if not math.isfinite(value):
        raise NonFiniteLoss(name, value, step)


def cosine_lr(lr: float, step: int, steps: int) -> float:
    """The learning rate at `step` of `steps` decaying from lr to 0 along a half cosine."""
    return 0.5 * lr * (1.0 + math.cos(math.pi * step / max(steps, 1)))


def extractor_of(cfg: AgentConfig) -> Extractor:
    """The policy extractor of a method: imitation algorithms are their own; a Q-function
    method names one on the extraction axis."""
    algorithm = ALGORITHMS[cfg.method.algorithm]
    if algorithm.imitation:
        return algorithm.load()()
    if cfg.method.extraction not in EXTRACTIONS:
        raise ValueError(f"no extraction {cfg.method.extraction!r} for algorithm "
                         f"{cfg.method.algorithm!r}")
    return EXTRACTIONS[cfg.method.extraction].load()()


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
        self.extractor = extractor_of(cfg)
        self.params = cfg.extraction
        self.generator = self._generator(seed)
        floor = np.full(obs_dim, cfg.train.obs_std_floor, dtype=np.float32)
        floor[list(unitless_features)] = cfg.train.obs_std_floor_unitless
        self.normalize = Normalizer(obs_dim, clip=cfg.train.obs_clip,
                                    std_floor=floor).to(self.device)
        self.rounds_trained = 0
        self.critic_trained = False
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
        # initialised on the CPU from the seed, then moved: the same weights on every device
        self.policy.to(self.device)
        if self.critic is not None:
            self.critic.to(self.device)
        self.policy_ema = (copy.deepcopy(self.policy).requires_grad_(False)
                           if self.cfg.train.ema > 0 else None)
        lr = self.cfg.train.lr
        self.policy_opt = torch.optim.Adam(self.policy.parameters(), lr=lr, fused=True)
        self.critic_opt = (torch.optim.Adam(self.critic.optimized(), lr=lr, fused=True)
                           if self.critic is not None else None)

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
        out = self._train(demos, empty, steps, BASE_EXTRACTOR, None, self.generator)
        return {k: v for k, v in out.items() if not k.startswith(("critic", "q_"))}

    def train_base_critic(self, demos: Episodes, steps: int) -> dict[str, float]:
        """Q0: the critic alone on the demonstrations, from a random stream of its own (pi0
        and its evaluation stay the same as every other method's)."""
        g = self._generator(self.seed + CRITIC_ROUND0_STREAM)
        empty = Episodes.empty(self.obs_dim, self.act_dim)
        out = self._train(demos, empty, steps, None, self.critic, g)
        self.critic_trained = True
        return {k: v for k, v in out.items() if k.startswith(("critic", "q_"))}

    def train(self, demos: Episodes, autonomous: Episodes, steps: int) -> dict[str, float]:
        """`steps` gradient steps of this agent's method on the demonstrations and the
        autonomous episodes; returns mean losses over the last tenth of them and diagnostics."""
        out = self._train(demos, autonomous, steps, self.extractor, self.critic, self.generator)
        self.critic_trained = self.critic is not None
        return out

    def _policy_pools(self, data: Episodes, n_demo: int,
                      extractor) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices of the policy's training transitions among the demonstrations and among the
        autonomous episodes."""
        keep = extractor.policy_transitions(data)
        if self.cfg.train.chunk_labels == "aligned":
            is_demo = np.arange(data.n_transitions) < n_demo
            keep = keep & (is_demo | plan_aligned(data, self.chunk))
        idx = torch.as_tensor(np.flatnonzero(keep), device=self.device)
        return idx[idx < n_demo], idx[idx >= n_demo]

    def _train(self, demos: Episodes, autonomous: Episodes, steps: int, extractor,
               critic, g: torch.Generator) -> dict[str, float]:
        cfg = self.cfg.train
        if self.rounds_trained > 0 and not cfg.warm_start and extractor is not None:
            self._build(self.seed + 7919 * self.rounds_trained)
            self.critic_trained = False
            critic = self.critic if critic is not None else None
        self.normalize.fit(demos.obs)
        data = demos + autonomous
        n_demo = demos.n_transitions
        tensors = _tensors(data, self.normalize, self.chunk, self.cfg.critic.gamma)
        everything = torch.arange(data.n_transitions, device=self.device)
        critic_pools = (everything[:n_demo], everything[n_demo:])
        policy_pools = (self._policy_pools(data, n_demo, extractor) if extractor is not None
                        else critic_pools)
        fraction = cfg.demo_fraction
        # One batch serves critic and policy when they would draw it alike (uniform sampling
        # of the same transitions); a policy with data of its own (filtered BC, aligned labels,
        # a demonstration share) draws only its own, so that with the same data it trains
        # exactly as BC does.
        shared = critic is None or (
            all(torch.equal(a, b) for a, b in zip(critic_pools, policy_pools, strict=True))
            and batch_demo_share(n_demo, len(policy_pools[1]), fraction)
            == batch_demo_share(n_demo, len(policy_pools[1]), 0.0))
        tail = max(1, steps // 10)
        sums = {"policy_loss": 0.0, "critic_q_loss": 0.0, "critic_v_loss": 0.0, "q_mean": 0.0}
        critic_losses: dict[str, torch.Tensor] = {}  # the last step's (none in 0 steps)
        for step in range(steps):
            if critic is not None:
                batch = _take(tensors, mixed_batch(*critic_pools, cfg.batch_size, 0.0, g))
                critic_losses = critic.losses(batch, self.acting_policy, g)
                critic_loss = functools.reduce(operator.add, critic_losses.values())
                _check("critic", critic_loss, step)
                self.critic_opt.zero_grad(set_to_none=True)
                critic_loss.backward()
                self.critic_opt.step()
                critic.update_target()
            if extractor is not None:
                if critic is None or not shared:
                    batch = _take(tensors, mixed_batch(*policy_pools, cfg.batch_size, fraction, g))
                if cfg.lr_schedule == "cosine":
                    for group in self.policy_opt.param_groups:
                        group["lr"] = cosine_lr(cfg.lr, step, steps)
                p_loss = extractor.policy_loss(self.policy, critic, batch, self.params, g)
                _check("policy", p_loss, step)
                self.policy_opt.zero_grad(set_to_none=True)
                p_loss.backward()
                self.policy_opt.step()
                if self.policy_ema is not None:
                    polyak(self.policy_ema, self.policy, cfg.ema)
            if self.step_hook is not None and (step + 1) % self.hook_every == 0:
                losses = {"policy_loss": float(p_loss.detach())} if extractor is not None else {}
                if critic is not None:
                    losses.update({k: float(v.detach()) for k, v in critic_losses.items()})
                self.step_hook(step + 1, losses)
            if step >= steps - tail:
                if extractor is not None:
                    sums["policy_loss"] += float(p_loss.detach())
                if critic is not None:
                    for name, loss in critic_losses.items():
                        sums[name] = sums.get(name, 0.0) + float(loss.detach())
                    with torch.no_grad():
                        q = critic.q_min(batch["obs"], batch["chunks"])
                        sums["q_mean"] += float(q.mean())
        if extractor is not None:
            self.rounds_trained += 1
        out = {k: v / tail for k, v in sums.items()}
        for k in ("critic_q_loss", "critic_v_loss", "q_mean"):
            if critic is None or (k != "q_mean" and k not in critic_losses):
                out[k] = float("nan")  # no critic, or a critic without this loss
        if extractor is None:
            out["policy_loss"] = float("nan")
        out.update(self._diagnostics(data, n_demo, tensors, policy_pools, extractor, critic))
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
            out.update(extractor.diagnostics(critic, _take(tensors, idx), self.params))
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
        tensors = _tensors(data, self.normalize, self.chunk, self.cfg.critic.gamma)
        rows = np.ones(data.n_transitions, dtype=bool)
        if self.cfg.train.chunk_labels == "aligned":
            rows = plan_aligned(data, self.chunk)
        g = self._generator(self.seed + DIAGNOSTIC_STREAM)
        idx = torch.as_tensor(np.flatnonzero(rows), device=self.device)
        idx = idx[torch.randperm(len(idx), generator=g, device=self.device)[:DIAGNOSTIC_ROWS]]
        batch = _take(tensors, idx)
        return float(self.policy.loss(batch["obs"], batch["chunks"], generator=g,
                                      mask=batch.get("mask")))

    @torch.no_grad()
    def plan(self, obs: np.ndarray) -> np.ndarray:
        """A chunk of actions per observation, (B, obs_dim) -> (B, H, act_dim), no noise."""
        obs_t = self.normalize(torch.as_tensor(obs, dtype=torch.float32, device=self.device))
        base = self.critic is not None and not self.critic_trained
        extractor = BASE_EXTRACTOR if base else self.extractor
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
        return state

    def acting_state(self) -> dict:
        """What acting needs, without the optimizers' states: the normalizer, the acting policy
        (its moving average where there is one), the critic (best-of-N acts with it) and the
        sampling generator. Kept per round (`bolrl eval`): about 1 MB at the paper study's
        sizes."""
        training_only = {"policy_opt", "critic_opt"}
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
