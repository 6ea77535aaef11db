"""Benchmarks that print figures (never asserted in tests) and write `results/bench.json`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
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


def _steps_per_s(step, seconds: float) -> float:
    """Calls of `step()` (each returning how many environment steps it took) per second."""
    steps, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        steps += step()
    return steps / elapsed


def bench_vector(task_name: str, n_envs: int = 16, seconds: float = 2.0) -> dict:
    """Control steps/s of one Gymnasium task (Meta-World, robomimic), random actions: one
    environment in a plain loop; `n_envs` of them in bolrl's batch stepped one after another
    in this process (vector_env = "sync", Gymnasium's SyncVectorEnv) and in a worker process
    each (vector_env = "async", AsyncVectorEnv)."""
    from bolrl.envs import get_task

    task = get_task(task_name)
    rng = np.random.default_rng(0)
    single = task.make_env()
    single.reset(seed=0)

    def one() -> int:
        _, _, terminated, truncated, _ = single.step(rng.uniform(-1, 1, task.act_dim))
        if terminated or truncated:
            single.reset()
        return 1

    figures = {"task": task_name, "batch": n_envs,
               "single_env_steps_per_s": round(_steps_per_s(one, seconds), 1)}
    single.close()
    for vector in ("sync", "async"):
        batch = task.batch(list(range(n_envs)), vector)

        def step(batch=batch) -> int:
            batch.step(rng.uniform(-1, 1, (n_envs, task.act_dim)).astype(np.float32))
            return n_envs

        try:
            figures[f"{vector}_vector_steps_per_s"] = round(_steps_per_s(step, seconds), 1)
        finally:
            batch.close()
    figures["async_workers"] = n_envs
    figures["cpus"] = _cpus()
    return figures


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


def synthetic_episodes(n: int, obs_dim: int, act_dim: int, seed: int = 0):
    """Random transitions in episodes of 50 steps, a third of them successful."""
    from bolrl.data import Episodes

    rng = np.random.default_rng(seed)
    ends = (np.arange(n) % 50) == 49
    success = ends & (rng.random(n) < 1 / 3)
    return Episodes(
        rng.normal(size=(n, obs_dim)).astype(np.float32),
        rng.uniform(-1, 1, (n, act_dim)).astype(np.float32),
        success.astype(np.float32),
        rng.normal(size=(n, obs_dim)).astype(np.float32),
        success,
        ends & ~success,
    )


def _layer_shapes(in_dim: int, hidden: int, layers: int, out_dim: int) -> list[tuple[int, int]]:
    dims = [in_dim] + [hidden] * layers + [out_dim]
    return list(zip(dims[:-1], dims[1:], strict=True))


def _macs(shapes: list[tuple[int, int]]) -> int:
    return sum(i * o for i, o in shapes)


def linear_macs(module) -> int:
    """Multiply-adds of one pass of a network's linear layers for one input row, read from the
    modules (ensembles count each member)."""
    from torch import nn

    from bolrl.nets import EnsembleLinear

    total = 0
    for m in module.modules():
        if isinstance(m, nn.Linear):
            total += m.in_features * m.out_features
        elif isinstance(m, EnsembleLinear):
            total += m.weight.numel()
    return total


def step_flops(agent) -> float:
    """Floating-point operations of one gradient step of an agent, counted from its layers
    (2 per multiply-add; a backward pass costs twice its forward). What the step does comes
    from the method's registry entries. Activations, norms and the optimizer are left out:
    this is the matmul work the step cannot avoid."""
    from bolrl.registry import ALGORITHMS, EXTRACTIONS, POLICIES

    cfg = agent.cfg
    pol = linear_macs(agent.policy)
    passes = POLICIES[cfg.method.policy].passes_per_sample(cfg.networks)
    macs = 3 * pol  # the policy's own loss, forward and backward
    if agent.critic is not None:
        q = linear_macs(agent.critic.q)
        macs += 3 * q  # Q online, forward and backward
        if ALGORITHMS[cfg.method.algorithm].learns_value:  # IQL: Q target at (s, a) for V's
            v = linear_macs(agent.critic.v)  # loss; V(s) forward and backward, V(s')
            macs += q + 3 * v + v
        else:
            v = 0
        extraction = EXTRACTIONS[cfg.method.extraction]
        backup = ALGORITHMS[cfg.method.algorithm].backup_samples(cfg.extraction)
        backup += extraction.train_samples(cfg.extraction, cfg.train.batch_size)  # the method's
        macs += backup * (pol * passes + q)  # policy samples, each rated by Q
        if extraction.weights_by_critic:
            macs += q + v
        if extraction.grad_through_sampling:
            macs += 3 * pol * passes + 3 * q
    return 2.0 * macs * cfg.train.batch_size


def matmul_reference_gflops(shapes: list[tuple[int, int]], batch: int,
                            seconds: float = 0.5) -> float:
    """GFLOP/s of plain torch matmuls of the given layer shapes, forward and backward."""
    import torch

    weights = [torch.randn(i, o, requires_grad=True) for i, o in shapes]
    x0 = torch.randn(batch, shapes[0][0])
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        x = x0
        for w in weights:
            x = x @ w
        x.sum().backward()
        reps += 1
    flops = 2.0 * 3 * _macs(shapes) * batch * reps
    return flops / (time.perf_counter() - start) / 1e9


def bench_train(base, obs_dim: int = 20, act_dim: int = 5, steps: int = 100,
                act_batch: int = 100) -> dict:
    """Gradient steps/s of every method of the registries (each policy class with each
    imitation algorithm and each extraction of each Q-function algorithm), and actions/s when
    acting on a batch of `act_batch` observations, for the sizes in `base` (an AgentConfig)."""
    import dataclasses

    import torch

    from bolrl.agent import Agent
    from bolrl.config import Method
    from bolrl.registry import ALGORITHMS, POLICIES, method_name, method_pairs

    torch.set_num_threads(1)
    data = synthetic_episodes(5000, obs_dim, act_dim)
    demos = data.first_episodes(data.n_episodes // 10)
    autonomous = data.split(demos.n_transitions)[1]
    obs = data.obs[:act_batch]
    pairs = method_pairs()
    out = {}
    for policy in POLICIES:
        for algorithm, extraction in pairs:
            cfg = dataclasses.replace(base, method=Method(algorithm, extraction, policy),
                                      train=base.train.for_algorithm(
                                          algorithm, ALGORITHMS[algorithm].demo_fraction))
            agent = Agent(cfg, obs_dim, act_dim, seed=0)
            agent.train(demos, autonomous, 5)
            start = time.perf_counter()
            agent.train(demos, autonomous, steps)
            train_rate = steps / (time.perf_counter() - start)
            agent.act(obs)
            start, reps = time.perf_counter(), 0
            while time.perf_counter() - start < 0.5:
                agent.act(obs)
                reps += 1
            act_rate = reps * len(obs) / (time.perf_counter() - start)
            name = method_name(algorithm, extraction, policy)
            achieved = step_flops(agent) * train_rate / 1e9
            out[name] = {"grad_steps_per_s": round(train_rate, 1),
                         "actions_per_s": round(act_rate, 1),
                         "achieved_gflops": round(achieved, 1)}
    net = base.networks
    shapes = _layer_shapes(obs_dim + act_dim + 16, net.hidden, net.layers, act_dim)
    out["matmul_reference_gflops"] = round(
        matmul_reference_gflops(shapes, base.train.batch_size), 1)
    out["sizes"] = {"hidden": net.hidden, "layers": net.layers, "denoiser": net.denoiser,
                    "critic_hidden": net.critic_hidden, "critic_layers": net.critic_layers,
                    "batch_size": base.train.batch_size, "diffusion_steps": net.diffusion_steps,
                    "n_samples": base.extraction.n_samples, "act_batch": act_batch,
                    "threads": 1}
    return out


def bench_cell(study_path: Path, rounds: int = 1) -> dict:
    """One cell of a study (its most expensive method on its first task, seed 0), end to end
    for `rounds` rounds, in a fresh worker process: wall time split into collect, train and
    evaluate, and the worker's peak resident memory."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(_bench_cell_worker, (str(study_path), rounds))


def _bench_cell_worker(study_path: str, rounds: int) -> dict:
    import dataclasses
    import resource
    import tempfile

    import torch

    from bolrl.cost import estimate_seconds
    from bolrl.loop import run_cell
    from bolrl.study import load_study

    torch.set_num_threads(1)  # as a worker of the local executor
    study = load_study(Path(study_path))
    cell = max(study.cells, key=estimate_seconds)
    cell = dataclasses.replace(cell, rounds=min(rounds, cell.rounds))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        rows = run_cell(cell, Path(tmp))
    wall = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    split = {k: round(sum(r[k] for r in rows), 1) for k in ("collect_s", "train_s", "eval_s")}
    return {"study": study.name, "cell": cell.label, "cell_id": cell.cell_id,
            "rounds_run": cell.rounds, "wall_s": round(wall, 1), **split,
            "peak_memory_mib": round(peak_mib), "status": rows[-1]["status"]}


def project_study(study_path: Path, workers: int) -> dict:
    """The cost model's projection of a whole study on `workers` cores."""
    from bolrl.cost import study_seconds
    from bolrl.study import load_study

    study = load_study(study_path)
    total = sum(study_seconds(study.cells))
    return {"study": study.name, "cells": len(study.cells), "core_hours": round(total / 3600, 2),
            "projected_wall_h": round(total / 3600 / workers, 2), "workers": workers}


# The revision before issue 30's speed-ups: `bolrl bench train` and `bench cell` measure its
# code in the same run, on the same machine, and print ours as a ratio to it (times alone
# differ between machines and loads; a ratio measured side by side does not).
REFERENCE_REVISION = "fb90ff1"
REPO = Path(__file__).resolve().parent.parent


def code_at(revision: str, into: Path, repo: Path = REPO) -> Path | None:
    """bolrl's code and study files at `revision` (git archive) under `into`, or None where
    this is not a git checkout holding that revision."""
    try:
        archive = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", revision,
                                  "bolrl", "studies"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True,
                       capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return into


def run_at(revision: str | None, code: str, timeout: float = 1800) -> dict | None:
    """Run `code` (Python that prints one JSON object last) with bolrl at `revision` (None:
    this working tree), in a process of its own; its JSON, or None where the revision is not
    at hand."""
    with tempfile.TemporaryDirectory() as tmp:
        root = REPO if revision is None else code_at(revision, Path(tmp))
        if root is None:
            return None
        env = {**os.environ, "PYTHONPATH": str(root)}
        out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env,
                             capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError(f"the benchmark at {revision or 'this tree'} failed: "
                               f"{(out.stderr or out.stdout).strip().splitlines()[-1:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])


TRAIN_AT_PAPER_SIZES = ("import json\nfrom pathlib import Path\nfrom bolrl.bench import "
                        "bench_train\nfrom bolrl.study import load_study\n"
                        "base = load_study(Path('studies/paper.toml')).cells[0].agent\n"
                        "print(json.dumps(bench_train(base)))")


def bench_train_reference(revision: str | None = REFERENCE_REVISION) -> dict | None:
    """`bench_train` at the paper study's sizes (its file at `revision`), with the code at
    `revision` (None: this working tree), in a fresh process."""
    return run_at(revision, TRAIN_AT_PAPER_SIZES)


def train_speedups(revision: str = REFERENCE_REVISION, reps: int = 3) -> dict | None:
    """Per method, gradient steps/s of this tree over those at `revision`: both measured in
    fresh processes, alternately, `reps` times each, the median of each side (on a shared
    machine one run of either can be 20% off)."""
    ours: dict[str, list[float]] = {}
    theirs: dict[str, list[float]] = {}
    for _ in range(reps):
        reference = bench_train_reference(revision)
        if reference is None:
            return None
        for side, figures in ((theirs, reference), (ours, bench_train_reference(None))):
            for name, f in figures.items():
                if isinstance(f, dict) and "grad_steps_per_s" in f:
                    side.setdefault(name, []).append(f["grad_steps_per_s"])
    return {name: {"ours": float(np.median(ours[name])), "reference": float(np.median(v)),
                   "speedup": round(ratio(float(np.median(ours[name])), float(np.median(v))), 2),
                   "reps": reps}
            for name, v in theirs.items() if name in ours}


def bench_cell_reference(revision: str = REFERENCE_REVISION, rounds: int = 1) -> dict | None:
    """`bench_cell` of the paper study (its file at `revision`), with the code at it."""
    return run_at(revision, "import json\nfrom pathlib import Path\nfrom bolrl.bench import "
                            f"bench_cell\nprint(json.dumps(bench_cell(Path('studies/paper.toml'), "
                            f"rounds={rounds})))")


def ratio(ours: float, reference: float) -> float:
    """How many times faster ours is (a rate over a rate, or a time under a time)."""
    return ours / reference if reference else float("nan")
