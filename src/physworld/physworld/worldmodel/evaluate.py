"""Generate clips with a trained model and score them (FVD, Geo-C) against reference clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..device import resolve_device
from .checkpoint import load_model
from .clips import ClipSet, check_compatible, to_batch
from .metrics import estimate_depth, fvd, geo_c


@torch.no_grad()
def generate(model: nn.Module, clips: ClipSet, batch: int = 8) -> dict[str, np.ndarray]:
    """Roll the model out from each clip's first frame with the clip's actions.
    Returns rgb (N, T, 3, H, W) float32 in [0, 1] and, for the 4D model, rendered depth (N, T, H, W)."""
    check_compatible(clips, model.cfg.image_size, model.cfg.action_dim, "evaluation clips")
    device = next(model.parameters()).device
    model.eval()
    parts: dict[str, list] = {}
    for i in range(0, len(clips), batch):
        b = to_batch(clips, np.arange(i, min(i + batch, len(clips))), device)
        out = model.rollout(b["rgb"][:, 0], b["actions"], clips.clip_len)
        for k in ("rgb", "depth"):
            if k in out:
                parts.setdefault(k, []).append(out[k].float().cpu().numpy())
    return {k: np.concatenate(v) for k, v in parts.items()}


def reference_rgb(clips: ClipSet) -> np.ndarray:
    return clips.rgb.transpose(0, 1, 4, 2, 3).astype(np.float32) / 255.0


def score(
    gen: dict[str, np.ndarray], ref: ClipSet, fvd_net: nn.Module, depth_model: nn.Module | None, min_pixels: int = 4
) -> dict:
    """FVD against the reference clips; Geo-C with the depth model on the generated RGB (all methods
    alike) and with the model's own rendered depth where it has one; masks from ``ref.seg``."""
    real = reference_rgb(ref)
    row: dict = {"fvd": fvd(real, gen["rgb"], fvd_net), "rgb_l1": float(np.abs(gen["rgb"] - real).mean())}
    if ref.seg is None:
        row["geo_c_note"] = "reference clips have no object segmentation: Geo-C not computed"
        return row
    if depth_model is not None:
        row["geo_c"] = geo_c(estimate_depth(depth_model, gen["rgb"]), ref.seg, min_pixels)
        row["geo_c"]["depth_source"] = getattr(depth_model, "name", type(depth_model).__name__)
    if "depth" in gen:
        row["geo_c_rendered"] = geo_c(gen["depth"], ref.seg, min_pixels)
        row["geo_c_rendered"]["depth_source"] = "the model's rendered depth"
    return row


def evaluate_checkpoint(
    path: str | Path,
    ref: ClipSet,
    fvd_net: nn.Module,
    depth_model: nn.Module | None = None,
    device: str = "auto",
    min_pixels: int = 4,
) -> tuple[dict, dict]:
    """(scores, generated clips) of one world-model or 2D-baseline checkpoint."""
    model, payload = load_model(path, expect_kind=("world_model_4d", "video_2d"), device=resolve_device(device))
    gen = generate(model, ref)
    row = score(gen, ref, fvd_net, depth_model, min_pixels)
    row.update(
        checkpoint=str(path),
        kind=payload["kind"],
        perceptual=payload["meta"].get("perceptual", ""),
        stage=payload["meta"].get("stage", ""),
    )
    return row, gen
