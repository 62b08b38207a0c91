"""Image/CameraInfo conversions with cv_bridge semantics (message classes only, no rclpy.init)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from physworld.errors import InputError
from physworld.image_encoding import decode, encode, encoding_info, known_encodings

pytest.importorskip("sensor_msgs.msg", reason="ROS message packages are not installed")
from sensor_msgs.msg import CameraInfo, Image

from physworld.ros.conversions import (
    camera_info_from_intrinsics,
    check_image_matches_camera_info,
    depth_image_to_metres,
    depth_to_metres,
    image_to_numpy,
    intrinsics_from_camera_info,
    metres_to_depth_image,
    metres_to_millimetres,
    numpy_to_image,
)
from physworld.sim.camera import CameraIntrinsics

RNG = np.random.default_rng(0)


def _random(shape, dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return RNG.normal(size=shape).astype(dtype)
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


@pytest.mark.parametrize(
    ("encoding", "shape", "dtype"),
    [
        ("rgb8", (5, 7, 3), np.uint8),
        ("bgr8", (5, 7, 3), np.uint8),
        ("rgba8", (5, 7, 4), np.uint8),
        ("bgra8", (5, 7, 4), np.uint8),
        ("mono8", (5, 7), np.uint8),
        ("mono16", (5, 7), np.uint16),
        ("rgb16", (3, 4, 3), np.uint16),
        ("16UC1", (5, 7), np.uint16),
        ("32FC1", (5, 7), np.float32),
        ("64FC1", (2, 3), np.float64),
        ("8UC1", (5, 7), np.uint8),
        ("8UC3", (5, 7, 3), np.uint8),
        ("8SC2", (5, 7, 2), np.int8),
        ("16SC3", (4, 4, 3), np.int16),
        ("32SC4", (2, 2, 4), np.int32),
        ("bayer_rggb8", (4, 6), np.uint8),
        ("yuv422", (2, 4, 2), np.uint8),
    ],
)
def test_round_trip_keeps_pixels_and_fields(encoding, shape, dtype):
    arr = _random(shape, dtype)
    msg = numpy_to_image(arr, encoding, frame_id="cam", stamp=1_500_000_000)
    assert isinstance(msg, Image)
    assert (msg.height, msg.width, msg.encoding) == (shape[0], shape[1], encoding)
    assert msg.step == shape[1] * (shape[2] if len(shape) == 3 else 1) * np.dtype(dtype).itemsize
    assert msg.is_bigendian == (sys.byteorder == "big")
    assert bytes(msg.data) == arr.tobytes()
    assert (msg.header.frame_id, msg.header.stamp.sec, msg.header.stamp.nanosec) == ("cam", 1, 500_000_000)
    back = image_to_numpy(msg)
    assert back.dtype == np.dtype(dtype) and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)
    back[...] = 0  # the returned array owns writable memory
    assert bytes(msg.data) == arr.tobytes()


def test_passthrough_names_the_array_type_and_accepts_non_contiguous_input():
    arr = _random((6, 8, 3), np.uint8)
    assert numpy_to_image(arr).encoding == "8UC3"
    assert numpy_to_image(_random((4, 4), np.float32)).encoding == "32FC1"
    view = arr[:, ::2]  # non-contiguous
    np.testing.assert_array_equal(image_to_numpy(numpy_to_image(view, "rgb8")), view)


@pytest.mark.parametrize(
    ("array", "encoding", "match"),
    [
        (np.zeros((4, 4), np.float32), "rgb8", "incompatible type 32FC1"),
        (np.zeros((4, 4, 3), np.uint8), "mono8", "incompatible type 8UC3"),
        (np.zeros((4, 4, 3), np.uint8), "rgb9", "unknown image encoding 'rgb9'"),
        (np.zeros((4,), np.uint8), "mono8", r"HxW or HxWxC"),
        (np.zeros((4, 4), bool), "passthrough", "dtype bool"),
        (np.zeros((4, 4, 5), np.uint8), "passthrough", "5 channel"),
    ],
)
def test_encode_rejects_wrong_types(array, encoding, match):
    with pytest.raises(InputError, match=match):
        numpy_to_image(array, encoding)


def test_desired_encoding_colour_orders():
    rgb = _random((4, 5, 3), np.uint8)
    msg = numpy_to_image(rgb, "rgb8")
    np.testing.assert_array_equal(image_to_numpy(msg, "bgr8"), rgb[:, :, ::-1])
    rgba = image_to_numpy(msg, "rgba8")
    np.testing.assert_array_equal(rgba[:, :, :3], rgb)
    assert (rgba[:, :, 3] == 255).all()
    bgra = _random((4, 5, 4), np.uint8)
    np.testing.assert_array_equal(image_to_numpy(numpy_to_image(bgra, "bgra8"), "rgb8"), bgra[:, :, 2::-1])
    grey = image_to_numpy(msg, "mono8")
    expected = np.rint(rgb.astype(float) @ [0.299, 0.587, 0.114])
    assert grey.shape == (4, 5) and np.abs(grey - expected).max() <= 1
    mono = _random((3, 3), np.uint8)
    np.testing.assert_array_equal(image_to_numpy(numpy_to_image(mono, "mono8"), "rgb8"), np.stack([mono] * 3, -1))


def test_desired_encoding_bit_depth_scaling_like_cv_bridge():
    m16 = np.array([[0, 257, 65535]], np.uint16)
    np.testing.assert_array_equal(image_to_numpy(numpy_to_image(m16, "mono16"), "mono8"), [[0, 1, 255]])
    m8 = np.array([[0, 1, 255]], np.uint8)
    np.testing.assert_array_equal(image_to_numpy(numpy_to_image(m8, "mono8"), "mono16"), [[0, 257, 65535]])
    # generic encodings are cast without scaling (16UC1 millimetres -> 32FC1 keeps the numbers)
    depth = np.array([[0, 1234]], np.uint16)
    out = image_to_numpy(numpy_to_image(depth, "16UC1"), "32FC1")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0.0, 1234.0]])
    # colour format -> generic type with the same channels keeps the pixels
    rgb = _random((2, 2, 3), np.uint8)
    np.testing.assert_array_equal(image_to_numpy(numpy_to_image(rgb, "rgb8"), "8UC3"), rgb)


@pytest.mark.parametrize(
    ("src", "array", "dst", "match"),
    [
        ("32FC1", np.zeros((2, 2), np.float32), "rgb8", "not a colour format"),
        ("8UC3", np.zeros((2, 2, 3), np.uint8), "bgr8", "not a colour format"),
        ("16UC1", np.zeros((2, 2), np.uint16), "16UC3", "same number of channels"),
        ("rgb8", np.zeros((2, 2, 3), np.uint8), "32FC1", "same number of channels"),
        ("rgb8", np.zeros((2, 2, 3), np.uint8), "bayer_rggb8", "source formats only"),
        ("rgb8", np.zeros((2, 2, 3), np.uint8), "xyz", "unknown image encoding"),
    ],
)
def test_impossible_conversions_are_errors(src, array, dst, match):
    with pytest.raises(InputError, match=match):
        image_to_numpy(numpy_to_image(array, src), dst)


def test_bayer_and_yuv_sources_convert_to_colour():
    r, g, b = 200, 100, 50
    mosaic = np.zeros((8, 8), np.uint8)
    mosaic[0::2, 0::2], mosaic[0::2, 1::2], mosaic[1::2, 0::2], mosaic[1::2, 1::2] = r, g, g, b
    rgb = image_to_numpy(numpy_to_image(mosaic, "bayer_rggb8"), "rgb8")
    np.testing.assert_array_equal(rgb[3, 3], [r, g, b])
    bgr = image_to_numpy(numpy_to_image(mosaic, "bayer_rggb8"), "bgr8")
    np.testing.assert_array_equal(bgr[4, 4], [b, g, r])
    # BT.601 video range: Y=235 with neutral chroma (U=V=128) is white; the byte order matters
    uyvy = np.full((2, 4, 2), 128, np.uint8)
    uyvy[:, :, 1] = 235  # UYVY: (U, Y), (V, Y), ...
    out = image_to_numpy(numpy_to_image(uyvy, "yuv422"), "rgb8")
    assert out.shape == (2, 4, 3) and (out == 255).all()
    yuy2 = uyvy[:, :, ::-1].copy()  # YUY2: (Y, U), (Y, V), ...
    np.testing.assert_array_equal(image_to_numpy(numpy_to_image(yuy2, "yuv422_yuy2"), "rgb8"), out)
    assert not (image_to_numpy(numpy_to_image(yuy2, "yuv422"), "rgb8") == 255).all()


def test_padded_rows_and_big_endian_data_decode():
    arr = _random((3, 4, 3), np.uint8)
    step = 4 * 3 + 5
    padded = np.full((3, step), 0xAB, np.uint8)
    padded[:, :12] = arr.reshape(3, 12)
    msg = Image(height=3, width=4, encoding="rgb8", step=step)
    msg.data = padded.tobytes()
    np.testing.assert_array_equal(image_to_numpy(msg), arr)

    depth = np.array([[1, 1000], [65535, 258]], np.uint16)
    msg = Image(height=2, width=2, encoding="16UC1", is_bigendian=1, step=4)
    msg.data = depth.astype(">u2").tobytes()
    out = image_to_numpy(msg)
    assert out.dtype == np.uint16 and out.dtype.isnative
    np.testing.assert_array_equal(out, depth)
    f = np.array([[1.5, -2.25]], np.float32)
    msg = Image(height=1, width=2, encoding="32FC1", is_bigendian=1, step=8)
    msg.data = f.astype(">f4").tobytes()
    np.testing.assert_array_equal(image_to_numpy(msg), f)


def test_malformed_messages_raise_input_error_naming_the_problem():
    msg = numpy_to_image(np.zeros((4, 4, 3), np.uint8), "rgb8")
    msg.data = bytes(msg.data)[:-3]
    with pytest.raises(InputError, match=r"45 bytes but step \* height = 12 \* 4 = 48"):
        image_to_numpy(msg)
    msg = numpy_to_image(np.zeros((4, 4, 3), np.uint8), "rgb8")
    msg.step = 10
    with pytest.raises(InputError, match="step 10 is smaller than width"):
        image_to_numpy(msg)
    msg = numpy_to_image(np.zeros((4, 4, 3), np.uint8), "rgb8")
    msg.encoding = "RGB8"
    with pytest.raises(InputError, match="unknown image encoding 'RGB8'"):
        image_to_numpy(msg)


def test_encoding_table_is_consistent():
    for name in known_encodings():
        info = encoding_info(name)
        arr = np.zeros((2, 2, info.channels) if info.channels > 1 else (2, 2), info.dtype)
        h, w, e, _, step, data = encode(arr, name)
        np.testing.assert_array_equal(decode(h, w, e, 0, step, data), arr)


def test_camera_info_round_trip_and_validation():
    intr = CameraIntrinsics.from_fov(64, 48, 60.0)
    info = camera_info_from_intrinsics(intr, frame_id="cam", stamp=7)
    assert isinstance(info, CameraInfo)
    assert (info.width, info.height, info.distortion_model) == (64, 48, "plumb_bob")
    assert list(info.p) == [intr.fx, 0.0, intr.cx, 0.0, 0.0, intr.fy, intr.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    back = intrinsics_from_camera_info(info)
    assert (back.width, back.height) == (64, 48)
    np.testing.assert_allclose(back.K, intr.K)

    with pytest.raises(InputError, match="uncalibrated"):
        intrinsics_from_camera_info(CameraInfo(width=64, height=48))
    with pytest.raises(InputError, match="no image size"):
        intrinsics_from_camera_info(CameraInfo())

    image = numpy_to_image(np.zeros((48, 64, 3), np.uint8), "rgb8")
    check_image_matches_camera_info(image, info)
    small = numpy_to_image(np.zeros((24, 32, 3), np.uint8), "rgb8")
    with pytest.raises(InputError, match="image is 32x24 but its camera_info is 64x48"):
        check_image_matches_camera_info(small, info)


def test_depth_helpers_units_and_invalid_readings():
    mm = np.array([[0, 1000], [65535, 1]], np.uint16)
    m = depth_to_metres(mm, "16UC1")
    assert m.dtype == np.float32 and np.isnan(m[0, 0])
    np.testing.assert_allclose(m[~np.isnan(m)], [1.0, 65.535, 0.001], rtol=1e-6)
    f = np.array([[0.0, -1.0, np.inf, 0.5, 12.0, np.nan]], np.float32)
    out = depth_to_metres(f, "32FC1", max_depth_m=10.0)
    assert np.isnan(out[0, [0, 1, 2, 4, 5]]).all() and out[0, 3] == 0.5
    assert not np.isnan(f[0, 0])  # input untouched
    with pytest.raises(InputError, match="not a depth format"):
        depth_to_metres(np.zeros((2, 2), np.uint8), "mono8")
    with pytest.raises(InputError, match="one channel"):
        depth_to_metres(np.zeros((2, 2, 3), np.float32), "32FC1")

    back = metres_to_millimetres(np.array([[np.nan, 1.2346, -1.0, 70.0]]))
    np.testing.assert_array_equal(back, [[0, 1235, 0, 0]])
    assert back.dtype == np.uint16

    depth = np.array([[np.nan, 0.75]], np.float32)
    msg16 = metres_to_depth_image(depth, "16UC1")
    assert msg16.encoding == "16UC1"
    np.testing.assert_array_equal(depth_image_to_metres(msg16), depth)
    msg32 = metres_to_depth_image(depth, "32FC1")
    np.testing.assert_array_equal(depth_image_to_metres(msg32), depth)
    with pytest.raises(InputError, match="32FC1 or 16UC1"):
        metres_to_depth_image(depth, "mono8")
