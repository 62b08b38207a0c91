"""Helpers shared by the graph tests (imported as ``ros_graph_utils``: pytest puts this folder on
``sys.path``, it has no ``__init__.py``)."""

from __future__ import annotations

import time


def wait_future(future, timeout: float, what: str):
    """The future's result, waiting (the executor spins in another thread) at most ``timeout`` s."""
    end = time.monotonic() + timeout
    while not future.done():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)
    return future.result()
