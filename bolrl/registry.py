"""The axes' values, each an entry that says what it is, without importing its implementation.

A study file names axis values (`algorithm = ["bc", "iql"]`, `policy = ["diffusion"]`); each
name is looked up here. An entry carries what other modules would otherwise guess from the
name: whether an algorithm imitates or learns a Q-function, how many network passes a policy
class needs per sample, how many samples an extraction method draws per decision, whether its
loss backpropagates through the policy's sampling. The cost model, the benchmarks, study
validation, method names and the report read these; none of them compares names. The
implementation (`impl`, "module:attribute") is imported on first use, so that reading a study
needs no torch. Adding a method is one class in its module and one line here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bolrl.config import ExtractionTable, NetworksTable


@dataclass(frozen=True)
class Entry:
    name: str
    impl: str  # "module:attribute" of the implementation
    doc: str
    # Study settings ("table.key") that only this value of its axis reads among the settings
    # that some values read and others do not (OPTIONAL_SETTINGS): a cell whose axes read
    # none of them leaves them out of its identity (bolrl.identity), so changing, say, the
    # critic's target rate does not make a BC cell stale. Shared settings are not listed.
    settings: tuple[str, ...] = ()

    def load(self) -> Any:
        module, attribute = self.impl.split(":")
        return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class Algorithm(Entry):
    """The algorithm-class axis. Imitation algorithms are their own policy extractor;
    Q-function algorithms name a critic class and need an extraction method."""

    imitation: bool = False
    # the least share of demonstrations in a policy batch where [train].demo_fraction does
    # not name this algorithm (the knob's default table names bc, filtered-bc and iql with
    # these same numbers; a test keeps them equal)
    demo_fraction: float = 0.5
    learns_value: bool = False  # its critic answers value(obs), V(s)
    # policy samples its critic's loss draws per transition of a batch (a backup that samples
    # the policy at s'): what a gradient step costs beyond the critic's own networks
    backup_samples: Callable[[ExtractionTable], int] = lambda params: 0

    @property
    def needs_critic(self) -> bool:
        return not self.imitation


def mlp_size(networks: NetworksTable) -> float:
    """Multiply-adds of one pass of the policy's hidden layers, relative to 256 x 3."""
    return networks.hidden**2 * networks.layers / (256**2 * 3)


def denoiser_size(networks: NetworksTable) -> float:
    """A residual block holds two hidden layers; a plain MLP layer one."""
    return mlp_size(networks) * (2 if networks.denoiser == "resnet" else 1)


@dataclass(frozen=True)
class PolicyClass(Entry):
    """The expressivity axis."""

    passes_per_sample: Callable[[NetworksTable], int] = lambda networks: 1
    relative_size: Callable[[NetworksTable], float] = mlp_size  # of one pass, for costs


@dataclass(frozen=True)
class Extraction(Entry):
    """The extraction axis of Q-function methods."""

    samples_per_action: Callable[[ExtractionTable], int] = lambda params: 1
    # the policy's samples drawn per action by a one-step network of the extractor's own
    # instead of the policy's K passes (FQL): acting costs one pass
    one_step: bool = False
    # policy samples (each K passes, no gradient) a training step draws per transition of a
    # batch of the given size, beyond the policy's own loss: PA-RL's candidates, the actors'
    # teachers
    train_samples: Callable[[ExtractionTable, int], float] = lambda params, batch: 0
    grad_through_sampling: bool = False  # the policy loss differentiates the sampling chain
    weights_by_critic: bool = False  # the policy loss evaluates Q and V on its batch
    needs_value: bool = False  # it reads the critic's V(s): only for critics that learn one


def _registry(*entries: Entry) -> dict[str, Any]:
    return {e.name: e for e in entries}


ALGORITHMS: dict[str, Algorithm] = _registry(
    Algorithm("bc", "bolrl.extraction:BC", "behaviour cloning on all data", imitation=True),
    Algorithm("filtered-bc", "bolrl.extraction:FilteredBC",
              "behaviour cloning on successful episodes", imitation=True, demo_fraction=0.0),
    Algorithm("iql", "bolrl.critics.iql:IQLCritic", "an IQL Q-function (expectile V, twin Q)",
              learns_value=True,
              settings=("networks.critic_hidden", "networks.critic_layers", "critic.gamma",
                        "critic.expectile", "critic.target_tau", "train.critic_round0")),
    Algorithm("qc", "bolrl.critics.qc:QChunkingCritic",
              "Q-chunking's twin Q: target from the max Q of N policy samples at s'",
              backup_samples=lambda p: p.n_samples,
              settings=("networks.critic_hidden", "networks.critic_layers", "critic.gamma",
                        "critic.target_tau", "train.critic_round0", "extraction.n_samples")),
)

POLICIES: dict[str, PolicyClass] = _registry(
    PolicyClass("gaussian", "bolrl.policies.gaussian:GaussianPolicy",
                "an MLP Gaussian, acting with its mean",
                settings=("train.gaussian_nll_beta", "train.gaussian_log_std_min")),
    PolicyClass("diffusion", "bolrl.policies.diffusion:DiffusionPolicy",
                "a DDPM over actions", passes_per_sample=lambda n: n.diffusion_steps,
                relative_size=denoiser_size,
                settings=("networks.diffusion_steps", "networks.denoiser")),
    PolicyClass("flow", "bolrl.policies.flow:FlowPolicy",
                "flow matching over actions, K Euler steps (K = diffusion_steps)",
                passes_per_sample=lambda n: n.diffusion_steps, relative_size=denoiser_size,
                settings=("networks.diffusion_steps", "networks.denoiser")),
)

NO_EXTRACTION = "none"  # the extraction value of imitation methods
EXTRACTIONS: dict[str, Extraction] = _registry(
    Extraction("awr", "bolrl.extraction:AWR", "explicit: BC weighted by exp(beta (Q - V))",
               weights_by_critic=True, needs_value=True,
               settings=("extraction.awr_beta", "extraction.awr_max_weight")),
    Extraction("ddpg-bc", "bolrl.extraction:DDPGBC",
               "explicit: maximise Q through the policy's sampling, plus BC",
               grad_through_sampling=True, settings=("extraction.ddpg_alpha",)),
    Extraction("best-of-n", "bolrl.extraction:BestOfN",
               "implicit: execute the best of N sampled actions under Q",
               samples_per_action=lambda p: p.n_samples, settings=("extraction.n_samples",)),
    Extraction("softmax-of-n", "bolrl.extraction:SoftmaxOfN",
               "implicit: execute one of N sampled actions, drawn with p ~ exp(beta Q)",
               samples_per_action=lambda p: p.n_samples,
               settings=("extraction.n_samples", "extraction.awr_beta")),
    Extraction("pa-rl", "bolrl.extraction.parl:PARL",
               "N samples, the top k improved by gradient steps on Q, the best distilled into "
               "the policy by BC and executed", samples_per_action=lambda p: p.n_samples,
               train_samples=lambda p, b: p.n_samples * min(p.parl_distill_rows, b) / b,
               settings=("extraction.n_samples", "extraction.parl_distill_rows",
                         "extraction.parl_top_k", "extraction.parl_steps",
                         "extraction.parl_step_size")),
    Extraction("expo", "bolrl.extraction.expo:EXPO",
               "a Gaussian edit policy raises Q within a bound; execute the best of N samples "
               "and their edits", samples_per_action=lambda p: p.n_samples,
               train_samples=lambda p, b: 1,
               settings=("extraction.n_samples", "extraction.expo_edit_scale",
                         "extraction.actor_entropy")),
    Extraction("fql", "bolrl.extraction.fql:FQL",
               "a one-step policy maximises Q, distilled towards the BC policy's action for the "
               "same noise; it acts", one_step=True, train_samples=lambda p, b: 1,
               settings=("extraction.fql_alpha",)),
    Extraction("dsrl", "bolrl.extraction.dsrl:DSRL",
               "a latent-noise actor steers the BC policy's initial noise to maximise Q",
               train_samples=lambda p, b: 2,
               settings=("extraction.dsrl_noise_bound", "extraction.actor_entropy")),
)

NOISES: dict[str, Entry] = _registry(
    Entry("none", "bolrl.noise:NoNoise", "no exploration noise"),
    Entry("white", "bolrl.noise:WhiteNoise", "i.i.d. Gaussian per step",
          settings=("noise.sigma", "noise.dims")),
    Entry("ou", "bolrl.noise:OUNoise", "Ornstein-Uhlenbeck (temporally correlated)",
          settings=("noise.sigma", "noise.dims", "noise.theta")),
    Entry("pink", "bolrl.noise:PinkNoise", "colored, power ~ 1 / f^beta",
          settings=("noise.sigma", "noise.dims", "noise.beta")),
)

# The settings some axis values read and others do not (see Entry.settings).
OPTIONAL_SETTINGS = frozenset(
    s for registry in (ALGORITHMS, POLICIES, EXTRACTIONS, NOISES) for e in registry.values()
    for s in e.settings)


def settings_read(algorithm: str, extraction: str, policy: str, noise: str) -> frozenset[str]:
    """Of OPTIONAL_SETTINGS, those a cell with these axis values reads."""
    entries = [ALGORITHMS[algorithm], POLICIES[policy], NOISES[noise]]
    if extraction in EXTRACTIONS:
        entries.append(EXTRACTIONS[extraction])
    return frozenset(s for e in entries for s in e.settings)

def policy_passes_per_action(extraction: str, policy: str, networks: NetworksTable,
                             params: ExtractionTable) -> int:
    """Network passes of the policy (or of the extractor's one-step network) per decision:
    samples x passes per sample (denoising steps); what acting costs beside the critic."""
    passes = POLICIES[policy].passes_per_sample(networks)
    entry = EXTRACTIONS.get(extraction)
    if entry is None:  # imitation: the policy acts by itself
        return passes
    return 1 if entry.one_step else entry.samples_per_action(params) * passes


def why_not(algorithm: str, extraction: str) -> str | None:
    """Why an algorithm and an extraction value do not make a method, or None if they do."""
    imitation = ALGORITHMS[algorithm].imitation
    if imitation and extraction != NO_EXTRACTION:
        return "imitation has no policy extraction (extraction applies to the Q-function only)"
    if not imitation and extraction == NO_EXTRACTION:
        return f"the Q-function needs an extraction method ({', '.join(EXTRACTIONS)})"
    if (not imitation and EXTRACTIONS[extraction].needs_value
            and not ALGORITHMS[algorithm].learns_value):
        return f"{extraction} reads V(s), which the {algorithm} critic does not learn"
    return None


def method_pairs() -> list[tuple[str, str]]:
    """Every (algorithm, extraction) that makes a method: imitation algorithms alone, each
    Q-function with each extraction it combines with."""
    return [(a, x) for a in ALGORITHMS for x in (NO_EXTRACTION, *EXTRACTIONS)
            if why_not(a, x) is None]


# The recipe of the paper: the axes' reference values, against which every comparison varies
# one axis.
RECIPE = {"algorithm": "iql", "extraction": "best-of-n", "policy": "diffusion", "noise": "none"}


def method_name(algorithm: str, extraction: str, policy: str, noise: str = "none") -> str:
    """'diffusion/bc', 'diffusion/iql+best-of-n', 'gaussian/iql+awr+ou'."""
    core = algorithm if ALGORITHMS[algorithm].imitation else f"{algorithm}+{extraction}"
    name = f"{policy}/{core}"
    return name if noise == "none" else f"{name}+{noise}"


RECIPE_NAME = method_name(**RECIPE)
