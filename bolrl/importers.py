"""Others' demonstration datasets as bolrl demonstrations: robomimic and Minari HDF5 files.

`bolrl demos import FILE --task TASK` reads a dataset, checks it against the task and writes
bolrl's episode format (`.npz`, see `bolrl.data.Episodes`), which a study then names as the
task's `demos_file`. Two layouts are read, told apart by their groups:

- robomimic (`data/demo_<i>/{obs,next_obs}/<key>, actions, rewards, dones`, the environment in
  `data.attrs["env_args"]`): for `robomimic/<task>` tasks; the low-dimensional keys of the
  task's layout (`bolrl.envs.robomimic`) are concatenated in its order. `next_obs`, where a
  file lacks it, is the next step's `obs` (the last step repeats its own).
- Minari (`episode_<i>/{observations, actions, rewards, terminations, truncations}`, with one
  more observation than actions; the environment in the file's `env_spec` attribute): for any
  task with flat observations of the task's size.

Every bolrl episode ends at its first success (reward 1 there, 0 before): a robomimic demo's
first step with a positive reward, a Minari episode's first termination (or `infos/success`
where the file has it) ends it; a demo that never succeeds is kept to its end as a failed,
truncated episode, and counted in the summary. Actions must already lie in [-1, 1] for
robomimic (its OSC deltas do); Minari actions are mapped from the task's action bounds.
Demos are taken in their index order (demo_0, demo_1, ...); `n` keeps the first `n`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bolrl.data import Episodes


class DatasetError(ValueError):
    """A dataset that cannot be imported, as one sentence naming the file and the problem."""


@dataclass(frozen=True)
class Imported:
    episodes: Episodes
    source: str  # "robomimic" or "minari"
    env_name: str | None  # what the file says it was recorded on
    available: int  # demos in the file
    unsuccessful: int  # of those kept, how many never succeed


def _h5py():
    try:
        import h5py
    except ModuleNotFoundError:
        raise DatasetError("reading HDF5 datasets needs h5py: pip install h5py (it comes "
                           "with the robosuite extra)") from None
    return h5py


def _json_attr(attrs, name: str, field: str):
    """`field` of the JSON object an HDF5 attribute holds (None if absent or not JSON)."""
    try:
        return json.loads(attrs[name]).get(field) if name in attrs else None
    except (TypeError, ValueError, AttributeError):
        return None


def _ordered(names, prefix: str) -> list[str]:
    """Group names `<prefix><i>` sorted by i."""
    found = [(int(m.group(1)), name) for name in names
             if (m := re.fullmatch(re.escape(prefix) + r"(\d+)", name))]
    return [name for _, name in sorted(found)]


def _episode(obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray,
             success: np.ndarray) -> tuple[Episodes, bool]:
    """One bolrl episode, cut at the first success; and whether it succeeded."""
    hits = np.flatnonzero(success)
    ok = hits.size > 0
    length = int(hits[0]) + 1 if ok else len(actions)
    rewards = np.zeros(length, np.float32)
    terminated = np.zeros(length, bool)
    truncated = np.zeros(length, bool)
    if ok:
        rewards[-1], terminated[-1] = 1.0, True
    else:
        truncated[-1] = True
    return Episodes(obs[:length].astype(np.float32), actions[:length].astype(np.float32),
                    rewards, next_obs[:length].astype(np.float32), terminated,
                    truncated), ok


@dataclass(frozen=True)
class Target:
    """What an import needs of a task: its name, sizes and action bounds."""

    name: str
    obs_dim: int
    act_dim: int
    low: np.ndarray
    high: np.ndarray


def target(task_name: str) -> Target:
    """The task a dataset is imported for. robomimic tasks need no simulator for this; other
    tasks are built (a ValueError names an unknown one)."""
    from bolrl.envs import get_task
    from bolrl.envs.external import ExternalTask, TaskWrapper
    from bolrl.envs.robomimic import ACT_DIM, is_robomimic, layout

    if is_robomimic(task_name):
        lay = layout(task_name)
        return Target(task_name, lay.obs_dim, ACT_DIM, -np.ones(ACT_DIM), np.ones(ACT_DIM))
    task = get_task(task_name)
    low, high = -np.ones(task.act_dim), np.ones(task.act_dim)
    if isinstance(task, ExternalTask):  # actions are mapped from the environment's bounds
        env = task.make_env()
        wrapper = env
        while not isinstance(wrapper, TaskWrapper):
            wrapper = wrapper.env
        low, high = wrapper.low, wrapper.high
        env.close()
    return Target(task.name, task.obs_dim, task.act_dim, low, high)


def read(path: Path, task: Target, n: int | None = None) -> Imported:
    """The first `n` demos (all without `n`) of a robomimic or Minari file, for `task`."""
    h5py = _h5py()
    where = f"{path}"
    if not Path(path).is_file():
        raise DatasetError(f"{where}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise DatasetError(f"{where}: not an HDF5 file") from None
    with f:
        if "data" in f and isinstance(f["data"], h5py.Group):
            return _robomimic(f, where, task, n)
        if _ordered(f.keys(), "episode_"):
            return _minari(f, where, task, n)
        raise DatasetError(f"{where}: neither a robomimic dataset (a `data` group of "
                           f"demo_<i>) nor a Minari one (episode_<i> groups)")


def _robomimic(f, where: str, task, n: int | None) -> Imported:
    from bolrl.envs.robomimic import is_robomimic, layout

    if not is_robomimic(task.name):
        raise DatasetError(f"{where}: a robomimic dataset; import it for a robomimic task "
                           f"(robomimic/lift, robomimic/can, robomimic/square), not "
                           f"{task.name!r}")
    lay = layout(task.name)
    data = f["data"]
    env_name = _json_attr(data.attrs, "env_args", "env_name")
    if env_name is not None and env_name != lay.env_name:
        raise DatasetError(f"{where}: recorded on {env_name!r}, but task {task.name!r} is "
                           f"robosuite's {lay.env_name!r}")
    demos = _ordered(data.keys(), "demo_")
    if not demos:
        raise DatasetError(f"{where}: the `data` group holds no demo_<i> groups")
    if n is not None and n > len(demos):
        raise DatasetError(f"{where}: has {len(demos)} demos, --n asks for {n}")
    keys = [key for key, _ in lay.keys]
    first = data[demos[0]]
    present = set(first["obs"].keys()) if "obs" in first else set()
    missing = [k for k in keys if k not in present]
    if missing:
        images = sorted(k for k in present if k.endswith("image") or k.endswith("depth"))
        if images and not (present - set(images)):
            raise DatasetError(f"{where}: an image-only dataset ({', '.join(images)}); bolrl "
                               f"needs the low-dimensional keys {', '.join(keys)} (robomimic's "
                               f"low_dim.hdf5)")
        raise DatasetError(f"{where}: demo {demos[0]} has no observation key "
                           f"{missing[0]!r} (bolrl needs {', '.join(keys)})")
    kept, unsuccessful = [], 0
    for name in demos[:n]:
        demo = data[name]
        obs = _concat(demo["obs"], lay, where, name)
        if "next_obs" in demo:
            next_obs = _concat(demo["next_obs"], lay, where, name)
        else:
            next_obs = np.concatenate([obs[1:], obs[-1:]])
        actions = np.asarray(demo["actions"], np.float64)
        if actions.ndim != 2 or actions.shape[1] != task.act_dim:
            raise DatasetError(f"{where}: {name}/actions has shape {actions.shape}, task "
                               f"{task.name!r} takes {task.act_dim} floats per step")
        if np.abs(actions).max(initial=0.0) > 1.0 + 1e-6:
            raise DatasetError(f"{where}: {name}/actions reach {np.abs(actions).max():.3g}; "
                               f"robomimic's OSC deltas lie in [-1, 1] (absolute-pose "
                               f"datasets are not supported)")
        rewards = np.asarray(demo["rewards"]) if "rewards" in demo else None
        if rewards is None:
            dones = np.asarray(demo["dones"]) if "dones" in demo else np.zeros(len(actions))
            success = dones > 0
        else:
            success = rewards > 0
        episode, ok = _episode(obs, np.clip(actions, -1.0, 1.0), next_obs, success)
        kept.append(episode)
        unsuccessful += not ok
    return Imported(Episodes.concat(kept), "robomimic", env_name, len(demos), unsuccessful)


def _concat(group, lay, where: str, name: str) -> np.ndarray:
    parts = []
    for key, size in lay.keys:
        if key not in group:
            raise DatasetError(f"{where}: {name} has no observation key {key!r}")
        x = np.asarray(group[key], np.float64)
        x = x.reshape(len(x), -1)
        if x.shape[1] != size:
            raise DatasetError(f"{where}: {name}/obs/{key} has {x.shape[1]} floats per step, "
                               f"task robomimic/{lay.task} expects {size}")
        parts.append(x)
    return np.concatenate(parts, axis=1)


def _minari(f, where: str, task, n: int | None) -> Imported:
    env_name = _json_attr(f.attrs, "env_spec", "id")
    gym_id = task.name[4:] if task.name.startswith("gym:") else None
    if env_name and gym_id and env_name != gym_id:
        raise DatasetError(f"{where}: recorded on {env_name!r}, but task {task.name!r} is "
                           f"{gym_id!r}")
    episodes = _ordered(f.keys(), "episode_")
    if n is not None and n > len(episodes):
        raise DatasetError(f"{where}: has {len(episodes)} episodes, --n asks for {n}")
    low, high = task.low, task.high
    kept, unsuccessful = [], 0
    for name in episodes[:n]:
        ep = f[name]
        for key in ("observations", "actions"):
            if key not in ep:
                raise DatasetError(f"{where}: {name} has no {key!r}")
        if hasattr(ep["observations"], "keys"):  # a group: a dict space
            raise DatasetError(f"{where}: {name}/observations is a dict of spaces; bolrl "
                               f"imports flat observations only")
        observations = np.asarray(ep["observations"], np.float64)
        observations = observations.reshape(len(observations), -1)
        actions = np.asarray(ep["actions"], np.float64).reshape(len(ep["actions"]), -1)
        if len(observations) != len(actions) + 1:
            raise DatasetError(f"{where}: {name} has {len(observations)} observations for "
                               f"{len(actions)} actions (Minari stores one more)")
        if observations.shape[1] != task.obs_dim or actions.shape[1] != task.act_dim:
            raise DatasetError(f"{where}: {name} has observations of {observations.shape[1]} "
                               f"and actions of {actions.shape[1]} floats, task "
                               f"{task.name!r} {task.obs_dim} and {task.act_dim}")
        if "infos" in ep and "success" in ep["infos"]:
            success = np.asarray(ep["infos"]["success"], bool).ravel()[1:]
        elif "terminations" in ep:
            success = np.asarray(ep["terminations"], bool).ravel()
        else:
            raise DatasetError(f"{where}: {name} has neither terminations nor infos/success")
        scaled = np.clip(2.0 * (actions - low) / (high - low) - 1.0, -1.0, 1.0)
        episode, ok = _episode(observations[:-1], scaled, observations[1:], success)
        kept.append(episode)
        unsuccessful += not ok
    return Imported(Episodes.concat(kept), "minari", env_name, len(episodes), unsuccessful)
