"""Round 0, shared: the base policy pi0 and the critic Q0 are trained once per settings.

pi0 (behaviour cloning on the demonstrations) depends on the task, the seed, the
demonstrations and the settings that train the policy, never on the cell's method; Q0 (the
critic on the demonstrations, for Q-function methods with `critic_round0`) on those and the
critic's settings. Each is stored under a content address, a hash of exactly those settings,

    results/<study>/bases/pi0-<key>.pt      policy, its optimizer, normaliser, random state
    results/<study>/bases/q0-<key>.pt       critic and its optimizer

and loaded by every cell that starts from it, so a grid trains each base once, and a rerun
with the same settings trains none. A cell that loads a base continues exactly as if it had
trained it (same weights, same random streams: tested). An OS file lock per entry makes
parallel workers (and Ray workers on a shared filesystem) train each entry once: the others
wait for it, then load it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bolrl.files import UnsafeFile, load_tensors, write_atomic
from bolrl.identity import flatten, identity, key_hash
from bolrl.locks import file_lock
from bolrl.registry import ALGORITHMS, EXTRACTIONS
from bolrl.results import study_dir

if TYPE_CHECKING:  # the keys need no torch: run-grid orders cells before importing it
    from bolrl.agent import Agent
    from bolrl.data import Episodes
    from bolrl.study import Cell

# Settings of a cell's identity (bolrl.identity, flattened) that do not touch round 0's
# policy training: which method it is, the later rounds' schedule and data handling, what only
# acts on autonomous data (which round 0 has none of), and every setting an algorithm or an
# extraction method declares in its registry entry (a critic's, an extractor's): derived, so
# a method that declares its settings leaves the base policy shared.
LATER_ROUNDS = frozenset({
    "algorithm", "extraction", "policy", "noise", "episodes_per_round", "rounds",
    "eval_episodes", "n_envs", "steps_per_round",
    *(f"agent.{k}" for k in ("algorithm", "extraction", "demo_fraction", "chunk_labels",
                             "warm_start")),
})


def _agent_key(setting: str) -> str:
    """A registry entry's "table.key" as the identity names it, "agent.key"."""
    return f"agent.{setting.split('.', 1)[1]}"


NOT_POLICY = LATER_ROUNDS | {_agent_key(s) for registry in (ALGORITHMS, EXTRACTIONS)
                             for entry in registry.values() for s in entry.settings}


def critic_settings(algorithm: str) -> tuple[str, ...]:
    """What Q0 depends on besides pi0: which critic, and the settings its entry declares
    (critic_round0 only says whether Q0 is trained)."""
    return ("agent.algorithm", *(_agent_key(s) for s in ALGORITHMS[algorithm].settings
                                 if s != "train.critic_round0"))


def policy_settings(cell: Cell) -> dict:
    """Everything pi0 depends on, as it stands in the cell's identity (so a setting added at
    its neutral value leaves the key alone), and the device where it is not the CPU: a GPU's
    arithmetic differs in the last bits, so bases trained there are kept apart."""
    settings = {k: v for k, v in identity(cell.config()).items()
                if k not in NOT_POLICY and not k.startswith("noise_params.")}
    if cell.train.device != "cpu":
        settings["device"] = cell.train.device
    return settings


def policy_key(cell: Cell) -> str:
    return key_hash(policy_settings(cell))


def critic_key(cell: Cell) -> str:
    """Q0 depends on pi0's settings too (the critic is initialised from the same seeded
    stream, after the policy), on which critic it is, and on the critic's settings."""
    flat = flatten(cell.config())
    return key_hash({**policy_settings(cell),
                     "critic": {k: flat[k] for k in critic_settings(cell.algorithm)}})


def bases_dir(results: Path, study: str) -> Path:
    return study_dir(results, study) / "bases"


def load_or_train(path: Path, train: Callable[[], dict], state: Callable[[], dict],
                  load: Callable[[dict], None]) -> dict:
    """Load the entry at `path` into the agent (`load`), or train it (`train`, returning its
    losses), store `state()` and return the losses. A damaged entry is trained again."""
    import torch

    # waits while another process trains this entry
    with file_lock(path.with_suffix(".lock")):
        if path.exists():
            try:
                entry = load_tensors(path)
                load(entry["state"])
                return entry["losses"]
            except UnsafeFile:
                raise
            except Exception:  # a damaged file costs one retraining, nothing else
                pass
        losses = train()
        entry = {"state": state(), "losses": losses}
        write_atomic(path, lambda tmp: torch.save(entry, tmp))
        return losses


def train_round0(cell: Cell, agent: Agent, demos: Episodes, results: Path) -> dict[str, float]:
    """Round 0 of a cell: pi0, and Q0 where the method has one, from the shared store."""
    root = bases_dir(results, cell.study)
    losses = load_or_train(root / f"pi0-{policy_key(cell)}.pt",
                           lambda: agent.train_base_policy(demos, cell.train.steps_round0),
                           agent.base_policy_state, agent.load_base_policy_state)
    if agent.critic is not None and cell.train.critic_round0:
        steps = cell.train.steps_round0
        critic_losses = load_or_train(root / f"q0-{critic_key(cell)}.pt",
                                      lambda: agent.train_base_critic(demos, steps),
                                      agent.critic_state, agent.load_critic_state)
        losses = {**losses, **critic_losses}
    return losses


def spread(cells: list[Cell]) -> list[Cell]:
    """The cells reordered round-robin over their base policies (the first cell of every
    base, then the second, ...), so that parallel workers start by training different bases
    instead of waiting for one another's."""
    groups: dict[str, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(policy_key(cell), []).append(cell)
    order = []
    for i in range(max((len(g) for g in groups.values()), default=0)):
        order += [g[i] for g in groups.values() if i < len(g)]
    return order
