"""Study files: the TOML schema, validation with clear errors, and grid expansion into cells.

A study file has the tables of `bolrl.config` ([study], [train], [networks], [critic],
[extraction], [noise], [axes]; `bolrl show --keys` lists every key with its default, bounds
and meaning), plus

    [[cells]]     extra cells, each naming axis values (and optionally task and seed)
    [tasks."<name>"]  options of an external Gymnasium task named in [study].tasks
                  (`gym:ENV-ID` or `module.path:make_env`): imports, horizon, success,
                  expert, demos_file (see bolrl.envs.external)

Parsing, types, bounds and defaults all come from the config classes. Axis values are looked
up in `bolrl.registry`. Combinations that make no sense are dropped with a stated reason:
imitation (`bc`, `filtered-bc`) has no extraction (`none` only), and a Q-function method
needs one. A cell id is a stable hash of what determines the cell's rows (`bolrl.identity`).
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bolrl import identity
from bolrl.config import (
    DEMO_STYLES,
    DEMOS_VERSION,
    DEVICE_PATTERN,
    TABLES,
    AgentConfig,
    CriticTable,
    ExtractionTable,
    Method,
    NetworksTable,
    NoiseTable,
    StudyTable,
    TrainTable,
    bounds_text,
    in_bounds,
    knobs,
)
from bolrl.envs import TASKS, get_task, unknown_task_message
from bolrl.envs.external import TaskError, TaskSpec, is_external
from bolrl.envs.suites import suite_of, task_version
from bolrl.files import content_hash
from bolrl.registry import (
    ALGORITHMS,
    EXTRACTIONS,
    NO_EXTRACTION,
    NOISES,
    POLICIES,
    method_name,
    why_not,
)

AXES = ("algorithm", "extraction", "policy", "noise", "episodes_per_round", "noise_sigma",
        "demos_style")
AXIS_VALUES: dict[str, tuple] = {
    "algorithm": tuple(ALGORITHMS),
    "extraction": (NO_EXTRACTION, *EXTRACTIONS),
    "policy": tuple(POLICIES),
    "noise": tuple(NOISES),
    "demos_style": DEMO_STYLES,
}
MAX_COUNT = 1_000_000
DEFAULT_DEMOS = 20


class StudyError(ValueError):
    """A mistake in a study file, phrased as one sentence naming the file and the key."""


class SuiteMissing(StudyError):
    """A study names tasks of a suite whose extra is not installed here: it can be read (its
    cells, its results) but not run."""


@dataclass(frozen=True)
class Cell:
    """One run of the batch online loop: a task, a seed, a point of the grid, every knob."""

    study: str
    task: str
    task_spec: TaskSpec
    seed: int
    method: Method
    noise: str
    episodes_per_round: int
    rounds: int
    eval_episodes: int
    n_envs: int
    demos: int
    train: TrainTable  # demo_fraction: the share for this cell's algorithm
    networks: NetworksTable
    critic: CriticTable
    extraction_params: ExtractionTable
    noise_params: NoiseTable
    vector_env: str = "sync"  # how Gymnasium tasks step their environments: not in config()
    demos_style: str = "scripted"  # the embedded experts' demonstration style
    track: tuple[str, ...] = ()  # experiment trackers that watch it (bolrl.trackers): not in
    # config(), they never change its rows

    @property
    def algorithm(self) -> str:
        return self.method.algorithm

    @property
    def extraction(self) -> str:
        return self.method.extraction

    @property
    def policy(self) -> str:
        return self.method.policy

    @property
    def agent(self) -> AgentConfig:
        return AgentConfig(self.method, self.train, self.networks, self.critic,
                           self.extraction_params)

    def config(self) -> dict:
        """The full configuration as plain data (without the study name), recorded in every
        row: {every cell setting, "agent": {every setting of the learner}, "noise_params":
        {...}}, the demonstrations' generator version, and an imported demonstrations file's
        content hash. `cell_id` hashes what of it determines the rows (bolrl.identity)."""
        train = dataclasses.asdict(self.train)
        train.pop("device")  # where it runs is not what it is (the rows record the device)
        schedule = {k: train.pop(k) for k in ("steps_round0", "steps_per_round")}
        agent = {**dataclasses.asdict(self.method), **dataclasses.asdict(self.networks),
                 **train, **dataclasses.asdict(self.critic),
                 **dataclasses.asdict(self.extraction_params)}
        noise = dataclasses.asdict(self.noise_params)
        noise["dims"] = list(noise["dims"])
        return {
            "task": self.task, "task_spec": self.task_spec.as_dict(), "seed": self.seed,
            "algorithm": self.algorithm, "extraction": self.extraction,
            "policy": self.policy, "noise": self.noise,
            "episodes_per_round": self.episodes_per_round, "rounds": self.rounds,
            "eval_episodes": self.eval_episodes, "n_envs": self.n_envs, "demos": self.demos,
            **schedule, "agent": agent, "noise_params": noise,
            "demos_version": DEMOS_VERSION,
            "demos_style": self.demos_style,
            "task_version": task_version(self.task),
            "demos_sha256": (content_hash(Path(self.task_spec.demos_file))
                             if self.task_spec.demos_file else None),
        }

    @property
    def cell_id(self) -> str:
        return identity.cell_id(self.config())

    @property
    def method_name(self) -> str:
        """A readable name of the method (the axes other than task and seed)."""
        return method_name(self.algorithm, self.extraction, self.policy, self.noise)

    @property
    def label(self) -> str:
        style = "" if self.demos_style == "scripted" else f" demos={self.demos_style}"
        return (f"{self.task} seed {self.seed} {self.method_name} E={self.episodes_per_round}"
                + style)


@dataclass(frozen=True)
class Study:
    name: str
    path: Path
    description: str
    cells: list[Cell]
    dropped: list[tuple[dict, str]] = field(default_factory=list)
    table: StudyTable = field(default_factory=StudyTable)  # its [study] table, as parsed
    warnings: list[str] = field(default_factory=list)  # inputs accepted, likely mistakes
    resolved: str = ""  # the study as it runs, as TOML (bolrl.overrides.resolved_text)

    def cell(self, cell_id: str) -> Cell:
        """The cell with this id, or the one cell whose id starts with it."""
        matches = [c for c in self.cells if c.cell_id.startswith(cell_id)] if cell_id else []
        exact = [c for c in matches if c.cell_id == cell_id]
        if exact or len(matches) == 1:
            return (exact or matches)[0]
        if matches:
            raise StudyError(f"{self.path}: {cell_id!r} is the start of {len(matches)} cell "
                             f"ids ({', '.join(c.cell_id for c in matches[:4])}"
                             f"{', ...' if len(matches) > 4 else ''}); give more of it")
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
        if where.endswith("noise_sigma"):
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < 1e6:
                raise StudyError(f"{path}: {where} values must be numbers >= 0, got {v!r}")
        elif allowed is None:
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= MAX_COUNT:
                raise StudyError(f"{path}: {where} values must be positive integers, got {v!r}")
        elif v not in allowed:
            raise StudyError(
                f"{path}: {where}: unknown value {v!r}; allowed: {', '.join(map(str, allowed))}"
                + _suggest(str(v), allowed)
            )
    return values


def _demo_fraction(path: Path, where: str, value: Any, f) -> dict[str, float]:
    """A share in [0, 1] for every algorithm: one number for all, or a table by algorithm
    (algorithms it leaves out keep their defaults)."""
    if isinstance(value, dict):
        for name in value:
            if name not in ALGORITHMS:
                raise StudyError(f"{path}: {where}: unknown algorithm {name!r}; allowed: "
                                 f"{', '.join(ALGORITHMS)}" + _suggest(str(name), ALGORITHMS))
        shares = {**f.default_factory(), **value}
    else:
        shares = dict.fromkeys(ALGORITHMS, value)
    for name, share in shares.items():
        if isinstance(share, bool) or not isinstance(share, int | float) or not in_bounds(f, share):
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


def _parse_value(path: Path, table: str, f, value: Any) -> Any:
    """One key of a table, checked against its knob: type, then bounds or allowed words."""
    where = f"[{table}].{f.name}"
    if table == "axes":
        return _axis_list(path, where, value, AXIS_VALUES.get(f.name))
    if (table, f.name) == ("train", "demo_fraction"):
        return _demo_fraction(path, where, value, f)
    if (table, f.name) == ("noise", "dims"):
        return _noise_dims(path, where, value)
    default = f.default_factory() if f.default is dataclasses.MISSING else f.default
    value = _check_type(path, where, value, default)
    choices = f.metadata.get("choices")
    if choices and value not in choices:
        raise StudyError(f"{path}: {where}: unknown value {value!r}; allowed: "
                         f"{', '.join(choices)}" + _suggest(str(value), choices))
    if isinstance(value, int | float) and not isinstance(value, bool) and not in_bounds(f, value):
        raise StudyError(f"{path}: {where} must be {bounds_text(f, words=True)}, got {value}")
    return value


def keys_markdown() -> str:
    """Every key of a study file, by table, with its default, allowed values and meaning:
    derived from `bolrl.config` (what `bolrl show --keys` prints)."""
    lines = []
    for table, cls in TABLES.items():
        lines += [f"[{table}]  {cls.__doc__.split(':', 1)[1].strip()}"]
        for f in knobs(cls):
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default
            allowed = bounds_text(f)
            if table == "axes" and f.name in AXIS_VALUES:
                allowed = " | ".join(AXIS_VALUES[f.name])
            lines.append(f"  {f.name} = {json.dumps(default)}"
                         + (f"   ({allowed})" if allowed else ""))
            lines.append(f"      {f.metadata['doc']}")
        lines.append("")
    return "\n".join(lines)


def load_toml(path: Path) -> dict:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise StudyError(f"{path}: study file not found") from None
    except UnicodeDecodeError:
        raise StudyError(f"{path}: not a text file; a study is a TOML file (see "
                         f"studies/smoke.toml)") from None
    except OSError as exc:
        raise StudyError(f"{path}: cannot read the study file: {exc.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StudyError(f"{path}: TOML syntax error: {exc}") from None


def parse(path: Path, raw: dict, runnable: bool = True) -> dict:
    """Validated settings: one object per table (the file's values over the defaults of
    `bolrl.config`), the task specs and the extra cells. With `runnable` false (commands
    that only read results: status, plot, show) tasks are not built, so a suite's study
    reads without the suite's extra installed."""
    allowed_tables = (*TABLES, "cells", "tasks")
    for table in raw:
        if table not in allowed_tables:
            raise StudyError(f"{path}: unknown table [{table}]" + _suggest(table, allowed_tables))
    settings: dict[str, Any] = {}
    for table, cls in TABLES.items():
        given = raw.get(table, {})
        if not isinstance(given, dict):
            raise StudyError(f"{path}: [{table}] must be a table")
        fields = {f.name: f for f in knobs(cls)}
        values = {}
        for key, value in given.items():
            if key not in fields:
                raise StudyError(
                    f"{path}: unknown key {key!r} in [{table}]; allowed: {', '.join(fields)}"
                    + _suggest(key, fields)
                )
            values[key] = _parse_value(path, table, fields[key], value)
        settings[table] = cls(**values)
    study = settings["study"]
    if not study.name:
        settings["study"] = study = dataclasses.replace(study, name=Path(path).stem)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._=+-]*", study.name):
        raise StudyError(f"{path}: [study].name must be a plain name (letters, digits, '.', "
                         f"'_', '-', and '+' '=' as in names --set derives): it names the "
                         f"results directory, got {study.name!r}")
    if not re.fullmatch(DEVICE_PATTERN, settings["train"].device):
        raise StudyError(f"{path}: [train].device must be cpu, cuda, cuda:N or auto, got "
                         f"{settings['train'].device!r}")
    settings["task_specs"] = _parse_tasks(path, study.tasks, raw.get("tasks", {}), runnable)
    if not study.tasks or not study.seeds:
        raise StudyError(f"{path}: [study].tasks and [study].seeds must not be empty")
    if any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in study.seeds):
        raise StudyError(f"{path}: [study].seeds must be non-negative integers")
    for task, n in study.demos.items():
        if task not in settings["task_specs"] and task not in TASKS:
            raise StudyError(f"{path}: [study].demos: unknown task {task!r}; the embedded tasks "
                             f"are: {', '.join(TASKS)}" + _suggest(str(task), TASKS))
        by_style = n if isinstance(n, dict) else {"": n}
        for style, count in by_style.items():
            if style and style not in DEMO_STYLES:
                raise StudyError(f"{path}: [study].demos.{task}: unknown demonstration style "
                                 f"{style!r}; allowed: {', '.join(DEMO_STYLES)}"
                                 + _suggest(str(style), DEMO_STYLES))
            if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 100_000:
                raise StudyError(f"{path}: [study].demos.{task} must be a positive integer (or a "
                                 f"table of them by demonstration style), got {n!r}")
    _check_calibration(path, study, settings["task_specs"])
    styles = set(settings["axes"].demos_style or [study.demos_style])
    styles |= {c["demos_style"] for c in raw.get("cells", []) if isinstance(c, dict)
               and "demos_style" in c}
    for style in sorted(styles - {"scripted"}):
        lacking = [t for t in settings["task_specs"]
                   if t not in TASKS or style not in TASKS[t].styles]
        if lacking:
            having = [t for t in TASKS if style in TASKS[t].styles]
            raise StudyError(f"{path}: demos_style {style!r}: task {lacking[0]!r} has no "
                             f"{style} expert (the tasks with one: {', '.join(having)})")
    for name, spec in settings["task_specs"].items() if runnable else ():
        if spec.demos_file:
            from bolrl.demos import from_file

            try:
                from_file(get_task(spec), Path(spec.demos_file),
                          max(demos_count(study.demos, name, s) for s in DEMO_STYLES))
            except ValueError as exc:
                raise StudyError(f"{path}: {exc}") from None
        act_dim = get_task(spec).act_dim
        dims = settings["noise"].dims
        if any(d >= act_dim for d in dims):
            raise StudyError(f"{path}: [noise].dims: task {name!r} has {act_dim} action "
                             f"dimensions (0 to {act_dim - 1}), got {dims}")
    settings["cells"] = _parse_extra_cells(path, raw.get("cells", []), settings)
    return settings


def _is_count(x: Any, low: int = 0) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= low


def _check_calibration(path: Path, study, tasks: dict) -> None:
    """[study].calibration_seeds, base_band and demos_bounds: well formed, and the
    calibration seeds disjoint from the seeds whose results the verdicts use."""
    if not all(_is_count(s) for s in study.calibration_seeds):
        raise StudyError(f"{path}: [study].calibration_seeds must be non-negative integers, got "
                         f"{study.calibration_seeds!r}")
    shared = sorted(set(study.calibration_seeds) & set(study.seeds))
    if shared:
        raise StudyError(f"{path}: [study].calibration_seeds {shared} are also study seeds: "
                         f"settings must be chosen on seeds whose results are not reported")
    band = study.base_band
    if (len(band) != 2 or not all(isinstance(x, int | float) and not isinstance(x, bool)
                                  for x in band) or not 0 <= band[0] < band[1] <= 1):
        raise StudyError(f"{path}: [study].base_band must be [low, high] with 0 <= low < high "
                         f"<= 1, got {band!r}")
    for task, bounds in study.demos_bounds.items():
        if task not in tasks:
            raise StudyError(f"{path}: [study].demos_bounds: {task!r} is not one of the study's "
                             f"tasks: {', '.join(tasks)}" + _suggest(str(task), tasks))
        if (not isinstance(bounds, list) or len(bounds) != 2
                or not all(_is_count(b, 1) for b in bounds) or bounds[0] > bounds[1]):
            raise StudyError(f"{path}: [study].demos_bounds.{task} must be [least, most] with "
                             f"1 <= least <= most, got {bounds!r}")


TASK_OPTIONS = {"imports": [], "horizon": 1, "success": "", "expert": "", "demos_file": ""}


def _parse_tasks(path: Path, names: list, tables: Any,
                 runnable: bool = True) -> dict[str, TaskSpec]:
    """A TaskSpec per task named in [study].tasks; external and suite tasks are built once
    here (if `runnable`), so that a missing module, a discrete action space or a missing
    success signal is reported before anything runs."""
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
        suite = suite_of(name)
        if name not in TASKS and not is_external(name) and suite is None:
            raise StudyError(f"{path}: [study].tasks: {unknown_task_message(name)}"
                             + _suggest(name, TASKS))
        options = tables.get(name, {})
        if not isinstance(options, dict):
            raise StudyError(f"{path}: [tasks.{name!r}] must be a table")
        for key, value in options.items():
            if key not in TASK_OPTIONS:
                raise StudyError(f"{path}: unknown key {key!r} in [tasks.{name!r}]; allowed: "
                                 f"{', '.join(TASK_OPTIONS)}" + _suggest(key, TASK_OPTIONS))
            _check_type(path, f"[tasks.{name!r}].{key}", value, TASK_OPTIONS[key])
        if name in TASKS and set(options) - {"demos_file"}:
            key = sorted(set(options) - {"demos_file"})[0]
            raise StudyError(f"{path}: [tasks.{name!r}].{key}: {name!r} is embedded: its only "
                             f"option is demos_file (imported demonstrations instead of its "
                             f"scripted expert's)")
        spec = TaskSpec(name, imports=tuple(options.get("imports", ())),
                        horizon=options.get("horizon"), success=options.get("success"),
                        expert=options.get("expert"), demos_file=options.get("demos_file"))
        if runnable and suite is not None:
            module = suite.load()
            try:
                task = get_task(spec)
            except TaskError as exc:
                error = StudyError if module.available() else SuiteMissing
                raise error(f"{path}: {exc}") from None
            problem = module.check(spec, task)
            if problem:
                raise StudyError(f"{path}: [tasks.{name!r}]: {problem}")
        if is_external(name) and runnable:
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
            elif key == "noise_sigma":
                _axis_list(path, f"{where}.{key}", [value], None)
        missing = [k for k in ("algorithm", "extraction", "policy", "noise") if k not in cell]
        if missing:
            raise StudyError(f"{path}: {where} must name {', '.join(missing)}")
        out.append(cell)
    return out


def demos_count(demos: dict, task: str, style: str) -> int:
    """A task's number of demonstrations in a style: [study].demos gives one number per task,
    or a table by style (a style it leaves out: the scripted count, else the default)."""
    n = demos.get(task, DEFAULT_DEMOS)
    if isinstance(n, dict):
        return int(n.get(style, n.get("scripted", DEFAULT_DEMOS)))
    return int(n)


def why_invalid(point: dict) -> str | None:
    """The reason a grid point makes no sense, or None if it is a valid cell."""
    return why_not(point["algorithm"], point["extraction"])


def _make_cell(study: str, s: dict, point: dict) -> Cell:
    train = s["train"]
    return Cell(
        study=study,
        task=point["task"],
        task_spec=s["task_specs"][point["task"]],
        seed=point["seed"],
        method=Method(point["algorithm"], point["extraction"], point["policy"]),
        noise=point["noise"],
        episodes_per_round=point["episodes_per_round"],
        rounds=s["study"].rounds,
        eval_episodes=s["study"].eval_episodes,
        n_envs=s["study"].n_envs,
        vector_env=s["study"].vector_env,
        demos_style=point.get("demos_style", s["study"].demos_style),
        demos=demos_count(s["study"].demos, point["task"],
                          point.get("demos_style", s["study"].demos_style)),
        train=train.for_algorithm(point["algorithm"],
                                  ALGORITHMS[point["algorithm"]].demo_fraction),
        networks=s["networks"],
        critic=s["critic"],
        extraction_params=s["extraction"],
        # without noise the scale means nothing: such cells keep the study's, so that a
        # noise_sigma axis does not multiply them
        noise_params=dataclasses.replace(
            s["noise"], dims=tuple(s["noise"].dims),
            sigma=(float(point.get("noise_sigma", s["noise"].sigma)) if point["noise"] != "none"
                   else s["noise"].sigma)),
    )


def expand(settings: dict) -> tuple[list[Cell], list[tuple[dict, str]]]:
    """The grid's cells (then the extra cells), and the dropped points with their reasons."""
    study = settings["study"]
    axes = dataclasses.asdict(settings["axes"])
    axes["episodes_per_round"] = axes["episodes_per_round"] or [study.episodes_per_round]
    axes["noise_sigma"] = axes["noise_sigma"] or [settings["noise"].sigma]
    axes["demos_style"] = axes["demos_style"] or [study.demos_style]
    names = AXES
    points = []
    for task, seed in itertools.product(study.tasks, study.seeds):
        for values in itertools.product(*(axes[n] for n in names)):
            points.append({"task": task, "seed": seed, **dict(zip(names, values, strict=True))})
    for extra in settings["cells"]:
        tasks = [extra["task"]] if "task" in extra else study.tasks
        seeds = [extra["seed"]] if "seed" in extra else study.seeds
        for task, seed in itertools.product(tasks, seeds):
            point = {"episodes_per_round": study.episodes_per_round,
                     "noise_sigma": settings["noise"].sigma,
                     "demos_style": study.demos_style, **extra}
            points.append({**point, "task": task, "seed": seed})
    cells, dropped, seen = [], [], set()
    for point in points:
        reason = why_invalid(point)
        if reason:
            key = (point["algorithm"], point["extraction"])
            if key not in {(d["algorithm"], d["extraction"]) for d, _ in dropped}:
                dropped.append(({"algorithm": key[0], "extraction": key[1]}, reason))
            continue
        cell = _make_cell(study.name, settings, point)
        if cell.cell_id not in seen:
            seen.add(cell.cell_id)
            cells.append(cell)
    return cells, dropped


def load_study(path: Path, runnable: bool = True, overrides: list[str] | tuple = (),
               name: str | None = None) -> Study:
    """The study at `path`, its cells expanded. `runnable=False` reads it without building its
    tasks (see `parse`): enough for its cell ids and its results, not to run it. `overrides`
    (`TABLE.KEY=VALUE`, bolrl.overrides) apply over the file, and give the study a name of its
    own unless they set one or `name` is given."""
    from bolrl import overrides as over

    path = Path(path)
    raw = load_toml(path)
    overrides = list(overrides)
    try:
        raw = over.apply(raw, overrides)
    except over.OverrideError as exc:
        raise StudyError(str(exc)) from None
    if (name or overrides) and "study" not in raw:
        raw["study"] = {}  # a file without [study]: the name goes in one
    table = raw.get("study") if isinstance(raw.get("study"), dict) else None
    if table is not None and (name or (overrides and not any(
            "name" in over.parse(a).get("study", {}) for a in overrides))):
        table["name"] = name or over.derived_name(table.get("name") or path.stem, overrides)
    try:
        settings = parse(path, raw, runnable)
        cells, dropped = expand(settings)
    except StudyError as exc:
        if not overrides:
            raise
        sets = " ".join(f"--set {a}" for a in overrides)
        raise type(exc)(f"{exc} (with {sets})") from None
    if not cells:
        raise StudyError(f"{path}: the grid has no valid cells")
    return Study(settings["study"].name, path, settings["study"].description, cells, dropped,
                 settings["study"], likely_mistakes(path, settings["study"]),
                 over.resolved_text(raw, path, overrides))


def likely_mistakes(path: Path, study: StudyTable) -> list[str]:
    """What a study file says that it probably does not mean: demonstration counts or bounds
    for tasks it does not run, tasks or seeds listed twice (each runs once)."""
    out = []
    for key in ("demos", "demos_bounds"):
        absent = [t for t in getattr(study, key) if t not in study.tasks]
        if absent:
            out.append(f"{path}: [study].{key} names {', '.join(map(repr, absent))}, which "
                       f"[study].tasks does not run")
    for key in ("tasks", "seeds"):
        values = getattr(study, key)
        twice = sorted({repr(v) for v in values if values.count(v) > 1})
        if twice:
            out.append(f"{path}: [study].{key} lists {', '.join(twice)} more than once (run "
                       f"once)")
    return out


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
