"""RGB-D frames through OpenCV's ``cv2.VideoCapture``, without ROS.

Colour (``source``) is whatever VideoCapture opens:
- a device index (``0``) or a device path (``/dev/video0``): a live camera (V4L2 on Linux);
- a video file (``scene.avi``, ``.mp4``), an image sequence as a printf pattern
  (``frames/%04d.png``), or a URL (``rtsp://...``, ``http://...``): recorded or streamed frames.

Depth, where there is one, comes either
- from the same device through OpenNI2 (``api='openni2'``: Kinect / Xtion / Orbbec class sensors;
  needs an OpenCV built with OpenNI2, ``cv2.videoio_registry.hasBackend(cv2.CAP_OPENNI2)``), read
  with ``CAP_OPENNI_BGR_IMAGE`` + ``CAP_OPENNI_DEPTH_MAP`` (uint16 millimetres, registered to colour), or
- from ``depth_source``: a sequence of 16-bit single-channel PNG images in millimetres (a
  directory of ``*.png``, a glob, or a printf pattern), paired frame by frame with a recorded
  colour source (frame i with image i, in natural sort order).

Depth is returned as it comes, uint16 millimetres (ROS ``16UC1``, REP 118; 0 = no reading). Colour
is converted to HxWx3 uint8 RGB. Depth must be registered to colour (same size). Every problem
raises an error naming the source: a device or file that cannot be opened, a frame of the wrong
kind or size, an OpenCV without OpenNI2.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ArtefactError, BackendError, ConfigError, InputError
from .calibration import CameraCalibration, load_calibration

API_NAMES = ("auto", "v4l2", "ffmpeg", "images", "openni2")
_API_CONSTANTS = {"auto": "CAP_ANY", "v4l2": "CAP_V4L2", "ffmpeg": "CAP_FFMPEG", "images": "CAP_IMAGES",
                  "openni2": "CAP_OPENNI2"}  # fmt: skip
_PRINTF_INT = re.compile(r"%0?\d*d")


@dataclass
class RgbdFrame:
    index: int  # frame number since the source was opened (restarts when a file loops)
    rgb: np.ndarray  # HxWx3 uint8
    depth_mm: np.ndarray | None  # HxW uint16 millimetres (0 = no reading), or None without depth


def classify_source(source: str) -> tuple[str, str | int]:
    """('index', n) | ('device', path) | ('url', url) | ('sequence', pattern) | ('file', path)."""
    s = source.strip()
    if not s:
        raise ConfigError(
            "opencv source is empty: give a device index (0), a device path (/dev/video0), a video file, "
            "an image-sequence pattern (frames/%04d.png) or a URL"
        )
    if s.isdigit():
        return "index", int(s)
    if "://" in s:
        return "url", s
    if s.startswith("/dev/"):
        return "device", s
    if _PRINTF_INT.search(s):
        return "sequence", s
    return "file", s


def natural_key(path: str) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", Path(path).name))


def _matching_files(spec: str) -> list[str]:
    """Files of a directory (``*.png``), a glob or a printf pattern, in natural order."""
    if Path(spec).is_dir():
        pattern = str(Path(spec) / "*.png")
    else:
        pattern = _PRINTF_INT.sub("*", spec)
    return sorted((f for f in glob.glob(pattern) if Path(f).is_file()), key=natural_key)


class DepthSequence:
    """16-bit single-channel PNG depth images in millimetres, read one by one."""

    def __init__(self, spec: str):
        self.spec = spec
        self.files = _matching_files(spec)
        if not self.files:
            raise ArtefactError(f"depth source {spec!r}: no PNG images there (a directory, glob or %04d pattern)")

    def __len__(self) -> int:
        return len(self.files)

    def read(self, i: int) -> np.ndarray:
        import cv2

        path = self.files[i]
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if img is None:
            raise ArtefactError(f"depth image {path}: cannot be read (missing or not an image)")
        return check_depth_mm(img, path)


def check_depth_mm(img: np.ndarray, what: str) -> np.ndarray:
    if img.dtype != np.uint16 or img.ndim != 2:
        chans = 1 if img.ndim == 2 else img.shape[2]
        raise InputError(
            f"depth {what} is {img.dtype} with {chans} channel(s): depth must be 16-bit single-channel "
            "(uint16 millimetres, e.g. a 16-bit grayscale PNG)"
        )
    return img


def to_rgb8(frame: np.ndarray, what: str) -> np.ndarray:
    """OpenCV's BGR / BGRA / grey (8 or 16 bit) -> HxWx3 uint8 RGB."""
    import cv2

    if frame.dtype == np.uint16:
        frame = (frame >> 8).astype(np.uint8)
    if frame.dtype != np.uint8:
        raise InputError(f"colour frame from {what} has dtype {frame.dtype}; expected 8 or 16 bit")
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
        return cv2.cvtColor(frame.reshape(frame.shape[:2]), cv2.COLOR_GRAY2RGB)
    if frame.ndim == 3 and frame.shape[2] == 3:
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
    raise InputError(f"colour frame from {what} has shape {frame.shape}; expected grey, BGR or BGRA")


class OpenCvRgbdSource:
    """One colour stream (and optionally depth) read frame by frame; ``read()`` returns the next
    ``RgbdFrame``, or None at the end of a recorded source that does not loop. Opening reads the
    first frame, so a source that opens but gives nothing fails here and frame sizes are checked
    before anything is published. Not thread-safe: read from one thread."""

    def __init__(self, source: str, api: str = "auto", depth_source: str = "", width: int = 0, height: int = 0,
                 loop: bool = False, capture_factory: Callable | None = None):  # fmt: skip
        import cv2

        if api not in API_NAMES:
            raise ConfigError(f"opencv api {api!r} is not one of {list(API_NAMES)}")
        self.kind, self.target = classify_source(source)
        self.source, self.api, self.loop = source.strip(), api, loop
        self.live = self.kind in ("index", "device") and api != "images"
        self.openni = api == "openni2"
        self._factory = capture_factory or cv2.VideoCapture
        self.width, self.height = width, height
        self._check_combination(depth_source)
        self.depth = DepthSequence(depth_source) if depth_source else None
        self._cap = None
        self._next = 0  # index of the next frame to return
        self.ended = False
        self._open()
        first = self._grab()
        if first is None:
            self.close()
            raise BackendError(f"{self.describe()}: opened, but it gave no frame")
        self._pending: RgbdFrame | None = first
        self.frame_size = first.rgb.shape[1], first.rgb.shape[0]
        if self.live and width and height and self.frame_size != (width, height):
            self.close()
            raise InputError(
                f"{self.describe()}: asked for {width}x{height}, the device gives "
                f"{self.frame_size[0]}x{self.frame_size[1]} (set opencv_width/opencv_height to a mode it supports)"
            )

    # --- opening ----------------------------------------------------------------------------

    def _check_combination(self, depth_source: str) -> None:
        if self.openni and depth_source:
            raise ConfigError("api 'openni2' reads depth from the device itself: leave depth_source empty")
        if depth_source and self.live:
            raise ConfigError(
                f"depth_source (a recorded PNG sequence) pairs frame by frame with a recorded colour source; "
                f"{self.source!r} is a live device with nothing to pair it with (use api 'openni2' for a depth device)"
            )
        if (self.width or self.height) and not (self.live and not self.openni):
            raise ConfigError(
                "opencv_width/opencv_height request a mode from a live V4L2/UVC device; "
                f"{self.source!r} ({'openni2' if self.openni else self.kind}) gives its own size: leave them 0"
            )
        if (self.width > 0) != (self.height > 0):
            raise ConfigError(f"give both opencv_width and opencv_height (or neither), got {self.width}x{self.height}")

    def _open(self) -> None:
        import cv2

        kind, target = self.kind, self.target
        if kind == "device" and not Path(str(target)).exists():
            raise BackendError(f"camera device {target} not found (is the camera plugged in? ls /dev/video*)")
        if kind == "file" and not Path(str(target)).is_file():
            raise ArtefactError(f"video file not found: {target}")
        if kind == "sequence" and not _matching_files(str(target)):
            raise ArtefactError(f"image sequence {target}: no file matches the pattern")
        if self.openni and not cv2.videoio_registry.hasBackend(cv2.CAP_OPENNI2):
            raise BackendError(
                f"OpenCV {cv2.__version__} here was built without OpenNI2 (cv2.CAP_OPENNI2 is not a backend of "
                "this build): install an OpenCV built with WITH_OPENNI2=ON, or use a ROS driver with backend "
                "'topics', or give depth as a 16-bit PNG sequence (depth_source) with a recorded colour source"
            )
        api = "images" if kind == "sequence" and self.api == "auto" else self.api
        cap = self._factory(target, getattr(cv2, _API_CONSTANTS[api]))
        if not cap.isOpened():
            raise BackendError(f"{self.describe()}: OpenCV could not open it ({self._why_not()})")
        if self.openni:
            cap.set(cv2.CAP_PROP_OPENNI_REGISTRATION, 1)  # depth in the colour camera's geometry
        elif self.live:
            if self.width:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # a hint: the newest frame, not a queue of old ones
        self._cap, self._index = cap, 0

    def _why_not(self) -> str:
        if self.kind == "index":
            return f"no camera with index {self.target}, or it is busy or not readable by this user"
        if self.kind == "device":
            return "not a capture device, busy, or not readable by this user"
        if self.kind == "url":
            return "unreachable, or a stream format this OpenCV cannot decode"
        return "not a video or image format this OpenCV can decode"

    def describe(self) -> str:
        api = f", api {self.api}" if self.api != "auto" else ""
        what = {"index": "camera index", "device": "camera device", "url": "stream", "sequence": "image sequence",
                "file": "video file"}[self.kind]  # fmt: skip
        depth = f" + depth {self.depth.spec} ({len(self.depth)} images)" if self.depth else ""
        return f"{what} {self.target}{api}{depth}"

    # --- reading ----------------------------------------------------------------------------

    def _grab(self) -> RgbdFrame | None:
        """The next frame from the open capture, or None when the stream has ended."""
        import cv2

        cap, i = self._cap, self._index
        if self.depth is not None and i >= len(self.depth):
            return None  # the shorter of the two recordings ends the pair stream
        if self.openni:
            if not cap.grab():
                return None
            ok_c, bgr = cap.retrieve(None, cv2.CAP_OPENNI_BGR_IMAGE)
            ok_d, depth = cap.retrieve(None, cv2.CAP_OPENNI_DEPTH_MAP)
            if not (ok_c and ok_d):
                raise BackendError(f"{self.describe()}: grabbed a frame but could not retrieve colour and depth")
            depth = check_depth_mm(np.asarray(depth), f"map from {self.describe()}")
        else:
            ok, bgr = cap.read()
            if not ok or bgr is None:
                return None
            depth = self.depth.read(i) if self.depth is not None else None
        rgb = to_rgb8(np.asarray(bgr), self.describe())
        if depth is not None and depth.shape != rgb.shape[:2]:
            where = self.depth.files[i] if self.depth is not None else "the depth map"
            raise InputError(
                f"depth frame {i} ({where}) is {depth.shape[1]}x{depth.shape[0]} but colour frame {i} is "
                f"{rgb.shape[1]}x{rgb.shape[0]}: depth must be registered to colour (same size)"
            )
        self._index += 1
        return RgbdFrame(i, rgb, depth)

    def read(self) -> RgbdFrame | None:
        """The next frame; None once a recorded source has ended (``loop`` False). A live device
        that stops giving frames raises BackendError."""
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        if self.ended or self._cap is None:
            return None
        frame = self._grab()
        if frame is not None:
            return frame
        if self.live:
            raise BackendError(f"{self.describe()}: stopped giving frames (unplugged, or taken by another process?)")
        if not self.loop:
            self.ended = True
            return None
        self._cap.release()  # reopen: seeking back is not reliable for every container / sequence
        self._open()
        frame = self._grab()
        if frame is None:
            raise BackendError(f"{self.describe()}: gave no frame after starting over")
        return frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def __enter__(self) -> OpenCvRgbdSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_opencv_source(cfg) -> tuple[OpenCvRgbdSource, CameraCalibration]:
    """Open the source of a ``CameraCaptureConfig`` (backend 'opencv') and its calibration.

    The calibration comes from ``calibration_file`` (camera_info YAML); without one,
    ``fallback_hfov_deg`` > 0 gives an uncalibrated pinhole; with neither it is a ConfigError. The
    calibration's image size must match the frames."""
    if not cfg.calibration_file and cfg.fallback_hfov_deg <= 0:
        raise ConfigError(
            "camera_capture backend 'opencv' needs calibration_file (a camera_info YAML as written by "
            "camera_calibration / camera_calibration_parsers) or, for an uncalibrated camera, fallback_hfov_deg "
            "(its horizontal field of view in degrees: a pinhole with the principal point at the centre)"
        )
    calib = load_calibration(cfg.calibration_file) if cfg.calibration_file else None
    source = OpenCvRgbdSource(cfg.opencv_source, cfg.opencv_api, cfg.depth_source, cfg.opencv_width,
                              cfg.opencv_height, cfg.opencv_loop)  # fmt: skip
    try:
        w, h = source.frame_size
        if calib is None:
            calib = CameraCalibration.from_hfov(w, h, cfg.fallback_hfov_deg)
        calib.check_image_size(w, h, source.describe())
    except Exception:
        source.close()
        raise
    return source, calib
