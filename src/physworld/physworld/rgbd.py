"""RGB-D frame checks and colour/depth pairing, shared by the camera node and the pipeline."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError
from .sim.camera import CameraIntrinsics


def validate_rgbd(
    rgb: np.ndarray, depth: np.ndarray, intr: CameraIntrinsics | None = None, min_valid_fraction: float = 0.05
) -> None:
    """Raise InputError naming the problem if an RGB-D frame cannot be used."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InputError(f"colour image must be HxWx3 uint8 (rgb8), got shape {rgb.shape} dtype {rgb.dtype}")
    if depth.ndim != 2 or depth.dtype.kind != "f":
        raise InputError(f"depth must be HxW float metres, got shape {depth.shape} dtype {depth.dtype}")
    if depth.shape != rgb.shape[:2]:
        raise InputError(
            f"depth size {depth.shape[::-1]} differs from colour size {rgb.shape[1::-1]} "
            "(register depth to the colour camera)"
        )
    if intr is not None and (intr.width, intr.height) != (rgb.shape[1], rgb.shape[0]):
        raise InputError(f"camera_info is {intr.width}x{intr.height} but the images are {rgb.shape[1]}x{rgb.shape[0]}")
    valid = np.isfinite(depth) & (depth > 0)
    frac = float(valid.mean()) if depth.size else 0.0
    if frac < min_valid_fraction:
        what = "all NaN/zero" if frac == 0 else f"only {frac:.1%} valid"
        raise InputError(
            f"depth image is {what} (need >= {min_valid_fraction:.0%} valid pixels): "
            "check the depth stream and its units"
        )


@dataclass
class Stamped:
    stamp_ns: int
    data: Any


class RgbdPairer:
    """Keeps recent colour and depth frames and returns the newest pair whose stamps agree.

    Thread-safe; ``wait_pair`` blocks the calling thread only (use it from a reentrant callback
    group or a worker thread, never the only executor thread)."""

    def __init__(self, tolerance_s: float = 0.02, history: int = 5):
        self.tolerance_ns = int(tolerance_s * 1e9)
        self._color: deque[Stamped] = deque(maxlen=history)
        self._depth: deque[Stamped] = deque(maxlen=history)
        self._cond = threading.Condition()

    def add_color(self, stamp_ns: int, data: Any) -> None:
        with self._cond:
            self._color.append(Stamped(stamp_ns, data))
            self._cond.notify_all()

    def add_depth(self, stamp_ns: int, data: Any) -> None:
        with self._cond:
            self._depth.append(Stamped(stamp_ns, data))
            self._cond.notify_all()

    def latest_pair(self, newer_than_ns: int = -1) -> tuple[Stamped, Stamped] | None:
        with self._cond:
            return self._find(newer_than_ns)

    def wait_pair(self, timeout_s: float, newer_than_ns: int = -1) -> tuple[Stamped, Stamped] | None:
        with self._cond:
            self._cond.wait_for(lambda: self._find(newer_than_ns) is not None, timeout=timeout_s)
            return self._find(newer_than_ns)

    def _find(self, newer_than_ns: int) -> tuple[Stamped, Stamped] | None:
        for c in reversed(self._color):
            if c.stamp_ns <= newer_than_ns:
                break
            for d in reversed(self._depth):
                if abs(c.stamp_ns - d.stamp_ns) <= self.tolerance_ns:
                    return c, d
        return None
