"""From result rows to what figures and tables show: per-method curves and final scores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bolrl.registry import ALGORITHMS, RECIPE
from bolrl.stats import fixed_task_interval

# The reference values of the axes (the recipe): a comparison varies one axis and holds the
# others here.
REFERENCE = RECIPE


def learns_q(frame: pd.DataFrame) -> pd.Series:
    """Rows of Q-function methods (an algorithm that is not imitation)."""
    return frame["algorithm"].map(lambda a: a in ALGORITHMS and not ALGORITHMS[a].imitation)


def demos_styles(frame: pd.DataFrame) -> pd.Series:
    """Each row's demonstration style (scripted in rows written before it was recorded)."""
    if "demos_style" not in frame:
        return pd.Series("scripted", index=frame.index)
    return frame["demos_style"].astype("string").fillna("").replace("", "scripted")


def method_key(frame: pd.DataFrame) -> pd.Series:
    """Method name, with the noise scale, the episodes per round and the demonstration style
    where a study varies them: 'diffusion/iql+best-of-n+ou sigma=0.05 E=50 demos=multimodal'."""
    key = frame["method"].astype(str)
    noisy = frame["noise"] != "none"
    if frame.loc[noisy, "noise_sigma"].nunique() > 1:
        sigma = frame["noise_sigma"].map(lambda x: f" sigma={x:g}")
        key = key.where(~noisy, key + sigma)
    if frame["episodes_per_round"].nunique() > 1:
        key = key + " E=" + frame["episodes_per_round"].astype(str)
    styles = demos_styles(frame)
    if styles.nunique() > 1:
        key = key + " demos=" + styles
    return key


def ok_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of cells that finished without failure, with a `key` column naming the method."""
    failed = frame.loc[frame["status"] != "ok", "cell_id"].unique()
    out = frame[~frame["cell_id"].isin(failed)].copy()
    out["key"] = method_key(out)
    return out


@dataclass(frozen=True)
class Curve:
    x: np.ndarray  # cumulative autonomous episodes
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    seeds: int


def interval(by_task: dict[str, np.ndarray]) -> tuple[float, float, float]:
    """(mean over tasks and seeds, low, high) of success rates: the 95% t-interval of
    `bolrl.stats.fixed_task_interval`, cut to [0, 1] where it reaches past a rate's range (a
    t-interval over 3 seeds can); with one seed per task, no width (low = high = mean)."""
    iv = fixed_task_interval(by_task)
    if iv.low != iv.low:
        return iv.mean, iv.mean, iv.mean
    return iv.mean, max(0.0, iv.low), min(1.0, iv.high)


def scaling_curve(rows: pd.DataFrame) -> Curve:
    """Mean eval success over seeds per round (one task), with a band of one standard error
    of that mean either side (a display of the seeds' spread, not a test: at 3 seeds a 95%
    interval is 4.3 standard errors wide either side and hides every curve)."""
    xs, means, lows, highs = [], [], [], []
    for x, group in rows.groupby("autonomous_episodes"):
        y = group["eval_success_rate"].to_numpy(float)
        se = float(y.std(ddof=1) / np.sqrt(len(y))) if len(y) > 1 else 0.0
        m = float(y.mean())
        xs.append(x), means.append(m), lows.append(max(0.0, m - se)), highs.append(min(1.0, m + se))
    return Curve(np.array(xs), np.array(means), np.array(lows), np.array(highs),
                 rows["seed"].nunique())


def trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    """The trapezoid rule (numpy's is np.trapezoid from numpy 2, np.trapz before; the
    robosuite extra runs on numpy 1.26)."""
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


def final_scores(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (key, task, seed): success at round 0 and at the cell's last round, and the
    area under the scaling curve (mean success over the x-range, trapezoid rule)."""
    out = []
    for (key, task, seed), g in rows.groupby(["key", "task", "seed"]):
        g = g.sort_values("round")
        x, y = g["autonomous_episodes"].to_numpy(float), g["eval_success_rate"].to_numpy()
        auc = float(trapezoid(y, x) / (x[-1] - x[0])) if len(x) > 1 else float(y[0])
        out.append({"key": key, "task": task, "seed": seed, "base": y[0], "final": y[-1],
                    "auc": auc, "rounds": int(g["round"].max())})
    return pd.DataFrame(out)


def comparison_keys(rows: pd.DataFrame, axis: str) -> list[str]:
    """Methods that differ from the reference only along `axis` (for one comparison figure);
    none where the selection does not vary along the axis (a data-scaling study's levels of
    one method are not an axis). For the algorithm axis, imitation methods are compared with
    the reference Q-method."""
    ref = {k: v for k, v in REFERENCE.items() if k != axis}
    sel = rows
    q = learns_q(rows)
    if axis == "algorithm":
        sel = rows[(rows["policy"] == ref["policy"]) & (rows["noise"] == ref["noise"])
                   & (~q | (rows["extraction"] == ref["extraction"]))]
    elif axis == "extraction":
        sel = rows[(rows["policy"] == ref["policy"]) & (rows["noise"] == ref["noise"]) & q]
    elif axis == "policy":  # expressivity: both policy classes, Q-function, any extraction
        sel = rows[(rows["noise"] == ref["noise"]) & q]
    elif axis == "noise":
        sel = rows[(rows["policy"] == ref["policy"]) & q
                   & (rows["extraction"] == ref["extraction"])]
    if sel[axis].nunique() < 2:
        return []
    return sorted(sel["key"].unique())


def mean_ci(scores: pd.DataFrame, column: str) -> tuple[float, float, float]:
    """Mean of `column` of `final_scores` rows over all tasks and seeds, with its 95%
    t-interval, tasks fixed (`interval`)."""
    return interval({t: g[column].to_numpy() for t, g in scores.groupby("task")})
