"""Command-line overrides of a study file, `--set TABLE.KEY=VALUE`, and the study as resolved.

An override is a TOML assignment whose key is dotted from the table: `train.lr=3e-4`,
`study.seeds=[0,1,2]`, `study.demos.lift=8`, `axes.policy=["gaussian"]`. Its value is read as
TOML, and as a plain string where it is not TOML (`axes.noise=pink` needs no quotes); a single
value given to an `[axes]` key is a one-value axis. Overrides merge into the file's tables
(`study.demos.lift=8` keeps the other tasks' counts) and are then validated exactly as the
file is. A study with overrides gets its own name, and so its own results directory: the
file's name plus each override (`quick+lr=3e-4`), unless `study.name` is set or `--name` given.

What ran is saved beside its results as `results/<study>/study.toml` (the file's tables with
the overrides applied, every key as given), and an earlier, different version of it moves to
`results/<study>/study-history/`.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tomli_w


class OverrideError(ValueError):
    """An override that is not TABLE.KEY=VALUE."""


def parse(assignment: str) -> dict:
    """One `TABLE.KEY=VALUE` as the nested tables it sets: {"train": {"lr": 0.0003}}."""
    key, sep, value = assignment.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or not value:
        raise OverrideError(f"--set {assignment!r}: expected TABLE.KEY=VALUE, e.g. "
                            f"--set train.lr=3e-4")
    try:
        tomllib.loads(f"{key} = 0")
    except tomllib.TOMLDecodeError:
        raise OverrideError(f"--set {assignment!r}: {key!r} is not a key (TABLE.KEY, e.g. "
                            f"train.lr or study.demos.lift)") from None
    try:
        tables = tomllib.loads(f"{key} = {value}")
    except tomllib.TOMLDecodeError:  # not a TOML value: the text itself, as a string
        tables = tomllib.loads(f"{key} = {json.dumps(value)}")
    if len(tables) != 1 or not isinstance(next(iter(tables.values())), dict):
        raise OverrideError(f"--set {assignment!r}: name a table and a key, e.g. "
                            f"--set train.lr=3e-4 (not a bare {key!r})")
    table = next(iter(tables))
    if table == "axes":
        tables["axes"] = {k: v if isinstance(v, list) else [v]
                          for k, v in tables["axes"].items()}
    return tables


def merge(into: dict, tables: dict) -> dict:
    """`tables` merged into a copy of `into`: nested tables key by key, other values
    replaced."""
    out = copy.deepcopy(into)
    for key, value in tables.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply(raw: dict, assignments: list[str]) -> dict:
    """The study file's tables with every override applied, in order."""
    for assignment in assignments:
        raw = merge(raw, parse(assignment))
    return raw


def derived_name(name: str, assignments: list[str]) -> str:
    """The name of a study with overrides: its own name, then each override's last key and
    value, without spaces, quotes or brackets, and other characters a directory name should
    not have as '_': 'quick+lr=3e-4', 'quick+seeds=0_1' (for study.seeds=[0, 1])."""
    parts = []
    for assignment in assignments:
        key, _, value = assignment.partition("=")
        last = key.strip().split(".")[-1].strip('"')
        value = re.sub(r"[\s\"'\[\]{}]", "", value)
        parts.append(f"{last}={value}")
    return re.sub(r"[^A-Za-z0-9._=+-]", "_", "+".join([name, *parts]))[:120]


def resolved_text(raw: dict, source: Path, assignments: list[str]) -> str:
    """The study as it runs, as TOML, headed by where it came from."""
    lines = [f"# The study as run: {source}"]
    lines += [f"#   --set {a}" for a in assignments]
    return "\n".join(lines) + "\n\n" + tomli_w.dumps(_plain(raw))


def save(directory: Path, text: str) -> Path | None:
    """Write `text` as `directory/study.toml`; an earlier file of other settings (comments
    aside) moves to `study-history/`, named by when it was replaced. Returns where the earlier
    one went, if it moved."""
    from bolrl.files import write_atomic

    path = directory / "study.toml"
    moved = None
    if path.exists():
        before = path.read_text()
        if tomllib.loads(before) == tomllib.loads(text):
            return None
        history = directory / "study-history"
        history.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        moved = history / f"study-{stamp}.toml"
        moved.write_text(before)
    directory.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda tmp: Path(tmp).write_text(text))
    return moved


def _plain(value: Any) -> Any:
    """A TOML-writable copy (tuples as lists)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
