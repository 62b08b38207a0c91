"""Graph test (real DDS): the replay profile. bag_player replays a small recorded camera bag into
camera_capture; capture_rgbd answers with the recorded frame, and run_task runs capture ->
generate_video on the replayed data (the bag holds the sim scene of lid_on_pot, seed 1)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rclpy.node import Node
from ros_graph_utils import wait_future

from physworld.bag.convert import camera_info_from_intrinsics, joint_state, numpy_to_image
from physworld.bag.record import BagWriter
from physworld.ros.action_client import ActionClient
from physworld.ros.bringup import PROFILES, Bringup
from physworld.ros.conversions import image_to_numpy
from physworld_interfaces.action import RunTask
from physworld_interfaces.srv import CaptureRgbd

pytestmark = pytest.mark.ros
T0 = 1_700_000_000_000_000_000


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    from physworld.sim.world import build_task_scene

    tmp = tmp_path_factory.mktemp("replay")
    with build_task_scene("lid_on_pot", 1, image_size=(96, 72)) as scene:
        rgb, depth, _ = scene.render()
        intr = scene.camera.intrinsics
    bag_path = tmp / "cam_bag"
    with BagWriter(bag_path) as bag:
        for t, ty in (("/camera/color/image_raw", "sensor_msgs/msg/Image"),
                      ("/camera/depth/image_raw", "sensor_msgs/msg/Image"),
                      ("/camera/color/camera_info", "sensor_msgs/msg/CameraInfo"),
                      ("/joint_states", "sensor_msgs/msg/JointState")):  # fmt: skip
            bag.add_topic(t, ty)
        for i in range(5):  # 10 Hz for 0.5 s, played in a loop
            t = T0 + i * 100_000_000
            bag.write("/camera/color/image_raw", t, numpy_to_image(rgb, "rgb8", t, "cam"))
            bag.write("/camera/depth/image_raw", t, numpy_to_image(depth, "32FC1", t, "cam"))
            bag.write("/camera/color/camera_info", t, camera_info_from_intrinsics(intr, t, "cam"))
            bag.write("/joint_states", t, joint_state(["j1"], [0.1 * i], stamp=t))
    params = tmp / "params.yaml"
    params.write_text(
        f"bag_player:\n  ros__parameters:\n    bag_path: {bag_path}\n    loop: true\n"
        "task_orchestrator:\n  ros__parameters:\n    stages: [capture, generate_video]\n    default_frames: 4\n"
        f"    run_root: {tmp / 'runs'}\n"
        f"video_generation_client:\n  ros__parameters:\n    run_root: {tmp / 'videos'}\n"
    )
    up = Bringup(PROFILES["replay"], params).start()
    yield up, rgb, depth, tmp
    up.shutdown()


def test_replay_profile_is_player_and_stack():
    assert PROFILES["replay"] == [
        "bag_player",
        "camera_capture",
        "video_generation_client",
        "world_model",
        "task_orchestrator",
    ]
    # replay runs the perception and learning stack on recorded data; no arm, so no execution side
    arm_side = {"sim_world", "arm_controller", "residual_policy"}
    assert set(PROFILES["replay"]) - {"bag_player"} == set(PROFILES["sim"]) - arm_side


def test_capture_rgbd_answers_with_replayed_frames(replay):
    up, rgb, depth, _ = replay
    node = up.add_node(Node("capture_probe", context=up.context))
    client = node.create_client(CaptureRgbd, "capture_rgbd")
    assert client.wait_for_service(timeout_sec=10.0)
    resp = wait_future(client.call_async(CaptureRgbd.Request(timeout_s=5.0)), 20, "capture_rgbd")
    assert resp.success, resp.message
    np.testing.assert_array_equal(image_to_numpy(resp.color, "rgb8"), rgb)
    np.testing.assert_array_equal(image_to_numpy(resp.depth), depth)
    stamp = resp.color.header.stamp.sec * 1_000_000_000 + resp.color.header.stamp.nanosec
    assert T0 <= stamp <= T0 + 400_000_000  # the recorded stamps, not the replay time
    assert resp.camera_info.width == 96 and resp.camera_info.header.frame_id == "cam"


def test_run_task_on_replayed_data_captures_and_generates(replay):
    up, rgb, _, tmp = replay
    node = up.add_node(Node("run_probe", context=up.context))
    client = ActionClient(node, RunTask, "run_task")
    assert client.wait_for_server(timeout_sec=10.0)
    goal = RunTask.Goal(task_text="put the lid on the pot", seed=1, run_dir=str(tmp / "run1"))
    handle = wait_future(client.send_goal_async(goal), 10, "goal")
    assert handle.accepted
    result = wait_future(handle.get_result_async(), 120, "run_task result").result
    run = json.loads((tmp / "run1" / "run.json").read_text())
    assert run["stages"][0]["stage"] == "capture" and run["stages"][0]["ok"], run["stages"][0]["message"]
    np.testing.assert_array_equal(np.load(tmp / "run1" / "capture" / "color.npy"), rgb)
    # the replayed frame is the scene of lid_on_pot seed 1, so sim_rollout continues it
    assert result.success, result.message
    assert [s["stage"] for s in run["stages"]] == ["capture", "generate_video"]
    assert len(list((tmp / "run1" / "video" / "frames").glob("*.png"))) == 4
