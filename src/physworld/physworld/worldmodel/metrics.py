"""Metrics of paper 000: FVD and Geo-C.

FVD: Fréchet distance between Gaussians fitted to video features of real and generated clips, in
float64 and without ``sqrtm``: tr((S1 S2)^1/2) = tr((A S2 A)^1/2) with A = S1^1/2, both symmetric
square roots by ``eigh`` with negative eigenvalues clipped to 0, so singular or ill-conditioned
covariances (few clips, many features) give a finite, non-negative value. The video network is
pluggable: an I3D-style TorchScript file from a local path, or ``TinyVideoFeatures`` (a fixed-seed
random 3D CNN). Only I3D features may be called FVD comparable to published numbers, and even then
our clip length and resolution differ from the standard protocol.

Geo-C: temporal variance of per-object depth (median over the object's mask, optical-axis depth in
the current camera, i.e. egocentric), averaged over objects; depth comes from a pluggable source
(rendered, ground truth, or a depth model) and masks from the reference clip's segmentation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ArtefactError, InputError


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((m + m.T) / 2.0)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.atleast_2d(np.asarray(cov1, np.float64)), np.atleast_2d(np.asarray(cov2, np.float64))
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != (mu1.size, mu1.size):
        raise InputError(
            f"frechet_distance: shapes disagree: mu {mu1.shape}/{mu2.shape}, cov {cov1.shape}/{cov2.shape}"
        )
    a = _sqrt_psd(cov1)
    inner = a @ cov2 @ a
    tr_sqrt = float(np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2.0), 0.0, None)).sum())
    d = float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2.0 * tr_sqrt)
    return max(d, 0.0)


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(features, np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise InputError(f"FVD needs at least 2 clips of features, got array of shape {f.shape}")
    return f.mean(0), np.cov(f, rowvar=False)


class TinyVideoFeatures(nn.Module):
    """A fixed-seed, randomly initialised 3D CNN: clips (N, T, 3, H, W) in [0, 1] -> (N, dim)."""

    is_i3d = False

    def __init__(self, dim: int = 16, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.net = nn.Sequential(
            nn.Conv3d(3, 16, 3, (1, 2, 2), 1),
            nn.ReLU(),
            nn.Conv3d(16, 32, 3, 2, 1),
            nn.ReLU(),
            nn.Conv3d(32, dim, 3, 1, 1),
        )
        for m in self.net:
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, generator=g)
                nn.init.zeros_(m.bias)
        self.eval()
        self.name = f"tiny random-init 3D CNN (seed {seed}, {dim}-d; NOT I3D, not comparable to published FVD)"

    @torch.no_grad()
    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        x = self.net(clips.transpose(1, 2) * 2.0 - 1.0)
        return x.mean(dim=(2, 3, 4))


class TorchScriptVideoFeatures(nn.Module):
    """An I3D-style network from a local TorchScript file: (N, 3, T, S, S) in [-1, 1] -> (N, dim)."""

    is_i3d = True

    def __init__(self, path: str | Path, input_size: int = 224):
        super().__init__()
        path = Path(path)
        if not path.is_file():
            raise ArtefactError(f"{path}: FVD feature network (TorchScript) not found (experiment.fvd_features)")
        try:
            self.net = torch.jit.load(str(path), map_location="cpu").eval()
        except Exception as exc:
            raise ArtefactError(f"{path}: not a loadable TorchScript module ({exc})") from exc
        self.input_size = input_size
        self.name = f"I3D (TorchScript {path.name}, clips resized to {input_size}px)"

    @torch.no_grad()
    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        n, t = clips.shape[:2]
        x = F.interpolate(
            clips.flatten(0, 1), size=(self.input_size, self.input_size), mode="bilinear", align_corners=False
        )
        x = x.view(n, t, 3, self.input_size, self.input_size).transpose(1, 2) * 2.0 - 1.0
        return self.net(x).reshape(n, -1)


def make_video_features(path: str = "", dim: int = 16, seed: int = 0) -> nn.Module:
    return TorchScriptVideoFeatures(path) if path else TinyVideoFeatures(dim, seed)


@torch.no_grad()
def video_features(net: nn.Module, clips: np.ndarray | torch.Tensor, batch: int = 16) -> np.ndarray:
    """clips (N, T, 3, H, W) float in [0, 1] (or uint8 (N, T, H, W, 3)) -> features (N, dim) float64."""
    x = torch.as_tensor(clips)
    if x.dtype == torch.uint8:
        x = x.permute(0, 1, 4, 2, 3).float() / 255.0
    if x.dim() != 5 or x.shape[2] != 3:
        raise InputError(f"video_features: expected clips (N, T, 3, H, W), got {tuple(x.shape)}")
    return np.concatenate([net(x[i : i + batch].float()).double().numpy() for i in range(0, len(x), batch)])


BOOTSTRAP_DRAWS = 200


def _percentiles(values: list[float]) -> list[float]:
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]


def fvd(real_clips, generated_clips, net: nn.Module, seed: int = 0) -> dict:
    fr, fg = video_features(net, real_clips), video_features(net, generated_clips)
    value = frechet_distance(*gaussian_stats(fr), *gaussian_stats(fg))
    rng = np.random.default_rng(seed)
    boot = [
        frechet_distance(
            *gaussian_stats(fr[rng.integers(len(fr), size=len(fr))]),
            *gaussian_stats(fg[rng.integers(len(fg), size=len(fg))]),
        )
        for _ in range(BOOTSTRAP_DRAWS)
    ]
    return {
        "value": value,
        "ci95_bootstrap": _percentiles(boot),
        "features": net.name,
        "comparable_to_published": bool(getattr(net, "is_i3d", False)),
        "n_real": len(fr),
        "n_generated": len(fg),
        "note": "Frechet distance of video features; "
        + (
            "I3D features, but clip length/resolution differ from the standard FVD protocol"
            if getattr(net, "is_i3d", False)
            else "random-feature proxy, only for ranking methods within this table"
        ),
    }


def per_object_depth_series(depth: np.ndarray, seg: np.ndarray, min_pixels: int = 4) -> dict[int, np.ndarray]:
    """depth, seg (T, H, W) -> {object id (>= 1): (T,) median depth over its mask, NaN where < min_pixels}."""
    if depth.shape != seg.shape:
        raise InputError(f"Geo-C: depth {depth.shape} and segmentation {seg.shape} shapes differ")
    out = {}
    for oid in np.unique(seg):
        if oid < 1:
            continue
        series = np.full(depth.shape[0], np.nan)
        for t in range(depth.shape[0]):
            vals = depth[t][(seg[t] == oid) & np.isfinite(depth[t])]
            if vals.size >= min_pixels:
                series[t] = np.median(vals)
        out[int(oid)] = series
    return out


def geo_c(depths: np.ndarray, segs: np.ndarray, min_pixels: int = 4) -> dict:
    """Geo-C over clips: depths, segs (N, T, H, W) -> mean over objects of the temporal variance (m^2)."""
    depths, segs = np.asarray(depths, np.float64), np.asarray(segs)
    if depths.shape != segs.shape or depths.ndim != 4:
        raise InputError(f"Geo-C: expected depth and segmentation (N, T, H, W), got {depths.shape} / {segs.shape}")
    variances = []
    for d, s in zip(depths, segs):
        for series in per_object_depth_series(d, s, min_pixels).values():
            ok = series[np.isfinite(series)]
            if ok.size >= 2:
                variances.append(float(np.var(ok)))
    if not variances:
        raise InputError("Geo-C: no object was visible in >= 2 frames with enough mask pixels")
    v = np.asarray(variances)
    rng = np.random.default_rng(0)
    boot = [float(v[rng.integers(v.size, size=v.size)].mean()) for _ in range(BOOTSTRAP_DRAWS)]
    return {
        "value": float(v.mean()),
        "median": float(np.median(v)),
        "n_objects": int(v.size),
        "unit": "m^2",
        "ci95_bootstrap": _percentiles(boot),
    }


@torch.no_grad()
def estimate_depth(model: nn.Module, rgb: np.ndarray | torch.Tensor, batch: int = 64) -> np.ndarray:
    """A depth model on clips (N, T, 3, H, W) in [0, 1] -> depth (N, T, H, W) float32 metres."""
    x = torch.as_tensor(rgb).float()
    flat = x.flatten(0, 1)
    dev = next(model.parameters()).device
    out = torch.cat([model(flat[i : i + batch].to(dev)).cpu() for i in range(0, len(flat), batch)])
    return out.view(*x.shape[:2], *out.shape[-2:]).numpy().astype(np.float32)


class TorchScriptDepth(nn.Module):
    """An external monocular depth model from a local TorchScript file: (B, 3, H, W) in [0, 1] -> (B, H, W) m."""

    def __init__(self, path: str | Path):
        super().__init__()
        path = Path(path)
        if not path.is_file():
            raise ArtefactError(f"{path}: depth model (TorchScript) not found (experiment.geo_depth_model)")
        try:
            self.net = torch.jit.load(str(path), map_location="cpu").eval()
        except Exception as exc:
            raise ArtefactError(f"{path}: not a loadable TorchScript module ({exc})") from exc
        self.name = f"depth model (TorchScript {path.name})"
        self._dummy = nn.Parameter(torch.zeros(()), requires_grad=False)  # gives the module a device

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        out = self.net(images)
        return out.reshape(images.shape[0], *images.shape[-2:])
