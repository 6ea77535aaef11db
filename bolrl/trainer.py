"""The trainer: gradient steps over an agent's parts, naming no algorithm.

A round's training is `steps` gradient steps. Each step updates, in this order:

1. the critic, if the method has one: its losses (`bolrl.critics`) on a batch drawn uniformly
   from all transitions, summed into one backward pass, then its target networks; a critic
   whose backup samples the policy samples the extractor's `proposal`;
2. the policy, with its extractor's policy loss on a batch of the policy's own transitions (all,
   or the successful episodes' for filtered BC) of which at least `demo_fraction` are
   demonstrations (`bolrl.data.mixed_batch`); its learning rate follows `lr_schedule` within
   the round, and an exponential moving average of its weights (`ema` > 0) is the policy that
   acts;
3. the extractor's own networks, where it has any (an edit policy, a one-step actor, a
   latent-noise actor): their losses on the critic's batch, against the acting policy, then
   their targets.

One batch serves critic and policy when they would draw it alike (uniform sampling of the same
transitions); a policy with data of its own draws only its own, so that with the same data it
trains exactly as BC does. A loss that becomes NaN or infinite stops the round
(`NonFiniteLoss`). The losses reported are means over the last tenth of the steps.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from bolrl.data import (
    Episodes,
    action_chunks,
    batch_demo_share,
    chunk_label_mask,
    chunk_returns,
    mixed_batch,
)
from bolrl.nets import Normalizer, polyak

CRITIC_COLUMNS = ("critic_q_loss", "critic_v_loss", "q_mean")  # NaN where a critic lacks one


class NonFiniteLoss(RuntimeError):
    """A training loss became NaN or infinite."""

    def __init__(self, name: str, value: float, step: int):
        super().__init__(f"{name} loss became {value} at gradient step {step}")
        self.name, self.value, self.step = name, value, step


def training_tensors(data: Episodes, normalize: Normalizer, chunk: int,
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


def take(tensors: dict[str, torch.Tensor], idx: torch.Tensor) -> dict[str, torch.Tensor]:
    return {k: v[idx] for k, v in tensors.items()}


def cosine_lr(lr: float, step: int, steps: int) -> float:
    """The learning rate at `step` of `steps` decaying from lr to 0 along a half cosine."""
    return 0.5 * lr * (1.0 + math.cos(math.pi * step / max(steps, 1)))


def descend(name: str, loss: torch.Tensor, optimizer: torch.optim.Optimizer, step: int) -> None:
    """One optimizer step on a loss, after checking it is finite."""
    value = float(loss.detach())
    if not math.isfinite(value):
        raise NonFiniteLoss(name, value, step)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


@dataclass
class Parts:
    """What one train() call updates: the policy (with its optimizer and moving average), the
    critic and the extractor (each None when this call leaves it alone) with theirs."""

    policy: torch.nn.Module
    policy_opt: torch.optim.Optimizer
    policy_ema: torch.nn.Module | None
    critic: torch.nn.Module | None = None
    critic_opt: torch.optim.Optimizer | None = None
    extractor: torch.nn.Module | None = None
    extractor_opt: torch.optim.Optimizer | None = None

    @property
    def acting_policy(self) -> torch.nn.Module:
        return self.policy_ema if self.policy_ema is not None else self.policy


@dataclass
class Pools:
    """Indices of the training transitions: (demonstrations, autonomous) for the critic and
    for the policy."""

    critic: tuple[torch.Tensor, torch.Tensor]
    policy: tuple[torch.Tensor, torch.Tensor]

    def shared(self, n_demo: int, fraction: float) -> bool:
        """Whether critic and policy would draw their batches alike."""
        return (all(torch.equal(a, b) for a, b in zip(self.critic, self.policy, strict=True))
                and batch_demo_share(n_demo, len(self.policy[1]), fraction)
                == batch_demo_share(n_demo, len(self.policy[1]), 0.0))


class Trainer:
    """Runs gradient steps over `Parts` (see the module docstring) with the train table's
    batch size, demonstration share, learning rate, schedule and moving average, and the
    extraction table `params` the extractor reads."""

    def __init__(self, train_cfg, params,
                 hook: Callable[[int, dict[str, float]], None] | None = None,
                 hook_every: int = 50):
        self.cfg, self.params, self.hook, self.hook_every = train_cfg, params, hook, hook_every

    def run(self, parts: Parts, tensors: dict, pools: Pools, n_demo: int, steps: int,
            g: torch.Generator) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
        """`steps` gradient steps; returns the tail means of the losses (and q_mean) and the
        last step's critic losses (their names say which the critic has)."""
        cfg = self.cfg
        shared = parts.critic is None or pools.shared(n_demo, cfg.demo_fraction)
        tail = max(1, steps // 10)
        sums = {"policy_loss": 0.0, "critic_q_loss": 0.0, "critic_v_loss": 0.0, "q_mean": 0.0}
        critic_losses: dict[str, torch.Tensor] = {}  # the last step's (none in 0 steps)
        for step in range(steps):
            losses: dict[str, torch.Tensor] = {}
            batch = critic_batch = None
            if parts.critic is not None:
                batch = critic_batch = take(tensors, mixed_batch(*pools.critic, cfg.batch_size,
                                                                 0.0, g))
                critic_losses = self._critic_step(parts, batch, g, step)
                losses.update(critic_losses)
            if parts.extractor is not None:
                if batch is None or not shared:
                    batch = take(tensors, mixed_batch(*pools.policy, cfg.batch_size,
                                                      cfg.demo_fraction, g))
                losses["policy_loss"] = self._policy_step(parts, batch, g, step, steps)
                if parts.extractor_opt is not None:
                    losses.update(self._extractor_step(
                        parts, critic_batch if critic_batch is not None else batch, g, step))
            if self.hook is not None and (step + 1) % self.hook_every == 0:
                self.hook(step + 1, {k: float(v.detach()) for k, v in losses.items()})
            if step >= steps - tail:
                for name, loss in losses.items():
                    sums[name] = sums.get(name, 0.0) + float(loss.detach())
                if parts.critic is not None:
                    with torch.no_grad():
                        q = parts.critic.q_min(batch["obs"], batch["chunks"])
                        sums["q_mean"] += float(q.mean())
        return {k: v / tail for k, v in sums.items()}, critic_losses

    def _critic_step(self, parts: Parts, batch: dict, g: torch.Generator,
                     step: int) -> dict[str, torch.Tensor]:
        proposal = (parts.acting_policy if parts.extractor is None else
                    parts.extractor.proposal(parts.acting_policy, parts.critic, self.params))
        losses = parts.critic.losses(batch, proposal, g)
        descend("critic", functools.reduce(operator.add, losses.values()), parts.critic_opt,
                step)
        parts.critic.update_target()
        return losses

    def _policy_step(self, parts: Parts, batch: dict, g: torch.Generator, step: int,
                     steps: int) -> torch.Tensor:
        if self.cfg.lr_schedule == "cosine":
            for group in parts.policy_opt.param_groups:
                group["lr"] = cosine_lr(self.cfg.lr, step, steps)
        loss = parts.extractor.policy_loss(parts.policy, parts.critic, batch, self.params, g)
        descend("policy", loss, parts.policy_opt, step)
        if parts.policy_ema is not None:
            polyak(parts.policy_ema, parts.policy, self.cfg.ema)
        return loss

    def _extractor_step(self, parts: Parts, batch: dict, g: torch.Generator,
                        step: int) -> dict[str, torch.Tensor]:
        """The extractor's networks on the critic's batch (all transitions, uniformly)."""
        losses = parts.extractor.losses(parts.acting_policy, parts.critic, batch, self.params,
                                        g)
        descend("extractor", functools.reduce(operator.add, losses.values()),
                parts.extractor_opt, step)
        parts.extractor.update_target()
        return losses


def tail_columns(sums: dict[str, float], critic_losses: dict, has_critic: bool,
                 trains_policy: bool) -> dict[str, float]:
    """The losses a row records: NaN for a loss this call did not have (no critic, a critic
    without a V loss, no policy step)."""
    out = dict(sums)
    for k in CRITIC_COLUMNS:
        if not has_critic or (k != "q_mean" and k not in critic_losses):
            out[k] = float("nan")
    if not trains_policy:
        out["policy_loss"] = float("nan")
    return out


def policy_pools(keep: np.ndarray, n_demo: int,
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the kept transitions among the demonstrations and the autonomous episodes."""
    idx = torch.as_tensor(np.flatnonzero(keep), device=device)
    return idx[idx < n_demo], idx[idx >= n_demo]
