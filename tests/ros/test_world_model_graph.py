"""Graph test (real DDS): the world_model node answers bad reconstruct_scene goals (empty or unknown
task text, wrong encodings, an image and camera_info of different sizes, all-NaN depth, a missing
video) by aborting with a message naming the problem, and keeps serving the next goal."""

from __future__ import annotations

import numpy as np
import pytest
from rclpy.node import Node
from rclpy.parameter import Parameter
from ros_graph_utils import wait_future

from physworld.ros.action_client import ActionClient
from physworld.ros.conversions import camera_info_from_intrinsics, numpy_to_image
from physworld.ros.world_model import WorldModelNode
from physworld.sim.camera import CameraIntrinsics
from physworld.video import GeneratedVideo, save_video
from physworld_interfaces.action import ReconstructScene

pytestmark = pytest.mark.ros

W, H = 32, 24


def _goal(video, change: dict) -> ReconstructScene.Goal:
    """A well-formed goal (32x24 capture, its camera_info, a 2-frame video) with ``change`` applied."""
    parts = {
        "color": numpy_to_image(np.zeros((H, W, 3), np.uint8), "rgb8", "cam"),
        "depth": numpy_to_image(np.full((H, W), 0.8, np.float32), "32FC1", "cam"),
        "camera_info": camera_info_from_intrinsics(CameraIntrinsics.from_fov(W, H, 60), "cam"),
        "task_text": "put the lid on the pot",
        "video_path": str(video),
    }
    parts.update(change)
    return ReconstructScene.Goal(**parts)


def _colour_labelled(encoding: str):
    msg = numpy_to_image(np.zeros((H, W, 3), np.uint8), "rgb8")
    msg.encoding = encoding  # what a driver with an unsupported pixel format sends
    return msg


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"task_text": "  "}, "task text is empty"),
        ({"task_text": "juggle three oranges"}, "unknown task 'juggle three oranges'"),
        ({"color": _colour_labelled("foo8")}, "unknown image encoding 'foo8'"),
        ({"depth": numpy_to_image(np.zeros((H, W), np.uint8), "mono8")}, "depth encoding 'mono8' is not a depth"),
        ({"camera_info": camera_info_from_intrinsics(CameraIntrinsics.from_fov(64, 48, 60))}, "the camera is 64x48"),
        ({"depth": numpy_to_image(np.full((H, W), np.nan, np.float32), "32FC1")}, "empty or all NaN"),
        ({"video_path": "/nonexistent/video"}, "video directory not found"),
    ],
    ids=["empty_text", "unknown_task", "colour_encoding", "depth_encoding", "size_mismatch", "nan_depth", "no_video"],
)
def test_bad_reconstruct_scene_goals_abort_with_the_reason(graph, tmp_path, change, expected):
    video = save_video(
        GeneratedVideo(np.zeros((2, H, W, 3), np.uint8), 10.0, "put the lid on the pot", 0, "test"), tmp_path / "v"
    )
    graph.add(WorldModelNode(context=graph.context, parameter_overrides=[Parameter("run_root", value=str(tmp_path))]))
    client = ActionClient(graph.add(Node("recon_client", context=graph.context)), ReconstructScene, "reconstruct_scene")
    assert client.wait_for_server(timeout_sec=10.0)
    for attempt in range(2):  # the node answers the same bad goal twice: it keeps serving
        handle = wait_future(client.send_goal_async(_goal(video, change)), 10, "goal")
        assert handle.accepted
        result = wait_future(handle.get_result_async(), 30, "result").result
        assert not result.success and expected in result.message, (attempt, result.message)
    assert not (tmp_path / "scene").exists()
