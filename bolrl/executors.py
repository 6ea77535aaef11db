"""Running cells: the same pure job for every executor.

`run_job` takes a lock on the cell (an OS file lock, released if its holder dies), skips it if
its results exist, runs the loop, writes the parquet atomically, and reports progress events.
The local executor runs jobs in a process pool, one torch thread per worker; the Ray executor
runs each cell as a Ray task (retried by Ray if its worker is lost), either writing results to
a filesystem shared by all machines or returning its rows for the driver to write.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.managers import SyncManager
from pathlib import Path

from bolrl.locks import file_lock, is_held
from bolrl.results import cell_status, run_dir, write_cell
from bolrl.study import Cell

# ("start", cell_id, pid) | ("round", cell_id, round, phase[, success when phase is "done"])
# | ("done", cell_id, status, final)
Event = tuple


@dataclass(frozen=True)
class JobResult:
    cell_id: str
    status: str  # ok | failed | skipped | locked
    final_success: float | None = None
    error: str = ""
    rows: list | None = None  # returned instead of written (the Ray driver-writes mode)


def _lock_path(results: Path, study: str, cell_id: str) -> Path:
    return run_dir(results, study, cell_id).parent / f"{cell_id}.lock"


@contextmanager
def cell_lock(results: Path, study: str, cell_id: str) -> Iterator[bool]:
    """Yield True if this process holds the cell's lock, False if another process does."""
    with file_lock(_lock_path(results, study, cell_id), wait=False) as held:
        yield held


RERUN = ".rerun"  # runs/<id>.rerun: a forced rerun's checkpoints, until it has finished
OLD = ".old"  # runs/<id>.old: the replaced checkpoints, for the moment of the swap


def replace_dir(new: Path, target: Path) -> None:
    """Put directory `new` in the place of `target`: the old one is renamed aside first, so at
    every instant one of the two is whole under a known name (see finish_swap)."""
    aside = target.with_name(target.name + OLD)
    shutil.rmtree(aside, ignore_errors=True)
    if target.exists():
        os.replace(target, aside)
    os.replace(new, target)
    shutil.rmtree(aside, ignore_errors=True)


def finish_swap(target: Path) -> None:
    """After a replace_dir cut short: the old directory back if the new one never arrived,
    else the old one's remains removed."""
    aside = target.with_name(target.name + OLD)
    if aside.exists():
        if target.exists():
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.replace(aside, target)


def is_running(results: Path, study: str, cell_id: str) -> bool:
    """Does some live process hold this cell's lock?"""
    return is_held(_lock_path(results, study, cell_id))


def run_job(cell: Cell, results: Path, force: bool = False, events=None) -> JobResult:
    """Run one cell unless it is finished (or another process is running it)."""
    from bolrl.loop import run_cell

    def emit(*event):
        if events is not None:
            events.put(event)

    emit("start", cell.cell_id, os.getpid())
    with cell_lock(results, cell.study, cell.cell_id) as held:
        if not held:
            return JobResult(cell.cell_id, "locked")
        rdir = run_dir(results, cell.study, cell.cell_id)
        finish_swap(rdir)
        status = cell_status(results, cell.study, cell.cell_id)
        if status is not None and not force:
            return JobResult(cell.cell_id, "skipped")
        say = lambda cid, r, phase, *detail: emit("round", cid, r, phase, *detail)  # noqa: E731
        if force:  # the rerun works beside the old cell, which stays whole until it is done
            scratch = rdir.with_name(rdir.name + RERUN)
            shutil.rmtree(scratch, ignore_errors=True)
            rows = run_cell(cell, results, progress=say, resume=False, rdir=scratch)
            replace_dir(scratch, rdir)  # checkpoints first: they hold the rows too
            write_cell(results, cell.study, cell.cell_id, rows)
        else:
            rows = run_cell(cell, results, progress=say)
            write_cell(results, cell.study, cell.cell_id, rows)
        last = rows[-1]
        # the final weights and dataset stay in runs/: a study extended by more rounds goes on
        # from them (bolrl/extend.py)
        final = last.get("eval_success_rate") if last["status"] == "ok" else None
        emit("done", cell.cell_id, last["status"], final)
        return JobResult(cell.cell_id, last["status"], final, last["error"])


def _die_with_parent() -> None:
    """Ask Linux to end this process when its parent dies (even by SIGKILL), so no orphaned
    worker keeps a cell's lock; elsewhere a no-op."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"


def _worker_init() -> None:
    """A pool worker: one torch thread, and it ends with the bolrl process that started it."""
    _die_with_parent()
    _one_thread()


class _Forward:
    """A queue-like object that hands events straight to a callback (in-process runs)."""

    def __init__(self, on_event: Callable[[Event], None]):
        self.on_event = on_event

    def put(self, event: Event) -> None:
        self.on_event(event)


def run_local(cells: list[Cell], results: Path, workers: int, force: bool = False,
              on_event: Callable[[Event], None] | None = None) -> list[JobResult]:
    """Run cells in a pool of `workers` processes (in this process if workers == 1)."""
    on_event = on_event or (lambda event: None)
    if workers == 1:  # this very process: it must not die with its parent (nohup, job arrays)
        _one_thread()
        return [run_job(cell, results, force, _Forward(on_event)) for cell in cells]
    ctx = mp.get_context("spawn")
    manager = SyncManager(ctx=ctx)
    manager.start(initializer=_die_with_parent)
    events = manager.Queue()
    out: list[JobResult] = []
    try:
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init) as pool:
            pending: set[Future] = {pool.submit(run_job, c, results, force, events) for c in cells}
            try:
                while pending:
                    done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    _drain(events, on_event)
                    out.extend(f.result() for f in done)
            except BaseException:  # Ctrl-C or an error: stop the workers now, lose nothing
                for f in pending:
                    f.cancel()
                for process in list(getattr(pool, "_processes", {}).values()):
                    process.terminate()  # their cells resume from the last checkpoint
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            _drain(events, on_event)
    finally:
        manager.shutdown()
    return out


def _drain(events, on_event) -> None:
    while True:
        try:
            on_event(events.get_nowait())
        except (queue.Empty, EOFError, BrokenPipeError):
            return


class RayUnavailable(RuntimeError):
    """The Ray executor was asked for and Ray is not installed."""


def _ray_job(cell: Cell, results: str, force: bool, events, return_rows: bool,
             threads: int) -> JobResult:
    """One cell as a Ray task: the same job as locally; with `return_rows`, run in a private
    directory on the worker and hand the rows back for the driver to write."""
    import tempfile

    import torch

    torch.set_num_threads(threads)
    if not return_rows:
        return run_job(cell, Path(results), force, events)
    from bolrl.loop import run_cell

    events.put(("start", cell.cell_id, os.getpid()))
    with tempfile.TemporaryDirectory() as tmp:
        rows = run_cell(cell, Path(tmp),
                        progress=lambda cid, r, phase, *detail: events.put(
                            ("round", cid, r, phase, *detail)))
    last = rows[-1]
    final = last.get("eval_success_rate") if last["status"] == "ok" else None
    events.put(("done", cell.cell_id, last["status"], final))
    return JobResult(cell.cell_id, last["status"], final, last["error"], rows=rows)


def run_ray(cells: list[Cell], results: Path, force: bool = False,
            on_event: Callable[[Event], None] | None = None, address: str | None = None,
            cpus_per_cell: float = 1, gpus_per_cell: float = 0, return_rows: bool = False,
            max_retries: int = 3) -> list[JobResult]:
    """Run cells as Ray tasks on the cluster at `address` (a local instance if None)."""
    try:
        import ray
        from ray.util.queue import Empty, Queue
    except ImportError:
        raise RayUnavailable("the ray executor needs Ray: pip install -e '.[ray]' "
                             "(or make install-ray)") from None
    on_event = on_event or (lambda event: None)
    env = {k: os.environ[k] for k in ("BOLRL_CACHE",) if k in os.environ}
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address or "local", include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": env} if env else None)
    try:
        events = Queue()
        job = ray.remote(num_cpus=cpus_per_cell, num_gpus=gpus_per_cell,
                         max_retries=max_retries)(_ray_job)
        threads = max(1, int(cpus_per_cell))
        refs = {job.remote(c, str(results), force, events, return_rows, threads): c
                for c in cells}
        pending, out = list(refs), []

        def drain() -> None:
            while True:
                try:
                    on_event(events.get_nowait())
                except Empty:
                    return

        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=0.2)
            drain()
            for ref in done:
                cell = refs[ref]
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as exc:  # retries exhausted: record, go on
                    message = f"ray: {type(exc).__name__}: {exc}".splitlines()[0]
                    on_event(("done", cell.cell_id, "failed", None))
                    result = JobResult(cell.cell_id, "failed", error=message)
                if result.rows is not None:
                    write_cell(results, cell.study, cell.cell_id, result.rows)
                out.append(result)
        drain()
        return out
    finally:
        if started_here:
            ray.shutdown()
