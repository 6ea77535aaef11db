"""A study extended by more rounds: its finished cells go on from their last round.

A cell's id hashes its configuration, the number of rounds included, so a study whose
`rounds` grows has new cell ids. Nothing else about a cell depends on how many rounds it will
run (each round's seeds, data and training depend only on the rounds before it), so a cell of
R rounds is a finished cell of fewer rounds, r < R, continued. Such a predecessor is found by
its *lineage*, the hash of its identity without `rounds` (bolrl.identity); the new cell
starts from the predecessor's last checkpoint (weights, dataset, rows) and runs rounds r + 1
to R. Its rows are those an uninterrupted run of R rounds writes: the first r + 1 are the
predecessor's, renamed to the new cell."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from bolrl.identity import lineage_id
from bolrl.results import cells_dir, run_dir


def finished_lineages(results: Path, study: str,
                      need_checkpoint: bool = True) -> dict[str, list[tuple[str, int]]]:
    """Per lineage, the (cell id, rounds) of the study's cells that finished without failure
    and (if `need_checkpoint`) kept their checkpoint and dataset."""
    out: dict[str, list[tuple[str, int]]] = {}
    for path in sorted(cells_dir(results, study).glob("*.parquet")):
        try:
            rows = pd.read_parquet(path, columns=["status", "config"])
        except Exception:  # unreadable files are check_results' business
            continue
        if rows.empty or (rows["status"] != "ok").any():
            continue
        config = json.loads(rows["config"].iloc[0])
        rdir = run_dir(results, study, path.stem)
        if not need_checkpoint or ((rdir / "checkpoint.pt").exists()
                                   and any(rdir.glob("data-round*.npz"))):
            out.setdefault(lineage_id(config), []).append((path.stem, int(config["rounds"])))
    return out


def predecessor(results: Path, cell, lineages: dict | None = None) -> tuple[str, int] | None:
    """(cell id, rounds) of the finished cell of this cell's lineage with the most rounds
    fewer than this cell's; None if there is none."""
    lineages = finished_lineages(results, cell.study) if lineages is None else lineages
    shorter = [(rounds, cell_id) for cell_id, rounds in
               lineages.get(lineage_id(cell.config()), []) if rounds < cell.rounds]
    return (max(shorter)[1], max(shorter)[0]) if shorter else None


def adopt_rows(rows: list[dict], cell) -> list[dict]:
    """A predecessor's rows as rows of `cell`: its id and configuration, the rest as run."""
    config = json.dumps(cell.config(), sort_keys=True)
    return [{**row, "cell_id": cell.cell_id, "config": config} for row in rows]
