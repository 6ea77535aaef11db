"""A rough cost model of a cell, for `bolrl show` (seconds on one core of this machine).

Calibrated with `bolrl bench` on a 2-core machine (2026-11): at hidden 256 x 3 layers and
batch 256, a behaviour-cloning step takes about 3.3 ms, an IQL critic step (256 x 2) adds about
10 ms; diffusion acting costs about 4.5 us per sample per denoising step and network pass,
a Gaussian about 4 us per observation; one environment control step about 0.25 ms. Cost is
taken to scale with the networks' multiply-adds. It is an estimate, shown as such.
"""

from __future__ import annotations

from bolrl.envs import get_task
from bolrl.study import Cell

BC_STEP_S = 3.3e-3  # at 256 x 3, batch 256
CRITIC_STEP_S = 10e-3  # at 256 x 2, batch 256
ACT_PASS_S = 4.5e-6  # one network pass for one sample at 256 x 3
CRITIC_PASS_S = 3.0e-6  # one critic evaluation of one action at 256 x 2
ENV_STEP_S = 2.5e-4
MEAN_LENGTH = 0.7  # mean episode length as a fraction of the horizon


def _scale(hidden: int, layers: int, ref_hidden: int = 256, ref_layers: int = 3) -> float:
    return max(0.15, (hidden**2 * layers) / (ref_hidden**2 * ref_layers))


def estimate_seconds(cell: Cell) -> float:
    a = cell.agent
    policy_scale = _scale(a.hidden, a.layers) * (a.batch_size / 256)
    critic_scale = _scale(a.critic_hidden, a.critic_layers, 256, 2) * (a.batch_size / 256)
    step = BC_STEP_S * policy_scale
    if a.algorithm == "iql":
        step += CRITIC_STEP_S * critic_scale
        if a.extraction == "ddpg-bc":
            step += BC_STEP_S * policy_scale * (a.diffusion_steps if a.policy == "diffusion" else 1)
    grad_steps = cell.rounds * cell.steps_per_round  # round 0 (the base policy) is BC
    passes = a.diffusion_steps if a.policy == "diffusion" else 1
    samples = a.n_samples if a.extraction == "best-of-n" else 1
    act = ACT_PASS_S * _scale(a.hidden, a.layers) * passes * samples
    if a.extraction == "best-of-n":
        act += CRITIC_PASS_S * _scale(a.critic_hidden, a.critic_layers, 256, 2) * samples
    act /= a.action_chunk  # one policy query per chunk
    episodes = cell.eval_episodes * (cell.rounds + 1) + cell.episodes_per_round * cell.rounds
    env_steps = episodes * get_task(cell.task_spec).horizon * MEAN_LENGTH
    base = cell.steps_round0 * BC_STEP_S * policy_scale
    return base + grad_steps * step + env_steps * (ENV_STEP_S + act)
