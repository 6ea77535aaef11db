"""The optional benchmark suites: a study names their tasks `<suite>/<task>`.

A suite is a module of `bolrl.envs` and one line in `SUITES`. The module provides:

    PREFIX, HORIZON      "<suite>/" and its tasks' episode limit (the cost model reads it)
    INSTALL              the one line that says how to install its extra
    TASK_VERSION         bumped when its tasks' episodes change (part of a cell's identity)
    available()          whether its extra imports here
    task_names()         its tasks as a study names them (empty without the extra)
    task(spec)           the task of a TaskSpec (lru-cached; a TaskError says what is wrong)
    check(spec, task)    why a study cannot run it as given (e.g. no demonstrations), or None

and its task objects have the interface of every task (bolrl.envs.external.ExternalTask).
The modules are imported on first use: reading a study needs no simulator.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Suite:
    name: str
    prefix: str  # the tasks' names start with it
    module: str  # "bolrl.envs.<module>"
    extra: str  # what the install line calls the extra
    doc: str
    bench_task: str  # the task `bolrl bench <suite>` measures collection on...
    bench_envs: int  # ...with this many environments in the batch

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)

    def owns(self, task_name: str) -> bool:
        return task_name.startswith(self.prefix)


SUITES: dict[str, Suite] = {s.name: s for s in (
    Suite("metaworld", "metaworld/", "bolrl.envs.metaworld", "Meta-World extra",
          "Meta-World's 50 tasks (v3), their own experts", "metaworld/pick-place-v3", 16),
    Suite("robomimic", "robomimic/", "bolrl.envs.robomimic", "robosuite extra",
          "robomimic's Lift, Can and Square on robosuite", "robomimic/lift", 8),
)}


def suite_of(task_name: str) -> Suite | None:
    """The suite a task name belongs to, or None (an embedded or external task)."""
    return next((s for s in SUITES.values() if s.owns(task_name)), None)


def task_version(task_name: str) -> int:
    """The task version a cell's identity records: its suite's, 1 for every other task."""
    suite = suite_of(task_name)
    return suite.load().TASK_VERSION if suite else 1
