"""ClipSet: a set of equal-length video clips with optional geometry labels, saved as one ``.npz``.

Arrays (N clips, T frames):
  rgb     (N, T, H, W, 3) uint8
  actions (N, T-1, A) float32   ego-motion/action between frames (zeros when unknown)
  depth   (N, T, H, W) float32  optical-axis depth in metres, NaN = no reading (optional)
  seg     (N, T, H, W) int32    -1 nothing, 0 ground/static background, >= 1 object ids (optional)
  flow    (N, T-1, H, W, 2) float32  pixel motion t -> t+1 from the known motion, NaN unknown (optional)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import ArtefactError, InputError
from ..io import atomic_file

_OPTIONAL = ("depth", "seg", "flow")


@dataclass
class ClipSet:
    rgb: np.ndarray
    actions: np.ndarray
    depth: np.ndarray | None = None
    seg: np.ndarray | None = None
    flow: np.ndarray | None = None
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_clips(self)

    def __len__(self) -> int:
        return self.rgb.shape[0]

    @property
    def clip_len(self) -> int:
        return self.rgb.shape[1]

    @property
    def image_size(self) -> tuple[int, int]:
        return self.rgb.shape[2], self.rgb.shape[3]

    def subset(self, idx) -> ClipSet:
        idx = np.asarray(idx)
        return ClipSet(
            self.rgb[idx],
            self.actions[idx],
            *(None if getattr(self, k) is None else getattr(self, k)[idx] for k in _OPTIONAL),
            source=self.source,
            meta=dict(self.meta),
        )


def validate_clips(c: ClipSet, where: str = "clips") -> None:
    if c.rgb.ndim != 5 or c.rgb.shape[-1] != 3 or c.rgb.dtype != np.uint8:
        raise InputError(f"{where}.rgb: expected uint8 (N, T, H, W, 3), got {c.rgb.dtype} {c.rgb.shape}")
    n, t, h, w, _ = c.rgb.shape
    if n == 0:
        raise InputError(f"{where}: no clips")
    if c.actions.ndim != 3 or c.actions.shape[:2] != (n, t - 1):
        raise InputError(f"{where}.actions: expected (N={n}, T-1={t - 1}, A), got {c.actions.shape}")
    expect = {"depth": (n, t, h, w), "seg": (n, t, h, w), "flow": (n, t - 1, h, w, 2)}
    for k in _OPTIONAL:
        arr = getattr(c, k)
        if arr is not None and arr.shape != expect[k]:
            raise InputError(f"{where}.{k}: shape {arr.shape} does not match rgb, expected {expect[k]}")


def save_clips(path: str | Path, clips: ClipSet) -> Path:
    arrays = {"rgb": clips.rgb, "actions": clips.actions, "source": np.array(clips.source)}
    for k in _OPTIONAL:
        if getattr(clips, k) is not None:
            arrays[k] = getattr(clips, k)
    with atomic_file(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)
    return Path(path)


def load_clips(path: str | Path) -> ClipSet:
    path = Path(path)
    if not path.is_file():
        raise ArtefactError(f"{path}: clip file not found")
    try:
        with np.load(path) as z:
            data = {k: z[k] for k in z.files}
    except Exception as exc:  # zipfile / pickle / value errors of a damaged file
        raise ArtefactError(f"{path}: not a readable clip .npz ({exc})") from exc
    if "rgb" not in data or "actions" not in data:
        raise ArtefactError(f"{path}: missing array(s) 'rgb'/'actions'; has {sorted(data)}")
    try:
        return ClipSet(
            data["rgb"], data["actions"], *(data.get(k) for k in _OPTIONAL), source=str(data.get("source", ""))
        )
    except InputError as exc:
        raise ArtefactError(f"{path}: {exc}") from exc


def check_compatible(clips: ClipSet, image_size, action_dim: int, where: str) -> None:
    """Clear errors when data and model disagree (resolution, action size)."""
    if list(clips.image_size) != list(image_size):
        raise InputError(
            f"{where}: clips are {clips.image_size[0]}x{clips.image_size[1]} but model.image_size is "
            f"{list(image_size)}; regenerate/resize the data or change model.image_size"
        )
    if clips.actions.shape[-1] != action_dim:
        raise InputError(f"{where}: clips have {clips.actions.shape[-1]}-d actions but model.action_dim={action_dim}")


def to_batch(clips: ClipSet, idx, device) -> dict[str, torch.Tensor]:
    """Torch batch: rgb (B, T, 3, H, W) float in [0, 1], actions, and labels when present."""
    idx = np.asarray(idx)
    out = {
        "rgb": torch.from_numpy(clips.rgb[idx]).to(device).permute(0, 1, 4, 2, 3).float() / 255.0,
        "actions": torch.from_numpy(clips.actions[idx]).to(device).float(),
    }
    if clips.depth is not None:
        out["depth"] = torch.from_numpy(clips.depth[idx]).to(device).float()
    if clips.flow is not None:
        out["flow"] = torch.from_numpy(clips.flow[idx]).to(device).float()
    return out


def batch_indices(n: int, batch_size: int, seed: int, step: int) -> np.ndarray:
    """Deterministic batch of clip indices for a given step (so a resumed run sees the same batches)."""
    rng = np.random.default_rng([seed, step])
    return rng.choice(n, size=batch_size, replace=n < batch_size)
