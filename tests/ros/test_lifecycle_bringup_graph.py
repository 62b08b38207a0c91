"""Graph test (real DDS): managed nodes in `physworld bringup`. The nodes that hold models or
hardware are lifecycle nodes; with the default autostart they are active after construction, with
`autostart: false` from the parameter file they wait unconfigured, and one whose configure fails
stays unconfigured; Bringup.not_active() (printed by `physworld bringup` / `physworld run`) says
which and why. Plain nodes are not lifecycle nodes."""

from __future__ import annotations

import pytest
from rclpy.lifecycle import LifecycleNode

from physworld.ros.bringup import Bringup

pytestmark = pytest.mark.ros


def test_bringup_reports_the_managed_nodes_that_are_not_active(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(
        "world_model:\n  ros__parameters:\n    autostart: false\n"
        "video_generation_client:\n  ros__parameters:\n    backend: http\n    http_url: ''\n"
    )
    names = ["camera_capture", "video_generation_client", "world_model", "task_orchestrator"]
    up = Bringup(names, params).start()
    try:
        nodes = {n.get_name(): n for n in up.nodes}
        assert nodes["camera_capture"].active  # autostart default: configured and active
        assert not isinstance(nodes["task_orchestrator"], LifecycleNode)  # a plain node
        why = up.not_active()
        assert len(why) == 2, why
        assert why[0].startswith("/video_generation_client is unconfigured") and "configure failed" in why[0]
        assert "base URL" in why[0]
        assert why[1] == ("/world_model is unconfigured (a managed node): "
                          "`ros2 lifecycle set /world_model configure`, then `activate`")  # fmt: skip
        assert nodes["world_model"].get_parameter("autostart").value is False
    finally:
        up.shutdown()


def test_the_launch_files_list_of_managed_nodes_is_the_lifecycle_classes():
    """launch_common starts MANAGED_NODES as LifecycleNode actions: it must name exactly the node
    classes that are managed nodes (launch itself cannot run here)."""
    from physworld.ros.bringup import MANAGED_NODES, NODE_CLASSES, node_class
    from physworld.ros.lifecycle import ManagedNode

    managed = {name for name in NODE_CLASSES if issubclass(node_class(name), ManagedNode)}
    assert managed == set(MANAGED_NODES)
    assert {"sim_world", "task_orchestrator", "teleop", "bag_recorder", "bag_player"}.isdisjoint(managed)
