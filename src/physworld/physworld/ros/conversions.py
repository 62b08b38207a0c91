"""numpy <-> sensor_msgs/Image and CameraInfo <-> CameraIntrinsics, with cv_bridge's semantics.

The encoding logic is ROS-free (``physworld.image_encoding``); this module only moves fields in and
out of the ROS messages. ``Image.data`` is filled from ``ndarray.tobytes()`` (assigning an ndarray
element-wise is about 1000x slower). Every problem raises ``InputError`` naming it.
"""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time as TimeMsg
from geometry_msgs.msg import Point, Pose, Quaternion
from sensor_msgs.msg import CameraInfo, Image

from .. import image_encoding as enc
from ..errors import InputError
from ..sim.camera import CameraIntrinsics

# Re-exported: callers of the ROS layer need only this module.
depth_to_metres = enc.depth_to_metres
metres_to_millimetres = enc.metres_to_millimetres
known_encodings = enc.known_encodings


def _stamp(stamp) -> TimeMsg:
    if stamp is None:
        return TimeMsg()
    if isinstance(stamp, int):  # nanoseconds
        return TimeMsg(sec=stamp // 1_000_000_000, nanosec=stamp % 1_000_000_000)
    if hasattr(stamp, "to_msg"):  # rclpy.time.Time
        return stamp.to_msg()
    return stamp


def image_to_numpy(msg: Image, desired_encoding: str = "passthrough") -> np.ndarray:
    """Pixels of ``msg`` (HxW or HxWxC), converted to ``desired_encoding`` like cv_bridge's
    ``imgmsg_to_cv2``. The array owns its memory (safe to keep after the message is gone)."""
    arr = enc.decode(msg.height, msg.width, msg.encoding, msg.is_bigendian, msg.step, msg.data)
    return enc.convert(arr, msg.encoding, desired_encoding)


def numpy_to_image(array: np.ndarray, encoding: str = "passthrough", frame_id: str = "", stamp=None) -> Image:
    """An Image of ``array`` like cv_bridge's ``cv2_to_imgmsg``; ``stamp``: Time msg, rclpy Time or ns."""
    height, width, encoding, bigendian, step, data = enc.encode(array, encoding)
    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=bigendian, step=step)
    msg.data = data
    msg.header.frame_id = frame_id
    msg.header.stamp = _stamp(stamp)
    return msg


def camera_info_from_intrinsics(intr: CameraIntrinsics, frame_id: str = "", stamp=None) -> CameraInfo:
    """A rectified pinhole CameraInfo (plumb_bob, zero distortion, R = I, P = [K | 0])."""
    info = CameraInfo(width=int(intr.width), height=int(intr.height), distortion_model="plumb_bob")
    info.d = [0.0] * 5
    info.k = [float(v) for v in intr.K.reshape(-1)]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [intr.fx, 0.0, intr.cx, 0.0, 0.0, intr.fy, intr.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    info.header.frame_id = frame_id
    info.header.stamp = _stamp(stamp)
    return info


def camera_info_from_calibration(calib, frame_id: str = "", stamp=None) -> CameraInfo:
    """The CameraInfo of a ``physworld.capture.CameraCalibration`` (a camera_info YAML file)."""
    info = CameraInfo(width=int(calib.width), height=int(calib.height), distortion_model=calib.distortion_model)
    info.d = [float(v) for v in np.asarray(calib.D).reshape(-1)]
    info.k = [float(v) for v in np.asarray(calib.K).reshape(-1)]
    info.r = [float(v) for v in np.asarray(calib.R).reshape(-1)]
    info.p = [float(v) for v in np.asarray(calib.P).reshape(-1)]
    info.header.frame_id = frame_id
    info.header.stamp = _stamp(stamp)
    return info


def intrinsics_from_camera_info(info: CameraInfo, near: float = 0.05, far: float = 5.0) -> CameraIntrinsics:
    """Pinhole intrinsics from a CameraInfo's K. Distortion is ignored: use rectified images.

    Raises InputError for an uncalibrated (all-zero K) or malformed camera_info.
    """
    if info.width <= 0 or info.height <= 0:
        raise InputError(f"camera_info has no image size ({info.width}x{info.height}): is the camera calibrated?")
    k = np.asarray(info.k, dtype=float)
    if k.shape != (9,):
        raise InputError(f"camera_info K must have 9 entries, got {k.size}")
    fx, cx, fy, cy = k[0], k[2], k[4], k[5]
    if not (np.isfinite(k).all() and fx > 0 and fy > 0):
        raise InputError(
            f"camera_info K has no valid focal length (fx={fx}, fy={fy}): the camera is uncalibrated "
            "(K is all zeros) or K is corrupt"
        )
    return CameraIntrinsics(int(info.width), int(info.height), float(fx), float(fy), float(cx), float(cy), near, far)


def check_image_matches_camera_info(image: Image, info: CameraInfo) -> None:
    """InputError if an image and its camera_info disagree on the size (e.g. a resized stream)."""
    if (image.width, image.height) != (info.width, info.height):
        raise InputError(
            f"image is {image.width}x{image.height} but its camera_info is {info.width}x{info.height}: "
            "subscribe to the camera_info of the same stream (or rescale K with the image)"
        )


def depth_image_to_metres(msg: Image, max_depth_m: float | None = None) -> np.ndarray:
    """A depth Image (32FC1 metres or 16UC1 millimetres) as float32 metres, NaN = no reading."""
    return depth_to_metres(image_to_numpy(msg), msg.encoding, max_depth_m=max_depth_m)


def metres_to_depth_image(depth_m: np.ndarray, encoding: str = "32FC1", frame_id: str = "", stamp=None) -> Image:
    """float metres -> a depth Image: ``32FC1`` metres (NaN kept) or ``16UC1`` millimetres (0 = none)."""
    if encoding == "32FC1":
        return numpy_to_image(np.asarray(depth_m, dtype=np.float32), "32FC1", frame_id, stamp)
    if encoding == "16UC1":
        return numpy_to_image(metres_to_millimetres(depth_m), "16UC1", frame_id, stamp)
    raise InputError(f"depth images are published as 32FC1 or 16UC1, not {encoding!r}")


def pose_from_matrix(T: np.ndarray) -> Pose:
    """4x4 homogeneous transform -> geometry_msgs/Pose (quaternion x, y, z, w)."""
    from scipy.spatial.transform import Rotation

    T = np.asarray(T, dtype=float)
    if T.shape != (4, 4) or not np.isfinite(T).all():
        raise InputError(f"pose must be a finite 4x4 transform, got shape {T.shape}")
    q = Rotation.from_matrix(T[:3, :3]).as_quat()
    return Pose(position=Point(x=T[0, 3], y=T[1, 3], z=T[2, 3]), orientation=Quaternion(x=q[0], y=q[1], z=q[2], w=q[3]))


def matrix_from_pose(pose: Pose) -> np.ndarray:
    """geometry_msgs/Pose -> 4x4 transform; a non-unit quaternion is an InputError."""
    from scipy.spatial.transform import Rotation

    p, o = pose.position, pose.orientation
    q = np.array([o.x, o.y, o.z, o.w], dtype=float)
    norm = np.linalg.norm(q)
    if not np.isfinite(q).all() or abs(norm - 1.0) > 1e-3:
        raise InputError(f"pose orientation is not a unit quaternion (norm {norm:.4f})")
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(q / norm).as_matrix()
    T[:3, 3] = [p.x, p.y, p.z]
    return T
