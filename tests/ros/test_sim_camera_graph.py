"""Graph test (real DDS): sim_world publishes the camera and joint_states, camera_capture serves
a synchronised RGB-D snapshot, and bad input is answered with a clear message."""

import numpy as np
import pytest
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState

from physworld.ros.camera_capture import CameraCaptureNode
from physworld.ros.conversions import image_to_numpy
from physworld.ros.sim_world import SimWorldNode
from physworld_interfaces.srv import CaptureRgbd

pytestmark = pytest.mark.ros


def _call(graph, client, request, timeout=10.0):
    assert client.wait_for_service(timeout_sec=timeout), "capture_rgbd service did not appear"
    future = client.call_async(request)
    graph.wait_for(future.done, timeout, "capture_rgbd response")
    return future.result()


def test_images_flow_and_snapshot_is_synchronised(graph):
    ctx = graph.context
    graph.add(SimWorldNode(context=ctx))
    graph.add(CameraCaptureNode(context=ctx))
    probe = graph.add(Node("probe", context=ctx))
    images, joints = [], []
    probe.create_subscription(Image, "camera/color/image_raw", images.append, 5)
    probe.create_subscription(JointState, "joint_states", joints.append, 50)
    graph.wait_for(lambda: len(images) >= 2 and len(joints) >= 10, 20.0, "camera images and joint_states")
    assert images[0].encoding == "rgb8" and (images[0].width, images[0].height) == (320, 240)
    assert "panda_joint1" in joints[-1].name and len(joints[-1].position) == len(joints[-1].name)

    client = probe.create_client(CaptureRgbd, "capture_rgbd")
    resp = _call(graph, client, CaptureRgbd.Request(timeout_s=5.0))
    assert resp.success, resp.message
    assert resp.depth.encoding == "32FC1" and resp.color.header.stamp == resp.depth.header.stamp
    depth = image_to_numpy(resp.depth)
    rgb = image_to_numpy(resp.color)
    assert depth.shape == rgb.shape[:2] == (240, 320)
    table = np.nanmedian(depth)
    assert 0.3 < table < 2.0, f"table depth {table} m is implausible for the sim camera"
    assert resp.camera_info.k[0] > 0 and resp.camera_info.width == 320


def test_snapshot_without_camera_names_the_topics(graph):
    graph.add(CameraCaptureNode(context=graph.context))
    probe = graph.add(Node("probe2", context=graph.context))
    resp = _call(graph, probe.create_client(CaptureRgbd, "capture_rgbd"), CaptureRgbd.Request(timeout_s=0.2))
    assert not resp.success and "camera/color/image_raw" in resp.message


def test_nan_depth_is_rejected_with_a_reason(graph):
    from physworld.ros.conversions import camera_info_from_intrinsics, numpy_to_image
    from physworld.sim.camera import CameraIntrinsics

    graph.add(CameraCaptureNode(context=graph.context))
    fake = graph.add(Node("fake_camera", context=graph.context))
    pubs = [fake.create_publisher(Image, t, 5) for t in ("camera/color/image_raw", "camera/depth/image_raw")]
    from sensor_msgs.msg import CameraInfo

    info_pub = fake.create_publisher(CameraInfo, "camera/color/camera_info", 5)
    intr = CameraIntrinsics.from_fov(32, 24, 60)

    def publish():
        stamp = fake.get_clock().now().to_msg()
        pubs[0].publish(numpy_to_image(np.zeros((24, 32, 3), np.uint8), "rgb8", "cam", stamp))
        pubs[1].publish(numpy_to_image(np.full((24, 32), np.nan, np.float32), "32FC1", "cam", stamp))
        info_pub.publish(camera_info_from_intrinsics(intr, "cam", stamp))

    fake.create_timer(0.05, publish)
    resp = _call(graph, fake.create_client(CaptureRgbd, "capture_rgbd"), CaptureRgbd.Request(timeout_s=3.0))
    assert not resp.success and "NaN" in resp.message
