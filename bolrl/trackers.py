"""Experiment trackers: a cell's rounds and training losses, written where researchers look.

`bolrl run-grid STUDY --track tensorboard` gives every cell a tracker in the process that runs
it. Each round's row goes there (evaluation and collection success, losses, Q, timings; the
x-axis is the round), and every `EVERY` gradient steps the training losses (x: the cell's
cumulative gradient steps), tagged by study, cell id and method. Trackers only watch: they are
not part of a cell's identity and never change its rows. Each is an optional extra, installed
with its library:

    tensorboard   event files in results/<study>/tensorboard/<cell id>/<UTC time of the run>/
                  (pip install
                  'bolrl[tensorboard]'; view them with `tensorboard --logdir
                  results/<study>/tensorboard`)
"""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime
from pathlib import Path

EVERY = 50  # gradient steps between two points of the training losses

ROUND_SCALARS = {  # row column -> tag
    "eval_success_rate": "eval/success_rate",
    "collect_success_rate": "collect/success_rate",
    "eval_episode_length": "eval/episode_length",
    "policy_loss": "train/policy_loss",
    "critic_q_loss": "train/critic_q_loss",
    "critic_v_loss": "train/critic_v_loss",
    "q_mean": "train/q_mean",
    "autonomous_episodes": "data/autonomous_episodes",
    "train_s": "time/train_s",
    "collect_s": "time/collect_s",
    "eval_s": "time/eval_s",
}


class TrackerMissing(RuntimeError):
    """A tracker whose library is not installed, said with the command that installs it."""


class TensorBoard:
    """TensorBoard event files, one directory per cell (torch's SummaryWriter)."""

    name = "tensorboard"
    install = "pip install 'bolrl[tensorboard]'"

    @staticmethod
    def check() -> None:
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            raise TrackerMissing(f"--track tensorboard: the tensorboard package is not "
                                 f"installed here: {TensorBoard.install}") from None

    def __init__(self, directory: Path, cell) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.check()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")  # a rerun (--force) beside
        self.writer = SummaryWriter(log_dir=str(directory / "tensorboard" / cell.cell_id / stamp))
        self.writer.add_text("cell", f"study {cell.study}, cell {cell.cell_id}, "
                                     f"{cell.label}, method {cell.method_name}")

    def round(self, row: dict) -> None:
        for column, tag in ROUND_SCALARS.items():
            value = row.get(column)
            if isinstance(value, int | float) and math.isfinite(value):
                self.writer.add_scalar(tag, value, global_step=int(row["round"]))
        self.writer.flush()

    def step(self, grad_step: int, losses: dict[str, float]) -> None:
        for name, value in losses.items():
            if math.isfinite(value):
                self.writer.add_scalar(f"steps/{name}", value, global_step=grad_step)

    def close(self) -> None:
        self.writer.close()


TRACKERS = {TensorBoard.name: TensorBoard}


def check(names: tuple[str, ...] | list[str]) -> None:
    """Each named tracker exists and its library is installed (TrackerMissing or ValueError
    otherwise), before any cell runs."""
    for name in names:
        if name not in TRACKERS:
            raise ValueError(f"--track: unknown tracker {name!r}; choose from: "
                             f"{', '.join(TRACKERS)}")
        TRACKERS[name].check()


class Trackers:
    """The trackers of one cell's run, as one (none: every call does nothing). A tracker that
    fails (its library missing on a worker, a full disk) is dropped with a warning on stderr:
    watching a cell never fails it or changes its rows."""

    def __init__(self, names: tuple[str, ...], study_dir: Path, cell) -> None:
        self.each = []
        for name in names:
            try:
                self.each.append(TRACKERS[name](study_dir, cell))
            except Exception as exc:  # noqa: BLE001 - any failure of a tracker is its own
                _warn(name, cell, exc)

    def _each(self, call) -> None:
        for tracker in list(self.each):
            try:
                call(tracker)
            except Exception as exc:  # noqa: BLE001
                _warn(tracker.name, None, exc)
                self.each.remove(tracker)

    def round(self, row: dict) -> None:
        self._each(lambda t: t.round(row))

    def step(self, grad_step: int, losses: dict[str, float]) -> None:
        self._each(lambda t: t.step(grad_step, losses))

    def close(self) -> None:
        self._each(lambda t: t.close())


def _warn(name: str, cell, exc: Exception) -> None:
    where = f" for cell {cell.cell_id}" if cell is not None else ""
    print(f"warning: tracker {name} dropped{where}: {type(exc).__name__}: {exc}",
          file=sys.stderr, flush=True)
