"""The embedded MuJoCo tasks, looked up by name in `TASKS`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bolrl.envs.lift import Lift
from bolrl.envs.nut_assembly import NutAssembly
from bolrl.envs.pick_place import PickPlace
from bolrl.envs.task import Task

if TYPE_CHECKING:
    from bolrl.envs.external import TaskSpec

TASKS: dict[str, Task] = {task.name: task for task in (Lift(), PickPlace(), NutAssembly())}


def unknown_task_message(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(TASKS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (f"unknown task {name!r}{hint}; the embedded tasks are: {', '.join(TASKS)} (or name a "
            f"Meta-World task as metaworld/<task>-v3, a robomimic task as robomimic/lift, "
            f"robomimic/can or robomimic/square, a Gymnasium task as gym:ENV-ID or "
            f"module.path:make_env)")


def get_task(name: str | TaskSpec) -> Task:
    """The embedded task called `name`, a Meta-World task (`metaworld/<task>-v3`, see
    `bolrl.envs.metaworld`), a robomimic task (`robomimic/lift|can|square`, see
    `bolrl.envs.robomimic`), or an external Gymnasium task (`gym:ENV-ID` or `module:factory`,
    see `bolrl.envs.external`); a ValueError names what is wrong."""
    from bolrl.envs.external import TaskSpec, external_task, is_external
    from bolrl.envs.metaworld import is_metaworld, metaworld_task
    from bolrl.envs.robomimic import is_robomimic, robomimic_task

    spec = name if isinstance(name, TaskSpec) else TaskSpec(name)
    if spec.name in TASKS:
        return TASKS[spec.name]
    if is_metaworld(spec.name):
        return metaworld_task(spec)
    if is_robomimic(spec.name):
        return robomimic_task(spec)
    if is_external(spec.name):
        return external_task(spec)
    raise ValueError(unknown_task_message(spec.name))


def _register() -> None:
    from bolrl.envs.gym_env import register_all

    register_all()


_register()
