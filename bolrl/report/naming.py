"""How methods are named and coloured in figures and tables: the paper's vocabulary, one
colour per method in every figure."""

from __future__ import annotations

CORE_NAMES = {
    "bc": "BC",
    "filtered-bc": "Filtered BC",
    "iql+best-of-n": "Q + implicit (best-of-N)",
    "iql+awr": "Q + explicit (AWR)",
    "iql+ddpg-bc": "Q + explicit (DDPG+BC)",
    # beyond the paper (studies/beyond.toml; ../shared/METHODS.md)
    "iql+softmax-of-n": "Q + softmax-of-N",
    "iql+pa-rl": "Q + PA-RL",
    "iql+expo": "Q + EXPO",
    "iql+fql": "Q + FQL",
    "iql+dsrl": "Q + DSRL",
    "qc+best-of-n": "Q-chunking's backup + best-of-N",
}
NOISE_NAMES = {"white": "white noise", "ou": "OU noise", "pink": "pink noise"}

COLOURS = {
    "diffusion/bc": "#8c8c8c",
    "diffusion/filtered-bc": "#1f77b4",
    "diffusion/iql+best-of-n": "#d62728",
    "diffusion/iql+awr": "#ff7f0e",
    "diffusion/iql+ddpg-bc": "#9467bd",
    "gaussian/bc": "#bcbcbc",
    "gaussian/filtered-bc": "#aec7e8",
    "gaussian/iql+best-of-n": "#2ca02c",
    "gaussian/iql+awr": "#8c564b",
    "gaussian/iql+ddpg-bc": "#c5b0d5",
    "diffusion/iql+best-of-n+ou": "#e377c2",
    "diffusion/iql+best-of-n+white": "#17becf",
    "diffusion/iql+best-of-n+pink": "#bcbd22",
    # beyond the paper: one figure holds all of them with the recipe (red)
    "diffusion/iql+softmax-of-n": "#e6ab02",
    "diffusion/iql+pa-rl": "#a6761d",
    "diffusion/iql+expo": "#1b9e77",
    "diffusion/iql+fql": "#7570b3",
    "flow/iql+fql": "#e7298a",
    "diffusion/iql+dsrl": "#d95f02",
    "diffusion/qc+best-of-n": "#66a61e",
}
_FALLBACK = ["#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d"]


def display_name(method: str) -> str:
    """'diffusion/iql+best-of-n+ou' -> 'Q + implicit (best-of-N), diffusion, + OU noise'."""
    policy, rest = method.split("/", 1)
    parts = rest.split("+")
    noise = parts[-1] if parts[-1] in NOISE_NAMES else None
    core = "+".join(parts[:-1] if noise else parts)
    name = f"{CORE_NAMES.get(core, core)}, {policy}"
    if noise:
        name += f", + {NOISE_NAMES[noise]}"
    return name


def key_label(key: str) -> str:
    """A method key ('diffusion/iql+best-of-n+ou sigma=0.05 E=50') in words."""
    base, *suffixes = key.split(" ")
    words = [display_name(base)]
    for suffix in suffixes:
        name, _, value = suffix.partition("=")
        words.append({"E": f"{value} episodes/round", "sigma": f"sigma {value}"}.get(name, suffix))
    return ", ".join(words)


def colour(method: str) -> str:
    base = method.split(" ")[0]
    if base in COLOURS:
        return COLOURS[base]
    return _FALLBACK[sum(map(ord, base)) % len(_FALLBACK)]


SUITE_NAMES = {"metaworld": "Meta-World", "robomimic": "robomimic"}


def task_label(task: str) -> str:
    """A task id as a panel title: 'metaworld/peg-insert-side-v3' -> 'peg-insert-side
    (Meta-World)', 'robomimic/lift' -> 'lift (robomimic)', 'lift' -> 'lift'."""
    suite, sep, name = task.partition("/")
    if not sep or suite not in SUITE_NAMES:
        return task
    if suite == "metaworld":
        name = name.removesuffix("-v3").removesuffix("-v2")
    return f"{name} ({SUITE_NAMES[suite]})"


def line_style(key: str) -> str:
    """Dashed for a method's scripted-demonstration cells where a study runs two styles (its
    key names the style), solid otherwise: one colour per method, one dash per style."""
    return "--" if key.endswith(" demos=scripted") else "-"
