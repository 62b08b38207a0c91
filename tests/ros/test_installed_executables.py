"""The colcon-installed node executables (what ``ros2 run`` / launch start): each comes up as its
own process, joins the graph under a namespace, and exits with code 0 on SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from rclpy.node import Node

pytestmark = pytest.mark.ros

LIB = Path(__file__).resolve().parents[2] / "install" / "physworld" / "lib" / "physworld"
# nodes that start without a scene, a device or a model (the others are covered in-process)
CHEAP = ["task_orchestrator", "teleop", "camera_capture"]


@pytest.mark.parametrize("name", CHEAP)
def test_installed_node_starts_in_a_namespace_and_exits_cleanly(graph, name, tmp_path):
    exe = LIB / name
    assert exe.is_file(), f"{exe} missing: run ./scripts/setup.sh (colcon build)"
    ns = f"exe_test_{name}"
    args = [str(exe), "--ros-args", "-r", f"__ns:=/{ns}"]
    proc = subprocess.Popen(args, cwd=tmp_path, env=dict(os.environ), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        probe = graph.add(Node(f"probe_{name}", context=graph.context))

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode} at start:\n{proc.stdout.read()[-3000:]}")
            return (name, f"/{ns}") in probe.get_node_names_and_namespaces()

        graph.wait_for(up, 30.0, f"{name} in the graph")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, f"{name} exited with {proc.returncode}:\n{out[-3000:]}"
    assert "Traceback" not in out, out[-3000:]


def test_ctrl_c_while_the_node_is_built_is_a_clean_exit():
    """spin_node: Ctrl-C while the constructor runs (a KeyboardInterrupt there, or the constructor
    failing on the context the signal shut down) returns normally; a real error still propagates."""
    import rclpy

    from physworld.ros.runner import spin_node

    def interrupted():
        raise KeyboardInterrupt

    def broken():
        raise ValueError("bad parameter")

    def built_on_a_shut_down_context():  # what rclpy's SIGINT handler leaves the constructor with
        rclpy.shutdown()
        raise ValueError("Failed to create action server: rcl node's context is invalid")

    spin_node(interrupted, args=[])
    assert not rclpy.ok()
    spin_node(built_on_a_shut_down_context, args=[])
    assert not rclpy.ok()
    with pytest.raises(ValueError, match="bad parameter"):
        spin_node(broken, args=[])
    assert not rclpy.ok()
