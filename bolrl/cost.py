"""A cost model of a cell, for `bolrl show` (seconds of one worker on this machine when every
core runs a worker: the condition of `bolrl run-grid` with --workers = cores).

Gradient steps refitted (2026-12-01) on the rows of the studies run at 0766fc8 - 3124f1a
(scaling, noise, expressivity; 2 workers on 2 cores, one torch thread each, batch 256, 4-step
action chunks, the residual denoiser, EMA): a step of behaviour cloning took 6.1 ms for the
diffusion policy (128 wide, 3 residual blocks; filtered BC 7.1) and about 3.8 ms for the
Gaussian (128 x 3); the IQL critic (128 x 2) added about 5 ms (the recipe 11.1 - 12.6 ms a
step, Gaussian + best-of-N 8.8). The constants before (fitted at f728632, 2026-11-24) were 2-3
times these: the learner has been made faster since (`make bench` has the ratios). A step
costs a fixed overhead plus a part that scales with the networks' multiply-adds (relative to
256 wide). One environment control step, the policy acting included, took 0.7 ms on lift and
pick-place and 1.1 ms on nut-assembly (batches of 50-100 environments): 0.9 ms here. Episodes
last about 0.7 of the horizon. A base policy is trained once per study and shared by the
cells that start from it (`bolrl.bases`): `study_seconds` charges it to one of them. Refitted
so, the model gave 1.42 / 1.91 / 1.53 core-hours for scaling / noise / expressivity, which
took 1.26 / 1.87 / 1.48 inside their cells. Acting costs per network pass are the earlier
measurements. What a method costs is read from its registry entries (`bolrl.registry`), never
from its name. An estimate, shown as such.
"""

from __future__ import annotations

from bolrl.envs import get_task
from bolrl.registry import ALGORITHMS, EXTRACTIONS, POLICIES, Extraction, policy_passes_per_action
from bolrl.study import Cell

# step time = overhead + per_scale * scale, scale = multiply-adds relative to 256 wide
BC_STEP_S = (1.5e-3, 9.2e-3)  # Gaussian 128 x 3 (scale 0.25): 3.8 ms; diffusion (0.5): 6.1
CRITIC_STEP_S = (2.4e-3, 10.3e-3)  # critic at 128 x 2 (scale 0.25): about 5 ms
ACT_PASS_S = 4.5e-6  # one network pass for one sample at 256 x 3
CRITIC_PASS_S = 3.0e-6  # one critic evaluation of one action at 256 x 2
ENV_STEP_S = 0.9e-3  # one control step in a batch, acting included
MEAN_LENGTH = 0.7  # mean episode length as a fraction of the horizon
NO_EXTRACTION = Extraction("none", "", "imitation: the policy acts by itself")


def _critic_scale(hidden: int, layers: int) -> float:
    return (hidden**2 * layers) / (256**2 * 2)


def _step(cost: tuple[float, float], scale: float) -> float:
    overhead, per_scale = cost
    return overhead + per_scale * scale


def task_costs(cell: Cell) -> tuple[int, float]:
    """(horizon, seconds per control step) of the cell's task. A task may know its own step
    cost; a suite whose extra is not installed here is priced from its module's horizon and
    the embedded tasks' step cost."""
    try:
        task = get_task(cell.task_spec)
    except ValueError:  # e.g. the suite's extra is not installed: `show` still prices it
        from bolrl.envs.suites import suite_of

        suite = suite_of(cell.task)
        default = suite.load().HORIZON if suite else 200
        return int(cell.task_spec.horizon or default), ENV_STEP_S
    return task.horizon, getattr(task, "env_step_s", ENV_STEP_S)


def estimate_seconds(cell: Cell) -> float:
    net, train = cell.networks, cell.train
    policy = POLICIES[cell.policy]
    extraction = EXTRACTIONS.get(cell.extraction, NO_EXTRACTION)
    algorithm = ALGORITHMS[cell.algorithm]
    critic = algorithm.needs_critic
    batch = train.batch_size / 256
    size = policy.relative_size(net)
    passes = policy.passes_per_sample(net)
    critic_scale = _critic_scale(net.critic_hidden, net.critic_layers)
    bc_step = _bc_step(cell)
    step = bc_step
    if critic:
        step += _step(CRITIC_STEP_S, critic_scale * batch)
        if extraction.grad_through_sampling:
            step += bc_step * passes
        backup = algorithm.backup_samples(cell.extraction_params)  # policy samples at s'
        drawn = backup + extraction.train_samples(cell.extraction_params, train.batch_size)
        step += train.batch_size * drawn * (ACT_PASS_S * size * passes
                                            + CRITIC_PASS_S * critic_scale)
    grad_steps = cell.rounds * train.steps_per_round  # round 0 (the base policy) is BC
    samples = extraction.samples_per_action(cell.extraction_params)
    act = ACT_PASS_S * size * passes_per_action(cell)
    if critic and samples > 1:
        act += CRITIC_PASS_S * critic_scale * samples
    act /= net.action_chunk  # one policy query per chunk
    episodes = cell.eval_episodes * (cell.rounds + 1) + cell.episodes_per_round * cell.rounds
    horizon, env_step_s = task_costs(cell)
    env_steps = episodes * horizon * MEAN_LENGTH
    return base_seconds(cell) + grad_steps * step + env_steps * (env_step_s + act)


def _bc_step(cell: Cell) -> float:
    """Seconds of one behaviour-cloning gradient step of the cell's policy."""
    size = POLICIES[cell.policy].relative_size(cell.networks)
    return _step(BC_STEP_S, size * cell.train.batch_size / 256)


def base_seconds(cell: Cell) -> float:
    """The training of the cell's base policy (round 0)."""
    return cell.train.steps_round0 * _bc_step(cell)


def study_seconds(cells: list[Cell]) -> list[float]:
    """Each cell's estimate, its base policy charged only to the first cell that needs it (the
    others load it: bolrl.bases)."""
    from bolrl.bases import policy_key

    seen, out = set(), []
    for cell in cells:
        key = policy_key(cell)
        out.append(estimate_seconds(cell) - (base_seconds(cell) if key in seen else 0.0))
        seen.add(key)
    return out


def passes_per_action(cell: Cell) -> int:
    """The cell's policy passes per decision (bolrl.registry.policy_passes_per_action)."""
    return policy_passes_per_action(cell.extraction, cell.policy, cell.networks,
                                    cell.extraction_params)
