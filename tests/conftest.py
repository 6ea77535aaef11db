import os

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Demonstrations are cached under a per-session temporary directory, never in ~."""
    root = tmp_path_factory.getbasetemp() / "bolrl-cache"
    monkeypatch.setenv("BOLRL_CACHE", str(root))
    yield


os.environ.setdefault("OMP_NUM_THREADS", "1")
