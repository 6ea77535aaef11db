"""The guard: every committed reference study under results/ is complete and current for its
study file at HEAD (every cell id present and finished, nothing stale), so stale reference
results cannot land again.

KNOWN_STALE is the one list of reference folders known to be stale, each with why; the guard
checks that they are still stale (so the list is kept honest when one is re-run) and that
every other folder is current. Re-running a study empties its entry: the issue "Re-run every
reference study at HEAD" empties the list.
"""

from pathlib import Path

import pytest

from bolrl.inventory import take
from bolrl.results import check_results, study_dir
from bolrl.study import load_study

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"

KNOWN_STALE: dict[str, str] = {}


def reference_studies() -> list[str]:
    """The results folders of the study files in studies/ (not, say, a local checkout's
    `paper.calibration` or `quick+lr=3e-4`, which no clone has)."""
    return sorted(p.parent.name for p in RESULTS.glob("*/cells")
                  if p.is_dir() and (ROOT / "studies" / f"{p.parent.name}.toml").exists())


def test_the_known_stale_list_names_reference_folders():
    assert set(KNOWN_STALE) <= set(reference_studies())


@pytest.mark.parametrize("name", reference_studies())
def test_reference_study_is_complete_and_current(name):
    study = load_study(ROOT / "studies" / f"{name}.toml", runnable=False)
    assert not check_results(RESULTS, name), f"unreadable cell files in results/{name}"
    inventory = take(study, RESULTS)
    missing = [c.cell_id for c in study.cells if inventory.current.get(c.cell_id) != "ok"]
    extra = sorted(p.stem for p in (study_dir(RESULTS, name) / "cells").glob("*.parquet")
                   if p.stem not in {c.cell_id for c in study.cells})
    current = not missing and not inventory.stale and not extra
    if name in KNOWN_STALE:
        assert not current, (f"results/{name} is complete and current now: take it off "
                             f"KNOWN_STALE in {Path(__file__).name}")
        assert inventory.stale, f"results/{name}: listed as stale but has no stale cell"
        return
    assert not missing, (f"results/{name}: {len(missing)} of the study's {len(study.cells)} "
                         f"cells are not finished at HEAD (e.g. {missing[:3]}); rerun "
                         f"`bolrl run-grid {name}`")
    assert not inventory.stale, (f"results/{name}: {len(inventory.stale)} stale cells: "
                                 f"{inventory.changes_summary()[:3]}")
    assert not extra, f"results/{name}: cell files of no cell of the study: {extra[:3]}"
