"""A cell's identity: the hash of what determines its rows, and the words for what changed.

A cell's configuration (`Cell.config()`) is flattened to dotted settings, e.g.
`agent.target_tau`. The cell id hashes

- the settings that name a cell and have no neutral value (task, seed, the method axes, the
  amounts of data and training: every key not in BASELINE), always, and
- every other setting whose value differs from BASELINE, a fixed table of reference values.

So a setting added later, at a value that reproduces the old behaviour, leaves every id as it
was: give it a BASELINE entry with that value (a test insists that every setting has one or is
named in ALWAYS). **Never change a BASELINE value**: the ids of every result written so far rest
on them. To change what the code does by default, change `bolrl.config`, not this table.

What is not in the identity: settings that the cell's axis values never read (the critic's in
a BC cell, the noise's without noise: `Entry.settings` in bolrl.registry), where a cell runs
(`train.device`, `[study].vector_env`) and the path of an imported demonstrations file (its
content is: `demos_sha256`).

`demos_version` is the version of the generator of scripted demonstrations
(`bolrl.config.DEMOS_VERSION`), `task_version` that of a suite's adapter where a change of it
changes episodes (`bolrl.envs.robomimic.TASK_VERSION`); configurations written before they
were recorded were version 1.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

# Settings that always enter the id (no neutral value): what a cell is.
ALWAYS = frozenset({
    "task", "task_spec.name", "seed", "algorithm", "extraction", "policy", "noise",
    "episodes_per_round", "rounds", "eval_episodes", "n_envs", "demos", "steps_round0",
    "steps_per_round", "agent.algorithm", "agent.extraction", "agent.policy",
})

# Reference values (the defaults of bolrl.config on 2026-11-30). Never edit a value; add a new
# setting with the value that reproduces what the code did before it existed.
BASELINE: dict[str, Any] = {
    "demos_version": 1,
    "demos_style": "scripted",
    "task_version": 1,
    "demos_sha256": None,
    "task_spec.imports": [],
    "task_spec.horizon": None,
    "task_spec.success": None,
    "task_spec.expert": None,
    "agent.hidden": 256,
    "agent.layers": 3,
    "agent.critic_hidden": 256,
    "agent.critic_layers": 2,
    "agent.diffusion_steps": 10,
    "agent.denoiser": "resnet",
    "agent.action_chunk": 4,
    "agent.batch_size": 256,
    "agent.lr": 1e-3,
    "agent.lr_schedule": "cosine",
    "agent.ema": 0.005,
    "agent.warm_start": True,
    "agent.critic_round0": False,
    "agent.demo_fraction": 0.5,
    "agent.gaussian_nll_beta": 1.0,
    "agent.gaussian_log_std_min": -5.0,
    "agent.chunk_labels": "all",
    "agent.obs_clip": 5.0,
    "agent.obs_std_floor": 0.01,
    "agent.obs_std_floor_unitless": 0.1,
    "agent.gamma": 0.99,
    "agent.expectile": 0.8,
    "agent.target_tau": 0.005,
    "agent.awr_beta": 3.0,
    "agent.awr_max_weight": 100.0,
    "agent.ddpg_alpha": 2.5,
    "agent.n_samples": 32,
    "agent.parl_distill_rows": 64,
    "agent.parl_top_k": 4,
    "agent.parl_steps": 5,
    "agent.parl_step_size": 0.05,
    "agent.expo_edit_scale": 0.1,
    "agent.fql_alpha": 10.0,
    "agent.dsrl_noise_bound": 1.5,
    "agent.actor_entropy": 0.01,
    "noise_params.sigma": 0.1,
    "noise_params.theta": 0.15,
    "noise_params.beta": 1.0,
    "noise_params.dims": [],
}

# In a configuration, not in the identity.
IGNORED = frozenset({"task_spec.demos_file"})

# What a configuration that does not record a setting ran with, where that is known.
UNRECORDED = {"demos_version": 1, "task_version": 1}


def flatten(config: dict, prefix: str = "") -> dict[str, Any]:
    """{"agent": {"lr": 1e-3}} -> {"agent.lr": 1e-3}; lists are values, not tables."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = list(value) if isinstance(value, tuple) else value
    return flat


def config_key(setting: str) -> str:
    """A study-file setting ("critic.target_tau") as a configuration key ("agent.target_tau")."""
    table, _, key = setting.partition(".")
    return f"noise_params.{key}" if table == "noise" else f"agent.{key}"


def unread(flat: dict[str, Any]) -> set[str]:
    """The keys of a flattened configuration that its cell's axis values never read (the
    critic's settings in a BC cell, the noise's without noise: bolrl.registry's
    Entry.settings)."""
    from bolrl.registry import OPTIONAL_SETTINGS, settings_read

    try:
        read = settings_read(flat["algorithm"], flat["extraction"], flat["policy"],
                             flat["noise"])
    except KeyError:  # an axis value this bolrl does not know: keep everything
        return set()
    return {config_key(s) for s in OPTIONAL_SETTINGS - read}


def identity(config: dict) -> dict[str, Any]:
    """The settings of a configuration that its id hashes (flattened)."""
    flat = flatten(config)
    skip = IGNORED | unread(flat)
    return {k: v for k, v in flat.items()
            if k not in skip and (k not in BASELINE or v != BASELINE[k])}


def _hash(blob: dict) -> str:
    text = json.dumps(blob, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def cell_id(config: dict) -> str:
    """12 hex digits naming a cell: the hash of its identity."""
    return _hash(identity(config))[:12]


def lineage_id(config: dict) -> str:
    """The hash of a cell's identity without its number of rounds: the cells of one lineage
    are the same run taken to different lengths (bolrl.extend)."""
    return _hash({k: v for k, v in identity(config).items() if k != "rounds"})[:12]


def key_hash(blob: dict) -> str:
    """16 hex digits of a content address (the stores of base policies and critics)."""
    return _hash(blob)[:16]


def recorded(config: dict) -> dict[str, Any]:
    """A configuration as recorded in a row, flattened, with what an older writer left out
    filled in where it is known (UNRECORDED)."""
    flat = flatten(config)
    return {**UNRECORDED, **flat} if any(k not in flat for k in UNRECORDED) else flat


def changes(old: dict, new: dict) -> list[tuple[str, Any, Any]]:
    """(setting, old value, new value) for every identity setting that differs between two
    configurations (a setting one of them lacks reads as None)."""
    a, b = recorded(old), recorded(new)
    skip = IGNORED | (unread(a) & unread(b))
    out = []
    for key in sorted(set(a) | set(b)):
        if key in skip:
            continue
        va = a.get(key, BASELINE.get(key))
        vb = b.get(key, BASELINE.get(key))
        if va != vb:
            out.append((key, va, vb))
    return out


# Study-file tables of the learner's settings (agent.<key> in a configuration).
_AGENT_TABLES = {
    "networks": ("hidden", "layers", "critic_hidden", "critic_layers", "diffusion_steps",
                 "denoiser", "action_chunk"),
    "critic": ("gamma", "expectile", "target_tau"),
    "extraction": ("awr_beta", "awr_max_weight", "ddpg_alpha", "n_samples",
                   "parl_distill_rows", "parl_top_k", "parl_steps", "parl_step_size",
                   "expo_edit_scale", "fql_alpha", "dsrl_noise_bound", "actor_entropy"),
}


def setting_name(key: str, task: str = "") -> str:
    """A flattened configuration key as a study file names it: agent.target_tau ->
    critic.target_tau, demos -> study.demos.lift, noise_params.theta -> noise.theta."""
    head, _, rest = key.partition(".")
    if head == "agent":
        for table, names in _AGENT_TABLES.items():
            if rest in names:
                return f"{table}.{rest}"
        return f"axes.{rest}" if rest in ("algorithm", "extraction", "policy") else f"train.{rest}"
    if head == "noise_params":
        return f"noise.{rest}"
    if key == "demos":
        return f"study.demos.{task}" if task else "study.demos"
    if key in ("rounds", "eval_episodes", "n_envs", "episodes_per_round"):
        return f"study.{key}"
    if key in ("steps_round0", "steps_per_round"):
        return f"train.{key}"
    if head == "task_spec":
        return f"tasks.{task}.{rest}" if task else key
    return key


def show_value(key: str, value: Any) -> str:
    if key == "demos_version":
        return f"v{value}"
    if value is None:
        return "(none)"
    return json.dumps(value) if isinstance(value, str | list | bool) else f"{value:g}" \
        if isinstance(value, float) else str(value)


def describe(change: tuple[str, Any, Any], task: str = "") -> str:
    """'critic.target_tau 0.005 -> 0.02'."""
    key, old, new = change
    return f"{setting_name(key, task)} {show_value(key, old)} -> {show_value(key, new)}"
