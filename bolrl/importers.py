"""Others' demonstration datasets as bolrl demonstrations: robomimic and Minari HDF5 files.

`bolrl demos import FILE --task TASK` reads a dataset, checks it against the task and writes
bolrl's episode format (`.npz`, see `bolrl.data.Episodes`), which a study then names as the
task's `demos_file`. Two layouts are read, told apart by their groups:

- robomimic (`data/demo_<i>/{obs,next_obs}/<key>, actions, rewards, dones`, the environment in
  `data.attrs["env_args"]`): for `robomimic/<task>` tasks; the low-dimensional keys of the
  task's layout (`bolrl.envs.robomimic`) are concatenated in its order. `next_obs`, where a
  file lacks it, is the next step's `obs` (the last step repeats its own).
- Minari (`episode_<i>/{observations, actions, rewards, terminations, truncations, infos}`,
  with one more observation than actions; Minari 0.5 writes `data/main_data.hdf5` and the
  environment spec in `data/metadata.json` beside it, older files in the HDF5's `env_spec`
  attribute): for any task with flat observations of the task's size. The file, or the
  dataset's directory, may be given.

Every bolrl episode ends at its first success (reward 1 there, 0 before): a robomimic demo's
first step with a positive reward; a Minari episode's first step whose info reports success
(`infos/is_success`, the Gymnasium-Robotics key bolrl's own environments write, or
`infos/success`; the reset's info is not a step's). A Minari termination is a success only when
the user says so (`terminations_are_success`): environments also terminate on failure (a
fallen Hopper). A demo that never succeeds is kept to its end as a failed, truncated episode,
and counted in the summary, unless only successful ones are asked for. Actions must already
lie in [-1, 1] for robomimic (its OSC deltas do); Minari actions are mapped from the task's
action bounds. Demos are taken in their index order (demo_0, demo_1, ...), or those of a
robomimic split (`mask/train`, `mask/valid`); `n` keeps the first `n`.

robosuite 1.5 writes robomimic's `object` block (its `object-state`) in another order than
robosuite 1.4, in which robomimic's released datasets were recorded and bolrl's live tasks
build it; a file records its robosuite version (`env_args.env_version`), and the block is put
back in the live task's order (`Layout.object_keys_15`). A file that records no version is
read as robosuite 1.4's.
"""

from __future__ import annotations

import dataclasses
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
    """What an import needs of a task: its name, sizes, action bounds, and the Gymnasium id
    a dataset of it is recorded on (where it has one)."""

    name: str
    obs_dim: int
    act_dim: int
    low: np.ndarray
    high: np.ndarray
    gym_id: str | None = None


@dataclass(frozen=True)
class Options:
    """How to read a dataset: which demos, and what counts as success."""

    n: int | None = None  # the first n demos (of the split)
    split: str | None = None  # robomimic: "train" or "valid" (its mask/<split>)
    only_successful: bool = False  # drop demos that never succeed (before counting n)
    terminations_are_success: bool = False  # Minari: a termination means success


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
    if task_name.startswith("gym:"):
        gym_id = task_name[4:]
    else:  # an embedded task's registered id (bolrl/Lift-v0); none for module:factory tasks
        gym_id = None if isinstance(task, ExternalTask) else getattr(task, "gym_id", None)
    if isinstance(task, ExternalTask):  # actions are mapped from the environment's bounds
        env = task.make_env()
        wrapper = env
        while not isinstance(wrapper, TaskWrapper):
            wrapper = wrapper.env
        low, high = wrapper.low, wrapper.high
        env.close()
    return Target(task.name, task.obs_dim, task.act_dim, low, high, gym_id)


def dataset_file(path: Path) -> Path:
    """The HDF5 file of a dataset given as a file or as a Minari dataset's directory."""
    path = Path(path)
    if path.is_dir():
        for candidate in (path / "data" / "main_data.hdf5", path / "main_data.hdf5"):
            if candidate.is_file():
                return candidate
        raise DatasetError(f"{path}: a directory without data/main_data.hdf5 (a Minari "
                           f"dataset's layout); name the HDF5 file itself")
    return path


def read(path: Path, task: Target, n: int | None = None,
         options: Options | None = None) -> Imported:
    """The demos of a robomimic or Minari file for `task`: the first `n` (all without `n`)
    of those `options` select."""
    options = dataclasses.replace(options or Options(), **({"n": n} if n is not None else {}))
    h5py = _h5py()
    path = dataset_file(path)
    where = f"{path}"
    if not Path(path).is_file():
        raise DatasetError(f"{where}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise DatasetError(f"{where}: not an HDF5 file") from None
    with f:
        if "data" in f and isinstance(f["data"], h5py.Group):
            return _robomimic(f, where, task, options)
        if options.split:
            raise DatasetError(f"{where}: --split selects a robomimic dataset's mask/"
                               f"{options.split}; this is not a robomimic dataset")
        if _ordered(f.keys(), "episode_"):
            return _minari(f, Path(path), where, task, options)
        raise DatasetError(f"{where}: neither a robomimic dataset (a `data` group of "
                           f"demo_<i>) nor a Minari one (episode_<i> groups)")


def _check_count(names: list[str], n: int | None, where: str, what: str) -> None:
    """A file with fewer demos than --n asks for is refused."""
    if n is not None and n > len(names):
        raise DatasetError(f"{where}: has {len(names)} {what}, --n asks for {n}")


def _keep(kept: list, unsuccessful: int, episode, ok: bool, options: Options) -> int:
    """Append the episode unless only successful ones are kept; the count of failed ones."""
    if ok or not options.only_successful:
        kept.append(episode)
    return unsuccessful + (not ok and not options.only_successful)


def _finish(kept: list, where: str, options: Options, source: str, env_name, available: int,
            unsuccessful: int) -> Imported:
    if not kept:
        raise DatasetError(f"{where}: no demo is left to import (--only-successful: none of "
                           f"them succeeds)")
    if options.n is not None and len(kept) < options.n:
        raise DatasetError(f"{where}: only {len(kept)} of its demos succeed, --n asks for "
                           f"{options.n}")
    kept = kept[:options.n]
    return Imported(Episodes.concat(kept), source, env_name, available, unsuccessful)


def _split(f, data, where: str, split: str | None) -> list[str]:
    """The demos of a robomimic file, in index order, or those of its mask/<split>."""
    demos = _ordered(data.keys(), "demo_")
    if split is None:
        return demos
    if "mask" not in f or split not in f["mask"]:
        masks = sorted(f["mask"].keys()) if "mask" in f else []
        raise DatasetError(f"{where}: no mask/{split} (the file's splits: "
                           f"{', '.join(masks) or 'none'})")
    chosen = {m.decode() if isinstance(m, bytes) else str(m) for m in f["mask"][split][()]}
    return [d for d in demos if d in chosen]


def _robosuite_version(data) -> tuple[int, ...] | None:
    text = _json_attr(data.attrs, "env_args", "env_version")
    if not text:
        return None
    try:
        return tuple(int(x) for x in re.findall(r"\d+", str(text))[:2])
    except ValueError:
        return None


def _robomimic(f, where: str, task, options: Options) -> Imported:
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
    demos = _split(f, data, where, options.split)
    if not demos:
        raise DatasetError(f"{where}: the `data` group holds no demo_<i> groups"
                           + (f" in mask/{options.split}" if options.split else ""))
    _check_count(demos, options.n, where, "demos" + (f" in mask/{options.split}"
                                                  if options.split else ""))
    version = _robosuite_version(data)
    order = lay.object_keys_15 if version is not None and version >= (1, 5) else None
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
    for name in demos:
        if options.n is not None and len(kept) >= options.n:
            break
        demo = data[name]
        obs = _concat(demo["obs"], lay, where, name, order)
        if "next_obs" in demo:
            next_obs = _concat(demo["next_obs"], lay, where, name, order)
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
        unsuccessful = _keep(kept, unsuccessful, episode, ok, options)
    return _finish(kept, where, options, "robomimic", env_name, len(demos), unsuccessful)


def reorder_object(x: np.ndarray, written: tuple[str, ...], wanted: tuple[str, ...]) -> np.ndarray:
    """An `object` block written with its observables in the order `written`, put in the
    order `wanted` (each observable 3 floats, or 4 for a quaternion)."""
    sizes = {k: 4 if k.endswith("quat") else 3 for k in written}
    starts, at = {}, 0
    for k in written:
        starts[k], at = at, at + sizes[k]
    return np.concatenate([x[:, starts[k]:starts[k] + sizes[k]] for k in wanted], axis=1)


def _concat(group, lay, where: str, name: str,
            written: tuple[str, ...] | None = None) -> np.ndarray:
    """The observation vector of a demo (`written`: the order of its `object` block's
    observables when it is not the live task's)."""
    parts = []
    for key, size in lay.keys:
        if key not in group:
            raise DatasetError(f"{where}: {name} has no observation key {key!r}")
        x = np.asarray(group[key], np.float64)
        x = x.reshape(len(x), -1)
        if x.shape[1] != size:
            raise DatasetError(f"{where}: {name}/obs/{key} has {x.shape[1]} floats per step, "
                               f"task robomimic/{lay.task} expects {size}")
        if key == "object" and written is not None:
            x = reorder_object(x, written, lay.object_keys)
        parts.append(x)
    return np.concatenate(parts, axis=1)


def minari_env_id(f, path: Path) -> str | None:
    """The environment a Minari dataset was recorded on: the `env_spec` of `metadata.json`
    beside its HDF5 file (Minari 0.5), else the file's `env_spec` attribute (older)."""
    meta = Path(path).parent / "metadata.json"
    if meta.is_file():
        try:
            spec = json.loads(meta.read_text()).get("env_spec")
            spec = json.loads(spec) if isinstance(spec, str) else spec
            if isinstance(spec, dict) and spec.get("id"):
                return str(spec["id"])
        except (OSError, ValueError, AttributeError):
            pass
    return _json_attr(f.attrs, "env_spec", "id")


SUCCESS_KEYS = ("is_success", "success")  # in a Minari episode's infos, in this order


def _minari_success(ep, where: str, name: str, options: Options) -> np.ndarray:
    """Per step, whether it succeeded: an info's success key (the reset's info, the first,
    belongs to no step), or a termination where the user says terminations mean success."""
    infos = ep["infos"] if "infos" in ep else None
    for key in SUCCESS_KEYS:
        if infos is not None and key in infos and not hasattr(infos[key], "keys"):
            return np.asarray(infos[key], bool).ravel()[1:]
    if options.terminations_are_success:
        if "terminations" not in ep:
            raise DatasetError(f"{where}: {name} has no terminations")
        return np.asarray(ep["terminations"], bool).ravel()
    raise DatasetError(f"{where}: {name} records no success (no infos/is_success or "
                       f"infos/success); if its terminations mean success, import it with "
                       f"--terminations-are-success (environments also terminate on failure)")


def _minari(f, path: Path, where: str, task, options: Options) -> Imported:
    env_name = minari_env_id(f, path)
    if env_name and task.gym_id and env_name != task.gym_id:
        raise DatasetError(f"{where}: recorded on {env_name!r}, but task {task.name!r} is "
                           f"{task.gym_id!r}")
    episodes = _ordered(f.keys(), "episode_")
    _check_count(episodes, options.n, where, "episodes")
    low, high = task.low, task.high
    kept, unsuccessful = [], 0
    for name in episodes:
        if options.n is not None and len(kept) >= options.n:
            break
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
        success = _minari_success(ep, where, name, options)
        scaled = np.clip(2.0 * (actions - low) / (high - low) - 1.0, -1.0, 1.0)
        episode, ok = _episode(observations[:-1], scaled, observations[1:], success)
        unsuccessful = _keep(kept, unsuccessful, episode, ok, options)
    return _finish(kept, where, options, "minari", env_name, len(episodes), unsuccessful)
