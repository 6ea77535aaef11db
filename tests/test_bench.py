"""The benchmark's FLOP count, by hand (benchmarks themselves print figures, untested)."""

import pytest

from bolrl.agent import Agent
from bolrl.bench import step_flops
from bolrl.config import AgentConfig


def test_step_flops_of_gaussian_bc_by_hand():
    # obs 2 -> hidden 3 -> 2 x act (mean, log std) = 2: layers (2x3) + (3x2) = 12 MACs;
    # forward + backward = 3 x, 2 FLOPs per MAC, batch 4: 2 * 3 * 12 * 4 = 288
    cfg = AgentConfig.of(algorithm="bc", extraction="none", policy="gaussian", hidden=3,
                         layers=1, batch_size=4, action_chunk=1)
    assert step_flops(Agent(cfg, 2, 1, seed=0)) == 288


def test_step_flops_grow_with_the_critic_and_with_chunks():
    def flops(**kw):
        return step_flops(Agent(AgentConfig.of(policy="diffusion", **kw), 20, 5, seed=0))

    bc = flops(algorithm="bc", extraction="none", action_chunk=1)
    iql = flops(algorithm="iql", extraction="best-of-n", action_chunk=1)
    chunked = flops(algorithm="iql", extraction="best-of-n", action_chunk=4)
    assert bc < iql < chunked


def test_the_training_benchmark_measures_every_method_of_the_registries():
    """`bolrl bench train` builds each method from the default tables, whose demo_fraction is
    a table by algorithm (it once passed that table on as a number and crashed)."""
    import dataclasses

    from bolrl.bench import bench_train
    from bolrl.registry import POLICIES, method_name, method_pairs

    base = AgentConfig()
    base = dataclasses.replace(
        base, networks=dataclasses.replace(base.networks, hidden=8, critic_hidden=8,
                                           diffusion_steps=2))
    figures = bench_train(base, steps=2, act_batch=4)
    names = {method_name(a, e, p) for p in POLICIES for a, e in method_pairs()}
    assert names <= figures.keys()
    assert all(figures[n]["grad_steps_per_s"] > 0 for n in names)


def test_code_at_a_revision_runs_in_a_process_of_its_own(tmp_path):
    """The reference the speed-ups are measured against: bolrl at another revision, imported
    from its own tree (not this one) in a fresh process."""
    import subprocess

    from bolrl import bench

    if subprocess.run(["git", "-C", str(bench.REPO), "rev-parse", "HEAD"],
                      capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    root = bench.code_at("HEAD", tmp_path)
    assert root is not None and (root / "bolrl" / "__init__.py").exists()
    assert (root / "studies" / "paper.toml").exists()
    where = bench.run_at("HEAD", "import json, bolrl\nprint(json.dumps({'file': bolrl.__file__}))")
    assert where is not None and str(bench.REPO / "bolrl") not in where["file"]
    assert bench.code_at("no-such-revision", tmp_path / "x") is None
    assert bench.ratio(150.0, 100.0) == 1.5
