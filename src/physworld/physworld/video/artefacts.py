"""Generated-video artefacts, to make the embedded sim video look less perfect.

Real image-to-video models blur fast motion, shake and zoom the camera slightly, and hallucinate
hands (PhysWorld IV, object- vs embodiment-centric). Each function takes frames (T, H, W, 3)
uint8 and, where the artefact moves pixels, the matching depth (T, H, W) float32 so that the
depth of a frame stays registered to it. Frame 0 is never changed (a generator conditions on it).
All randomness comes from the ``rng`` passed in.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import ConfigError

ARTEFACTS = ("blur", "jitter", "drift", "occluder")


def parse_artefacts(spec) -> tuple[str, ...]:
    """``"blur,jitter"`` or an iterable of names -> validated tuple (order kept, no duplicates)."""
    if spec is None:
        return ()
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[str] = []
    for item in (str(i).strip().lower() for i in items):
        if not item:
            continue
        if item not in ARTEFACTS:
            raise ConfigError(f"unknown video artefact {item!r}; choose from {', '.join(ARTEFACTS)}")
        if item not in out:
            out.append(item)
    return tuple(out)


def motion_blur(frames: np.ndarray, strength: float = 0.4) -> np.ndarray:
    """Ghosting: each frame blended with the previous one, then a slight blur where pixels moved."""
    if not 0.0 <= strength < 1.0:
        raise ConfigError(f"blur strength must be in [0, 1), got {strength}")
    f = frames.astype(np.float32)
    out = f.copy()
    for t in range(1, len(f)):
        blend = (1.0 - strength) * f[t] + strength * f[t - 1]
        moved = (np.abs(f[t] - f[t - 1]).max(axis=2, keepdims=True) > 8).astype(np.float32)
        moved = cv2.GaussianBlur(moved, (0, 0), 1.5)[..., None]
        blurred = cv2.GaussianBlur(blend, (0, 0), 1.0)
        out[t] = moved * blurred + (1 - moved) * blend
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _warp(frames, depth, mats):
    h, w = frames.shape[1:3]
    out_f, out_d = frames.copy(), None if depth is None else depth.copy()
    for t in range(1, len(frames)):
        out_f[t] = cv2.warpAffine(frames[t], mats[t], (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if depth is not None:
            out_d[t] = cv2.warpAffine(
                depth[t], mats[t], (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=np.nan
            )
    return out_f, out_d


def camera_jitter(frames, depth, rng: np.random.Generator, max_px: float = 2.0):
    """Random whole-image shifts of up to ``max_px`` pixels (hand-held camera shake)."""
    shifts = rng.uniform(-max_px, max_px, (len(frames), 2))
    mats = [np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]]) for dx, dy in shifts]
    return _warp(frames, depth, mats)


def scale_drift(frames, depth, max_scale: float = 0.04):
    """A slow zoom about the image centre growing linearly to ``1 + max_scale`` at the last frame."""
    h, w = frames.shape[1:3]
    n = max(len(frames) - 1, 1)
    mats = [
        cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), 0.0, 1.0 + max_scale * t / n) for t in range(len(frames))
    ]
    return _warp(frames, depth, mats)


def occluder(frames, depth, rng: np.random.Generator, anchor_px, anchor_depth, radius_frac: float = 0.08):
    """A skin-coloured 'hallucinated hand' blob hovering over ``anchor_px`` (T, 2) pixel track
    (the moved object) from frame 1 on, drawn ``0.05 m`` in front of it in the depth."""
    h, w = frames.shape[1:3]
    out_f, out_d = frames.copy(), None if depth is None else depth.copy()
    colour = np.array([224, 172, 138]) + rng.integers(-20, 20, 3)
    r = max(3, int(radius_frac * h))
    offset = rng.uniform(-0.5, 0.5, 2) * r + np.array([0.0, -0.6 * r])
    for t in range(1, len(frames)):
        cx, cy = np.asarray(anchor_px[t], float) + offset
        if not np.isfinite([cx, cy]).all():
            continue
        mask = np.zeros((h, w), np.uint8)
        cv2.ellipse(mask, (int(cx), int(cy)), (r, int(r * 0.7)), float(rng.uniform(-30, 30)), 0, 360, 1, -1)
        m = mask.astype(bool)
        shade = 0.85 + 0.15 * rng.random()
        out_f[t][m] = np.clip(colour * shade, 0, 255).astype(np.uint8)
        if out_d is not None and np.isfinite(anchor_depth[t]):
            out_d[t][m] = max(float(anchor_depth[t]) - 0.05, 0.06)
    return out_f, out_d
