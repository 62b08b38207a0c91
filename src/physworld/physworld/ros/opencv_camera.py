"""camera_capture's 'opencv' backend: the node reads ``physworld.capture.OpenCvRgbdSource`` on a
timer and publishes what a camera driver would, so the rest of camera_capture (pairing, validation,
``capture_rgbd``) runs on it unchanged:

- ``camera/color/image_raw`` (rgb8) and ``camera/color/camera_info`` (from the calibration file);
- when the source gives depth: ``camera/depth/image_raw`` (16UC1 millimetres, registered to colour,
  stamped like its colour frame) and ``camera/depth/camera_info`` (the colour calibration).

Glue only: opening, reading, conversion and validation live in ``physworld.capture``.
"""

from __future__ import annotations

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from sensor_msgs.msg import CameraInfo, Image

from ..capture.opencv_source import open_opencv_source
from ..configs import CameraCaptureConfig
from ..errors import PhysWorldError
from .conversions import camera_info_from_calibration, numpy_to_image


class OpenCvCameraPublisher:
    """``open()`` the device and its calibration, ``start()``/``stop()`` publishing, ``close()``."""

    def __init__(self, node, cfg: CameraCaptureConfig, create_publisher=None):
        self.node, self.cfg = node, cfg
        make = create_publisher or node.create_publisher
        self.pub_color = make(Image, "camera/color/image_raw", 5)
        self.pub_depth = make(Image, "camera/depth/image_raw", 5)
        self.pub_info = make(CameraInfo, "camera/color/camera_info", 5)
        self.pub_depth_info = make(CameraInfo, "camera/depth/camera_info", 5)
        self.source = self.calib = self._timer = None
        self.published = 0

    def open(self) -> None:
        """Open the source and load the calibration; raises an error naming what is wrong."""
        self.source, self.calib = open_opencv_source(self.cfg)
        log = self.node.get_logger()
        w, h = self.source.frame_size
        depth = "with depth (16UC1 mm)" if self.source.openni or self.source.depth else "colour only (no depth)"
        log.info(f"opencv: {self.source.describe()}: {w}x{h} {depth}, calibration {self.calib.source}")
        if self.calib.has_distortion:
            log.warning(
                f"opencv: {self.calib.source} has {self.calib.distortion_model} distortion: image_raw is published "
                "as captured (unrectified) with these coefficients in camera_info, but capture_rgbd and the "
                "reconstruction use K only (a pinhole); rectify upstream or calibrate at zero distortion"
            )

    def start(self) -> None:
        if self._timer is None:
            self._timer = self.node.create_timer(1.0 / self.cfg.opencv_rate_hz, self._tick,
                                                 MutuallyExclusiveCallbackGroup())  # fmt: skip

    def stop(self) -> None:
        if self._timer is not None:
            self.node.destroy_timer(self._timer)
            self._timer = None

    def close(self) -> None:
        self.stop()
        if self.source is not None:
            self.source.close()
        self.source = self.calib = None

    def _tick(self) -> None:
        source, log = self.source, self.node.get_logger()
        if source is None or source.ended:
            return
        try:
            frame = source.read()
        except PhysWorldError as exc:  # a device that went away, a bad frame: say so, keep trying
            log.warning(f"opencv: {exc}", throttle_duration_sec=2.0)
            return
        if frame is None:
            log.info(f"opencv: end of {source.describe()} after {self.published} frames (opencv_loop is false)")
            return
        stamp, frame_id = self.node.get_clock().now().to_msg(), self.cfg.frame_id
        info = camera_info_from_calibration(self.calib, frame_id, stamp)
        if frame.depth_mm is not None:
            self.pub_depth.publish(numpy_to_image(frame.depth_mm, "16UC1", frame_id, stamp))
            self.pub_depth_info.publish(info)
        self.pub_info.publish(info)
        self.pub_color.publish(numpy_to_image(frame.rgb, "rgb8", frame_id, stamp))
        self.published += 1
