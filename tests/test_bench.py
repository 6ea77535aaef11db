"""The benchmark's FLOP count, by hand (benchmarks themselves print figures, untested)."""

from bolrl.agent import AgentConfig
from bolrl.bench import step_flops


def test_step_flops_of_gaussian_bc_by_hand():
    # obs 2 -> hidden 3 -> 2 x act (mean, log std) = 2: layers (2x3) + (3x2) = 12 MACs;
    # forward + backward = 3 x, 2 FLOPs per MAC, batch 4: 2 * 3 * 12 * 4 = 288
    cfg = AgentConfig(algorithm="bc", extraction="none", policy="gaussian", hidden=3, layers=1,
                      batch_size=4)
    assert step_flops(cfg, obs_dim=2, act_dim=1) == 288


def test_step_flops_grow_with_the_critic_and_with_chunks():
    bc = AgentConfig(algorithm="bc", extraction="none", policy="diffusion")
    iql = AgentConfig(algorithm="iql", extraction="best-of-n", policy="diffusion")
    chunked = AgentConfig(algorithm="iql", extraction="best-of-n", policy="diffusion",
                          action_chunk=4)
    assert step_flops(bc, 20, 5) < step_flops(iql, 20, 5) < step_flops(chunked, 20, 5)
