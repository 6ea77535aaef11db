"""Writing files so that a reader sees either no file or a whole one."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path


def write_atomic(path: Path, write: Callable[[str], None]) -> None:
    """Call write(tmp_path) on a temporary file beside `path`, flush it to disk, then rename
    it to `path` (an atomic replace on POSIX filesystems)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are shared by a group
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    """The process's umask (read by setting it, then restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def content_hash(path: Path) -> str:
    """16 hex digits of the sha256 of a file's bytes ("missing" if it cannot be read)."""
    try:
        stat = Path(path).stat()
    except OSError:
        return "missing"
    return _content_hash(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=256)
def _content_hash(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return "missing"
    return digest.hexdigest()[:16]


class UnsafeFile(RuntimeError):
    """A checkpoint or cached base that holds more than tensors and plain data."""


def load_tensors(path: Path):
    """torch.load with weights_only=True: tensors and plain data (dicts, lists, numbers,
    strings) only, so a checkpoint or base from someone else's results directory or a shared
    cache cannot run code when it is loaded. A file holding other objects raises UnsafeFile
    (one line); a damaged one raises what torch raises."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights_only" not in str(exc).lower() and "weights only" not in str(exc).lower():
            raise
        raise UnsafeFile(f"{path} holds objects other than tensors and plain data; bolrl loads "
                         f"only those (torch.load with weights_only=True) and does not load "
                         f"it: delete it if you did not write it") from None
