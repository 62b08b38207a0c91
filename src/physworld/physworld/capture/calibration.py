"""Camera calibration in the ROS camera_info YAML format, as ``camera_calibration`` writes it and
``camera_calibration_parsers`` reads it::

    image_width: 640
    image_height: 480
    camera_name: webcam
    camera_matrix: {rows: 3, cols: 3, data: [fx, 0, cx, 0, fy, cy, 0, 0, 1]}
    distortion_model: plumb_bob
    distortion_coefficients: {rows: 1, cols: 5, data: [k1, k2, t1, t2, k3]}
    rectification_matrix: {rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}
    projection_matrix: {rows: 3, cols: 4, data: [fx', 0, cx', 0, 0, fy', cy', 0, 0, 0, 1, 0]}

``image_width``, ``image_height`` and ``camera_matrix`` are required; without
``distortion_coefficients`` the model is ``plumb_bob`` with zeros, without ``rectification_matrix``
R = I, without ``projection_matrix`` P = [K | 0]. Every problem raises an error naming the file and
the field. ``CameraCalibration.from_hfov`` is the documented fallback for an uncalibrated camera.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ArtefactError, InputError
from ..sim.camera import CameraIntrinsics

# coefficients per distortion model (image_geometry / camera_calibration)
DISTORTION_MODELS = {"plumb_bob": 5, "rational_polynomial": 8, "equidistant": 4}


@dataclass(frozen=True)
class CameraCalibration:
    width: int
    height: int
    K: np.ndarray  # 3x3
    D: np.ndarray = field(default_factory=lambda: np.zeros(5))
    R: np.ndarray = field(default_factory=lambda: np.eye(3))
    P: np.ndarray | None = None  # 3x4; None = [K | 0]
    distortion_model: str = "plumb_bob"
    camera_name: str = ""
    source: str = ""  # where it came from (file path or 'fallback ...'), for messages

    def __post_init__(self):
        if self.P is None:
            object.__setattr__(self, "P", np.hstack([np.asarray(self.K, float), np.zeros((3, 1))]))
        _check_intrinsics(self, self.source or "calibration")

    @classmethod
    def from_hfov(cls, width: int, height: int, hfov_deg: float) -> CameraCalibration:
        """An uncalibrated stand-in: square pixels, principal point at the image centre, no
        distortion, focal length from the horizontal field of view."""
        if not 0.0 < hfov_deg < 180.0:
            raise InputError(f"horizontal field of view must be in (0, 180) degrees, got {hfov_deg}")
        f = 0.5 * width / np.tan(np.deg2rad(hfov_deg) / 2.0)
        K = np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])
        return cls(int(width), int(height), K, source=f"fallback pinhole from a {hfov_deg:g} deg horizontal FOV")

    @property
    def has_distortion(self) -> bool:
        return bool(np.any(np.abs(self.D) > 0))

    def intrinsics(self, near: float = 0.05, far: float = 5.0) -> CameraIntrinsics:
        K = self.K
        return CameraIntrinsics(self.width, self.height, float(K[0, 0]), float(K[1, 1]), float(K[0, 2]),
                                float(K[1, 2]), near, far)  # fmt: skip

    def check_image_size(self, width: int, height: int, what: str = "the camera") -> None:
        if (width, height) != (self.width, self.height):
            raise InputError(
                f"{self.source or 'the calibration'} is for {self.width}x{self.height} images but {what} gives "
                f"{width}x{height}: calibrate at this resolution, or request {self.width}x{self.height} from the device"
            )

    def to_yaml_dict(self) -> dict:
        def mat(a: np.ndarray) -> dict:
            a = np.atleast_2d(np.asarray(a, float))
            return {"rows": int(a.shape[0]), "cols": int(a.shape[1]), "data": [float(v) for v in a.reshape(-1)]}

        return {
            "image_width": int(self.width),
            "image_height": int(self.height),
            "camera_name": self.camera_name,
            "camera_matrix": mat(self.K),
            "distortion_model": self.distortion_model,
            "distortion_coefficients": mat(np.asarray(self.D).reshape(1, -1)),
            "rectification_matrix": mat(self.R),
            "projection_matrix": mat(self.P),
        }


def save_calibration(calib: CameraCalibration, path: str | Path) -> Path:
    import yaml

    from ..io import atomic_write_text

    return atomic_write_text(path, yaml.safe_dump(calib.to_yaml_dict(), sort_keys=False))


def load_calibration(path: str | Path) -> CameraCalibration:
    """Read a camera_info YAML file; ArtefactError (missing, not YAML) or InputError (bad field)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ArtefactError(f"camera calibration file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ArtefactError(f"{path}: not a valid camera calibration YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ArtefactError(f"{path}: a camera calibration YAML is a mapping (image_width, camera_matrix, ...)")
    where = str(path)
    missing = [k for k in ("image_width", "image_height", "camera_matrix") if k not in data]
    if missing:
        raise InputError(f"{where}: missing {', '.join(missing)} (camera_info YAML as camera_calibration writes it)")
    width, height = _positive_int(data, "image_width", where), _positive_int(data, "image_height", where)
    K = _matrix(data, "camera_matrix", (3, 3), where)
    model = data.get("distortion_model", "plumb_bob")
    if model not in DISTORTION_MODELS:
        raise InputError(f"{where}: distortion_model {model!r} is not one of {sorted(DISTORTION_MODELS)}")
    n = DISTORTION_MODELS[model]
    D = _matrix(data, "distortion_coefficients", (1, n), where).reshape(-1) if "distortion_coefficients" in data \
        else np.zeros(n)  # fmt: skip
    R = _matrix(data, "rectification_matrix", (3, 3), where) if "rectification_matrix" in data else np.eye(3)
    P = _matrix(data, "projection_matrix", (3, 4), where) if "projection_matrix" in data else None
    name = data.get("camera_name", "") or ""
    return CameraCalibration(width, height, K, D, R, P, model, str(name), source=where)


def _positive_int(data: dict, key: str, where: str) -> int:
    v = data[key]
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise InputError(f"{where}: {key} must be a positive integer, got {v!r}")
    return v


def _matrix(data: dict, key: str, shape: tuple[int, int], where: str) -> np.ndarray:
    m = data[key]
    if not isinstance(m, dict) or not {"rows", "cols", "data"} <= set(m):
        raise InputError(f"{where}: {key} must be a mapping with rows, cols and data")
    rows, cols, values = m["rows"], m["cols"], m["data"]
    if (rows, cols) != shape:
        raise InputError(f"{where}: {key} must be {shape[0]}x{shape[1]}, got rows={rows} cols={cols}")
    if not isinstance(values, list) or len(values) != rows * cols:
        n = len(values) if isinstance(values, list) else type(values).__name__
        raise InputError(f"{where}: {key}.data must hold rows*cols = {rows * cols} numbers, got {n}")
    try:
        arr = np.array(values, dtype=float).reshape(shape)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: {key}.data holds a value that is not a number ({exc})") from exc
    if not np.isfinite(arr).all():
        raise InputError(f"{where}: {key}.data holds NaN or infinite values")
    return arr


def _check_intrinsics(c: CameraCalibration, where: str) -> None:
    K, P = np.asarray(c.K, float), np.asarray(c.P, float)
    if K.shape != (3, 3) or P.shape != (3, 4):
        raise InputError(f"{where}: K must be 3x3 and P 3x4, got {K.shape} and {P.shape}")
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    if not (fx > 0 and fy > 0):
        raise InputError(f"{where}: camera_matrix has no valid focal length (fx={fx}, fy={fy}); is it calibrated?")
    if not np.allclose(K[2], [0.0, 0.0, 1.0]) or K[1, 0] != 0.0:
        raise InputError(f"{where}: camera_matrix is not a pinhole K (last row must be 0 0 1), got {K.tolist()}")
    if not (0.0 <= cx < c.width and 0.0 <= cy < c.height):
        raise InputError(
            f"{where}: principal point ({cx:g}, {cy:g}) lies outside the {c.width}x{c.height} image; "
            "do image_width/image_height belong to this camera_matrix?"
        )
