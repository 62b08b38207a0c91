"""Compose the stack's nodes in one process on a multi-threaded executor, reading the same
parameter YAML as the launch files.

This is for machines without ``ros2 launch`` (no launch/launch_ros here): it only instantiates
node classes with ``--params-file``; it is not a re-implementation of launch (no substitutions,
events or process management). On a ROS 2 install use ``launch/*.launch.py``.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterable
from pathlib import Path

import rclpy
from rclpy.context import Context
from rclpy.node import Node

from physworld.ros.executor import MultiThreadedExecutor

# executable name -> "module:Class"; the same executables the launch files start.
NODE_CLASSES = {
    "sim_world": "physworld.ros.sim_world:SimWorldNode",
    "camera_capture": "physworld.ros.camera_capture:CameraCaptureNode",
    "video_generation_client": "physworld.ros.video_generation_client:VideoGenerationNode",
    "task_orchestrator": "physworld.ros.task_orchestrator:TaskOrchestratorNode",
    "world_model": "physworld.ros.world_model:WorldModelNode",
    "arm_controller": "physworld.ros.arm_controller:ArmControllerNode",
    "residual_policy": "physworld.ros.residual_policy:ResidualPolicyNode",
    "teleop": "physworld.ros.teleop:TeleopNode",
    "bag_recorder": "physworld.ros.bag_recorder:BagRecorderNode",
    "bag_player": "physworld.ros.bag_player:BagPlayerNode",
}
# the managed (lifecycle) nodes: those holding models or hardware (physworld.ros.lifecycle); the
# launch files start them as launch_ros LifecycleNode actions
MANAGED_NODES = ("arm_controller", "camera_capture", "world_model", "residual_policy", "video_generation_client")
PROFILES = {
    "sim": [
        "sim_world",
        "arm_controller",
        "camera_capture",
        "video_generation_client",
        "world_model",
        "residual_policy",
        "task_orchestrator",
    ],
    "teleop": ["teleop"],
    "replay": ["bag_player", "camera_capture", "video_generation_client", "world_model", "task_orchestrator"],
}


def node_class(name: str) -> type[Node]:
    module, cls = NODE_CLASSES[name].split(":")
    return getattr(importlib.import_module(module), cls)


class Bringup:
    """Nodes of a profile in one process; ``start()`` spins them in a background thread."""

    def __init__(
        self,
        names: Iterable[str],
        params_file: str | Path | None = None,
        namespace: str = "",
        context: Context | None = None,
        extra_args: list[str] | None = None,
    ):
        names = list(names)
        if len(set(names)) != len(names):
            raise ValueError(f"node list has duplicates: {names}")
        unknown = [n for n in names if n not in NODE_CLASSES]
        if unknown:
            raise ValueError(f"unknown node(s) {unknown}; known: {sorted(NODE_CLASSES)}")
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.nodes: list[Node] = []
        args = ["--ros-args"]
        if params_file:
            if not Path(params_file).is_file():
                raise FileNotFoundError(f"parameter file not found: {params_file}")
            args += ["--params-file", str(params_file)]
        args += extra_args or []
        self._own_context, self._closed = context is None, False
        self.context = context or Context()
        rclpy.init(args=args, context=self.context)
        self.executor = MultiThreadedExecutor(num_threads=6, context=self.context)
        try:
            for name in names:
                node = node_class(name)(context=self.context, namespace=namespace)
                self.nodes.append(node)
                self.executor.add_node(node)
        except BaseException:
            self.shutdown()
            raise

    def not_active(self) -> list[str]:
        """Why each managed node that is not active does no work (autostart false, configure failed)."""
        from physworld.ros.lifecycle import ManagedNode

        return [n.inactive_reason() for n in self.nodes if isinstance(n, ManagedNode) and not n.active]

    def add_node(self, node: Node) -> Node:
        self.executor.add_node(node)
        self.nodes.append(node)
        return node

    def start(self) -> Bringup:
        self._thread = threading.Thread(target=self.spin, daemon=True, name="bringup-executor")
        self._thread.start()
        return self

    def spin(self) -> None:
        while self.context.ok() and not self._stop.is_set():
            try:
                self.executor.spin_once(timeout_sec=0.1)
            except Exception:
                if self.context.ok():
                    raise

    def shutdown(self) -> None:
        if self._closed:  # a second call (signal handler + finally) must not touch the destroyed context
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        for node in self.nodes:
            self.executor.remove_node(node)
        # join the executor's threads first: a callback still queued must not run on a destroyed entity
        self.executor.shutdown(timeout_sec=2.0)
        for node in reversed(self.nodes):
            node.destroy_node()
        self.nodes.clear()
        rclpy.try_shutdown(context=self.context)
        if self._own_context:  # free the DDS participant now, not when the garbage collector gets to it
            self.context.destroy()
