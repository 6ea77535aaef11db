"""Every setting of a study, in one place: one frozen dataclass per table of a study file.

Each field is a `knob`: its default, its bounds or allowed values, and a one-line docstring.
The defaults of the learner are the settings calibrated for the paper study (see the header
of studies/paper.toml for the measurements), except the network sizes (256 wide here; the CPU
studies use 128).
`bolrl.study` derives parsing, type checks, bounds and the key documentation (`bolrl show
--keys`) from these classes; nothing else states a default. The agent, the extractors and the
noise processes take these objects whole.

A leaf module: it imports nothing of bolrl (and no torch), so that reading a study is cheap.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

LR_SCHEDULES = ("constant", "cosine")
CHUNK_LABELS = ("all", "aligned")
DENOISERS = ("mlp", "resnet")
VECTOR_ENVS = ("sync", "async")
# Demonstration styles of the embedded tasks' experts (bolrl.envs.task says what they are).
DEMO_STYLES = ("scripted", "multimodal")
DEVICE_PATTERN = r"auto|cpu|cuda(:\d+)?"  # [train].device and --device
# How scripted demonstrations are chosen, part of their cache name and of the base policy's
# key: 1 kept the first n successes in the order episodes finished (the quickest of a chunk),
# 2 keeps them in seed order (bolrl.rollout returns episodes in slot order).
DEMOS_VERSION = 2


def knob(default: Any, doc: str, *, low: float | None = None, high: float | None = None,
         open_low: bool = False, open_high: bool = False,
         choices: tuple[str, ...] | None = None) -> Any:
    """A setting: its default, a one-line docstring, and its bounds (`low`/`high`, inclusive
    unless open) or allowed words (`choices`)."""
    meta = {"doc": doc, "low": low, "high": high, "open_low": open_low,
            "open_high": open_high, "choices": choices}
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def knobs(table: type) -> list[dataclasses.Field]:
    return list(dataclasses.fields(table))


def doc(f: dataclasses.Field) -> str:
    return f.metadata["doc"]


def bounds_text(f: dataclasses.Field, words: bool = False) -> str:
    """The allowed values of a knob (empty if any value of its type goes): as an interval,
    "[0, 200]", or in words, "between 0 and 200", "> 0"."""
    m = f.metadata
    if m.get("choices"):
        return " | ".join(m["choices"])
    low, high = m.get("low"), m.get("high")
    if low is None and high is None:
        return ""
    if not words:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        return f"{'(' if m['open_low'] else '['}{lo}, {hi}{')' if m['open_high'] else ']'}"
    if high is None:
        return f"{'>' if m['open_low'] else '>='} {low:g}"
    if low is None:
        return f"{'<' if m['open_high'] else '<='} {high:g}"
    if m["open_low"] and m["open_high"]:
        return f"strictly between {low:g} and {high:g}"
    if m["open_low"] or m["open_high"]:
        return (f"in {'(' if m['open_low'] else '['}{low:g}, "
                f"{high:g}{')' if m['open_high'] else ']'}")
    return f"between {low:g} and {high:g}"


def in_bounds(f: dataclasses.Field, value: Any) -> bool:
    m = f.metadata
    if m.get("choices"):
        return value in m["choices"]
    if m.get("low") is not None and not (value > m["low"] if m["open_low"] else value >= m["low"]):
        return False
    if m.get("high") is not None and not (value < m["high"] if m["open_high"]
                                          else value <= m["high"]):
        return False
    return value == value  # NaN is never in bounds


MAX_COUNT = 1_000_000


@dataclass(frozen=True)
class StudyTable:
    """[study]: what is run, and how much of it."""

    name: str = knob("", "results directory name (default: the file's stem)")
    description: str = knob("", "one line shown by `bolrl show` and in the report")
    tasks: list = knob(["lift"], "embedded task names, gym:ENV-ID or module.path:make_env")
    seeds: list = knob([0], "seeds; each is one run of every method on every task")
    rounds: int = knob(3, "collect-train rounds after round 0 (the base policy)", low=0,
                       high=200)
    episodes_per_round: int = knob(50, "autonomous episodes collected per round", low=1,
                                   high=MAX_COUNT)
    eval_episodes: int = knob(50, "evaluation episodes per round (no noise, same initial "
                              "states every round)", low=1, high=MAX_COUNT)
    n_envs: int = knob(50, "environments stepped together", low=1, high=10_000)
    vector_env: str = knob("sync", "Gymnasium tasks (gym:, Meta-World, robomimic): sync steps "
                           "the environments one after another in the cell's process; async "
                           "in a worker process each (Gymnasium's AsyncVectorEnv, for slow "
                           "simulators). Same episodes either way; the embedded tasks always "
                           "step in C in one process. Not part of a cell's identity",
                           choices=VECTOR_ENVS)
    demos: dict = knob({}, "demonstrations per task, e.g. { lift = 5 } (default 20), or per "
                       "task and demonstration style, { lift = { scripted = 5, multimodal = "
                       "11 } }")
    demos_style: str = knob("scripted", "how the embedded tasks' experts demonstrate: "
                            "scripted, or multimodal (per episode one of two strategies the "
                            "observation cannot tell apart and whose average fails)",
                            choices=DEMO_STYLES)
    calibration_seeds: list = knob([], "seeds on which `bolrl calibrate` chooses the "
                                   "demonstration counts (their demonstrations and evaluation "
                                   "states too); never among `seeds`, whose results the "
                                   "verdicts use")
    base_band: list = knob([0.3, 0.65], "[low, high]: the base policy's success (round 0) the "
                           "demonstration counts aim at; `bolrl calibrate` searches for it and "
                           "the report flags seeds outside it")
    demos_bounds: dict = knob({}, "per task, [least, most] demonstrations `bolrl calibrate` "
                              "may choose, e.g. { lift = [2, 20] } (default [1, 50])")


@dataclass(frozen=True)
class TrainTable:
    """[train]: the learner's schedule and data handling."""

    steps_round0: int = knob(4000, "gradient steps of round 0 (pi0, and Q0 with "
                             "critic_round0)", low=1, high=10_000_000)
    steps_per_round: int = knob(2000, "gradient steps per later round", low=0,
                                high=10_000_000)
    batch_size: int = knob(256, "transitions per gradient step", low=1, high=1_000_000)
    lr: float = knob(1e-3, "Adam learning rate of policy and critic", low=0.0, high=1.0,
                     open_low=True)
    lr_schedule: str = knob("cosine", "the policy's lr within each round: constant, or "
                            "cosine (to 0)", choices=LR_SCHEDULES)
    ema: float = knob(0.005, "Polyak rate of the acting copy of the policy per step (0: the "
                      "trained weights act)", low=0.0, high=1.0)
    warm_start: bool = knob(True, "keep networks and optimizers across rounds (false: "
                            "re-initialise every round)")
    critic_round0: bool = knob(False, "Q-function methods train Q0 on the demonstrations in "
                               "round 0 (the paper's Algorithm 1)")
    demo_fraction: Any = knob({"bc": 0.5, "filtered-bc": 0.0, "iql": 0.5},
                              "least share of demonstrations in a policy batch (0: uniform): "
                              "a number, or a table by algorithm", low=0.0, high=1.0)
    gaussian_nll_beta: float = knob(1.0, "Gaussian policy: beta of its beta-NLL loss (0: plain "
                                    "NLL; 1: the mean learns as by squared error)", low=0.0,
                                    high=1.0)
    gaussian_log_std_min: float = knob(-5.0, "Gaussian policy: the least log std (the plain "
                                       "NLL weighs an action error by exp(-2 x this): 2e4 at "
                                       "-5, 55 at -2)", low=-20.0, high=1.0, open_high=True)
    chunk_labels: str = knob("all", "action-chunk labels from autonomous episodes: all, or "
                             "aligned (only where the agent planned)", choices=CHUNK_LABELS)
    obs_clip: float = knob(5.0, "standardised observations are clipped to [-clip, clip] (0: "
                           "no clipping)", low=0.0)
    obs_std_floor: float = knob(0.01, "least std of a feature in standardisation (metres)",
                                low=0.0, open_low=True)
    obs_std_floor_unitless: float = knob(0.1, "least std of unitless features (quaternions, "
                                         "sines, tilt)", low=0.0, open_low=True)
    device: str = knob("cpu", "where the networks train and act: cpu, cuda, cuda:N, or auto "
                       "(a GPU when torch sees one); not part of a cell's identity (its rows "
                       "record it); run-grid --device overrides it")

    def for_algorithm(self, algorithm: str, default: float = 0.0) -> TrainTable:
        """The table as one method's agent takes it: `demo_fraction` the share for
        `algorithm` (a number), whether the table holds one number or one per algorithm;
        `default` where a table leaves the algorithm out (the study passes the share its
        registry entry declares)."""
        share = self.demo_fraction
        return dataclasses.replace(
            self, demo_fraction=share.get(algorithm, default) if isinstance(share, dict)
            else share)


@dataclass(frozen=True)
class NetworksTable:
    """[networks]: sizes and shapes of the policy and the critic."""

    hidden: int = knob(256, "policy width", low=1, high=65_536)
    layers: int = knob(3, "policy depth (hidden layers, or residual blocks)", low=1, high=64)
    critic_hidden: int = knob(256, "critic width", low=1, high=65_536)
    critic_layers: int = knob(2, "critic depth", low=1, high=64)
    diffusion_steps: int = knob(10, "denoising steps T of the diffusion policy", low=1,
                                high=1000)
    denoiser: str = knob("resnet", "the diffusion policy's noise-prediction network: mlp, or "
                         "resnet (residual blocks with LayerNorm)", choices=DENOISERS)
    action_chunk: int = knob(4, "actions per policy query, executed open-loop (1: per step)",
                             low=1, high=64)


@dataclass(frozen=True)
class CriticTable:
    """[critic]: the IQL Q-function."""

    gamma: float = knob(0.99, "discount", low=0.0, high=1.0, open_low=True, open_high=True)
    expectile: float = knob(0.8, "expectile tau of V", low=0.0, high=1.0, open_low=True,
                            open_high=True)
    target_tau: float = knob(0.005, "Polyak rate of the target Q", low=0.0, high=1.0,
                             open_low=True)


@dataclass(frozen=True)
class ExtractionTable:
    """[extraction]: how the acting policy comes from the policy and the Q-function."""

    awr_beta: float = knob(3.0, "inverse temperature beta: AWR's weights exp(beta (Q - V)), "
                           "softmax-of-n's choice", low=0.0)
    awr_max_weight: float = knob(100.0, "AWR weights are clipped here", low=0.0,
                                 open_low=True)
    ddpg_alpha: float = knob(2.5, "DDPG+BC: weight of Q against the BC term", low=0.0)
    n_samples: int = knob(32, "actions sampled per decision (best-of-n, softmax-of-n, pa-rl, "
                          "expo; the qc critic's backup)", low=1, high=100_000)
    parl_distill_rows: int = knob(64, "PA-RL: states of each policy batch whose optimised "
                                  "actions the policy is trained on (a step's cost scales "
                                  "with it)", low=1)
    parl_top_k: int = knob(4, "PA-RL: candidates of the N kept for the local step on Q", low=1)
    parl_steps: int = knob(5, "PA-RL: gradient-ascent steps on Q with respect to the action",
                           low=0, high=1000)
    parl_step_size: float = knob(0.05, "PA-RL: size of each ascent step (normalised "
                                 "gradient, in action units)", low=0.0)
    expo_edit_scale: float = knob(0.1, "EXPO: the edit's bound per action dimension, "
                                  "|a' - a| <= scale", low=0.0, open_low=True)
    fql_alpha: float = knob(10.0, "FQL: weight of distilling the one-step policy towards the "
                            "BC policy's action for the same noise (the Q term is normalised)",
                            low=0.0)
    dsrl_noise_bound: float = knob(1.5, "DSRL: the latent actor's noise lies in [-b, b] per "
                                   "dimension", low=0.0, open_low=True)
    actor_entropy: float = knob(0.01, "EXPO, DSRL: weight of the entropy bonus of their "
                                "Gaussian actors (a fixed temperature)", low=0.0)


@dataclass(frozen=True)
class NoiseTable:
    """[noise]: exploration noise added to executed actions during collection."""

    sigma: float = knob(0.1, "scale of the unit-variance noise", low=0.0)
    theta: float = knob(0.15, "OU mean reversion per step", low=0.0, high=1.0, open_low=True)
    beta: float = knob(1.0, "colored noise exponent (power ~ 1 / f^beta; 1: pink)")
    dims: Any = knob([], "action dimensions that get noise (empty: the task's own, the "
                     "translation of the embedded tasks)")


@dataclass(frozen=True)
class AxesTable:
    """[axes]: lists of values, expanded as a grid (task x seed x axes)."""

    algorithm: list = knob(["bc", "filtered-bc", "iql"], "imitation (bc, filtered-bc) or a "
                           "Q-function's critic (iql, qc, ...: bolrl.registry.ALGORITHMS)")
    extraction: list = knob(["none", "best-of-n"], "none (imitation), or how a Q-function "
                            "method extracts its policy")
    policy: list = knob(["diffusion"], "the policy class (expressivity)")
    noise: list = knob(["none"], "exploration noise during collection")
    episodes_per_round: list = knob([], "optional: episodes per round as an axis (default: "
                                    "[study].episodes_per_round)")
    noise_sigma: list = knob([], "optional: the noise scale as an axis, for cells with noise "
                             "(default: [noise].sigma)")
    demos_style: list = knob([], "optional: demonstration styles as an axis (default: "
                             "[study].demos_style)")


TABLES: dict[str, type] = {
    "study": StudyTable, "train": TrainTable, "networks": NetworksTable,
    "critic": CriticTable, "extraction": ExtractionTable, "noise": NoiseTable,
    "axes": AxesTable,
}


@dataclass(frozen=True)
class Method:
    """A point on the method axes."""

    algorithm: str = "iql"
    extraction: str = "best-of-n"
    policy: str = "diffusion"


@dataclass(frozen=True)
class AgentConfig:
    """What an agent is built from: its method and the tables that train it. In a cell,
    `train.demo_fraction` is the share for the cell's algorithm (a number)."""

    method: Method = Method()
    train: TrainTable = TrainTable()
    networks: NetworksTable = NetworksTable()
    critic: CriticTable = CriticTable()
    extraction: ExtractionTable = ExtractionTable()

    @staticmethod
    def of(**settings: Any) -> AgentConfig:
        """An AgentConfig from keyword settings, each routed to its table by name (tests and
        benchmarks): `AgentConfig.of(algorithm="bc", hidden=64, lr=1e-3)`."""
        parts: dict[str, dict[str, Any]] = {}
        homes = {"method": Method, "train": TrainTable, "networks": NetworksTable,
                 "critic": CriticTable, "extraction": ExtractionTable}
        for key, value in settings.items():
            home = next((h for h, cls in homes.items()
                         if key in {f.name for f in dataclasses.fields(cls)}), None)
            if home is None:
                raise TypeError(f"no setting {key!r}")
            parts.setdefault(home, {})[key] = value
        train = parts.get("train", {})
        if "demo_fraction" not in train:
            train["demo_fraction"] = 0.0
        return AgentConfig(Method(**parts.get("method", {})), TrainTable(**train),
                           NetworksTable(**parts.get("networks", {})),
                           CriticTable(**parts.get("critic", {})),
                           ExtractionTable(**parts.get("extraction", {})))
