"""Graph test (real DDS): camera_capture with backend 'opencv' reads a small video and a 16-bit
PNG depth sequence written here with cv2, publishes the camera topics itself, and capture_rgbd
serves a synchronised snapshot from them (colour frame i with depth image i); a colour-only source
is answered with the reason. As a managed node: nothing opened or served before configure and
activate, nothing published after deactivate, and a missing calibration or file makes configure fail
with the reason logged while the node stays reachable."""

from __future__ import annotations

import time

import numpy as np
import pytest
import yaml
from rclpy.node import Node
from rclpy.parameter import Parameter
from ros_graph_utils import call
from sensor_msgs.msg import CameraInfo, Image

from physworld.capture import CameraCalibration
from physworld.ros.camera_capture import CameraCaptureNode
from physworld.ros.conversions import image_to_numpy
from physworld_interfaces.srv import CaptureRgbd

cv2 = pytest.importorskip("cv2")
pytestmark = pytest.mark.ros

W, H, N = 64, 48, 6


def red(i: int) -> int:
    return 30 * i + 20  # frame i's red channel; depth image i holds 800 + 10 i mm


@pytest.fixture
def recording(tmp_path):
    writer = cv2.VideoWriter(str(tmp_path / "scene.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (W, H))
    (tmp_path / "depth").mkdir()
    for i in range(N):
        writer.write(np.full((H, W, 3), (200, 90, red(i)), np.uint8))  # BGR
        mm = np.full((H, W), 800 + 10 * i, np.uint16)
        mm[:4] = 0  # no reading in the top rows
        assert cv2.imwrite(str(tmp_path / "depth" / f"{i:03d}.png"), mm)
    writer.release()
    K = np.array([[55.0, 0.0, 31.5], [0.0, 55.0, 23.5], [0.0, 0.0, 1.0]])
    calib = CameraCalibration(W, H, K, camera_name="test_cam").to_yaml_dict()
    (tmp_path / "cam.yaml").write_text(yaml.safe_dump(calib))
    return tmp_path


def opencv_node(graph, recording, namespace="", **params):
    values = dict(backend="opencv", opencv_source=str(recording / "scene.avi"), depth_source=str(recording / "depth"),
                  calibration_file=str(recording / "cam.yaml"), opencv_loop=True, opencv_rate_hz=20.0)  # fmt: skip
    values.update(params)
    overrides = [Parameter(k, value=v) for k, v in values.items()]
    return CameraCaptureNode(context=graph.context, namespace=namespace, parameter_overrides=overrides)


def capture(graph, probe, timeout=5.0):
    client = probe.create_client(CaptureRgbd, "capture_rgbd")
    return call(client, CaptureRgbd.Request(timeout_s=timeout), 10.0, timeout + 5.0)


def test_opencv_backend_publishes_the_camera_topics_and_serves_a_synchronised_snapshot(graph, recording):
    graph.add(opencv_node(graph, recording))
    probe = graph.add(Node("opencv_probe", context=graph.context))
    color, depth, info = [], [], []
    probe.create_subscription(Image, "camera/color/image_raw", color.append, 10)
    probe.create_subscription(Image, "camera/depth/image_raw", depth.append, 10)
    probe.create_subscription(CameraInfo, "camera/color/camera_info", info.append, 10)
    graph.wait_for(lambda: len(color) >= N + 2 and depth and info, 20.0, "opencv camera topics (and a loop)")
    assert color[0].encoding == "rgb8" and (color[0].width, color[0].height) == (W, H)
    assert depth[0].encoding == "16UC1" and color[0].header.frame_id == "camera_color_optical_frame"
    assert list(info[-1].k) == [55.0, 0.0, 31.5, 0.0, 55.0, 23.5, 0.0, 0.0, 1.0] and info[-1].width == W

    for _ in range(3):  # several snapshots: each pairs colour frame i with depth image i
        resp = capture(graph, probe)
        assert resp.success, resp.message
        assert resp.color.header.stamp == resp.depth.header.stamp and resp.depth.encoding == "32FC1"
        rgb, d = image_to_numpy(resp.color), image_to_numpy(resp.depth)
        i = int(round((float(rgb[H // 2, W // 2, 0]) - 20) / 30))  # which frame (MJPG is lossy: +-6)
        assert 0 <= i < N and abs(float(rgb[H // 2, W // 2, 0]) - red(i)) < 8, rgb[H // 2, W // 2]
        np.testing.assert_allclose(d[H // 2, W // 2], (800 + 10 * i) / 1000.0, rtol=1e-6)
        assert np.isnan(d[:4]).all()  # 0 mm = no reading
        assert resp.camera_info.k[0] == 55.0


def test_colour_only_source_answers_that_depth_is_missing(graph, recording):
    graph.add(opencv_node(graph, recording, depth_source=""))
    probe = graph.add(Node("opencv_probe2", context=graph.context))
    resp = capture(graph, probe, timeout=1.0)
    assert not resp.success and "camera/depth/image_raw" in resp.message, resp.message


def test_managed_camera_waits_unconfigured_then_serves_after_configure_and_activate(graph, recording):
    """autostart false: the device is not opened and nothing is served until the standard lifecycle
    services configure and activate it; deactivate stops the stream, cleanup + configure reopen it."""
    graph.add(opencv_node(graph, recording, autostart=False))
    probe = graph.add(Node("opencv_probe3", context=graph.context))
    color = []
    probe.create_subscription(Image, "camera/color/image_raw", color.append, 10)
    assert graph.state("camera_capture") == "unconfigured"
    resp = capture(graph, probe, timeout=0.5)
    assert not resp.success and "camera_capture is unconfigured" in resp.message, resp.message
    assert graph.change_state("camera_capture", "configure") and graph.state("camera_capture") == "inactive"
    resp = capture(graph, probe, timeout=0.5)
    assert not resp.success and "is inactive" in resp.message and "activate" in resp.message, resp.message
    time.sleep(0.5)
    assert not color  # opened, but nothing is published while inactive
    assert graph.change_state("camera_capture", "activate")
    graph.wait_for(lambda: len(color) >= 3, 10.0, "images once active")
    assert capture(graph, probe).success

    assert graph.change_state("camera_capture", "deactivate")
    time.sleep(0.3)
    n = len(color)
    time.sleep(0.5)
    assert len(color) == n, "images still published while inactive"
    assert not capture(graph, probe, timeout=0.5).success
    assert graph.change_state("camera_capture", "cleanup") and graph.state("camera_capture") == "unconfigured"
    assert graph.change_state("camera_capture", "configure") and graph.change_state("camera_capture", "activate")
    resp = capture(graph, probe)
    assert resp.success, resp.message  # the device was released and opened again


def test_missing_calibration_or_file_fails_configure_and_the_node_stays_reachable(graph, recording):
    logs = graph.rosout()
    graph.add(opencv_node(graph, recording, calibration_file=""))  # autostart: configure fails
    assert graph.state("camera_capture") == "unconfigured"
    probe = graph.add(Node("opencv_probe4", context=graph.context))
    resp = capture(graph, probe, timeout=0.5)
    assert not resp.success and "configure failed" in resp.message and "needs calibration_file" in resp.message
    graph.wait_for_log(logs, "camera_capture", "configure failed", "needs calibration_file")
    assert not graph.change_state("camera_capture", "configure")  # still failing, still answering
    assert graph.state("camera_capture") == "unconfigured"

    graph.add(opencv_node(graph, recording, namespace="cam2", opencv_source=str(recording / "missing.avi")))
    assert graph.state("cam2/camera_capture") == "unconfigured"
    graph.wait_for_log(logs, "cam2.camera_capture", "video file not found", "missing.avi")
