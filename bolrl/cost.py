"""A rough cost model of a cell, for `bolrl show` (seconds on one core of this machine).

Calibrated on a 2-core machine (2026-11, one torch thread, batch 256, 4-step action chunks).
A gradient step costs a fixed overhead plus a part that scales with the networks'
multiply-adds (measured at 256 and 128 wide): behaviour cloning 3.6 ms at 256 x 3 and 1.5 ms at
128 x 3; the IQL critic adds 9.1 ms at 256 x 2 and 3.6 ms at 128 x 2; DDPG+BC through a
diffusion chain adds about one BC step per denoising step. Diffusion acting costs about 4.5 us
per sample per denoising step and network pass, a Gaussian about 4 us per observation; one
environment control step about 0.25 ms. It is an estimate, shown as such.
"""

from __future__ import annotations

from bolrl.envs import get_task
from bolrl.study import Cell

# step time = overhead + per_scale * scale, scale = multiply-adds relative to 256 wide
BC_STEP_S = (0.74e-3, 2.88e-3)  # policy at 256 x 3, batch 256: 3.6 ms
CRITIC_STEP_S = (1.73e-3, 7.37e-3)  # critic at 256 x 2, batch 256: 9.1 ms
ACT_PASS_S = 4.5e-6  # one network pass for one sample at 256 x 3
CRITIC_PASS_S = 3.0e-6  # one critic evaluation of one action at 256 x 2
ENV_STEP_S = 2.5e-4
MEAN_LENGTH = 0.7  # mean episode length as a fraction of the horizon


def _scale(hidden: int, layers: int, ref_hidden: int = 256, ref_layers: int = 3) -> float:
    return (hidden**2 * layers) / (ref_hidden**2 * ref_layers)


def _step(cost: tuple[float, float], scale: float) -> float:
    overhead, per_scale = cost
    return overhead + per_scale * scale


def estimate_seconds(cell: Cell) -> float:
    a = cell.agent
    policy_scale = _scale(a.hidden, a.layers) * (a.batch_size / 256)
    critic_scale = _scale(a.critic_hidden, a.critic_layers, 256, 2) * (a.batch_size / 256)
    bc_step = _step(BC_STEP_S, policy_scale)
    step = bc_step
    if a.algorithm == "iql":
        step += _step(CRITIC_STEP_S, critic_scale)
        if a.extraction == "ddpg-bc":
            step += bc_step * (a.diffusion_steps if a.policy == "diffusion" else 1)
    grad_steps = cell.rounds * cell.steps_per_round  # round 0 (the base policy) is BC
    passes = a.diffusion_steps if a.policy == "diffusion" else 1
    samples = a.n_samples if a.extraction == "best-of-n" else 1
    act = ACT_PASS_S * _scale(a.hidden, a.layers) * passes * samples
    if a.extraction == "best-of-n":
        act += CRITIC_PASS_S * _scale(a.critic_hidden, a.critic_layers, 256, 2) * samples
    act /= a.action_chunk  # one policy query per chunk
    episodes = cell.eval_episodes * (cell.rounds + 1) + cell.episodes_per_round * cell.rounds
    env_steps = episodes * get_task(cell.task_spec).horizon * MEAN_LENGTH
    base = cell.steps_round0 * bc_step
    return base + grad_steps * step + env_steps * (ENV_STEP_S + act)
