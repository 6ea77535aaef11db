"""A round's agent, loaded from the weights its run kept, evaluated again and watched.

Each round of a cell's run keeps the agent as it began to act (`runs/<id>/acting-round<K>.pt`,
written before the round's evaluation, its sampling generator included), so evaluating it
again on the round's own evaluation states (the cell's seed and evaluation episodes) gives
the success its row records, and any other seed or number of episodes gives a fresh
measurement. Rollouts of the embedded tasks render with MuJoCo's offscreen renderer (set
`MUJOCO_GL=egl`, or `osmesa`, where there is no display) to a GIF.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bolrl.study import Cell

FPS = 20  # frames per second of a video (the embedded tasks step at 25 Hz)
SIZE = (240, 320)  # height, width of a frame


class EvalError(ValueError):
    """A round that cannot be evaluated or rendered, said in one sentence."""


def kept_rounds(rdir: Path) -> list[int]:
    """The rounds whose acting weights a cell's run directory keeps, in order."""
    return sorted(int(p.stem.removeprefix("acting-round")) for p in rdir.glob("acting-round*.pt"))


def load_agent(cell: Cell, rdir: Path, round_index: int | None = None):
    """The cell's agent at `round_index` (default: the last kept round), and that round."""
    from bolrl.agent import Agent
    from bolrl.envs import get_task
    from bolrl.files import load_tensors
    from bolrl.loop import acting_path

    rounds = kept_rounds(rdir)
    if not rounds:
        raise EvalError(f"cell {cell.cell_id} has no kept weights in {rdir} (it has not run "
                        f"here, or it ran before bolrl kept a round's weights: rerun it with "
                        f"run-cell --force)")
    if round_index is None:
        round_index = rounds[-1]
    if round_index not in rounds:
        raise EvalError(f"cell {cell.cell_id} keeps the weights of rounds "
                        f"{', '.join(map(str, rounds))}, not of round {round_index}")
    task = get_task(cell.task_spec)
    agent = Agent(cell.agent, task.obs_dim, task.act_dim, seed=cell.seed,
                  unitless_features=task.unitless_features)
    agent.load_acting_state(load_tensors(acting_path(rdir, round_index)))
    return agent, round_index


@dataclass(frozen=True)
class Evaluated:
    success: float
    mean_length: float
    episodes: int
    seed: int


def evaluate(cell: Cell, agent, episodes: int, seed: int) -> Evaluated:
    """Success over `episodes` evaluation episodes from the states of `seed` (the cell's own
    evaluation states when both are the cell's), no noise: the loop's own evaluation."""
    from bolrl.loop import evaluate as loop_evaluate

    success, mean_length = loop_evaluate(cell, agent, episodes, seed)
    return Evaluated(success, mean_length, episodes, seed)


class Recording:
    """An actor that passes its inner actor's actions on and keeps each environment row's
    states (MuJoCo qpos), step by step."""

    def __init__(self, actor):
        self.actor, self.states = actor, {}

    def begin(self, rows: np.ndarray) -> None:
        self.actor.begin(rows)
        for row in rows:
            self.states.setdefault(int(row), [])

    def act(self, rows: np.ndarray, obs: np.ndarray, state: np.ndarray) -> np.ndarray:
        for row, qpos in zip(rows, state, strict=True):
            self.states[int(row)].append(np.array(qpos, copy=True))
        return self.actor.act(rows, obs, state)


def record(cell: Cell, agent, episodes: int, seed: int) -> tuple[list[list[np.ndarray]], list]:
    """The states of `episodes` evaluation episodes of an embedded task (one per environment
    row), and each episode's success."""
    from bolrl.envs import TASKS, get_task
    from bolrl.envs.batched import env_seeds
    from bolrl.loop import EVAL_STREAM, AgentActor
    from bolrl.rollout import rollout

    if cell.task not in TASKS:
        raise EvalError(f"--video: task {cell.task!r} is not an embedded task; videos render "
                        f"the embedded tasks ({', '.join(TASKS)}) so far")
    task = get_task(cell.task_spec)
    actor = Recording(AgentActor(agent))
    data = rollout(task, env_seeds(seed, episodes, stream=EVAL_STREAM), actor, episodes)
    return [actor.states[row] for row in sorted(actor.states)], list(data.episode_success)


def render(task_name: str, episodes: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Frames (H, W, 3 uint8) of the episodes' states, one after the other, from a fixed
    camera over the table."""
    import mujoco

    from bolrl.envs import get_task

    task = get_task(task_name)
    model = mujoco.MjModel.from_xml_string(task.xml())
    data = mujoco.MjData(model)
    camera = mujoco.MjvCamera()
    camera.lookat[:], camera.distance, camera.azimuth, camera.elevation = (
        [0.0, 0.0, 0.05], 0.55, 135.0, -30.0)
    try:
        with warnings.catch_warnings():  # GLFW's own warnings on a machine with no display
            warnings.simplefilter("ignore")
            renderer = mujoco.Renderer(model, *SIZE)
    except Exception as exc:  # no GL context: say which setting chooses one
        raise EvalError(f"--video: MuJoCo cannot render here ({type(exc).__name__}: {exc}); "
                        f"set MUJOCO_GL=egl (or osmesa) for offscreen rendering") from None
    frames = []
    try:
        for states in episodes:
            for qpos in states:
                data.qpos[:] = qpos
                mujoco.mj_forward(model, data)
                renderer.update_scene(data, camera)
                frames.append(renderer.render().copy())
    finally:
        renderer.close()
    return frames


def check_video_path(path: Path) -> Path:
    """The video's path, if bolrl can write it (a GIF)."""
    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise EvalError(f"--video {path}: write a .gif (MP4 needs an ffmpeg encoder that "
                        f"bolrl does not depend on; convert the GIF with ffmpeg if needed)")
    return path


def write_video(frames: list[np.ndarray], path: Path, fps: int = FPS) -> Path:
    """A GIF of the frames (Pillow, which matplotlib already brings)."""
    from PIL import Image

    path = check_video_path(path)
    if not frames:
        raise EvalError("--video: no frames to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:],
                   duration=round(1000 / fps), loop=0)
    return path
