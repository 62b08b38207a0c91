"""camera_capture: the RGB-D front end of the stack.

Subscribes to a camera driver's topics (``camera/color/image_raw`` rgb8/bgr8,
``camera/depth/image_raw`` 32FC1 metres or 16UC1 millimetres, ``camera/color/camera_info``),
and serves ``capture_rgbd`` (physworld_interfaces/srv/CaptureRgbd): one synchronised, validated
RGB-D snapshot with depth as 32FC1 metres. Bad frames are answered with a message naming the problem.

Backends: ``topics``: sim_world, bag_player or a real driver publishes those topics;
``opencv``: this node opens the device / file itself (``physworld.ros.opencv_camera``) and
publishes them, and the snapshot path above runs on its own topics unchanged.

A managed node (``physworld.ros.lifecycle``): the opencv device is opened in configure and released
in cleanup, frames are read, published and paired only while active, and ``capture_rgbd`` answers
with the node's state while it is not.
"""

from __future__ import annotations

import threading

from geometry_msgs.msg import PoseStamped
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.qos import DurabilityPolicy, QoSProfile
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image

from physworld_interfaces.srv import CaptureRgbd

from ..configs import CameraCaptureConfig
from ..errors import InputError
from ..rgbd import RgbdPairer, validate_rgbd
from .conversions import (
    depth_image_to_metres,
    image_to_numpy,
    intrinsics_from_camera_info,
    matrix_from_pose,
    numpy_to_image,
)
from .lifecycle import ManagedNode
from .opencv_camera import OpenCvCameraPublisher
from .params import declare_config
from .runner import spin_node


class CameraCaptureNode(ManagedNode):
    def __init__(self, **kwargs):
        super().__init__("camera_capture", **kwargs)
        self.cfg = declare_config(self, CameraCaptureConfig)
        self.pairer = RgbdPairer(self.cfg.sync_tolerance_s)
        self.camera_info: CameraInfo | None = None
        self._info_event = threading.Event()
        group = ReentrantCallbackGroup()
        self.create_subscription(Image, "camera/color/image_raw", self._on_color, 5, callback_group=group)
        self.create_subscription(Image, "camera/depth/image_raw", self._on_depth, 5, callback_group=group)
        self.create_subscription(CameraInfo, "camera/color/camera_info", self._on_info, 5, callback_group=group)
        self.camera_pose = self._configured_pose()
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.create_subscription(PoseStamped, "camera/pose", self._on_pose, latched, callback_group=group)
        self.create_service(CaptureRgbd, "capture_rgbd", self._on_capture, callback_group=group)
        self.device: OpenCvCameraPublisher | None = None
        if self.cfg.backend == "opencv":
            self.device = OpenCvCameraPublisher(self, self.cfg, self.create_lifecycle_publisher)
        self.autostart()

    # --- lifecycle: the opencv device is the resource ---------------------------------------------
    def configure_resources(self) -> None:
        if self.device is not None:
            self.device.open()  # raises, naming the device / file / calibration problem

    def release_resources(self) -> None:
        if self.device is not None:
            self.device.close()

    def activate_work(self) -> None:
        self.pairer = RgbdPairer(self.cfg.sync_tolerance_s)  # no frame from before is served
        if self.device is not None:
            self.device.start()

    def deactivate_work(self) -> None:
        if self.device is not None:
            self.device.stop()

    def _configured_pose(self) -> PoseStamped | None:
        values = self.cfg.camera_pose
        if not values:
            return None
        if len(values) != 7:
            raise ValueError(f"camera_pose needs 7 numbers (x y z qx qy qz qw), got {len(values)}")
        msg = PoseStamped()
        msg.header.frame_id = self.cfg.world_frame
        p, o = msg.pose.position, msg.pose.orientation
        p.x, p.y, p.z, o.x, o.y, o.z, o.w = (float(v) for v in values)
        matrix_from_pose(msg.pose)  # validates the quaternion
        return msg

    def _on_pose(self, msg: PoseStamped) -> None:
        if not self.cfg.camera_pose:  # a configured calibration wins over the topic
            self.camera_pose = msg

    @staticmethod
    def _stamp_ns(msg) -> int:
        return Time.from_msg(msg.header.stamp).nanoseconds

    def _on_color(self, msg: Image) -> None:
        if self.active:
            self.pairer.add_color(self._stamp_ns(msg), msg)

    def _on_depth(self, msg: Image) -> None:
        if self.active:
            self.pairer.add_depth(self._stamp_ns(msg), msg)

    def _on_info(self, msg: CameraInfo) -> None:
        self.camera_info = msg
        self._info_event.set()

    def _on_capture(self, request: CaptureRgbd.Request, response: CaptureRgbd.Response):
        why = self.inactive_reason()
        if why:
            response.success, response.message = False, why
            return response
        timeout = request.timeout_s if request.timeout_s > 0 else self.cfg.default_timeout_s
        pair = self.pairer.wait_pair(timeout)
        if pair is None:
            response.success = False
            response.message = (
                f"no synchronised colour/depth pair within {timeout:.2f} s "
                f"(tolerance {self.cfg.sync_tolerance_s * 1e3:.0f} ms): is the camera publishing "
                "camera/color/image_raw and camera/depth/image_raw?"
            )
            return response
        if not self._info_event.wait(timeout):
            response.success = False
            response.message = f"no camera/color/camera_info within {timeout:.2f} s"
            return response
        color_msg, depth_msg = pair[0].data, pair[1].data
        try:
            rgb = image_to_numpy(color_msg, desired_encoding="rgb8")
            depth = depth_image_to_metres(depth_msg, max_depth_m=self.cfg.max_depth_m)
            intr = intrinsics_from_camera_info(self.camera_info)
            validate_rgbd(rgb, depth, intr)
        except InputError as exc:
            response.success, response.message = False, str(exc)
            self.get_logger().warning(f"capture_rgbd: {exc}")
            return response
        response.success = True
        response.message = f"{rgb.shape[1]}x{rgb.shape[0]} RGB-D snapshot"
        response.color = numpy_to_image(rgb, "rgb8", frame_id=color_msg.header.frame_id, stamp=color_msg.header.stamp)
        response.depth = numpy_to_image(
            depth, "32FC1", frame_id=depth_msg.header.frame_id, stamp=depth_msg.header.stamp
        )
        response.camera_info = self.camera_info
        if self.camera_pose is not None:
            response.camera_pose = self.camera_pose
        return response


def main(args=None) -> None:
    spin_node(CameraCaptureNode, args)
