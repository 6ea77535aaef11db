"""Study files: the TOML schema, validation with clear errors, and grid expansion into cells.

A study file has these tables (every knob of a study is visible here; defaults below):

    [study]       name, description, tasks, seeds, rounds, episodes_per_round, eval_episodes,
                  n_envs (environments stepped together), demos (per task: {lift = 10, ...})
    [train]       steps_round0, steps_per_round, batch_size, lr, lr_schedule (constant |
                  cosine), ema (rate of the acting copy of the policy; 0: none), warm_start,
                  critic_round0 (Q0 on the demonstrations), demo_fraction (least share of
                  demonstrations in a policy batch: a number, or a table per algorithm),
                  chunk_labels (all | aligned), obs_clip, obs_std_floor, obs_std_floor_unitless
    [networks]    hidden, layers, critic_hidden, critic_layers, diffusion_steps, denoiser
                  (mlp | resnet), action_chunk (actions predicted per policy query and
                  executed open-loop)
    [critic]      gamma, expectile, target_tau
    [extraction]  awr_beta, awr_max_weight, ddpg_alpha, n_samples
    [noise]       sigma, theta (OU), beta (colored noise exponent), dims (action dimensions
                  that get noise; empty: the task's, the translation of the embedded tasks)
    [axes]        algorithm, extraction, policy, noise, and optionally episodes_per_round:
                  lists of values, expanded as a grid (task x seed x axes)
    [[cells]]     extra cells, each naming axis values (and optionally task and seed)
    [tasks."<name>"]  options of an external Gymnasium task named in [study].tasks
                  (`gym:ENV-ID` or `module.path:make_env`): imports, horizon, success,
                  expert, demos_file (see bolrl.envs.external)

Combinations that make no sense are dropped with a stated reason: imitation (`bc`,
`filtered-bc`) has no extraction (`none` only), and the Q-function (`iql`) needs one.
A cell id is a stable hash of the cell's full configuration.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import itertools
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bolrl.agent import ALGORITHMS, CHUNK_LABELS, LR_SCHEDULES, AgentConfig
from bolrl.envs import TASKS, get_task
from bolrl.envs.external import TaskError, TaskSpec, is_external
from bolrl.extraction import EXTRACTORS
from bolrl.noise import NOISES, NoiseParams
from bolrl.policies import POLICIES
from bolrl.policies.diffusion import DENOISERS

EXTRACTIONS = ("none", *(name for name, e in EXTRACTORS.items() if e.needs_critic))
AXES = ("algorithm", "extraction", "policy", "noise", "episodes_per_round")
AXIS_VALUES: dict[str, tuple] = {
    "algorithm": ALGORITHMS,
    "extraction": EXTRACTIONS,
    "policy": tuple(POLICIES),
    "noise": tuple(NOISES),
}
MAX_COUNT = 1_000_000


class StudyError(ValueError):
    """A mistake in a study file, phrased as one sentence naming the file and the key."""


# Defaults of every knob, by table; their types are those of the defaults.
DEFAULTS: dict[str, dict[str, Any]] = {
    "study": {
        "name": "",
        "description": "",
        "tasks": ["lift"],
        "seeds": [0],
        "rounds": 3,
        "episodes_per_round": 50,
        "eval_episodes": 50,
        "n_envs": 50,
        "demos": {},
    },
    "train": {
        "steps_round0": 2000,
        "steps_per_round": 1000,
        "batch_size": 256,
        "lr": 3e-4,
        "lr_schedule": "constant",
        "ema": 0.0,
        "warm_start": True,
        "critic_round0": False,
        "demo_fraction": {"bc": 0.5, "filtered-bc": 0.0, "iql": 0.5},
        "chunk_labels": "all",
        "obs_clip": 5.0,
        "obs_std_floor": 0.01,
        "obs_std_floor_unitless": 0.1,
    },
    "networks": {
        "hidden": 256,
        "layers": 3,
        "critic_hidden": 256,
        "critic_layers": 2,
        "diffusion_steps": 10,
        "denoiser": "mlp",
        "action_chunk": 1,
    },
    "critic": {"gamma": 0.99, "expectile": 0.8, "target_tau": 0.005},
    "extraction": {"awr_beta": 3.0, "awr_max_weight": 100.0, "ddpg_alpha": 2.5, "n_samples": 32},
    "noise": {"sigma": 0.1, "theta": 0.15, "beta": 1.0, "dims": []},
    "axes": {
        "algorithm": ["bc", "filtered-bc", "iql"],
        "extraction": ["none", "best-of-n"],
        "policy": ["diffusion"],
        "noise": ["none"],
    },
}
DEFAULT_DEMOS = 20
POSITIVE = {
    ("study", "rounds"): (0, 200),
    ("study", "episodes_per_round"): (1, MAX_COUNT),
    ("study", "eval_episodes"): (1, MAX_COUNT),
    ("study", "n_envs"): (1, 10_000),
    ("train", "steps_round0"): (1, 10_000_000),
    ("train", "steps_per_round"): (0, 10_000_000),
    ("train", "batch_size"): (1, 1_000_000),
    ("networks", "hidden"): (1, 65_536),
    ("networks", "layers"): (1, 64),
    ("networks", "critic_hidden"): (1, 65_536),
    ("networks", "critic_layers"): (1, 64),
    ("networks", "diffusion_steps"): (1, 1000),
    ("networks", "action_chunk"): (1, 64),
    ("extraction", "n_samples"): (1, 100_000),
    ("train", "lr"): (1e-8, 1.0),
    ("train", "ema"): (0.0, 1.0),
    ("train", "obs_clip"): (0.0, 1e6),
    ("train", "obs_std_floor"): (1e-8, 1e6),
    ("train", "obs_std_floor_unitless"): (1e-8, 1e6),
}
# Knobs whose value is one of a few words.
CHOICES = {
    ("train", "lr_schedule"): LR_SCHEDULES,
    ("train", "chunk_labels"): CHUNK_LABELS,
    ("networks", "denoiser"): DENOISERS,
}


@dataclass(frozen=True)
class Cell:
    """One run of the batch online loop: a task, a seed, a point of the grid, every knob."""

    study: str
    task: str
    task_spec: TaskSpec
    seed: int
    algorithm: str
    extraction: str
    policy: str
    noise: str
    episodes_per_round: int
    rounds: int
    eval_episodes: int
    n_envs: int
    demos: int
    steps_round0: int
    steps_per_round: int
    agent: AgentConfig
    noise_params: NoiseParams

    def config(self) -> dict:
        """The full configuration, as plain data (without the study name)."""
        out = dataclasses.asdict(self)
        out.pop("study")
        return out

    @property
    def cell_id(self) -> str:
        blob = json.dumps(self.config(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @property
    def method(self) -> str:
        """A readable name of the method (the axes other than task and seed)."""
        core = self.algorithm if self.algorithm != "iql" else f"iql+{self.extraction}"
        name = f"{self.policy}/{core}"
        if self.noise != "none":
            name += f"+{self.noise}"
        return name

    @property
    def label(self) -> str:
        return f"{self.task} seed {self.seed} {self.method} E={self.episodes_per_round}"


@dataclass(frozen=True)
class Study:
    name: str
    path: Path
    description: str
    cells: list[Cell]
    dropped: list[tuple[dict, str]] = field(default_factory=list)

    def cell(self, cell_id: str) -> Cell:
        for c in self.cells:
            if c.cell_id == cell_id:
                return c
        raise StudyError(f"{self.path}: no cell with id {cell_id!r} (see `bolrl show`)")


def _suggest(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_name(value: Any) -> str:
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}[type(value)]


def _check_type(path: Path, where: str, value: Any, default: Any) -> Any:
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise StudyError(f"{path}: {where} must be {_type_name(default)}, got {value!r}")
    return value


def _axis_list(path: Path, where: str, values: Any, allowed: tuple | None) -> list:
    if not isinstance(values, list) or not values:
        raise StudyError(f"{path}: {where} must be a non-empty list")
    for v in values:
        if allowed is None:
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= MAX_COUNT:
                raise StudyError(f"{path}: {where} values must be positive integers, got {v!r}")
        elif v not in allowed:
            raise StudyError(
                f"{path}: {where}: unknown value {v!r}; allowed: {', '.join(map(str, allowed))}"
                + _suggest(str(v), allowed)
            )
    return values


def _demo_fraction(path: Path, where: str, value: Any) -> dict[str, float]:
    """A share in [0, 1] for every algorithm: one number for all, or a table by algorithm
    (algorithms it leaves out keep their defaults)."""
    if isinstance(value, dict):
        for name in value:
            if name not in ALGORITHMS:
                raise StudyError(f"{path}: {where}: unknown algorithm {name!r}; allowed: "
                                 f"{', '.join(ALGORITHMS)}" + _suggest(str(name), ALGORITHMS))
        shares = {**DEFAULTS["train"]["demo_fraction"], **value}
    else:
        shares = dict.fromkeys(ALGORITHMS, value)
    for name, share in shares.items():
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
            raise StudyError(f"{path}: {where} must be a number between 0 and 1 (or a table "
                             f"of them by algorithm), got {share!r} for {name}")
    return {name: float(share) for name, share in shares.items()}


def _noise_dims(path: Path, where: str, value: Any) -> list[int]:
    if not isinstance(value, list) or any(
        isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in value
    ):
        raise StudyError(f"{path}: {where} must be a list of action dimensions (integers >= 0),"
                         f" got {value!r}")
    return value


def load_toml(path: Path) -> dict:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise StudyError(f"{path}: study file not found") from None
    except OSError as exc:
        raise StudyError(f"{path}: cannot read the study file: {exc.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StudyError(f"{path}: TOML syntax error: {exc}") from None


def parse(path: Path, raw: dict) -> dict:
    """Validated settings: DEFAULTS overlaid with the file's values, every key checked."""
    allowed_tables = (*DEFAULTS, "cells", "tasks")
    for table in raw:
        if table not in allowed_tables:
            raise StudyError(f"{path}: unknown table [{table}]" + _suggest(table, allowed_tables))
    settings: dict[str, dict] = {}
    for table, defaults in DEFAULTS.items():
        given = raw.get(table, {})
        if not isinstance(given, dict):
            raise StudyError(f"{path}: [{table}] must be a table")
        merged = dict(defaults)
        for key, value in given.items():
            known = (*defaults, "episodes_per_round") if table == "axes" else defaults
            if key not in known:
                raise StudyError(
                    f"{path}: unknown key {key!r} in [{table}]; allowed: {', '.join(known)}"
                    + _suggest(key, known)
                )
            where = f"[{table}].{key}"
            if table == "axes":
                merged[key] = _axis_list(path, where, value, AXIS_VALUES.get(key))
            elif (table, key) == ("train", "demo_fraction"):
                merged[key] = _demo_fraction(path, where, value)
            elif (table, key) == ("noise", "dims"):
                merged[key] = _noise_dims(path, where, value)
            else:
                merged[key] = _check_type(path, where, value, defaults[key])
            if (table, key) in CHOICES and merged[key] not in CHOICES[(table, key)]:
                allowed = CHOICES[(table, key)]
                raise StudyError(f"{path}: {where}: unknown value {merged[key]!r}; allowed: "
                                 f"{', '.join(allowed)}" + _suggest(str(merged[key]), allowed))
            if (table, key) in POSITIVE:
                low, high = POSITIVE[(table, key)]
                if not low <= merged[key] <= high:
                    raise StudyError(f"{path}: {where} must be between {low} and {high}, "
                                     f"got {merged[key]}")
        settings[table] = merged
    study = settings["study"]
    if not study["name"]:
        study["name"] = Path(path).stem
    settings["task_specs"] = _parse_tasks(path, study["tasks"], raw.get("tasks", {}))
    if not study["tasks"] or not study["seeds"]:
        raise StudyError(f"{path}: [study].tasks and [study].seeds must not be empty")
    if any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in study["seeds"]):
        raise StudyError(f"{path}: [study].seeds must be non-negative integers")
    for task, n in study["demos"].items():
        if task not in settings["task_specs"] and task not in TASKS:
            raise StudyError(f"{path}: [study].demos: unknown task {task!r}; the embedded tasks "
                             f"are: {', '.join(TASKS)}" + _suggest(str(task), TASKS))
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 100_000:
            raise StudyError(f"{path}: [study].demos.{task} must be a positive integer, got {n!r}")
    for name, spec in settings["task_specs"].items():
        if spec.demos_file:
            from bolrl.demos import from_file

            try:
                from_file(get_task(spec), Path(spec.demos_file),
                          study["demos"].get(name, DEFAULT_DEMOS))
            except ValueError as exc:
                raise StudyError(f"{path}: {exc}") from None
    for key in ("gamma", "expectile"):
        if not 0.0 < settings["critic"][key] < 1.0:
            raise StudyError(f"{path}: [critic].{key} must be strictly between 0 and 1")
    if not 0.0 < settings["critic"]["target_tau"] <= 1.0:
        raise StudyError(f"{path}: [critic].target_tau must be in (0, 1]")
    if settings["noise"]["sigma"] < 0 or not 0 < settings["noise"]["theta"] <= 1:
        raise StudyError(f"{path}: [noise].sigma must be >= 0 and [noise].theta in (0, 1]")
    for name, spec in settings["task_specs"].items():
        act_dim = get_task(spec).act_dim
        if any(d >= act_dim for d in settings["noise"]["dims"]):
            raise StudyError(f"{path}: [noise].dims: task {name!r} has {act_dim} action "
                             f"dimensions (0 to {act_dim - 1}), got {settings['noise']['dims']}")
    settings["cells"] = _parse_extra_cells(path, raw.get("cells", []), settings)
    return settings


TASK_OPTIONS = {"imports": [], "horizon": 1, "success": "", "expert": "", "demos_file": ""}


def _parse_tasks(path: Path, names: list, tables: Any) -> dict[str, TaskSpec]:
    """A TaskSpec per task named in [study].tasks; external tasks are built once here, so
    that a missing module, a discrete action space or a missing success signal is reported
    before anything runs."""
    if not isinstance(tables, dict):
        raise StudyError(f"{path}: [tasks] must be a table of task tables")
    for name in tables:
        if name not in names:
            raise StudyError(f"{path}: [tasks.{name!r}] configures a task that [study].tasks "
                             f"does not name")
    specs = {}
    for name in names:
        if not isinstance(name, str):
            raise StudyError(f"{path}: [study].tasks must be task names, got {name!r}")
        if name not in TASKS and not is_external(name):
            raise StudyError(f"{path}: [study].tasks: unknown task {name!r}; the embedded tasks "
                             f"are: {', '.join(TASKS)} (or name a Gymnasium task as gym:ENV-ID "
                             f"or module.path:make_env)" + _suggest(name, TASKS))
        options = tables.get(name, {})
        if not isinstance(options, dict):
            raise StudyError(f"{path}: [tasks.{name!r}] must be a table")
        for key, value in options.items():
            if key not in TASK_OPTIONS:
                raise StudyError(f"{path}: unknown key {key!r} in [tasks.{name!r}]; allowed: "
                                 f"{', '.join(TASK_OPTIONS)}" + _suggest(key, TASK_OPTIONS))
            _check_type(path, f"[tasks.{name!r}].{key}", value, TASK_OPTIONS[key])
        if options and name in TASKS:
            raise StudyError(f"{path}: [tasks.{name!r}]: options are for external tasks; "
                             f"{name!r} is embedded")
        spec = TaskSpec(name, imports=tuple(options.get("imports", ())),
                        horizon=options.get("horizon"), success=options.get("success"),
                        expert=options.get("expert"), demos_file=options.get("demos_file"))
        if is_external(name):
            if not spec.expert and not spec.demos_file:
                raise StudyError(f"{path}: [tasks.{name!r}]: no demonstrations: name an expert "
                                 f"(module.path:fn) or a demos_file")
            try:
                get_task(spec)
            except TaskError as exc:
                raise StudyError(f"{path}: {exc}") from None
        specs[name] = spec
    return specs


def _parse_extra_cells(path: Path, cells: Any, settings: dict) -> list[dict]:
    if not isinstance(cells, list):
        raise StudyError(f"{path}: [[cells]] must be an array of tables")
    out = []
    for i, cell in enumerate(cells):
        where = f"[[cells]] #{i + 1}"
        if not isinstance(cell, dict):
            raise StudyError(f"{path}: {where} must be a table")
        allowed = (*AXES, "task", "seed")
        for key, value in cell.items():
            if key not in allowed:
                raise StudyError(f"{path}: {where}: unknown key {key!r}; allowed: "
                                 f"{', '.join(allowed)}" + _suggest(key, allowed))
            if key in AXIS_VALUES:
                _axis_list(path, f"{where}.{key}", [value], AXIS_VALUES[key])
            elif key == "task" and value not in settings["task_specs"]:
                raise StudyError(f"{path}: {where}.task: {value!r} is not one of the study's "
                                 f"tasks: {', '.join(settings['task_specs'])}")
            elif key in ("seed", "episodes_per_round") and (
                not isinstance(value, int) or isinstance(value, bool) or value < 0
            ):
                raise StudyError(f"{path}: {where}.{key} must be a non-negative integer")
        missing = [k for k in ("algorithm", "extraction", "policy", "noise") if k not in cell]
        if missing:
            raise StudyError(f"{path}: {where} must name {', '.join(missing)}")
        out.append(cell)
    return out


def why_invalid(point: dict) -> str | None:
    """The reason a grid point makes no sense, or None if it is a valid cell."""
    imitation = point["algorithm"] in ("bc", "filtered-bc")
    if imitation and point["extraction"] != "none":
        return "imitation has no policy extraction (extraction applies to the Q-function only)"
    if not imitation and point["extraction"] == "none":
        return "the Q-function needs an extraction method (awr, ddpg-bc or best-of-n)"
    return None


def _make_cell(study: str, s: dict, point: dict) -> Cell:
    train = s["train"]
    agent = AgentConfig(
        algorithm=point["algorithm"],
        extraction=point["extraction"],
        policy=point["policy"],
        demo_fraction=train["demo_fraction"][point["algorithm"]],
        **{k: v for k, v in train.items()
           if k not in ("steps_round0", "steps_per_round", "demo_fraction")},
        **s["networks"],
        **s["critic"],
        **s["extraction"],
    )
    return Cell(
        study=study,
        task=point["task"],
        task_spec=s["task_specs"][point["task"]],
        seed=point["seed"],
        algorithm=point["algorithm"],
        extraction=point["extraction"],
        policy=point["policy"],
        noise=point["noise"],
        episodes_per_round=point["episodes_per_round"],
        rounds=s["study"]["rounds"],
        eval_episodes=s["study"]["eval_episodes"],
        n_envs=s["study"]["n_envs"],
        demos=s["study"]["demos"].get(point["task"], DEFAULT_DEMOS),
        steps_round0=s["train"]["steps_round0"],
        steps_per_round=s["train"]["steps_per_round"],
        agent=agent,
        noise_params=NoiseParams(**{**s["noise"], "dims": tuple(s["noise"]["dims"])}),
    )


def expand(settings: dict) -> tuple[list[Cell], list[tuple[dict, str]]]:
    """The grid's cells (then the extra cells), and the dropped points with their reasons."""
    study = settings["study"]
    axes = dict(settings["axes"])
    axes.setdefault("episodes_per_round", [study["episodes_per_round"]])
    names = ("algorithm", "extraction", "policy", "noise", "episodes_per_round")
    points = []
    for task, seed in itertools.product(study["tasks"], study["seeds"]):
        for values in itertools.product(*(axes[n] for n in names)):
            points.append({"task": task, "seed": seed, **dict(zip(names, values, strict=True))})
    for extra in settings["cells"]:
        tasks = [extra["task"]] if "task" in extra else study["tasks"]
        seeds = [extra["seed"]] if "seed" in extra else study["seeds"]
        for task, seed in itertools.product(tasks, seeds):
            point = {"episodes_per_round": study["episodes_per_round"], **extra}
            points.append({**point, "task": task, "seed": seed})
    cells, dropped, seen = [], [], set()
    for point in points:
        reason = why_invalid(point)
        if reason:
            key = (point["algorithm"], point["extraction"])
            if key not in {(d["algorithm"], d["extraction"]) for d, _ in dropped}:
                dropped.append(({"algorithm": key[0], "extraction": key[1]}, reason))
            continue
        cell = _make_cell(study["name"], settings, point)
        if cell.cell_id not in seen:
            seen.add(cell.cell_id)
            cells.append(cell)
    return cells, dropped


def load_study(path: Path) -> Study:
    path = Path(path)
    settings = parse(path, load_toml(path))
    cells, dropped = expand(settings)
    if not cells:
        raise StudyError(f"{path}: the grid has no valid cells")
    return Study(settings["study"]["name"], path, settings["study"]["description"], cells,
                 dropped)


def find_study(name_or_path: str | None, search: list[Path] | None = None) -> Path:
    """A study given by path, or by name in ./studies or the studies shipped with bolrl."""
    if name_or_path is None:
        name_or_path = "quick"
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.exists():
        return candidate
    roots = search or [Path.cwd() / "studies", Path(__file__).resolve().parent.parent / "studies"]
    for root in roots:
        if (root / f"{name_or_path}.toml").exists():
            return root / f"{name_or_path}.toml"
    known = sorted({p.stem for r in roots if r.is_dir() for p in r.glob("*.toml")})
    raise StudyError(f"{name_or_path}: no such study file; known studies: {', '.join(known)}"
                     + _suggest(name_or_path, known))
