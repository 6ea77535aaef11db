"""A round's agent, loaded from the weights its run kept, evaluated again and watched.

Each round of a cell's run keeps the agent as it began to act (`runs/<id>/acting-round<K>.pt`,
written before the round's evaluation, its sampling generator included), so evaluating it
again on the round's own evaluation states (the cell's seed and evaluation episodes) gives
the success its row records, and any other seed or number of episodes gives a fresh
measurement. Rollouts render with MuJoCo's offscreen renderer (set `MUJOCO_GL=egl`, or
`osmesa`, where there is no display) to a GIF: the embedded tasks from a fixed view over the
table, the Gymnasium tasks that run on MuJoCo (Meta-World, robomimic on robosuite, Gymnasium's
own MuJoCo environments) from their scene's camera, or a view that frames the whole scene.
"""

from __future__ import annotations

import copy
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


@dataclass
class Recorded:
    """Rollouts kept for rendering: each episode's MuJoCo model (a suite may move bodies and
    sites on the model itself when it resets, so every episode keeps a copy of its own), its
    states step by step (qpos, and the mocap bodies' poses that Meta-World's hand follows),
    its success, and the camera to film them with."""

    models: list  # mujoco.MjModel per episode
    episodes: list[list[tuple[np.ndarray, ...]]]
    success: list[bool]
    camera: str | tuple  # a named camera of the model, or a free view: (lookat, distance,
    # azimuth, elevation)
    upside_down: bool = False  # that camera's images come rotated by 180 degrees


FREE_VIEW = ([0.0, 0.0, 0.05], 0.55, 135.0, -30.0)  # lookat, distance, azimuth, elevation
# Named cameras of the suites' own scenes that show the table, in order of preference, each
# with whether its image comes upside down: Meta-World's corner camera is mounted rotated by
# 180 degrees about its axis (its frames are turned back); robosuite's (robomimic's tasks).
CAMERAS = {"corner": True, "agentview": False, "frontview": False}


def mujoco_of(env) -> tuple | None:
    """The MuJoCo (model, data) under a Gymnasium environment, its wrappers peeled: the
    environment's own `mujoco()` (bolrl's Meta-World and robomimic environments), or the
    `model` and `data` of Gymnasium's MuJoCo environments; None for any other."""
    import mujoco

    env = getattr(env, "unwrapped", env)
    if hasattr(env, "mujoco"):
        return env.mujoco()
    model, data = getattr(env, "model", None), getattr(env, "data", None)
    if isinstance(model, mujoco.MjModel) and isinstance(data, mujoco.MjData):
        return model, data
    return None


def _snapshot(data) -> tuple[np.ndarray, ...]:
    return (data.qpos.copy(), data.mocap_pos.copy(), data.mocap_quat.copy())


class Recording:
    """An actor that passes its inner actor's actions on and keeps each environment row's
    states step by step, as `read(row, state)` gives them."""

    def __init__(self, actor, read):
        self.actor, self.read, self.states = actor, read, {}

    def begin(self, rows: np.ndarray) -> None:
        self.actor.begin(rows)
        for row in rows:
            self.states.setdefault(int(row), [])

    def act(self, rows: np.ndarray, obs: np.ndarray, state: np.ndarray) -> np.ndarray:
        for row, row_state in zip(rows, state, strict=True):
            self.states[int(row)].append(self.read(int(row), row_state))
        return self.actor.act(rows, obs, state)


class _Watched:
    """A Gymnasium task whose batch, stepped in this process, stays in sight of the recorder:
    `read(row, state)` gives the row's MuJoCo state and, at the row's first read, keeps a
    copy of its model as the episode has it (before the same-step autoreset of its end lays
    out the next episode; a suite may also free it when the rollout closes its environments).
    Each row runs one episode."""

    def __init__(self, task):
        self.task, self.env, self.models = task, None, {}

    def __getattr__(self, name):
        return getattr(self.task, name)

    def batch(self, seeds, vector_env: str = "sync"):
        self.env = self.task.batch(seeds, "sync")  # in this process: its MuJoCo data readable
        return self.env

    def read(self, row: int, state) -> tuple[np.ndarray, ...]:
        model, data = mujoco_of(self.env.envs.envs[row])
        if row not in self.models:
            self.models[row] = copy.deepcopy(model)
        return _snapshot(data)


def record(cell: Cell, agent, episodes: int, seed: int) -> Recorded:
    """`episodes` evaluation episodes (one per environment row) of an embedded task, or of a
    Gymnasium task that runs on MuJoCo (Meta-World, robomimic, Gymnasium's own), kept for
    rendering."""
    import mujoco

    from bolrl.envs import TASKS, get_task
    from bolrl.envs.batched import env_seeds
    from bolrl.loop import EVAL_STREAM, AgentActor
    from bolrl.rollout import rollout

    task = get_task(cell.task_spec)
    seeds = env_seeds(seed, episodes, stream=EVAL_STREAM)
    if cell.task in TASKS:
        # the embedded tasks' state, as the rollout passes it, is their qpos
        actor = Recording(AgentActor(agent), lambda row, qpos: (np.array(qpos, copy=True),))
        data = rollout(task, seeds, actor, episodes)
        model, camera = mujoco.MjModel.from_xml_string(task.xml()), FREE_VIEW
        models = [model] * len(actor.states)
    else:
        probe = task.make_env()
        try:
            found = mujoco_of(probe)
        finally:
            probe.close()
        if found is None:
            raise EvalError(f"--video: task {cell.task!r} does not run on MuJoCo (no MuJoCo "
                            f"model under its Gymnasium environment): bolrl renders MuJoCo "
                            f"scenes only")
        watched = _Watched(task)
        actor = Recording(AgentActor(agent), watched.read)
        data = rollout(watched, seeds, actor, episodes)
        models = [watched.models[row] for row in sorted(actor.states)]
        model = models[0]
        names = {model.camera(i).name for i in range(model.ncam)}
        camera = next((c for c in CAMERAS if c in names),
                      (list(model.stat.center), 1.5 * model.stat.extent, 135.0, -30.0))
    states = [actor.states[row] for row in sorted(actor.states)]
    upside_down = isinstance(camera, str) and CAMERAS[camera]
    return Recorded(models, states, [bool(x) for x in data.episode_success], camera,
                    upside_down)


def render(recorded: Recorded) -> list[np.ndarray]:
    """Frames (H, W, 3 uint8) of the recorded episodes, one after the other, each in its own
    model, from the scene's named camera or a free view."""
    frames = []
    for model, states in zip(recorded.models, recorded.episodes, strict=True):
        frames += _render_episode(model, states, recorded.camera, recorded.upside_down)
    return frames


def _render_episode(model, states: list[tuple[np.ndarray, ...]], camera: str | tuple,
                    upside_down: bool) -> list[np.ndarray]:
    import mujoco

    data = mujoco.MjData(model)
    if not isinstance(camera, str):
        view, camera = camera, mujoco.MjvCamera()
        camera.lookat[:], camera.distance, camera.azimuth, camera.elevation = view
    try:
        with warnings.catch_warnings():  # GLFW's own warnings on a machine with no display
            warnings.simplefilter("ignore")
            renderer = mujoco.Renderer(model, *SIZE)
    except Exception as exc:  # no GL context: say which setting chooses one
        raise EvalError(f"--video: MuJoCo cannot render here ({type(exc).__name__}: {exc}); "
                        f"set MUJOCO_GL=egl (or osmesa) for offscreen rendering") from None
    frames = []
    try:
        for snapshot in states:
            data.qpos[:] = snapshot[0]
            if len(snapshot) == 3 and model.nmocap:
                data.mocap_pos[:], data.mocap_quat[:] = snapshot[1], snapshot[2]
            mujoco.mj_forward(model, data)
            renderer.update_scene(data, camera)
            frame = renderer.render()
            frames.append((frame[::-1, ::-1] if upside_down else frame).copy())
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
