import os
import tempfile


def pytest_configure(config):
    """Demonstrations are cached in a temporary directory for the whole session, never in ~
    (set before any fixture, so that workers started by Ray or a process pool inherit it)."""
    os.environ["BOLRL_CACHE"] = tempfile.mkdtemp(prefix="bolrl-test-cache-")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
