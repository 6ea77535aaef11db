"""The batch online loop of one cell.

    round 0:      the base policy pi0: behaviour cloning on the demonstrations D0 (the same
                  for every method), and Q0 on D0 for Q-function methods with critic_round0,
                  evaluate
    round k >= 1: collect E autonomous episodes with the frozen agent (+ exploration noise),
                  append them to the dataset (D0 kept), train on everything, evaluate

Evaluation runs without noise on the same `eval_episodes` seeded initial states every round
(and for every method of the same seed), so rounds and methods are compared on equal terms.
After each round the agent and the dataset are checkpointed; an interrupted cell resumes from
its last finished round and produces the same rows as an uninterrupted one.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from bolrl.agent import Agent, NonFiniteLoss
from bolrl.bases import train_round0
from bolrl.cost import passes_per_action
from bolrl.data import Episodes
from bolrl.demos import demonstrations
from bolrl.envs import get_task
from bolrl.envs.batched import env_seeds
from bolrl.extend import adopt_rows, predecessor
from bolrl.files import UnsafeFile, load_tensors, write_atomic
from bolrl.noise import Noise
from bolrl.provenance import suite_version
from bolrl.registry import NOISES
from bolrl.results import make_row, run_dir, study_dir
from bolrl.rollout import rollout
from bolrl.study import Cell
from bolrl.trackers import Trackers

EVAL_STREAM = 2000
COLLECT_STREAM = 3000

# (cell_id, round, phase, *detail): phases demos, collect, train, evaluate, done; "done" comes
# with the round's evaluation success
Progress = Callable[..., None]


class AgentActor:
    """The agent acting in a batch of environments, with optional exploration noise. Each
    environment row executes its current chunk of actions open-loop and asks the agent for a
    new chunk, on its current observation, when the chunk is used up (every step when the
    chunk is one action long). Noise is added to the action dimensions `noise_dims` of every
    executed action."""

    def __init__(self, agent: Agent, noise: Noise | None = None,
                 noise_dims: tuple[int, ...] = ()):
        self.agent, self.noise = agent, noise
        self.noise_dims = list(noise_dims)
        self.chunk = agent.cfg.networks.action_chunk
        self.plans = np.zeros((0, self.chunk, agent.act_dim), dtype=np.float32)
        self.step_in_plan = np.zeros(0, dtype=np.int64)  # == chunk: a new chunk is due

    def begin(self, rows: np.ndarray) -> None:
        size = int(np.max(rows)) + 1
        if size > len(self.step_in_plan):  # rows are environment slots 0..n-1
            grow = size - len(self.step_in_plan)
            self.plans = np.concatenate([self.plans, np.zeros((grow, *self.plans.shape[1:]),
                                                              dtype=np.float32)])
            self.step_in_plan = np.concatenate([self.step_in_plan, np.zeros(grow, np.int64)])
        self.step_in_plan[rows] = self.chunk
        if self.noise is not None:
            self.noise.begin(rows)

    def act(self, rows: np.ndarray, obs: np.ndarray, state: np.ndarray) -> np.ndarray:
        need = self.step_in_plan[rows] >= self.chunk
        if need.any():
            self.plans[rows[need]] = self.agent.plan(obs[need])
            self.step_in_plan[rows[need]] = 0
        actions = self.plans[rows, self.step_in_plan[rows]]
        self.step_in_plan[rows] += 1
        if self.noise is not None:
            actions = actions.copy()
            actions[:, self.noise_dims] += self.noise.sample(rows)
            actions = np.clip(actions, -1.0, 1.0)
        return actions


def evaluate(cell: Cell, agent: Agent, episodes: int | None = None,
             seed: int | None = None) -> tuple[float, float]:
    """(success rate, mean episode length) over the cell's evaluation episodes, no noise (or
    over `episodes` from the evaluation states of `seed`: `bolrl eval`)."""
    task = get_task(cell.task_spec)
    n = cell.eval_episodes if episodes is None else episodes
    seed = cell.seed if seed is None else seed
    seeds = env_seeds(seed, min(n, cell.n_envs), stream=EVAL_STREAM)
    episodes = rollout(task, seeds, AgentActor(agent), n, vector_env=cell.vector_env)
    return float(episodes.episode_success.mean()), float(episodes.episode_lengths.mean())


def noise_dims(cell: Cell, task) -> tuple[int, ...]:
    """The action dimensions that get exploration noise: the study's list, else the task's."""
    return cell.noise_params.dims or task.exploration_dims


def collect(cell: Cell, agent: Agent, round_index: int) -> Episodes:
    """This round's autonomous episodes, with the cell's exploration noise."""
    task = get_task(cell.task_spec)
    n = min(cell.episodes_per_round, cell.n_envs)
    seeds = env_seeds(cell.seed, n, stream=COLLECT_STREAM + round_index)
    dims = noise_dims(cell, task)
    noise = NOISES[cell.noise].load()(n, len(dims), task.horizon, cell.noise_params,
                               np.random.default_rng([cell.seed, round_index, 17]))
    return rollout(task, seeds, AgentActor(agent, noise, dims), cell.episodes_per_round,
                   vector_env=cell.vector_env)


def _row(cell: Cell, round_index: int, **values) -> dict:
    """A results row of this cell and round: who it is, then the round's `values`."""
    identity = dict(
        study=cell.study, cell_id=cell.cell_id, task=cell.task, seed=cell.seed,
        algorithm=cell.algorithm, extraction=cell.extraction, policy=cell.policy,
        noise=cell.noise, method=cell.method_name, episodes_per_round=cell.episodes_per_round,
        noise_sigma=cell.noise_params.sigma if cell.noise != "none" else float("nan"),
        round=round_index, demos=cell.demos, demos_style=cell.demos_style, status="ok",
        policy_passes_per_action=passes_per_action(cell),
        suite_version=suite_version(cell.task),
        config=json.dumps(cell.config(), sort_keys=True),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    return make_row(**{**identity, **values})


def acting_path(rdir: Path, round_index: int) -> Path:
    """Where a cell's run keeps the agent of a round as it began to act (Agent.acting_state)."""
    return rdir / f"acting-round{round_index}.pt"


def _save_checkpoint(rdir: Path, round_index: int, agent: Agent, data: Episodes, rows: list,
                     demo_transitions: int) -> None:
    """Dataset first (a file per round), then the checkpoint that names it, then clean up."""
    data_file = rdir / f"data-round{round_index}.npz"
    data.save(data_file)
    state = {"round": round_index, "rows": rows, "agent": agent.state_dict(),
             "data_file": data_file.name, "demo_transitions": demo_transitions}
    write_atomic(rdir / "checkpoint.pt", lambda tmp: torch.save(state, tmp))
    for old in rdir.glob("data-round*.npz"):
        if old.name != data_file.name:
            old.unlink(missing_ok=True)


def _load_checkpoint(rdir: Path) -> dict | None:
    path = rdir / "checkpoint.pt"
    if not path.exists():
        return None
    try:
        state = load_tensors(path)
        state["data"] = Episodes.load(rdir / state["data_file"])
        return state
    except UnsafeFile:
        raise
    except Exception:  # a damaged checkpoint only costs the rounds since the last good one
        return None


def run_cell(cell: Cell, results: Path, progress: Progress | None = None,
             resume: bool = True, rdir: Path | None = None) -> list[dict]:
    """Run (or resume) one cell; returns one row per round. Its checkpoints go to `rdir`
    (default: the cell's run directory; a forced rerun works in a scratch one). An exception
    inside the loop ends the cell with a final row of status `failed` naming the round and
    the error. Torch's thread count is the executor's to set (one per local worker)."""
    say = progress or (lambda cell_id, round_index, phase, *detail: None)
    rdir = rdir or run_dir(results, cell.study, cell.cell_id)
    rdir.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    round_index = 0
    trackers = None
    try:  # setup included: a task or agent that cannot be built fails this cell only
        trackers = Trackers(cell.track, study_dir(results, cell.study), cell)
        task = get_task(cell.task_spec)
        agent = Agent(cell.agent, task.obs_dim, task.act_dim, seed=cell.seed,
                      unitless_features=task.unitless_features)
        data, rows, start, demo_transitions = _start(cell, task, agent, results, rdir, resume,
                                                     say)
        for round_index in range(start, cell.rounds + 1):
            data, row = _round(cell, agent, data, rows, round_index, demo_transitions,
                               results, rdir, trackers, say)
            rows.append(row)
            _save_checkpoint(rdir, round_index, agent, data, rows, demo_transitions)
            trackers.round(rows[-1])
            say(cell.cell_id, round_index, "done", row["eval_success_rate"])
    except Exception as exc:  # recorded, so that the other cells of the grid go on
        rows.append(_failed_row(cell, round_index, rows, exc))
    finally:
        if trackers is not None:
            trackers.close()
    return rows


def _start(cell: Cell, task, agent: Agent, results: Path, rdir: Path, resume: bool,
           say: Progress) -> tuple[Episodes, list[dict], int, int]:
    """Where the cell starts: its checkpoint (or, for a study extended by more rounds, the end
    of the same cell run for fewer), else the demonstrations. Returns the data so far, the
    rows so far, the first round to run and the number of demonstration transitions."""
    state = _load_checkpoint(rdir) if resume else None
    if state is None and resume:  # a study extended by more rounds: go on from the end
        found = predecessor(results, cell)  # of the same cell run for fewer rounds
        state = _load_checkpoint(run_dir(results, cell.study, found[0])) if found else None
        if state is not None:
            state["rows"] = adopt_rows(state["rows"], cell)
    if state is not None:
        agent.load_state_dict(state["agent"])
        return state["data"], state["rows"], state["round"] + 1, state["demo_transitions"]
    say(cell.cell_id, 0, "demos")
    data = demonstrations(task, cell.demos, seed=cell.seed,
                          demos_file=cell.task_spec.demos_file, style=cell.demos_style)
    return data, [], 0, len(data.rewards)


def _round(cell: Cell, agent: Agent, data: Episodes, rows: list[dict], round_index: int,
           demo_transitions: int, results: Path, rdir: Path, trackers: Trackers,
           say: Progress) -> tuple[Episodes, dict]:
    """One round: collect (from round 1), train, keep the acting agent, evaluate; returns the
    data with this round's episodes and the round's row."""
    collect_s, collect_rate, loss_new = 0.0, float("nan"), float("nan")
    if round_index > 0:
        say(cell.cell_id, round_index, "collect")
        t0 = time.perf_counter()
        new = collect(cell, agent, round_index)
        collect_s = time.perf_counter() - t0
        collect_rate = float(new.episode_success.mean())
        loss_new = agent.policy_loss_on(new)
        data = data + new
    say(cell.cell_id, round_index, "train")
    t0 = time.perf_counter()
    steps = cell.train.steps_round0 if round_index == 0 else cell.train.steps_per_round
    before = rows[-1]["grad_steps"] if rows else 0
    agent.step_hook = (None if not trackers.each else
                       lambda k, losses, before=before: trackers.step(before + k, losses))
    demos, autonomous = data.split(demo_transitions)
    if steps == 0:
        losses = {}
    elif round_index == 0:
        losses = train_round0(cell, agent, demos, results)
    else:
        losses = agent.train(demos, autonomous, steps)
    train_s = time.perf_counter() - t0
    # the round's agent as it starts to act (its generator's state included), for
    # `bolrl eval`: evaluated again on the same states, it gives this round's row
    write_atomic(acting_path(rdir, round_index),
                 lambda tmp: torch.save(agent.acting_state(), tmp))
    say(cell.cell_id, round_index, "evaluate")
    t0 = time.perf_counter()
    success, length = evaluate(cell, agent)
    eval_s = time.perf_counter() - t0
    return data, _row(
        cell, round_index,
        autonomous_episodes=round_index * cell.episodes_per_round,
        autonomous_transitions=len(data.rewards) - demo_transitions,
        collect_success_rate=collect_rate,
        eval_success_rate=success,
        eval_episodes=cell.eval_episodes,
        eval_episode_length=length,
        policy_loss_new=loss_new,
        **losses,
        grad_steps=before + steps,
        collect_s=collect_s, train_s=train_s, eval_s=eval_s,
        device=str(agent.device),
    )


def _failed_row(cell: Cell, round_index: int, rows: list[dict], exc: Exception) -> dict:
    """The row that ends a cell whose round raised: the round and the error."""
    if isinstance(exc, NonFiniteLoss):
        error = f"round {round_index}: {exc}"
    else:
        error = f"round {round_index}: {type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    return _row(cell, round_index, status="failed", error=error,
                autonomous_episodes=round_index * cell.episodes_per_round,
                autonomous_transitions=0, eval_episodes=cell.eval_episodes,
                grad_steps=rows[-1]["grad_steps"] if rows else 0,
                collect_s=0.0, train_s=0.0, eval_s=0.0)
