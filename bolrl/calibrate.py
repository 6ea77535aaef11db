"""Held-out calibration: the demonstration count per task that puts the base policy's success
in the study's band, measured on calibration seeds only.

The protocol: settings are chosen on seeds (and so demonstrations and evaluation states) that
the verdicts never use (`[study].calibration_seeds`, disjoint from `[study].seeds`), fixed in
the study file with every point measured, and only then is the study run. `bolrl calibrate`
does the choosing for the demonstration counts: per task, a bisection over the count within
`[study].demos_bounds` (more demonstrations, a better base policy), starting from the study's
count, until the base policy's mean success over the calibration seeds lies in
`[study].base_band`. A point is one base policy (round 0 of the study's policy class, its
settings as the study's) trained and evaluated per calibration seed, run as a cell of the
study `<name>.calibration` under the results directory, so a point measured once is never
measured again.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass

from bolrl.registry import RECIPE
from bolrl.study import Cell, Study

DEFAULT_BOUNDS = (1, 50)


@dataclass(frozen=True)
class Point:
    task: str
    demos: int
    seed: int
    success: float
    style: str = "scripted"


def styles_of(study: Study, task: str) -> list[str]:
    """The demonstration styles a study runs a task with (each calibrated on its own)."""
    return list(dict.fromkeys(c.demos_style for c in study.cells if c.task == task))


def base_template(study: Study, task: str, style: str | None = None) -> Cell:
    """The study's cell whose round 0 stands for the task's base policy (in a demonstration
    style): behaviour cloning with the recipe's policy class where the study has it, else its
    first policy class."""
    cells = [c for c in study.cells if c.task == task
             and (style is None or c.demos_style == style)]
    policies = [c.policy for c in cells]
    policy = RECIPE["policy"] if RECIPE["policy"] in policies else policies[0]
    return next(c for c in cells if c.policy == policy)


def probes(template: Cell, demos: int, seeds: list[int]) -> list[Cell]:
    """Round 0 only, with `demos` demonstrations, one cell per calibration seed, as cells of
    the study `<name>.calibration` (their own results folder); behaviour cloning, no noise:
    the base policy is the same for every method."""
    return [dataclasses.replace(
        template, study=f"{template.study}.calibration", seed=seed, demos=demos, rounds=0,
        method=dataclasses.replace(template.method, algorithm="bc", extraction="none"),
        train=dataclasses.replace(template.train, demo_fraction=0.5), noise="none")
        for seed in seeds]


def bisect(measure: Callable[[int], float], start: int, low: int, high: int,
           band: tuple[float, float]) -> tuple[int, list[tuple[int, float]]]:
    """The count in [low, high] whose measured success lies in `band`, searched by bisection
    from `start` (success taken to rise with the count), and every (count, success) measured.
    Where no count lands in the band, the measured count closest to the band's middle."""
    tried: list[tuple[int, float]] = []
    n = min(max(start, low), high)
    while low <= high:
        success = measure(n)
        tried.append((n, success))
        if band[0] <= success <= band[1]:
            return n, tried
        if success < band[0]:
            low = n + 1
        else:
            high = n - 1
        n = (low + high) // 2
    middle = (band[0] + band[1]) / 2
    return min(tried, key=lambda t: (abs(t[1] - middle), t[0]))[0], tried


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else f'"{name}"'


def header(study: Study, chosen: dict[tuple[str, str], int], points: list[Point],
           eval_episodes: int) -> str:
    """The comment block and `demos = {...}` line to paste into the study file; `chosen` is
    keyed by (task, demonstration style)."""
    seeds = sorted({p.seed for p in points})
    lo, hi = study_band(study)
    lines = [f"# demos calibrated by `bolrl calibrate {study.name}` on calibration seeds "
             f"{seeds} ({eval_episodes} evaluation episodes each; band {100 * lo:.0f}-"
             f"{100 * hi:.0f}%); every point measured:"]
    styled = len({style for _, style in chosen}) > 1
    for task, style in chosen:
        mine_all = [p for p in points if p.task == task and p.style == style]
        for n in dict.fromkeys(p.demos for p in mine_all):
            mine = sorted((p for p in mine_all if p.demos == n), key=lambda p: p.seed)
            rates = " / ".join(f"{100 * p.success:.0f}" for p in mine)
            mean = sum(p.success for p in mine) / len(mine)
            lines.append(f"#   {task}{f' ({style})' if styled else ''}: {n} demos -> {rates}% "
                         f"(mean {100 * mean:.0f})"
                         + ("  <- chosen" if n == chosen[(task, style)] else ""))
    parts = []
    for task in dict.fromkeys(t for t, _ in chosen):
        counts = {style: n for (t, style), n in chosen.items() if t == task}
        if len(counts) == 1:
            parts.append(f"{_key(task)} = {next(iter(counts.values()))}")
        else:
            inner = ", ".join(f"{style} = {n}" for style, n in counts.items())
            parts.append(f"{_key(task)} = {{ {inner} }}")
    return "\n".join(lines) + f"\ndemos = {{ {', '.join(parts)} }}"


def study_band(study: Study) -> tuple[float, float]:
    band = study.table.base_band
    return float(band[0]), float(band[1])


def bounds(study: Study, task: str) -> tuple[int, int]:
    low, high = study.table.demos_bounds.get(task, DEFAULT_BOUNDS)
    return int(low), int(high)
