"""What produced a row: the code's revision, whether it had uncommitted changes, and the
versions of the libraries that change the numbers (MuJoCo 3 and 4 simulate differently; a
suite package's release can move its tasks).

Read once per process (the code does not change under a running process) and recorded in
every results row; `bolrl plot` prints them once per study and says when rows differ.
"""

from __future__ import annotations

import platform
import subprocess
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from bolrl import __version__

SOURCE = Path(__file__).resolve().parent  # the package; its repository root is one up
# Libraries whose versions every row records, as columns `<name>_version`.
LIBRARIES = ("torch", "numpy", "mujoco", "gymnasium")
# Task suites with a package of their own: the prefix of their task names -> the package.
SUITE_PACKAGES = {"metaworld/": "metaworld", "robomimic/": "robosuite"}


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, cwd=SOURCE,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


@lru_cache(maxsize=1)
def git_sha() -> str:
    """The revision of the source tree bolrl runs from ("unknown" outside a git checkout)."""
    out = _git("rev-parse", "--short=12", "HEAD")
    return out.strip() if out and out.strip() else "unknown"


@lru_cache(maxsize=1)
def git_dirty() -> bool | None:
    """Whether the package's source or its build file differ from the revision (uncommitted
    or untracked files under bolrl/, pyproject.toml); None outside a git checkout. Results and
    study files are not code: a row records its own configuration."""
    if _git("rev-parse", "--is-inside-work-tree") is None:
        return None
    out = _git("status", "--porcelain", "--", str(SOURCE), str(SOURCE.parent / "pyproject.toml"))
    return None if out is None else bool(out.strip())


@lru_cache(maxsize=16)
def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return ""


@lru_cache(maxsize=1)
def library_versions() -> dict[str, str]:
    """{"python_version": "3.11.9", "torch_version": "2.13.0+cpu", ...}."""
    return {"python_version": platform.python_version(),
            **{f"{lib}_version": _version(lib) for lib in LIBRARIES}}


def suite_version(task: str) -> str:
    """'metaworld 3.1.1' for a Meta-World task, 'robosuite 1.5.2' for a robomimic one, '' for
    the embedded and external tasks."""
    for prefix, package in SUITE_PACKAGES.items():
        if task.startswith(prefix):
            found = _version(package)
            return f"{package} {found}" if found else f"{package} (not installed)"
    return ""


def provenance() -> dict:
    """The columns of a row that say what produced it (all but the suite)."""
    return {"bolrl_version": __version__, "git_sha": git_sha(), "git_dirty": git_dirty(),
            **library_versions()}
