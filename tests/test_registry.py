"""The registries: every entry loads, describes itself, and is reachable from a study."""

import pytest

from bolrl.config import DENOISERS, TABLES, ExtractionTable, NetworksTable, knobs
from bolrl.registry import ALGORITHMS, EXTRACTIONS, NOISES, POLICIES, RECIPE, method_name
from bolrl.study import AXIS_VALUES, keys_markdown

ENTRIES = [*ALGORITHMS.values(), *POLICIES.values(), *EXTRACTIONS.values(), *NOISES.values()]


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_every_entry_loads_its_implementation(entry):
    assert entry.load() is not None
    assert entry.doc


def test_entries_describe_their_costs():
    net = NetworksTable(diffusion_steps=7)
    assert POLICIES["diffusion"].passes_per_sample(net) == 7
    assert POLICIES["gaussian"].passes_per_sample(net) == 1
    assert POLICIES["diffusion"].relative_size(NetworksTable(denoiser="resnet")) == 2 * (
        POLICIES["diffusion"].relative_size(NetworksTable(denoiser="mlp")))
    params = ExtractionTable(n_samples=9)
    assert EXTRACTIONS["best-of-n"].samples_per_action(params) == 9
    assert EXTRACTIONS["awr"].samples_per_action(params) == 1
    assert EXTRACTIONS["ddpg-bc"].grad_through_sampling
    assert all(a.imitation != a.needs_critic for a in ALGORITHMS.values())


def test_every_entry_is_an_axis_value_of_a_study():
    assert set(AXIS_VALUES["algorithm"]) == set(ALGORITHMS)
    assert set(AXIS_VALUES["extraction"]) == {"none", *EXTRACTIONS}
    assert set(AXIS_VALUES["policy"]) == set(POLICIES)
    assert set(AXIS_VALUES["noise"]) == set(NOISES)
    assert method_name(**RECIPE) == "diffusion/iql+best-of-n"


def test_every_knob_is_documented_and_listed():
    text = keys_markdown()
    for table, cls in TABLES.items():
        assert f"[{table}]" in text
        for f in knobs(cls):
            assert f.metadata["doc"] and f"  {f.name} = " in text


def test_the_denoisers_of_the_config_are_those_the_diffusion_policy_builds():
    import torch

    policy = POLICIES["diffusion"].load()
    for denoiser in DENOISERS:
        net = policy(3, 2, hidden=8, layers=1, diffusion_steps=3, denoiser=denoiser)
        assert net.sample(torch.zeros(1, 3), 2, torch.Generator()).shape == (1, 2, 2)
