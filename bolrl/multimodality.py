"""How multimodal a task's demonstrations are: two numbers a reader can compare between styles.

- **Mean-strategy success**, and the **averaging loss** (the expert's success minus it): the
  expert's success when every episode takes the *average* of its style's per-episode strategy
  choice (the odds each task declares in `STRATEGY_ODDS`).
  That is what a mean-seeking imitator (a Gaussian's mean, a regression on actions) learns
  where the demonstrations choose: if it fails while each strategy succeeds, the modes matter
  and an expressive policy has something to gain. A property of the task and style.
- **Split rate**: in demonstrations, how often the actions taken at nearby states (the `k`
  nearest states of *other* episodes to a held-out state) split into two separated groups:
  the best two-way split along their first principal axis, judged by Ashman's D against the
  D that the same split finds in Gaussian (unimodal) neighbourhoods of the same size and
  dimension (its 95th percentile, so a unimodal dataset splits about 5% of the time), with at
  least a fifth of the neighbours on the smaller side. A property of a dataset, any dataset
  (imported ones too); it counts every kind of mode, including an expert's pauses and holds
  next to its moving steps, not only strategies.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

K = 20  # neighbours per held-out state
HELD_OUT = 0.25  # share of episodes whose states are queried
MINORITY = 0.2  # the smaller group's least share of the neighbours
LEVEL = 0.95  # quantile of the unimodal null's D that counts as a split
QUERY_EVERY = 3  # every third held-out state (neighbouring steps are nearly the same query)
# the least within-group spread D divides by, in action units (actions lie in [-1, 1]): two
# groups of near-constant actions a rounding error apart are not two modes
SPREAD_FLOOR = 0.01


def mean_strategy(values: tuple[float, ...], odds: tuple[float, ...]) -> float:
    """The average of a per-episode strategy choice (values weighted by their odds)."""
    return float(np.dot(values, odds) / np.sum(odds))


def best_split(actions: np.ndarray) -> tuple[float, float]:
    """The best two-way split (least within-group sum of squares) of a set of actions along
    their first principal axis: (Ashman's D of the two groups, the smaller group's share).
    D = |m1 - m2| * sqrt(2) / sqrt(s1^2 + s2^2); two Gaussians are cleanly apart above 2."""
    a = np.asarray(actions, np.float64)
    a = a - a.mean(0)
    axis = np.linalg.svd(a, full_matrices=False)[2][0]
    x = np.sort(a @ axis)
    n = len(x)
    c = np.arange(1, n)  # left group sizes
    s1, s2 = np.cumsum(x)[:-1], np.cumsum(x * x)[:-1]
    left_ss = s2 - s1**2 / c
    right_ss = (x @ x - s2) - (x.sum() - s1) ** 2 / (n - c)
    cut = int(c[np.argmin(left_ss + right_ss)])
    left, right = x[:cut], x[cut:]
    spread = np.sqrt(left.var() + right.var())
    d = abs(left.mean() - right.mean()) * np.sqrt(2) / max(spread, SPREAD_FLOOR)
    return float(d), min(cut, n - cut) / n


@lru_cache(maxsize=32)
def null_threshold(k: int, dim: int, level: float = LEVEL, draws: int = 2000,
                   seed: int = 0) -> float:
    """The `level` quantile of `best_split`'s D over Gaussian neighbourhoods of `k` actions
    in `dim` dimensions (with `MINORITY` imposed as in `split_rate`): D from chance alone."""
    rng = np.random.default_rng(seed)
    ds = []
    for _ in range(draws):
        d, minority = best_split(rng.normal(size=(k, dim)))
        ds.append(d if minority >= MINORITY else 0.0)
    return float(np.quantile(ds, level))


def split_rate(obs: np.ndarray, actions: np.ndarray, episode: np.ndarray, k: int = K,
               held_out: float = HELD_OUT, seed: int = 0) -> float:
    """The share of held-out states whose `k` nearest states in the other episodes
    (standardised observations) took actions that split into two groups beyond chance."""
    episodes = np.unique(episode)
    if len(episodes) < 4:
        raise ValueError(f"the split rate needs at least 4 episodes, got {len(episodes)}")
    z = (obs - obs.mean(0)) / (obs.std(0) + 1e-6)
    rng = np.random.default_rng(seed)
    queried = rng.choice(episodes, max(1, round(held_out * len(episodes))), replace=False)
    is_query = np.isin(episode, queried)
    pool_z, pool_a = z[~is_query], actions[~is_query]
    k = min(k, len(pool_z))
    threshold = null_threshold(k, actions.shape[1])
    splits = []
    for i in np.flatnonzero(is_query)[::QUERY_EVERY]:
        near = np.argpartition(((pool_z - z[i]) ** 2).sum(1), k - 1)[:k]
        d, minority = best_split(pool_a[near])
        splits.append(d > threshold and minority >= MINORITY)
    return float(np.mean(splits))


def episode_ids(ends: np.ndarray) -> np.ndarray:
    """Per transition, the index of its episode (from the episode-end flags)."""
    return np.r_[0, np.cumsum(ends[:-1])].astype(int)


@dataclass(frozen=True)
class Measured:
    task: str
    style: str
    demos: int
    split_rate: float
    strategies: str  # e.g. "0/90 deg at 60/40", or "" where the expert makes no choice
    mean_strategy_success: float | None  # None where the expert makes no choice
    expert_success: float | None = None  # the style's expert, choosing as it does

    @property
    def averaging_loss(self) -> float | None:
        """What averaging the strategies costs: the expert's success minus the mean-strategy
        expert's (0 where the average works as well as the choice)."""
        if self.mean_strategy_success is None or self.expert_success is None:
            return None
        return self.expert_success - self.mean_strategy_success


def expert_success(task, style: str, strategy: float | None, episodes: int, seed: int) -> float:
    from bolrl.envs.batched import env_seeds
    from bolrl.rollout import ExpertActor, rollout

    seeds = env_seeds(seed, min(episodes, 100), stream=17)
    data = rollout(task, seeds, ExpertActor(task, seed, style, strategy), episodes)
    return float(np.mean(data.episode_success))


def describe_odds(values: tuple[float, ...], odds: tuple[float, ...], words: str = "") -> str:
    """A strategy choice in words: its values (angles in degrees, unless the task names its
    strategies in `words`) and their odds in %."""
    shares = "/".join(f"{100 * p:.0f}" for p in odds)
    if words:
        return f"{words} at {shares}"
    angles = "/".join(f"{np.degrees(v):.0f}" for v in values)
    return f"{angles} deg at {shares}"


def measure(task, style: str, demos: int = 60, episodes: int = 50, seed: int = 0,
            root=None) -> Measured:
    """Both numbers for an embedded task's demonstrations in a style (`demos` of them, the
    cached demonstrations of that seed; `episodes` for the mean-strategy expert)."""
    from bolrl.demos import demonstrations

    data = demonstrations(task, demos, seed, root=root, style=style)
    rate = split_rate(data.obs, data.actions, episode_ids(data.ends), seed=seed)
    choice = getattr(task, "STRATEGY_ODDS", {}).get(style)
    if not choice:
        return Measured(task.name, style, demos, rate, "", None)
    mean = mean_strategy(*choice)
    words = getattr(task, "strategy_words", "")
    return Measured(task.name, style, demos, rate, describe_odds(*choice, words),
                    expert_success(task, style, mean, episodes, seed),
                    expert_success(task, style, None, episodes, seed))


READING = (f"Mean-strategy success: the expert's success when every episode takes the average "
           f"of the style's strategy choice (what a mean-seeking imitator learns); averaging "
           f"loss: the expert's success minus that, what averaging the modes costs. Split "
           f"rate: share of held-out demonstration states whose {K} nearest states in other "
           f"episodes took actions that split in two beyond what unimodal (Gaussian) actions "
           f"give {100 * (1 - LEVEL):.0f}% of the time (pauses and holds beside moving steps "
           f"count as modes too).")


COLUMNS = ("task", "style", "strategy choice", "expert / mean-strategy success",
           "averaging loss", "split rate (demos)")


def rows(measured: list[Measured]) -> list[tuple[str, ...]]:
    """The measurements as table cells, one row per task and style."""
    out = []
    for m in measured:
        if m.averaging_loss is None:
            success, loss = "-", "-"
        else:
            success = (f"{100 * m.expert_success:.0f}% / "
                       f"{100 * m.mean_strategy_success:.0f}%")
            loss = f"{100 * m.averaging_loss:.0f} points"
        out.append((m.task, m.style, m.strategies or "none", success, loss,
                    f"{100 * m.split_rate:.0f}% ({m.demos})"))
    return out


def markdown(measured: list[Measured]) -> str:
    """The measurements as a Markdown table."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---|---|---|---:|---:|---:|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows(measured)]
    return "\n".join(lines) + "\n"


def for_rows(pairs: list[tuple[str, str]]) -> list[Measured]:
    """Measurements for the (task, style) pairs of a study's rows that name an embedded task
    with that style (other tasks have no expert to measure here)."""
    from bolrl.envs import TASKS, get_task

    out = []
    for name, style in sorted(set(pairs)):
        if name in TASKS and style in get_task(name).styles:
            out.append(measure(get_task(name), style))
    return out
