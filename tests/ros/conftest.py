"""Fixtures for graph tests: one rclpy context per test module, nodes spun by a multi-threaded
executor in a background thread, and a helper to wait for conditions without sleeping blindly."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed (run ./scripts/setup.sh)")
from physworld.ros.executor import MultiThreadedExecutor  # noqa: E402


class Graph:
    """Nodes in one process, talking through real DDS."""

    def __init__(self, context):
        self.context = context
        self.executor = MultiThreadedExecutor(num_threads=4, context=context)
        self.nodes = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self.context.ok() and not self._stop.is_set():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:  # context shut down while spinning
                if self.context.ok():
                    raise

    def add(self, node):
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    @staticmethod
    def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.02)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        for node in self.nodes:
            self.executor.remove_node(node)
        self.executor.shutdown(timeout_sec=2.0)  # joins its threads: nothing runs on a destroyed entity
        for node in self.nodes:
            node.destroy_node()


@pytest.fixture
def ros_context() -> Iterator[object]:
    context = rclpy.context.Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        rclpy.try_shutdown(context=context)


@pytest.fixture
def graph(ros_context) -> Iterator[Graph]:
    g = Graph(ros_context)
    try:
        yield g
    finally:
        g.close()
