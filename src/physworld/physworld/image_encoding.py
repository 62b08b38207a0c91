"""ROS image encodings with cv_bridge's semantics, without ROS (numpy + OpenCV).

``cv_bridge`` from PyPI is broken under NumPy 2 and ROS 2's is not installable here, so this
module implements what it does on plain fields (``height``, ``width``, ``encoding``,
``is_bigendian``, ``step``, ``data``). ``physworld.ros.conversions`` wraps it for
``sensor_msgs/Image`` and ``physworld.bag.convert`` for rosbags messages.

Semantics followed (cv_bridge ``imgmsg_to_cv2`` / ``cv2_to_imgmsg`` / ``cvtColor``):
- one-channel images are HxW arrays, others HxWxC;
- ``passthrough`` returns the stored type; ``numpy_to_image`` with ``passthrough`` names the type
  ``<bits><U|S|F>C<n>`` (e.g. ``8UC3``);
- rows may be padded (``step`` > width * pixel size); byte order follows ``is_bigendian``;
- ``desired_encoding`` converts between colour orders (rgb/bgr/rgba/bgra/mono, Bayer and YUV422
  sources) with OpenCV, and between bit depths with cv_bridge's scaling (8 <-> 16 bit scaled by
  65535/255, everything else a saturating cast);
- a non-colour encoding (``32FC1``, ``16UC1``, ...) converts only to an encoding with the same
  number of channels and never to a colour one.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

import numpy as np

from .errors import InputError

_COLOR = {"rgb8": 3, "rgba8": 4, "rgb16": 3, "rgba16": 4, "bgr8": 3, "bgra8": 4, "bgr16": 3, "bgra16": 4}
_MONO = {"mono8": 1, "mono16": 1}
_BAYER = tuple(f"bayer_{p}{b}" for p in ("rggb", "bggr", "gbrg", "grbg") for b in (8, 16))
_YUV = {"yuv422": 2, "uyvy": 2, "yuv422_yuy2": 2, "yuyv": 2}
_GENERIC = re.compile(r"^(8U|8S|16U|16S|32S|32F|64F)C([1-4])$")
_DEPTH_DTYPES = {
    "8U": np.uint8,
    "8S": np.int8,
    "16U": np.uint16,
    "16S": np.int16,
    "32S": np.int32,
    "32F": np.float32,
    "64F": np.float64,
}
_DTYPE_CODES = {np.dtype(v): k for k, v in _DEPTH_DTYPES.items()}


@dataclass(frozen=True)
class EncodingInfo:
    name: str
    dtype: np.dtype
    channels: int
    family: str  # "rgb", "bgr", "rgba", "bgra", "mono", "bayer_rggb", ..., "yuv422", "yuv422_yuy2", "generic"

    @property
    def bit_depth(self) -> int:
        return self.dtype.itemsize * 8

    @property
    def is_color_format(self) -> bool:
        """cv_bridge's notion: colour, mono, Bayer or YUV (carries colour meaning)."""
        return self.family != "generic"


def known_encodings() -> list[str]:
    generic = [f"{d}C{c}" for d in _DEPTH_DTYPES for c in range(1, 5)]
    return sorted(_COLOR) + sorted(_MONO) + list(_BAYER) + sorted(_YUV) + generic


def encoding_info(encoding: str) -> EncodingInfo:
    """Type, channels and colour family of a ROS image encoding; InputError if unknown."""
    enc = encoding.strip()
    if enc in _COLOR:
        bits = 16 if enc.endswith("16") else 8
        family = enc[:-2] if bits == 16 else enc[:-1]
        return EncodingInfo(enc, np.dtype(np.uint16 if bits == 16 else np.uint8), _COLOR[enc], family)
    if enc in _MONO:
        return EncodingInfo(enc, np.dtype(np.uint16 if enc == "mono16" else np.uint8), 1, "mono")
    if enc in _BAYER:
        bits = 16 if enc.endswith("16") else 8
        return EncodingInfo(enc, np.dtype(np.uint16 if bits == 16 else np.uint8), 1, enc[: -len(str(bits))])
    if enc in _YUV:
        family = "yuv422" if enc in ("yuv422", "uyvy") else "yuv422_yuy2"
        return EncodingInfo(enc, np.dtype(np.uint8), 2, family)
    m = _GENERIC.match(enc)
    if m:
        return EncodingInfo(enc, np.dtype(_DEPTH_DTYPES[m.group(1)]), int(m.group(2)), "generic")
    raise InputError(f"unknown image encoding {encoding!r}; known: {', '.join(known_encodings())} (or 'passthrough')")


def generic_encoding(dtype: np.dtype, channels: int) -> str:
    """The ``<depth>C<n>`` name of an array type (cv_bridge's passthrough naming)."""
    code = _DTYPE_CODES.get(np.dtype(dtype).newbyteorder("="))
    if code is None or not 1 <= channels <= 4:
        raise InputError(
            f"arrays of dtype {np.dtype(dtype)} with {channels} channel(s) have no ROS image encoding "
            f"(supported dtypes: {', '.join(str(np.dtype(d)) for d in _DEPTH_DTYPES.values())}; 1-4 channels)"
        )
    return f"{code}C{channels}"


def decode(height: int, width: int, encoding: str, is_bigendian: int | bool, step: int, data) -> np.ndarray:
    """The pixels of an image message as a new array in its own encoding (HxW or HxWxC)."""
    info = encoding_info(encoding)
    if height < 0 or width < 0:
        raise InputError(f"image size {width}x{height} is negative")
    pixel = info.channels * info.dtype.itemsize
    if step < width * pixel:
        raise InputError(
            f"image step {step} is smaller than width * pixel size = {width} * {pixel} = {width * pixel} "
            f"for encoding {info.name}"
        )
    buf = np.frombuffer(data, dtype=np.uint8)
    need = step * height
    if buf.size != need:
        raise InputError(
            f"image data has {buf.size} bytes but step * height = {step} * {height} = {need} "
            f"({width}x{height} {info.name})"
        )
    dtype = info.dtype.newbyteorder(">" if is_bigendian else "<")
    rows = buf.reshape(height, step)[:, : width * pixel]
    arr = rows.copy().view(dtype).reshape(height, width, info.channels)
    arr = arr.astype(info.dtype.newbyteorder("="), copy=False)  # native byte order
    return arr[:, :, 0] if info.channels == 1 else arr


def encode(image: np.ndarray, encoding: str = "passthrough") -> tuple[int, int, str, int, int, bytes]:
    """``(height, width, encoding, is_bigendian, step, data)`` of an array; cv_bridge's type checks."""
    arr = np.asarray(image)
    if arr.ndim not in (2, 3):
        raise InputError(f"an image must be HxW or HxWxC, got an array of shape {arr.shape}")
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    actual = generic_encoding(arr.dtype, channels)
    if encoding == "passthrough":
        encoding = actual
    else:
        info = encoding_info(encoding)
        if (info.dtype, info.channels) != (arr.dtype.newbyteorder("="), channels):
            raise InputError(
                f"encoding specified as {encoding} ({generic_encoding(info.dtype, info.channels)}) but the "
                f"image has incompatible type {actual} (dtype {arr.dtype}, {channels} channel(s))"
            )
    native = arr.astype(arr.dtype.newbyteorder("="), copy=False)
    data = np.ascontiguousarray(native).tobytes()
    height, width = arr.shape[:2]
    return height, width, encoding, int(sys.byteorder == "big"), width * channels * arr.dtype.itemsize, data


# --- colour conversion -------------------------------------------------------------------------

_BAYER_CV = {"bayer_rggb": "BayerBG", "bayer_bggr": "BayerRG", "bayer_gbrg": "BayerGR", "bayer_grbg": "BayerGB"}
_TARGET_NAME = {"mono": "GRAY", "rgb": "RGB", "bgr": "BGR", "rgba": "RGBA", "bgra": "BGRA"}


def _color_codes(src: str, dst: str) -> list[int]:
    """OpenCV cvtColor codes taking family ``src`` to family ``dst`` (empty: same family)."""
    import cv2

    if src == dst:
        return []
    if dst not in _TARGET_NAME:
        raise InputError(f"cannot convert to the {dst} colour format (only to mono, rgb, bgr, rgba, bgra)")
    if src in _BAYER_CV:
        name = f"COLOR_{_BAYER_CV[src]}2{'GRAY' if dst == 'mono' else 'RGB' if dst.startswith('rgb') else 'BGR'}"
        codes = [getattr(cv2, name)]
        if dst in ("rgba", "bgra"):
            codes.append(getattr(cv2, f"COLOR_{dst[:3].upper()}2{dst.upper()}"))
        return codes
    if src in ("yuv422", "yuv422_yuy2"):
        packing = "UYVY" if src == "yuv422" else "YUY2"
        key = {"mono": "GRAY", "rgb": "RGB", "bgr": "BGR", "rgba": "RGBA", "bgra": "BGRA"}[dst]
        return [getattr(cv2, f"COLOR_YUV2{key}_{packing}")]
    a, b = _TARGET_NAME[src], _TARGET_NAME[dst]
    return [getattr(cv2, f"COLOR_{a}2{b}")]


def _convert_depth(arr: np.ndarray, src_bits: int, dst: np.dtype) -> np.ndarray:
    if arr.dtype == dst:
        return arr
    dst_bits = dst.itemsize * 8
    x = arr.astype(np.float64)
    if src_bits == 8 and dst_bits == 16:
        x = x * (65535.0 / 255.0)
    elif src_bits == 16 and dst_bits == 8:
        x = x * (255.0 / 65535.0)
    if dst.kind == "f":
        return x.astype(dst)
    lim = np.iinfo(dst)
    return np.clip(np.rint(np.nan_to_num(x, nan=0.0)), lim.min, lim.max).astype(dst)


def convert(arr: np.ndarray, src_encoding: str, dst_encoding: str) -> np.ndarray:
    """Convert decoded pixels from ``src_encoding`` to ``dst_encoding`` like cv_bridge's cvtColor."""
    if dst_encoding in ("passthrough", "", src_encoding):
        return arr
    src, dst = encoding_info(src_encoding), encoding_info(dst_encoding)
    if not src.is_color_format:
        if dst.is_color_format:
            raise InputError(
                f"[{src.name}] is not a colour format but [{dst.name}] is: the conversion does not make sense "
                f"(request 'passthrough' or an encoding with {src.channels} channel(s))"
            )
        if src.channels != dst.channels:
            raise InputError(f"[{src.name}] and [{dst.name}] do not have the same number of channels")
        return _convert_depth(arr, src.bit_depth, dst.dtype)
    if not dst.is_color_format:
        if src.channels != dst.channels:
            raise InputError(
                f"[{src.name}] is a colour format but [{dst.name}] is not, so they must have the same number "
                f"of channels ({src.channels} vs {dst.channels})"
            )
        return _convert_depth(arr, src.bit_depth, dst.dtype)
    if dst.family not in _TARGET_NAME:
        raise InputError(f"cannot convert [{src.name}] to [{dst.name}]: Bayer/YUV are source formats only")
    import cv2

    out = arr
    if src.family.startswith("yuv") and arr.dtype != np.uint8:
        raise InputError(f"[{src.name}] must be 8 bit")
    for code in _color_codes(src.family, dst.family):
        out = cv2.cvtColor(np.ascontiguousarray(out), code)
    return _convert_depth(out, src.bit_depth, dst.dtype)


# --- depth -------------------------------------------------------------------------------------

DEPTH_ENCODINGS = ("32FC1", "16UC1", "mono16", "64FC1")


def depth_to_metres(depth: np.ndarray, encoding: str, max_depth_m: float | None = None) -> np.ndarray:
    """Depth as float32 metres with NaN = no reading.

    ``16UC1``/``mono16`` hold millimetres (the REP 118 convention for integer depth); ``32FC1``
    holds metres. 0, negative, non-finite and (if given) values beyond ``max_depth_m`` become NaN.
    """
    arr = np.asarray(depth)
    if encoding not in DEPTH_ENCODINGS:
        raise InputError(
            f"depth encoding {encoding!r} is not a depth format; use 32FC1 (metres) or 16UC1 (millimetres)"
        )
    if arr.ndim != 2:
        raise InputError(f"a depth image must be HxW (one channel), got shape {arr.shape}")
    if encoding in ("16UC1", "mono16"):
        out = arr.astype(np.float32) / np.float32(1000.0)  # correctly rounded mm -> m
    else:
        out = arr.astype(np.float32, copy=True)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(out) | (out <= 0)
        if max_depth_m is not None:
            bad |= out > max_depth_m
    out[bad] = np.nan
    return out


def metres_to_millimetres(depth_m: np.ndarray) -> np.ndarray:
    """float metres -> uint16 millimetres (16UC1); NaN, <= 0 and beyond 65.535 m become 0 (no reading)."""
    arr = np.asarray(depth_m, dtype=np.float64)
    if arr.ndim != 2:
        raise InputError(f"a depth image must be HxW (one channel), got shape {arr.shape}")
    mm = np.rint(np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0) * 1e3)
    mm[(mm <= 0) | (mm > 65535)] = 0
    return mm.astype(np.uint16)
