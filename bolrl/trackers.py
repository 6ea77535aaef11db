"""Experiment trackers: a cell's rounds and training losses, written where researchers look.

`bolrl run-grid STUDY --track tensorboard` gives every cell a tracker in the process that runs
it. Each round's row goes there (evaluation and collection success, losses, Q, timings; the
x-axis is the round), and every `EVERY` gradient steps the training losses (x: the cell's
cumulative gradient steps), tagged by study, cell id and method. Trackers only watch: they are
not part of a cell's identity and never change its rows. Each is an optional extra, installed
with its library:

    tensorboard   event files in results/<study>/tensorboard/<cell id>/<UTC time of the run>/
                  (pip install 'bolrl[tensorboard]'; view them with
                  `tensorboard --logdir results/<study>/tensorboard`)
    wandb         Weights & Biases runs in offline mode (nothing leaves the machine), one per
                  cell, under results/<study>/wandb/wandb/offline-run-*/ (pip install
                  'bolrl[wandb]'; upload them later with `wandb sync DIR`); the project is
                  the study, the group the method, the config the cell's whole configuration
    mlflow        an MLflow file store at results/<study>/mlruns/, experiment = the study, one
                  run per cell with the cell's settings as parameters (pip install
                  'bolrl[mlflow]'; view it with `MLFLOW_ALLOW_FILE_STORE=true mlflow ui
                  --backend-store-uri results/<study>/mlruns`). MLflow 3 keeps the file store
                  in maintenance mode behind that variable; the tracker sets it for itself.
"""

from __future__ import annotations

import importlib
import math
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bolrl.identity import flatten

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


class Tracker:
    """What every tracker shares: its name (the --track value, and its extra's) and the
    library it needs, checked before any cell runs."""

    name = ""
    module = ""  # the library that must import

    @classmethod
    def check(cls) -> None:
        """TrackerMissing, with the install command, where its library does not import."""
        try:
            importlib.import_module(cls.module)
        except ImportError:
            raise TrackerMissing(f"--track {cls.name}: the {cls.module} package is not "
                                 f"installed here: pip install 'bolrl[{cls.name}]'") from None


def _tags(cell) -> dict[str, str]:
    return {"study": cell.study, "cell_id": cell.cell_id, "method": cell.method_name,
            "task": cell.task, "seed": str(cell.seed)}


def _round_scalars(row: dict) -> dict[str, float]:
    """The row's tracked columns under their tags: finite numbers only."""
    return {tag: float(row[column]) for column, tag in ROUND_SCALARS.items()
            if isinstance(row.get(column), int | float) and math.isfinite(row[column])}


class TensorBoard(Tracker):
    """TensorBoard event files, one directory per cell (torch's SummaryWriter)."""

    name = module = "tensorboard"

    def __init__(self, directory: Path, cell) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.check()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")  # a rerun (--force) beside
        self.writer = SummaryWriter(log_dir=str(directory / "tensorboard" / cell.cell_id / stamp))
        self.writer.add_text("cell", f"study {cell.study}, cell {cell.cell_id}, "
                                     f"{cell.label}, method {cell.method_name}")

    def round(self, row: dict) -> None:
        for tag, value in _round_scalars(row).items():
            self.writer.add_scalar(tag, value, global_step=int(row["round"]))
        self.writer.flush()

    def step(self, grad_step: int, losses: dict[str, float]) -> None:
        for name, value in losses.items():
            if math.isfinite(value):
                self.writer.add_scalar(f"steps/{name}", value, global_step=grad_step)

    def close(self) -> None:
        self.writer.close()


class WandB(Tracker):
    """Weights & Biases in offline mode: one run per cell; round scalars against "round",
    training losses against "grad_step" (W&B's own step counter only increases, so each
    family gets a step metric of its own)."""

    name = module = "wandb"

    def __init__(self, directory: Path, cell) -> None:
        import wandb

        self.check()
        root = directory / "wandb"
        root.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            mode="offline", dir=str(root), project=cell.study, group=cell.method_name,
            name=f"{cell.cell_id} {cell.label}", config=cell.config(),
            tags=[cell.task, cell.method_name, f"seed-{cell.seed}"],
            settings=wandb.Settings(silent=True, console="off", x_disable_stats=True,
                                    save_code=False))
        self.run.define_metric("round")
        self.run.define_metric("grad_step")
        for tag in ROUND_SCALARS.values():
            self.run.define_metric(tag, step_metric="round")
        self.run.define_metric("steps/*", step_metric="grad_step")

    def round(self, row: dict) -> None:
        self.run.log({"round": int(row["round"]), **_round_scalars(row)})

    def step(self, grad_step: int, losses: dict[str, float]) -> None:
        self.run.log({"grad_step": grad_step, **{f"steps/{name}": value for name, value
                                                 in losses.items() if math.isfinite(value)}})

    def close(self) -> None:
        self.run.finish()


class MLflow(Tracker):
    """An MLflow file store: experiment = the study, one run per cell, the cell's settings as
    parameters (flattened, "agent.lr"), metrics with their round or gradient step."""

    name = module = "mlflow"

    def __init__(self, directory: Path, cell) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        self.check()
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # see the module's docstring
        self.client = MlflowClient(tracking_uri=(directory / "mlruns").resolve().as_uri())
        experiment = self._experiment(cell.study)
        run = self.client.create_run(experiment, run_name=f"{cell.cell_id} {cell.label}",
                                     tags=_tags(cell))
        self.run_id = run.info.run_id
        params = [Param(key, str(value)[:6000]) for key, value in flatten(cell.config()).items()]
        for start in range(0, len(params), 100):  # MLflow takes at most 100 per batch
            self.client.log_batch(self.run_id, params=params[start:start + 100])

    def _experiment(self, name: str) -> str:
        """The study's experiment id, created by whichever worker gets there first (the
        others find it: a lost race to create it is not an error)."""
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            return self.client.create_experiment(name)
        except MlflowException:
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    def _log(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(key, value, now, step) for
                                                    key, value in values.items()])

    def round(self, row: dict) -> None:
        self._log(_round_scalars(row), int(row["round"]))

    def step(self, grad_step: int, losses: dict[str, float]) -> None:
        self._log({f"steps/{k}": v for k, v in losses.items() if math.isfinite(v)}, grad_step)

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


TRACKERS = {tracker.name: tracker for tracker in (TensorBoard, WandB, MLflow)}


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
