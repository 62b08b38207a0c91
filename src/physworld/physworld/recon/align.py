"""Metric alignment of relative video depth (PhysWorld III-A, eq. 1).

A global scale ``s`` and shift ``t`` map relative depth ``r`` to metric depth, ``d ~ s * r + t``.
They are fitted against the captured metric depth ``D`` over the valid pixels ``Omega`` by

    min_{s,t}  sum_{p in Omega}  w_p (s * r_p + t - D_p)^2

with Huber weights ``w_p = min(1, delta / |e_p|)`` of the current residuals ``e_p``, i.e.
iteratively reweighted least squares (IRLS) whose every step is a closed-form 2x2 weighted least
squares. The Huber loss is convex, so IRLS converges to its unique minimum from the plain least
squares start. Outliers (flying pixels, depth-model failures) get weights < 1 and bounded influence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, InputError

HUBER_K = 1.345  # 95 % efficiency under Gaussian noise, in units of the robust residual std


@dataclass
class AlignResult:
    scale: float
    shift: float
    n_valid: int
    iterations: int
    converged: bool
    huber_delta: float  # metres, the threshold of the last iteration
    residual_median_abs: float  # metres, over valid pixels
    residual_rmse_inliers: float  # metres, over pixels with weight 1
    inlier_fraction: float  # fraction of valid pixels with weight 1
    weights: np.ndarray  # same shape as the input, final Huber weights, 0 where invalid


def valid_depth_mask(
    rel_depth: np.ndarray, metric_depth: np.ndarray, valid_mask: np.ndarray | None = None
) -> np.ndarray:
    """Pixels where the relative depth is finite and the metric depth is finite and positive."""
    valid = np.isfinite(rel_depth) & np.isfinite(metric_depth) & (metric_depth > 0)
    if valid_mask is not None:
        valid &= np.asarray(valid_mask, dtype=bool)
    return valid


def _weighted_ls(r: np.ndarray, d: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    sw = w.sum()
    sr, sd = (w * r).sum(), (w * d).sum()
    srr, srd = (w * r * r).sum(), (w * r * d).sum()
    det = sw * srr - sr * sr
    if det <= 1e-12 * max(sw * srr, 1e-300):
        raise InputError("relative depth is (nearly) constant over the valid pixels: scale and shift are not defined")
    s = (sw * srd - sr * sd) / det
    t = (sd - s * sr) / sw
    return float(s), float(t)


def _robust_sigma(e: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(e - np.median(e))))


def _weights(e: np.ndarray, delta: float, reject_sigma: float | None) -> np.ndarray:
    a = np.abs(e)
    w = np.where(a <= delta, 1.0, delta / np.maximum(a, 1e-300))
    if reject_sigma is not None:
        w[a > reject_sigma * max(_robust_sigma(e), 1e-9)] = 0.0
    return w


def _huber_irls(r, d, s, t, huber_delta, iters, tol, reject_sigma):
    """Huber IRLS from (s, t); with ``reject_sigma`` residuals beyond that many robust stds get weight 0."""
    delta, converged, it = np.inf, iters == 0, 0
    while it < iters:
        it += 1
        e = s * r + t - d
        delta = float(huber_delta) if huber_delta is not None else max(HUBER_K * _robust_sigma(e), 1e-9)
        s_new, t_new = _weighted_ls(r, d, _weights(e, delta, reject_sigma))
        step = abs(s_new - s) + abs(t_new - t)
        s, t = s_new, t_new
        if step < tol * (1.0 + abs(s) + abs(t)):
            converged = True
            break
    return s, t, delta, it, converged


def fit_scale_shift(
    rel_depth: np.ndarray,
    metric_depth: np.ndarray,
    valid_mask: np.ndarray | None = None,
    huber_delta: float | None = None,
    iters: int = 50,
    tol: float = 1e-7,
    min_valid: int = 100,
    reject_sigma: float | None = 4.0,
) -> AlignResult:
    """Eq. 1: robust global scale and shift with ``metric ~ scale * rel + shift``.

    ``rel_depth`` and ``metric_depth`` have the same shape (one image ``(H, W)`` or a stack).
    Pixels count when both are finite and the metric depth is > 0 (and ``valid_mask`` is set).
    ``huber_delta`` is the Huber threshold in metres; ``None`` re-estimates it every iteration as
    ``1.345 * 1.4826 * MAD`` of the residuals. ``iters=0`` gives plain least squares.

    Huber weights bound the influence of outliers in the metric depth but not of gross errors in
    the *relative* depth (leverage points), which still bias the scale by a few percent. So, unless
    ``reject_sigma`` is None (pure eq. 1), a second IRLS pass from the Huber solution gives weight 0
    to residuals beyond ``reject_sigma`` robust standard deviations.
    """
    rel = np.asarray(rel_depth, dtype=np.float64)
    met = np.asarray(metric_depth, dtype=np.float64)
    if rel.shape != met.shape:
        raise InputError(f"relative depth {rel.shape} and metric depth {met.shape} must have the same shape")
    if valid_mask is not None and np.shape(valid_mask) != rel.shape:
        raise InputError(f"valid_mask {np.shape(valid_mask)} must have the depth's shape {rel.shape}")
    if huber_delta is not None and not huber_delta > 0:
        raise ConfigError(f"huber_delta must be > 0 metres (or None for adaptive), got {huber_delta}")
    if iters < 0:
        raise ConfigError(f"iters must be >= 0, got {iters}")
    if reject_sigma is not None and not reject_sigma >= 2.0:
        raise ConfigError(f"reject_sigma must be >= 2 robust standard deviations (or None), got {reject_sigma}")
    valid = valid_depth_mask(rel, met, valid_mask)
    n = int(valid.sum())
    if n < max(int(min_valid), 2):
        raise InputError(
            f"only {n} valid pixel(s) for the depth alignment (need >= {min_valid}): the captured depth is "
            "empty/NaN or does not overlap the video depth; check the depth stream"
        )
    r, d = rel[valid], met[valid]
    s, t = _weighted_ls(r, d, np.ones(n))
    s, t, delta, it, converged = _huber_irls(r, d, s, t, huber_delta, iters, tol, None)
    if reject_sigma is not None and iters > 0:
        s, t, delta, it2, converged = _huber_irls(r, d, s, t, huber_delta, iters, tol, reject_sigma)
        it += it2
    if s <= 0:
        raise InputError(
            f"fitted depth scale {s:.4g} is not positive: the relative depth decreases with distance "
            "(is the depth backend returning inverse depth/disparity?)"
        )
    e = s * r + t - d
    w = _weights(e, delta, reject_sigma if iters > 0 else None)
    inl = w >= 1.0
    weights = np.zeros(rel.shape)
    weights[valid] = w
    return AlignResult(
        scale=s,
        shift=t,
        n_valid=n,
        iterations=it,
        converged=converged,
        huber_delta=float(delta),
        residual_median_abs=float(np.median(np.abs(e))),
        residual_rmse_inliers=float(np.sqrt(np.mean(e[inl] ** 2))) if inl.any() else float("nan"),
        inlier_fraction=float(inl.mean()),
        weights=weights,
    )


def apply_scale_shift(frames_depth: np.ndarray, scale: float, shift: float) -> np.ndarray:
    """Metric depth ``scale * rel + shift`` for all frames (float32); non-positive or non-finite -> NaN."""
    if not np.isfinite(scale) or scale <= 0 or not np.isfinite(shift):
        raise InputError(f"scale must be finite and > 0 and shift finite, got scale={scale}, shift={shift}")
    rel = np.asarray(frames_depth, dtype=np.float64)
    out = scale * rel + shift
    out[~np.isfinite(out) | (out <= 0)] = np.nan
    return out.astype(np.float32)
