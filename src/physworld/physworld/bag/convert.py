"""rosbags message objects <-> numpy for Image, CameraInfo and JointState (Kilted typestore).

Image encodings follow cv_bridge semantics through ``physworld.image_encoding``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from .. import image_encoding as enc
from ..errors import InputError
from ..sim.camera import CameraIntrinsics

ROS_DISTRO = "kilted"


@lru_cache(maxsize=1)
def typestore():
    """The rosbags typestore of ROS 2 Kilted (message definitions and CDR (de)serialisation)."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


def _t(name: str):
    return typestore().types[name]


def header(stamp_ns: int, frame_id: str = ""):
    Time, Header = _t("builtin_interfaces/msg/Time"), _t("std_msgs/msg/Header")
    return Header(
        stamp=Time(sec=int(stamp_ns // 1_000_000_000), nanosec=int(stamp_ns % 1_000_000_000)), frame_id=frame_id
    )


def stamp_ns(msg) -> int:
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


def numpy_to_image(array: np.ndarray, encoding: str = "passthrough", stamp: int = 0, frame_id: str = ""):
    height, width, encoding, bigendian, step, data = enc.encode(array, encoding)
    Image = _t("sensor_msgs/msg/Image")
    return Image(
        header=header(stamp, frame_id),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=bigendian,
        step=step,
        data=np.frombuffer(data, dtype=np.uint8),
    )


def image_to_numpy(msg, desired_encoding: str = "passthrough") -> np.ndarray:
    arr = enc.decode(msg.height, msg.width, msg.encoding, msg.is_bigendian, msg.step, msg.data)
    return enc.convert(arr, msg.encoding, desired_encoding)


def camera_info_from_intrinsics(intr: CameraIntrinsics, stamp: int = 0, frame_id: str = ""):
    CameraInfo, Roi = _t("sensor_msgs/msg/CameraInfo"), _t("sensor_msgs/msg/RegionOfInterest")
    return CameraInfo(
        header=header(stamp, frame_id),
        height=int(intr.height),
        width=int(intr.width),
        distortion_model="plumb_bob",
        d=np.zeros(5),
        k=intr.K.reshape(-1).astype(float),
        r=np.eye(3).reshape(-1),
        p=np.array([intr.fx, 0.0, intr.cx, 0.0, 0.0, intr.fy, intr.cy, 0.0, 0.0, 0.0, 1.0, 0.0]),
        binning_x=0,
        binning_y=0,
        roi=Roi(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
    )


def intrinsics_from_camera_info(info) -> CameraIntrinsics:
    k = np.asarray(info.k, dtype=float)
    if info.width <= 0 or info.height <= 0 or k.shape != (9,) or not (k[0] > 0 and k[4] > 0):
        raise InputError(f"camera_info {info.width}x{info.height} with K={k.tolist()} is not a calibrated camera")
    return CameraIntrinsics(int(info.width), int(info.height), k[0], k[4], k[2], k[5])


def joint_state(names: Sequence[str], position, velocity=(), effort=(), stamp: int = 0, frame_id: str = ""):
    n = len(names)
    arrays = [np.asarray(v, dtype=float).reshape(-1) for v in (position, velocity, effort)]
    for label, arr in zip(("position", "velocity", "effort"), arrays, strict=True):
        if arr.size not in (0, n):
            raise InputError(f"JointState {label} has {arr.size} values for {n} joints")
    JointState = _t("sensor_msgs/msg/JointState")
    return JointState(
        header=header(stamp, frame_id), name=list(names), position=arrays[0], velocity=arrays[1], effort=arrays[2]
    )


def joint_state_to_arrays(msg) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    return (
        list(msg.name),
        np.asarray(msg.position, float),
        np.asarray(msg.velocity, float),
        np.asarray(msg.effort, float),
    )


def joint_trajectory(names: Sequence[str], points: Sequence[tuple[float, Sequence[float]]], stamp: int = 0):
    """A JointTrajectory of ``(time_from_start_s, positions)`` points."""
    Traj, Point, Duration = (
        _t("trajectory_msgs/msg/JointTrajectory"),
        _t("trajectory_msgs/msg/JointTrajectoryPoint"),
        _t("builtin_interfaces/msg/Duration"),
    )
    empty = np.zeros(0)
    pts = [
        Point(
            positions=np.asarray(q, dtype=float),
            velocities=empty,
            accelerations=empty,
            effort=empty,
            time_from_start=Duration(sec=int(t), nanosec=int(round((t - int(t)) * 1e9))),
        )
        for t, q in points
    ]
    return Traj(header=header(stamp), joint_names=list(names), points=pts)
