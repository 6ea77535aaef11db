"""Results on disk: one parquet file per cell, one row per round, written atomically.

    results/<study>/cells/<cell-id>.parquet   the cell's rows (a finished cell is never re-run)
    results/<study>/runs/<cell-id>/           per-round checkpoints, for resume (not in git)

A file is written to a temporary name and renamed into place, so a reader sees either no
file or a whole one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import pandas as pd

from bolrl.files import write_atomic
from bolrl.provenance import provenance

SCHEMA_VERSION = 1

# column -> pandas dtype; the documented schema of a results row.
SCHEMA: dict[str, str] = {
    "study": "string",
    "cell_id": "string",
    "task": "string",
    "seed": "int64",
    "algorithm": "string",
    "extraction": "string",
    "policy": "string",
    "noise": "string",
    "noise_sigma": "float64",  # the noise's scale (NaN without noise)
    "method": "string",
    "episodes_per_round": "int64",
    "round": "int64",
    "demos": "int64",
    "demos_style": "string",  # scripted | multimodal (empty in rows written before it)
    "autonomous_episodes": "int64",  # cumulative
    "autonomous_transitions": "int64",  # cumulative
    "collect_success_rate": "float64",  # of this round's collection (NaN in round 0)
    "eval_success_rate": "float64",
    "eval_episodes": "int64",
    "eval_episode_length": "float64",
    "policy_loss": "float64",
    "critic_q_loss": "float64",
    "critic_v_loss": "float64",
    "q_mean": "float64",
    "actor_loss": "float64",  # an extractor's own actor (FQL, EXPO's edit, DSRL's latent actor)
    "latent_q_loss": "float64",  # DSRL's Q over the policy's noise, distilled from the critic
    # diagnostics: why a round went as it did
    "policy_loss_new": "float64",  # the policy's loss on this round's episodes, before training
    "demo_share_data": "float64",  # demonstrations' share of the policy's training transitions
    "demo_share_batch": "float64",  # ... and of its batches
    "obs_clipped_share": "float64",  # observations with a feature beyond the clip
    "awr_ess": "float64",  # AWR weights' effective sample size, a share of the batch
    "q_success": "float64",  # mean Q on transitions of successful autonomous episodes
    "q_failure": "float64",  # ... of failed ones
    "edit_share": "float64",  # EXPO: its edits' mean size, a share of their bound
    # best-of-N / softmax-of-N: the chosen candidate's expected Q minus the N candidates' mean
    "choice_q_gain": "float64",
    # compute: the policy's network passes per decision (samples x denoising steps; 1 for a
    # one-step actor), beside grad_steps and the round's seconds below
    "policy_passes_per_action": "float64",
    "grad_steps": "int64",  # cumulative
    "collect_s": "float64",
    "train_s": "float64",
    "eval_s": "float64",
    "device": "string",  # where the networks trained and acted: cpu, cuda:0, ...
    "status": "string",  # ok | failed
    "error": "string",
    "bolrl_version": "string",
    "git_sha": "string",
    "git_dirty": "boolean",  # uncommitted changes to the code (NA: not a git checkout)
    "python_version": "string",
    "torch_version": "string",
    "numpy_version": "string",
    "mujoco_version": "string",
    "gymnasium_version": "string",
    "suite_version": "string",  # the task suite's package, e.g. "metaworld 3.1.1" ("": none)
    "schema_version": "int64",
    "config": "string",  # the cell's full configuration, JSON
    "created_at": "string",
}


def versions() -> dict:
    return {**provenance(), "schema_version": SCHEMA_VERSION}


def study_dir(results: Path, study: str) -> Path:
    return Path(results) / study


def cells_dir(results: Path, study: str) -> Path:
    """Where a study's rows live, a parquet file per cell."""
    return study_dir(results, study) / "cells"


def cell_path(results: Path, study: str, cell_id: str) -> Path:
    return cells_dir(results, study) / f"{cell_id}.parquet"


def run_dir(results: Path, study: str, cell_id: str) -> Path:
    return study_dir(results, study) / "runs" / cell_id


_EMPTY = {"string": "", "int64": 0, "float64": float("nan"), "boolean": None}


def make_row(**values) -> dict:
    """A results row: the given columns, and every other column of SCHEMA empty (NaN for
    numbers that do not apply, "" for text). A name outside the schema is a bug."""
    unknown = set(values) - set(SCHEMA)
    if unknown:
        raise KeyError(f"not columns of the results schema: {', '.join(sorted(unknown))}")
    row = {column: _EMPTY[dtype] for column, dtype in SCHEMA.items()}
    row.update(versions())
    row.update(values)
    return row


def to_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(SCHEMA))
    return frame.astype(SCHEMA)


def write_cell(results: Path, study: str, cell_id: str, rows: list[dict]) -> Path:
    path = cell_path(results, study, cell_id)
    frame = to_frame(rows)
    write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))
    return path


class IncompatibleResults(RuntimeError):
    """A study's results directory was written with another schema version."""


def check_results(results: Path, study: str) -> list[Path]:
    """Vet every cell file of a study before use. Unreadable (corrupted, partial) files are
    moved aside to cells/corrupt/ so their cells are rerun; returns the moved files. Raises
    IncompatibleResults if a readable file has another schema version."""
    cells = cells_dir(results, study)
    moved = []
    for path in sorted(cells.glob("*.parquet")):
        try:
            frame = pd.read_parquet(path, columns=["schema_version", "status"])
        except Exception:
            aside = cells / "corrupt" / f"{path.name}.{time.strftime('%Y%m%dT%H%M%S')}"
            aside.parent.mkdir(exist_ok=True)
            os.replace(path, aside)
            moved.append(aside)
            continue
        found = {int(v) for v in frame["schema_version"].unique()}
        if found != {SCHEMA_VERSION}:
            raise IncompatibleResults(
                f"{cells} holds results of schema version {sorted(found)}, and this bolrl "
                f"writes version {SCHEMA_VERSION}: move that directory aside or choose "
                f"another with --results"
            )
    for stale in cells.glob(".*.tmp"):  # temporary files of writers killed mid-write
        stale.unlink(missing_ok=True)
    return moved


def cell_status(results: Path, study: str, cell_id: str) -> str | None:
    """'ok' or 'failed' for a cell with a results file, None if it has none."""
    path = cell_path(results, study, cell_id)
    if not path.exists():
        return None
    frame = pd.read_parquet(path, columns=["status"])
    return "failed" if (frame["status"] == "failed").any() else "ok"


def cell_error(results: Path, study: str, cell_id: str) -> str:
    """The first line of a failed cell's error ("" if it has none)."""
    frame = pd.read_parquet(cell_path(results, study, cell_id), columns=["status", "error"])
    errors = frame.loc[frame["status"] == "failed", "error"]
    return str(errors.iloc[-1]).splitlines()[0] if len(errors) else ""


def load_results(results: Path, study: str) -> pd.DataFrame:
    """Every finished cell's rows of a study (an empty frame with the schema if none).
    Columns added to the schema since a file was written (diagnostics) read as missing."""
    files = sorted(cells_dir(results, study).glob("*.parquet"))
    if not files:
        return to_frame([])
    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    for column, dtype in SCHEMA.items():
        if column not in frame:
            frame[column] = pd.Series(float("nan") if dtype == "float64" else pd.NA,
                                      index=frame.index, dtype=dtype)
    return fill_passes_per_action(frame)


def fill_passes_per_action(frame):
    """Rows written before `policy_passes_per_action` was recorded get it from their own
    configuration (it is a function of the cell's settings)."""
    missing = frame["policy_passes_per_action"].isna() & (frame["config"].fillna("") != "")
    if not missing.any():
        return frame
    from bolrl.config import ExtractionTable, NetworksTable
    from bolrl.registry import policy_passes_per_action

    def pick(table, agent: dict):
        return table(**{f.name: agent[f.name] for f in dataclasses.fields(table)
                        if f.name in agent})

    def of(config: str) -> float:
        agent = json.loads(config).get("agent", {})
        try:
            return float(policy_passes_per_action(agent["extraction"], agent["policy"],
                                                  pick(NetworksTable, agent),
                                                  pick(ExtractionTable, agent)))
        except (KeyError, TypeError):
            return float("nan")

    frame.loc[missing, "policy_passes_per_action"] = frame.loc[missing, "config"].map(of)
    return frame
