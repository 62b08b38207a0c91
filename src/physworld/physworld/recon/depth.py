"""Video depth estimation (PhysWorld III-A, "geometry-aligned 4D reconstruction").

A :class:`VideoDepthEstimator` turns video frames ``(T, H, W, 3) uint8`` into *relative* depth
``(T, H, W) float32``: larger is farther, but with an unknown global scale and shift, as a
monocular/video depth model (MegaSaM, Depth Anything, DPT) returns. Eq. 1 (``recon.align``) then
recovers the metric depth against the captured depth image.

Backends (``make_depth_estimator(name, **cfg)``):

``"sim_relative"`` (embedded default)
    For sim rollout videos only: reads the rendered metric depth ``aux["depth"]`` and returns what a
    relative-depth model would: ``rel = (depth - t) / s`` with a hidden seeded scale ``s`` and shift
    ``t`` (the eq. 1 parameters that map ``rel`` back to metres) and the typical errors of such
    models: flying pixels smeared across depth edges, a smooth low-frequency scale error over the
    image (``smooth_noise``, peak fraction), small per-pixel multiplicative and additive noise, and
    a fraction of gross outlier pixels. Pixels without a rendered reading (NaN) are filled with a
    far value, as a network always predicts something. The hidden transform of the last call is
    kept in ``last_transform`` for diagnostics only.
``"transformers"``
    A local Hugging Face ``transformers`` depth-estimation model directory (``config.json``, weights,
    ``preprocessor_config.json``), loaded with ``local_files_only=True``. ``output="inverse_depth"``
    (default; DPT and Depth Anything predict relative inverse depth) converts the prediction to
    relative depth as ``1 / max(d / p99, eps)`` with ``p99`` the video's 99th percentile, which is
    exact only up to the model's own disparity shift; ``output="depth"`` passes the prediction on.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
from scipy.ndimage import maximum_filter, minimum_filter, zoom

from ..errors import ArtefactError, BackendError, ConfigError, InputError


def check_frames(frames: np.ndarray) -> np.ndarray:
    """Validate a video as ``(T, H, W, 3) uint8``; raise InputError naming the problem."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[3] != 3:
        raise InputError(f"video frames must be (T, H, W, 3), got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise InputError(f"video frames must be uint8 RGB, got dtype {frames.dtype}")
    if frames.shape[0] == 0:
        raise InputError("video has no frames")
    return frames


class VideoDepthEstimator(ABC):
    """Relative depth for every frame of a video."""

    name: str = "abstract"

    @abstractmethod
    def estimate(self, frames: np.ndarray, aux: dict | None = None) -> np.ndarray:
        """Relative depth ``(T, H, W) float32`` (larger = farther, unknown scale and shift)."""


class SimRelativeDepth(VideoDepthEstimator):
    """Affine-distorted, noisy copy of a sim video's rendered depth (see module docstring)."""

    name = "sim_relative"

    def __init__(
        self,
        seed: int = 0,
        scale_range: tuple[float, float] = (0.5, 2.0),
        shift_range: tuple[float, float] = (-0.3, 0.3),
        mult_noise: float = 0.002,
        add_noise: float = 0.001,
        smooth_noise: float = 0.005,
        outlier_fraction: float = 0.005,
        edge_blend: float = 0.5,
        edge_jump: float = 0.05,
    ):
        lo, hi = scale_range
        if not 0 < lo <= hi:
            raise ConfigError(f"scale_range must satisfy 0 < lo <= hi, got {scale_range}")
        if shift_range[0] > shift_range[1]:
            raise ConfigError(f"shift_range must satisfy lo <= hi, got {shift_range}")
        if min(mult_noise, add_noise, smooth_noise, edge_jump) < 0:
            raise ConfigError("mult_noise, add_noise, smooth_noise and edge_jump must be >= 0")
        if not 0 <= edge_blend <= 1:
            raise ConfigError(f"edge_blend must be in [0, 1], got {edge_blend}")
        if not 0 <= outlier_fraction < 0.5:
            raise ConfigError(f"outlier_fraction must be in [0, 0.5), got {outlier_fraction}")
        self.seed = int(seed)
        self.scale_range = (float(lo), float(hi))
        self.shift_range = (float(shift_range[0]), float(shift_range[1]))
        self.mult_noise = float(mult_noise)
        self.add_noise = float(add_noise)
        self.smooth_noise = float(smooth_noise)
        self.outlier_fraction = float(outlier_fraction)
        self.edge_blend = float(edge_blend)
        self.edge_jump = float(edge_jump)
        self.last_transform: dict | None = None

    def estimate(self, frames: np.ndarray, aux: dict | None = None) -> np.ndarray:
        frames = check_frames(frames)
        if not aux or "depth" not in aux or aux["depth"] is None:
            raise InputError(
                "depth backend 'sim_relative' needs aux['depth'] (the rendered depth of a sim rollout video) and "
                "only works on sim rollout videos; use the 'transformers' backend for other videos"
            )
        depth = np.asarray(aux["depth"], dtype=np.float64)
        if depth.shape != frames.shape[:3]:
            raise InputError(f"aux['depth'] has shape {depth.shape}, expected (T, H, W) = {frames.shape[:3]}")
        valid = np.isfinite(depth) & (depth > 0)
        if not valid.any():
            raise InputError("aux['depth'] has no valid (finite, positive) pixel")
        rng = np.random.default_rng(self.seed)
        # log-uniform scale so that 0.5 and 2 are equally likely
        s = float(np.exp(rng.uniform(np.log(self.scale_range[0]), np.log(self.scale_range[1]))))
        t = float(rng.uniform(*self.shift_range))
        far = float(np.max(depth[valid])) * 1.5
        d = np.where(valid, depth, far)
        d = self._flying_pixels(d, rng)
        T, H, W = d.shape
        # low-frequency scale error over the image, shared by all frames (temporally consistent model)
        smooth = zoom(rng.standard_normal((4, 4)), (H / 4, W / 4), order=3, mode="nearest")[:H, :W]
        d = d * (1.0 + self.smooth_noise * smooth / max(np.abs(smooth).max(), 1e-9))
        d = d * (1.0 + self.mult_noise * rng.standard_normal(d.shape)) + self.add_noise * rng.standard_normal(d.shape)
        n_out = int(round(self.outlier_fraction * d.size))
        if n_out:
            idx = rng.choice(d.size, size=n_out, replace=False)
            d.reshape(-1)[idx] *= rng.uniform(0.3, 3.0, size=n_out)
        self.last_transform = {"scale": s, "shift": t, "outlier_fraction": self.outlier_fraction}
        return ((d - t) / s).astype(np.float32)

    def _flying_pixels(self, d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """At depth edges (3x3 depth range > ``edge_jump``) a random ``edge_blend`` share of the pixels
        get a random mix of the near and far depth, as monocular depth networks smear edges."""
        if self.edge_blend <= 0:
            return d
        lo = minimum_filter(d, size=(1, 3, 3), mode="nearest")
        hi = maximum_filter(d, size=(1, 3, 3), mode="nearest")
        edge = (hi - lo > self.edge_jump) & (rng.random(d.shape) < self.edge_blend)
        a = rng.random(d.shape)
        return np.where(edge, lo + a * (hi - lo), d)


class TransformersDepth(VideoDepthEstimator):
    """A local Hugging Face depth-estimation model (see module docstring)."""

    name = "transformers"

    def __init__(
        self,
        model_path: str | Path,
        device: str = "auto",
        output: str = "inverse_depth",
        batch_size: int = 4,
        progress: bool = True,
    ):
        if output not in ("inverse_depth", "depth"):
            raise ConfigError(f"output must be 'inverse_depth' or 'depth', got {output!r}")
        if int(batch_size) < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        path = Path(model_path).expanduser()
        if not path.is_dir():
            raise ArtefactError(
                f"depth model directory {str(path)!r} not found: point model_path at a local Hugging Face "
                "depth-estimation model (config.json + weights + preprocessor_config.json); nothing is downloaded"
            )
        if not (path / "config.json").is_file():
            raise ArtefactError(f"{path / 'config.json'} not found: {str(path)!r} is not a Hugging Face model")
        try:
            import torch
            from transformers import AutoImageProcessor, AutoModelForDepthEstimation
        except ImportError as exc:
            raise BackendError(
                f"depth backend 'transformers' needs the transformers package ({exc}); install requirements.lock"
            ) from exc
        from ..device import resolve_device

        self._torch = torch
        self.device = resolve_device(device)
        self.output = output
        self.batch_size = int(batch_size)
        self.progress = progress
        try:
            self.processor = AutoImageProcessor.from_pretrained(str(path), local_files_only=True)
            self.model = AutoModelForDepthEstimation.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise ArtefactError(f"cannot load a depth-estimation model from {str(path)!r}: {exc}") from exc
        self.model.to(self.device).eval()

    def estimate(self, frames: np.ndarray, aux: dict | None = None) -> np.ndarray:
        from tqdm import tqdm

        torch = self._torch
        frames = check_frames(frames)
        T, H, W = frames.shape[:3]
        preds = []
        starts = range(0, T, self.batch_size)
        for i in tqdm(starts, desc="video depth", unit="batch", disable=not self.progress):
            batch = [frames[j] for j in range(i, min(i + self.batch_size, T))]
            inputs = self.processor(images=batch, return_tensors="pt").to(self.device)
            with torch.no_grad():
                pred = self.model(**inputs).predicted_depth  # (B, h, w)
            pred = torch.nn.functional.interpolate(pred[:, None].float(), size=(H, W), mode="bilinear")
            preds.append(pred[:, 0].cpu().numpy())
        out = np.concatenate(preds, axis=0).astype(np.float64)
        if not np.all(np.isfinite(out)):
            raise BackendError("the depth model returned NaN/inf values")
        if self.output == "inverse_depth":
            p99 = float(np.percentile(out, 99))
            if p99 <= 0:
                raise BackendError("the depth model's inverse depth is not positive; is output='depth' meant?")
            out = 1.0 / np.maximum(out / p99, 1e-3)
        return out.astype(np.float32)


_BACKENDS = {"sim_relative": SimRelativeDepth, "transformers": TransformersDepth}


def make_depth_estimator(name: str, **cfg) -> VideoDepthEstimator:
    """Build a depth backend by name; ``cfg`` are its constructor keywords."""
    if name not in _BACKENDS:
        raise ConfigError(f"unknown depth backend {name!r}; choose one of {sorted(_BACKENDS)}")
    cls = _BACKENDS[name]
    params = inspect.signature(cls.__init__).parameters
    unknown = sorted(set(cfg) - set(params) - {"self"})
    if unknown:
        allowed = sorted(k for k in params if k != "self")
        raise ConfigError(f"depth backend {name!r} has no option(s) {unknown}; options: {allowed}")
    missing = [k for k, p in params.items() if k != "self" and p.default is p.empty and k not in cfg]
    if missing:
        raise ConfigError(f"depth backend {name!r} needs option(s) {missing}")
    return cls(**cfg)
