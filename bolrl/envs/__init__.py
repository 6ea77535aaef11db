"""The embedded MuJoCo tasks, looked up by name in `TASKS`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bolrl.envs.lift import Lift
from bolrl.envs.nut_assembly import NutAssembly
from bolrl.envs.pick_place import PickPlace
from bolrl.envs.pick_place_post import PickPlacePost
from bolrl.envs.task import Task

if TYPE_CHECKING:
    from bolrl.envs.external import TaskSpec

TASKS: dict[str, Task] = {task.name: task for task in (Lift(), PickPlace(), NutAssembly(),
                                                   PickPlacePost())}


def unknown_task_message(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(TASKS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (f"unknown task {name!r}{hint}; the embedded tasks are: {', '.join(TASKS)} (or name a "
            f"Meta-World task as metaworld/<task>-v3, a robomimic task as robomimic/lift, "
            f"robomimic/can or robomimic/square, a Gymnasium task as gym:ENV-ID or "
            f"module.path:make_env)")


def get_task(name: str | TaskSpec) -> Task:
    """The embedded task called `name`, a suite's task (`metaworld/<task>-v3`,
    `robomimic/lift|can|square`: `bolrl.envs.suites`), or an external Gymnasium task
    (`gym:ENV-ID` or `module:factory`, see `bolrl.envs.external`); a ValueError names what is
    wrong."""
    from bolrl.envs.external import TaskSpec, external_task, is_external
    from bolrl.envs.suites import suite_of

    spec = name if isinstance(name, TaskSpec) else TaskSpec(name)
    if spec.name in TASKS:
        return TASKS[spec.name]
    suite = suite_of(spec.name)
    if suite is not None:
        return suite.load().task(spec)
    if is_external(spec.name):
        return external_task(spec)
    raise ValueError(unknown_task_message(spec.name))


def _register() -> None:
    from bolrl.envs.gym_env import register_all

    register_all()


_register()
