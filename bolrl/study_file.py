"""A study file read and checked: its TOML, every key against the knobs of `bolrl.config`
(types, bounds, allowed words, "did you mean"), its task tables and extra cells, with one
clear error (StudyError) per mistake. `bolrl.study` builds the cells from what this returns."""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import tomllib
from pathlib import Path
from typing import Any

from bolrl.config import (
    DEMO_STYLES,
    DEVICE_PATTERN,
    TABLES,
    bounds_text,
    in_bounds,
    knobs,
)
from bolrl.envs import TASKS, get_task, unknown_task_message
from bolrl.envs.external import TaskError, TaskSpec, is_external
from bolrl.envs.suites import suite_of
from bolrl.registry import (
    ALGORITHMS,
    EXTRACTIONS,
    NO_EXTRACTION,
    NOISES,
    POLICIES,
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
    settings = _parse_tables(path, raw)
    study = settings["study"]
    settings["task_specs"] = _parse_tasks(path, study.tasks, raw.get("tasks", {}), runnable)
    if not study.tasks or not study.seeds:
        raise StudyError(f"{path}: [study].tasks and [study].seeds must not be empty")
    if any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in study.seeds):
        raise StudyError(f"{path}: [study].seeds must be non-negative integers")
    _check_demos(path, study, settings["task_specs"])
    _check_calibration(path, study, settings["task_specs"])
    _check_styles(path, study, settings, raw)
    if runnable:
        _check_task_files(path, study, settings)
    settings["cells"] = _parse_extra_cells(path, raw.get("cells", []), settings)
    return settings


def _parse_tables(path: Path, raw: dict) -> dict[str, Any]:
    """Each table of the file over the defaults of its `bolrl.config` class, keys and values
    checked; [study].name and [train].device checked."""
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
    return settings


def _check_demos(path: Path, study, task_specs: dict) -> None:
    """[study].demos: known tasks and styles, positive counts."""
    for task, n in study.demos.items():
        if task not in task_specs and task not in TASKS:
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


def _check_styles(path: Path, study, settings: dict, raw: dict) -> None:
    """Every demonstration style the study names has an expert on each of its tasks."""
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


def _check_task_files(path: Path, study, settings: dict) -> None:
    """With the tasks built: their demonstration files read, and [noise].dims in range."""
    for name, spec in settings["task_specs"].items():
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
        # any known task, as in [study].demos, so that --set study.tasks=[...] can shrink a study
        if task not in tasks and task not in TASKS:
            raise StudyError(f"{path}: [study].demos_bounds: unknown task {task!r}; the study's "
                             f"tasks are: {', '.join(tasks)}" + _suggest(str(task), tasks))
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
