"""Fixtures for graph tests: one rclpy context per test module, nodes spun by a multi-threaded
executor in a background thread, and a helper to wait for conditions without sleeping blindly."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed (run ./scripts/setup.sh)")
from ros_graph_utils import change_state, lifecycle_state  # noqa: E402

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

    # --- managed (lifecycle) nodes, through the standard services only -----------------------
    def _lifecycle_probe(self):
        if getattr(self, "_probe", None) is None:
            from rclpy.node import Node

            self._probe = self.add(Node("lifecycle_probe", context=self.context))
        return self._probe

    def change_state(self, node: str, transition: str, timeout: float = 30.0) -> bool:
        """``ros2 lifecycle set <node> <transition>`` (ros_graph_utils.change_state)."""
        return change_state(self._lifecycle_probe(), node, transition, timeout)

    def state(self, node: str) -> str:
        """``ros2 lifecycle get <node>`` (ros_graph_utils.lifecycle_state)."""
        return lifecycle_state(self._lifecycle_probe(), node)

    def rosout(self) -> list:
        """/rosout messages (rcl_interfaces/msg/Log) from now on, and the history rosout keeps."""
        from rcl_interfaces.msg import Log
        from rclpy.qos import DurabilityPolicy, QoSProfile

        logs: list = []
        qos = QoSProfile(depth=1000, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self._lifecycle_probe().create_subscription(Log, "/rosout", logs.append, qos)
        return logs

    def wait_for_log(self, logs: list, node: str, *needles: str, timeout: float = 10.0) -> None:
        """Wait until ``logs`` (from ``rosout()``) hold an ERROR of ``node`` containing every needle."""
        from rcl_interfaces.msg import Log

        def found() -> bool:
            return any(m.name == node and m.level == Log.ERROR and all(n in m.msg for n in needles) for m in logs)

        self.wait_for(found, timeout, f"an error of {node} on /rosout naming {needles}")

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
        context.destroy()  # its DDS participant goes now: leftover participants piled up across the suite


@pytest.fixture
def graph(ros_context) -> Iterator[Graph]:
    g = Graph(ros_context)
    try:
        yield g
    finally:
        g.close()
