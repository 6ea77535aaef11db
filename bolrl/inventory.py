"""What a study's results folder holds, measured against the study file as it stands now.

Every cell file in `results/<study>/cells/` is one of:

- **current**: its id is a cell of the study now (finished, or failed);
- **stale**: a finished cell of an older configuration of the study. Its grid point (task,
  seed, method, episodes per round, noise scale) is one the study still has, or had; the
  settings in which its recorded configuration differs from the cell's now are named
  (`critic.target_tau 0.005 -> 0.02`, `demos_version v1 -> v2`).

A stale cell is never counted as finished and never mixed into a current curve; `bolrl plot
--as-run` renders stale rows as they ran (their recorded configurations), alone.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bolrl.identity import changes, describe, lineage_id, recorded, setting_name, unread
from bolrl.results import cells_dir

# What a row's grid point is: a cell of the study with the same point is its successor.
POINT = ("task", "seed", "algorithm", "extraction", "policy", "noise", "episodes_per_round")


@dataclass(frozen=True)
class StaleCell:
    cell_id: str
    point: tuple
    label: str
    successor: str | None  # the id of the study's cell at the same grid point, if any
    changed: tuple[str, ...]  # the differing settings, in words
    status: str  # ok | failed, as it ran


@dataclass
class Inventory:
    current: dict[str, str] = field(default_factory=dict)  # cell id -> ok | failed
    stale: list[StaleCell] = field(default_factory=list)

    def changes_summary(self) -> list[tuple[str, int]]:
        """Each differing setting with the number of stale cells it differs in, most first."""
        counts = Counter(c for cell in self.stale for c in cell.changed)
        return counts.most_common()


def point_of(row: pd.Series | dict) -> tuple:
    """A row's grid point; noise_sigma only where there is noise; the demonstration style
    from its configuration (scripted where it records none)."""
    sigma = row["noise_sigma"]
    sigma = None if row["noise"] == "none" or sigma != sigma else round(float(sigma), 9)
    style = json.loads(row["config"]).get("demos_style", "scripted")
    return (*(row[k] if k != "seed" and k != "episodes_per_round" else int(row[k])
              for k in POINT), sigma, style)


def cell_point(cell) -> tuple:
    sigma = None if cell.noise == "none" else round(float(cell.noise_params.sigma), 9)
    return (cell.task, cell.seed, cell.algorithm, cell.extraction, cell.policy, cell.noise,
            cell.episodes_per_round, sigma, cell.demos_style)


def last_rows(results: Path, study: str) -> pd.DataFrame:
    """One row per cell file (its last row: status as it ended), with its configuration."""
    files = sorted(cells_dir(results, study).glob("*.parquet"))
    columns = ["cell_id", *POINT, "noise_sigma", "method", "status", "config"]
    out = []
    for path in files:
        try:
            frame = pd.read_parquet(path, columns=columns)
        except Exception:  # unreadable files are check_results' business
            continue
        if frame.empty:
            continue
        last = frame.iloc[-1].to_dict()
        last["status"] = "failed" if (frame["status"] == "failed").any() else "ok"
        last["file_id"] = path.stem
        out.append(last)
    return pd.DataFrame(out, columns=[*columns, "file_id"])


def take(study, results: Path) -> Inventory:
    """The study's results folder, classified against `study` (a bolrl.study.Study)."""
    inventory = Inventory()
    by_id = {c.cell_id: c for c in study.cells}
    by_point = {cell_point(c): c for c in study.cells}
    rows = last_rows(results, study.name)
    continued = {lineage_id(json.loads(r["config"])) for _, r in rows.iterrows()
                 if r["file_id"] in by_id and r["status"] == "ok"}
    for _, row in rows.iterrows():
        if row["file_id"] in by_id:
            inventory.current[row["file_id"]] = row["status"]
            continue
        if lineage_id(json.loads(row["config"])) in continued:
            continue  # a shorter run of a finished cell: its rows are that cell's first rows
        point = point_of(row)
        successor = by_point.get(point)
        old = json.loads(row["config"])
        if successor is not None:
            changed = tuple(describe(c, row["task"]) for c in changes(old, successor.config()))
            changed = changed or ("the identity scheme (same settings, an older id)",)
        else:
            changed = ("its grid point is no longer in the study",)
        label = f"{row['task']} seed {int(row['seed'])} {row['method']} " \
                f"E={int(row['episodes_per_round'])}"
        inventory.stale.append(StaleCell(row["file_id"], point, label,
                                         successor.cell_id if successor else None,
                                         changed, row["status"]))
    return inventory


def superseded(frame: pd.DataFrame) -> set[str]:
    """Cells of a results frame that a longer cell of the same lineage continues (a study
    extended by more rounds): their rows are the longer one's first rows."""
    configs = frame.groupby("cell_id")["config"].first().map(json.loads)
    lineages: dict[str, list[tuple[int, str]]] = {}
    for cell_id, config in configs.items():
        lineages.setdefault(lineage_id(config), []).append((int(config["rounds"]), cell_id))
    out = set()
    for members in lineages.values():
        out |= {cell_id for _, cell_id in sorted(members)[:-1]}
    return out


# Settings that vary from cell to cell within one configuration of a study: the grid point,
# and what a study sets per task (demonstrations, task options) or per algorithm.
PER_CELL = {"task", "seed", "algorithm", "extraction", "policy", "noise", "episodes_per_round",
            "agent.algorithm", "agent.extraction", "agent.policy", "agent.demo_fraction",
            "noise_params.sigma", "rounds", "demos_style"}
PER_TASK = {"demos", "demos_sha256", "task_version"}


def mixed_configurations(frame: pd.DataFrame) -> list[str]:
    """Why the cells of a results frame are not one configuration of one study (empty if they
    are): two cells at one grid point, or settings that differ between cells where a study
    has one value (per task where the study sets them per task)."""
    firsts = frame.groupby("cell_id").first()
    points = Counter(point_of(row) for _, row in firsts.iterrows())
    problems = [f"{n} cells at one grid point ({p[0]} seed {p[1]} {p[4]}/{p[2]}+{p[3]}"
                f"{'+' + p[5] if p[5] != 'none' else ''})" for p, n in points.items() if n > 1]
    shared: dict[str, dict] = {}
    for cell_id, row in firsts.iterrows():
        flat = recorded(json.loads(row["config"]))
        skip = PER_CELL | unread(flat)
        for key, value in flat.items():
            if key in skip:
                continue
            scope = f"{key}@{row['task']}" if key in PER_TASK or key.startswith(
                "task_spec.") else key
            shared.setdefault(scope, {}).setdefault(json.dumps(value, sort_keys=True),
                                                     cell_id)
    for scope, values in sorted(shared.items()):
        if len(values) > 1:
            key, _, task = scope.partition("@")
            problems.append(f"{setting_name(key, task)} takes {len(values)} values: "
                            f"{', '.join(sorted(values))}")
    return problems
