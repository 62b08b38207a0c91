"""The default "real" domain: sim renders pushed away from the clean synthetic look.

Two parts, both seeded per clip and constant over a clip (except the sensor noise):
* scene textures (``make_texture``): procedural stripe/checker/blob textures for the plane and the
  objects, applied inside PyBullet so they move with the objects;
* image-space camera effects (``apply_camera_effects``): colour-cast matrix, exposure gain, gamma,
  a lighting gradient, vignetting, Gaussian blur and per-frame sensor noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def make_texture(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """One procedural RGB texture (size, size, 3) uint8."""
    kind = rng.integers(3)
    c1, c2 = rng.uniform(0.05, 0.95, 3), rng.uniform(0.05, 0.95, 3)
    v, u = np.mgrid[0:size, 0:size] / size
    if kind == 0:  # stripes at a random angle and frequency
        ang, freq = rng.uniform(0, np.pi), rng.uniform(3, 10)
        m = (np.sin(2 * np.pi * freq * (np.cos(ang) * u + np.sin(ang) * v)) > 0).astype(float)
    elif kind == 1:  # checker
        n = rng.integers(3, 9)
        m = ((np.floor(u * n) + np.floor(v * n)) % 2).astype(float)
    else:  # smooth blobs (upsampled noise)
        small = rng.random((6, 6))
        m = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
        m = np.clip((m - m.min()) / (np.ptp(m) + 1e-9), 0, 1)
    img = m[..., None] * c1 + (1 - m[..., None]) * c2
    img *= rng.uniform(0.85, 1.15, (size, size, 1))  # grain
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


@dataclass
class CameraEffects:
    colour_matrix: np.ndarray  # (3, 3) applied to linear RGB
    bias: np.ndarray  # (3,)
    gain: float
    gamma: float
    gradient: np.ndarray  # (2,) lighting slope across the image (x, y)
    vignette: float
    blur_sigma: float  # pixels
    noise_std: float  # in [0, 1] intensity units


def sample_camera_effects(rng: np.random.Generator) -> CameraEffects:
    return CameraEffects(
        colour_matrix=np.eye(3) + rng.uniform(-0.15, 0.15, (3, 3)),
        bias=rng.uniform(-0.06, 0.06, 3),
        gain=float(rng.uniform(0.75, 1.2)),
        gamma=float(rng.uniform(0.75, 1.3)),
        gradient=rng.uniform(-0.25, 0.25, 2),
        vignette=float(rng.uniform(0.0, 0.35)),
        blur_sigma=float(rng.uniform(0.3, 0.9)),
        noise_std=float(rng.uniform(0.01, 0.04)),
    )


def apply_camera_effects(frames: np.ndarray, fx: CameraEffects, rng: np.random.Generator) -> np.ndarray:
    """frames (T, H, W, 3) uint8 -> shifted frames, same shape and dtype."""
    t, h, w, _ = frames.shape
    x = frames.astype(np.float32) / 255.0
    x = x @ fx.colour_matrix.T.astype(np.float32) + fx.bias.astype(np.float32)
    v, u = np.mgrid[0:h, 0:w].astype(np.float32)
    un, vn = u / max(w - 1, 1) - 0.5, v / max(h - 1, 1) - 0.5
    light = fx.gain * (1.0 + fx.gradient[0] * un + fx.gradient[1] * vn) * (1.0 - fx.vignette * (un**2 + vn**2) * 2)
    x = np.clip(x * light[None, :, :, None], 0.0, 1.0) ** fx.gamma
    if fx.blur_sigma > 0:
        x = np.stack([cv2.GaussianBlur(f, (0, 0), fx.blur_sigma) for f in x])
    x = x + rng.normal(0.0, fx.noise_std, x.shape).astype(np.float32)
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
