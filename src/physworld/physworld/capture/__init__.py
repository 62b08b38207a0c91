"""Camera capture without ROS: OpenCV devices, files and image sequences (``opencv_source``) and
camera calibration files in the ROS camera_info YAML format (``calibration``)."""

from .calibration import CameraCalibration, load_calibration, save_calibration
from .opencv_source import OpenCvRgbdSource, RgbdFrame, open_opencv_source

__all__ = [
    "CameraCalibration",
    "OpenCvRgbdSource",
    "RgbdFrame",
    "load_calibration",
    "open_opencv_source",
    "save_calibration",
]
