"""The embedded MuJoCo tasks, looked up by name in `TASKS`."""

from __future__ import annotations

from bolrl.envs.lift import Lift
from bolrl.envs.nut_assembly import NutAssembly
from bolrl.envs.pick_place import PickPlace
from bolrl.envs.task import Task

TASKS: dict[str, Task] = {task.name: task for task in (Lift(), PickPlace(), NutAssembly())}


def unknown_task_message(name: str) -> str:
    return f"unknown task {name!r}; the embedded tasks are: {', '.join(TASKS)}"


def get_task(name: str) -> Task:
    """The task called `name`, or a ValueError naming the valid tasks."""
    if name not in TASKS:
        raise ValueError(unknown_task_message(name))
    return TASKS[name]


def _register() -> None:
    from bolrl.envs.gym_env import register_all

    register_all()


_register()
