"""The `bolrl` command line. Thin: parse, validate, call, print.

One module per group of commands (`tasks`, `bench`, `inspect`, `run`, `report`), each
registering its commands on the one Typer app of `bolrl.cli._app`."""

from __future__ import annotations

import importlib
import os

from bolrl.cli._app import app

# the command groups register their commands on import, in the order `bolrl --help` lists them
for _group in ("tasks", "bench", "inspect", "run", "report"):
    importlib.import_module(f"bolrl.cli.{_group}")

__all__ = ["app", "main"]


def main() -> None:
    import sys

    # offscreen rendering (bolrl eval --video) where there is no display: MuJoCo reads the
    # setting when it is first imported, before any command runs
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        os.environ.setdefault("MUJOCO_GL", "egl")  # (macOS and Windows have their own GL)
    app()


if __name__ == "__main__":
    main()
