"""Graph test (real DDS): sim_world publishes the camera and joint_states, camera_capture serves
a synchronised RGB-D snapshot, and bad input is answered with a clear message."""

import time

import numpy as np
import pytest
from rclpy.node import Node
from ros_graph_utils import call
from sensor_msgs.msg import Image, JointState

from physworld.ros.camera_capture import CameraCaptureNode
from physworld.ros.conversions import image_to_numpy
from physworld.ros.sim_world import SimWorldNode
from physworld_interfaces.srv import CaptureRgbd

pytestmark = pytest.mark.ros


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
    resp = call(client, CaptureRgbd.Request(timeout_s=5.0))
    assert resp.success, resp.message
    assert resp.depth.encoding == "32FC1" and resp.color.header.stamp == resp.depth.header.stamp
    depth = image_to_numpy(resp.depth)
    rgb = image_to_numpy(resp.color)
    assert depth.shape == rgb.shape[:2] == (240, 320)
    table = np.nanmedian(depth)
    assert 0.3 < table < 2.0, f"table depth {table} m is implausible for the sim camera"
    assert resp.camera_info.k[0] > 0 and resp.camera_info.width == 320


def test_sim_world_publishes_16uc1_depth_and_the_snapshot_is_metres(graph):
    """depth_encoding 16UC1: millimetres on camera/depth/image_raw; camera_capture still answers
    with 32FC1 metres that agree with the published millimetres."""
    from rclpy.parameter import Parameter

    ctx = graph.context
    graph.add(SimWorldNode(context=ctx, parameter_overrides=[Parameter("depth_encoding", value="16UC1")]))
    graph.add(CameraCaptureNode(context=ctx))
    probe = graph.add(Node("probe16", context=ctx))
    depths = []
    probe.create_subscription(Image, "camera/depth/image_raw", depths.append, 5)
    graph.wait_for(lambda: len(depths) >= 1, 20.0, "a depth image")
    assert depths[0].encoding == "16UC1" and depths[0].step == 2 * depths[0].width
    mm = image_to_numpy(depths[0])
    assert mm.dtype == np.uint16 and 300 < np.median(mm[mm > 0]) < 2000
    resp = call(probe.create_client(CaptureRgbd, "capture_rgbd"), CaptureRgbd.Request(timeout_s=5.0))
    assert resp.success and resp.depth.encoding == "32FC1", resp.message
    metres = image_to_numpy(resp.depth)
    assert abs(np.nanmedian(metres) * 1000.0 - np.median(mm[mm > 0])) < 20.0  # same scene, mm vs m


def test_snapshot_without_camera_names_the_topics(graph):
    graph.add(CameraCaptureNode(context=graph.context))
    probe = graph.add(Node("probe2", context=graph.context))
    resp = call(probe.create_client(CaptureRgbd, "capture_rgbd"), CaptureRgbd.Request(timeout_s=0.2))
    assert not resp.success and "camera/color/image_raw" in resp.message


class FakeCamera:
    """Publishes one colour / depth / camera_info triple every 50 ms; what it sends can be changed."""

    def __init__(self, graph):
        from sensor_msgs.msg import CameraInfo

        from physworld.sim.camera import CameraIntrinsics

        self.node = graph.add(Node("fake_camera", context=graph.context))
        topics = ("camera/color/image_raw", "camera/depth/image_raw")
        self.pubs = [self.node.create_publisher(Image, t, 5) for t in topics]
        self.info_pub = self.node.create_publisher(CameraInfo, "camera/color/camera_info", 5)
        self.color = (np.zeros((24, 32, 3), np.uint8), "rgb8")
        self.depth = (np.full((24, 32), 0.8, np.float32), "32FC1")
        self.intr = CameraIntrinsics.from_fov(32, 24, 60)
        self.node.create_timer(0.05, self.publish)

    def publish(self):
        from physworld.ros.conversions import camera_info_from_intrinsics, numpy_to_image

        stamp = self.node.get_clock().now().to_msg()
        self.pubs[0].publish(numpy_to_image(*self.color, "cam", stamp))
        self.pubs[1].publish(numpy_to_image(*self.depth, "cam", stamp))
        self.info_pub.publish(camera_info_from_intrinsics(self.intr, "cam", stamp))

    def capture(self, graph):
        time.sleep(0.2)  # the newest pair is one sent after the last change
        client = self.node.create_client(CaptureRgbd, "capture_rgbd")
        return call(client, CaptureRgbd.Request(timeout_s=3.0))


def test_nan_depth_is_rejected_with_a_reason(graph):
    graph.add(CameraCaptureNode(context=graph.context))
    cam = FakeCamera(graph)
    cam.depth = (np.full((24, 32), np.nan, np.float32), "32FC1")
    resp = cam.capture(graph)
    assert not resp.success and "NaN" in resp.message


def test_wrong_encodings_and_a_camera_info_of_another_size_are_rejected_and_the_node_keeps_serving(graph):
    from physworld.sim.camera import CameraIntrinsics

    graph.add(CameraCaptureNode(context=graph.context))
    cam = FakeCamera(graph)
    assert cam.capture(graph).success  # the fake camera is fine as it is
    cam.depth = (np.zeros((24, 32, 3), np.uint8), "rgb8")  # colour sent on the depth topic
    resp = cam.capture(graph)
    assert not resp.success and "depth encoding 'rgb8' is not a depth format" in resp.message, resp.message
    cam.depth = (np.full((24, 32), 0.8, np.float32), "32FC1")
    cam.color = (np.zeros((24, 32), np.float32), "32FC1")  # depth sent on the colour topic
    resp = cam.capture(graph)
    assert not resp.success and "32FC1" in resp.message and "rgb8" in resp.message, resp.message
    cam.color = (np.zeros((24, 32, 3), np.uint8), "rgb8")
    cam.intr = CameraIntrinsics.from_fov(64, 48, 60)  # camera_info of a stream at another resolution
    resp = cam.capture(graph)
    assert not resp.success and "camera_info is 64x48 but the images are 32x24" in resp.message, resp.message
    cam.intr = CameraIntrinsics.from_fov(32, 24, 60)
    assert cam.capture(graph).success  # still serving
