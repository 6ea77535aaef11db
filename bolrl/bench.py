"""Benchmarks that print figures (never asserted in tests) and write `results/bench.json`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import mujoco
import numpy as np

from bolrl.envs import TASKS, scene
from bolrl.envs.batched import BatchedEnv, env_seeds


def raw_physics_steps_per_s(task, seconds: float = 1.0) -> float:
    """`mj_step` throughput of the task's model from its reset state, stepped in C."""
    model = mujoco.MjModel.from_xml_string(task.xml())
    data = mujoco.MjData(model)
    rng = np.random.default_rng(0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        mujoco.mj_resetData(model, data)
        data.qpos[:] = task.init_qpos(rng)
        data.ctrl[:] = data.qpos[0:6]
        mujoco.mj_step(model, data, nstep=scene.SUBSTEPS * 40)
        steps += scene.SUBSTEPS * 40
    return steps / (time.perf_counter() - start)


def batched_control_steps_per_s(task, n_envs: int, seconds: float = 1.0) -> float:
    """Control steps per second of `BatchedEnv` under uniform random actions (resets included)."""
    env = BatchedEnv(task, env_seeds(0, n_envs))
    rng = np.random.default_rng(0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.step(rng.uniform(-1, 1, (n_envs, task.act_dim)))
        steps += n_envs
    return steps / (time.perf_counter() - start)


def bench_envs(n_envs: int = 100, seconds: float = 2.0) -> dict:
    out = {}
    for name, task in TASKS.items():
        raw = raw_physics_steps_per_s(task, seconds)
        ctrl = batched_control_steps_per_s(task, n_envs, seconds)
        out[name] = {
            "batch": n_envs,
            "control_steps_per_s": round(ctrl, 1),
            "raw_mj_steps_per_s": round(raw, 1),
            "substeps": scene.SUBSTEPS,
            "ratio": round(ctrl * scene.SUBSTEPS / raw, 3),
        }
    return out


def write_section(path: Path, section: str, figures: dict) -> None:
    """Merge one section into the benchmark file (other sections are kept)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.exists() else {}
    data[section] = figures
    data["machine"] = {"cpus": _cpus(), "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    path.write_text(json.dumps(data, indent=2) + "\n")


def _cpus() -> int:
    import os

    return os.cpu_count() or 1
