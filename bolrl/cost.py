"""A rough cost model of a cell, for `bolrl show` (seconds on one core of this machine).

Calibrated on a 2-core machine (2026-11, one torch thread, batch 256, 4-step action chunks).
A gradient step costs a fixed overhead plus a part that scales with the networks'
multiply-adds (measured at 256 and 128 wide): behaviour cloning 3.6 ms at 256 x 3 and 1.5 ms at
128 x 3; the IQL critic adds 9.1 ms at 256 x 2 and 3.6 ms at 128 x 2; a loss that
differentiates the policy's sampling (DDPG+BC) adds about one BC step per network pass of a
sample. Acting costs about 4.5 us per sample per network pass at 256 x 3, a critic evaluation
about 3 us per action; one environment control step about 0.25 ms. What a method costs is read
from its registry entries (`bolrl.registry`), never from its name. An estimate, shown as such.
"""

from __future__ import annotations

from bolrl.envs import get_task
from bolrl.registry import ALGORITHMS, EXTRACTIONS, POLICIES, Extraction
from bolrl.study import Cell

# step time = overhead + per_scale * scale, scale = multiply-adds relative to 256 wide
BC_STEP_S = (0.74e-3, 2.88e-3)  # policy at 256 x 3, batch 256: 3.6 ms
CRITIC_STEP_S = (1.73e-3, 7.37e-3)  # critic at 256 x 2, batch 256: 9.1 ms
ACT_PASS_S = 4.5e-6  # one network pass for one sample at 256 x 3
CRITIC_PASS_S = 3.0e-6  # one critic evaluation of one action at 256 x 2
ENV_STEP_S = 2.5e-4
MEAN_LENGTH = 0.7  # mean episode length as a fraction of the horizon
NO_EXTRACTION = Extraction("none", "", "imitation: the policy acts by itself")


def _critic_scale(hidden: int, layers: int) -> float:
    return (hidden**2 * layers) / (256**2 * 2)


def _step(cost: tuple[float, float], scale: float) -> float:
    overhead, per_scale = cost
    return overhead + per_scale * scale


def estimate_seconds(cell: Cell) -> float:
    net, train = cell.networks, cell.train
    policy = POLICIES[cell.policy]
    extraction = EXTRACTIONS.get(cell.extraction, NO_EXTRACTION)
    critic = ALGORITHMS[cell.algorithm].needs_critic
    batch = train.batch_size / 256
    size = policy.relative_size(net)
    passes = policy.passes_per_sample(net)
    critic_scale = _critic_scale(net.critic_hidden, net.critic_layers)
    bc_step = _step(BC_STEP_S, size * batch)
    step = bc_step
    if critic:
        step += _step(CRITIC_STEP_S, critic_scale * batch)
        if extraction.grad_through_sampling:
            step += bc_step * passes
    grad_steps = cell.rounds * train.steps_per_round  # round 0 (the base policy) is BC
    samples = extraction.samples_per_action(cell.extraction_params)
    act = ACT_PASS_S * size * passes * samples
    if critic and samples > 1:
        act += CRITIC_PASS_S * critic_scale * samples
    act /= net.action_chunk  # one policy query per chunk
    episodes = cell.eval_episodes * (cell.rounds + 1) + cell.episodes_per_round * cell.rounds
    env_steps = episodes * get_task(cell.task_spec).horizon * MEAN_LENGTH
    base = train.steps_round0 * bc_step
    return base + grad_steps * step + env_steps * (ENV_STEP_S + act)
