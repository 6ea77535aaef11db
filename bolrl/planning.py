"""What `bolrl run-grid` will do with a study's cells, decided before anything runs: which cells
to run and why, which go on from an earlier, shorter run, which are kept as they are.
Pure bookkeeping over the results directory; the command prints the plan and runs it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bolrl.study import Cell, Study


@dataclass
class Plan:
    todo: list[Cell]  # the cells to run, in the study's order
    force_run: bool  # rerun them even where they have finished (--force, --retry-failed)
    done: int  # cells finished before and not rerun
    failed_before: list[Cell]  # cells that failed in an earlier run
    extended: list[Cell] = field(default_factory=list)  # go on from a shorter run's last round
    lost: list[Cell] = field(default_factory=list)  # a shorter run finished, its checkpoints gone
    stale: int = 0  # cells of an older configuration kept beside the study's own


def plan(s: Study, results: Path, force: bool = False, retry_failed: bool = False) -> Plan:
    """The plan for `run-grid` on `s` under `results`: every unfinished cell; with `force`
    every cell; with `retry_failed` the failed cells and the unfinished ones."""
    from bolrl.inventory import take
    from bolrl.results import cell_status

    states = {c.cell_id: cell_status(results, s.name, c.cell_id) for c in s.cells}
    if retry_failed:
        todo = [c for c in s.cells if states[c.cell_id] in ("failed", None)]
    else:
        todo = [c for c in s.cells if force or states[c.cell_id] is None]
    out = Plan(todo=todo, force_run=force or retry_failed,
               done=sum(states[c.cell_id] == "ok" for c in s.cells if c not in todo),
               failed_before=[c for c in s.cells if states[c.cell_id] == "failed"],
               stale=len(take(s, results).stale))
    if not out.force_run:
        from bolrl.extend import finished_lineages, predecessor

        lineages = finished_lineages(results, s.name)
        out.extended = [c for c in todo if predecessor(results, c, lineages) is not None]
        any_run = finished_lineages(results, s.name, need_checkpoint=False)
        out.lost = [c for c in todo
                    if c not in out.extended and predecessor(results, c, any_run)]
    return out
