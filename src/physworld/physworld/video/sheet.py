"""Contact sheet: a strip of evenly spaced frames of a video, as one PNG (matplotlib, Agg)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import atomic_file
from .base import GeneratedVideo


def sheet_indices(n_frames: int, n: int) -> list[int]:
    """``n`` evenly spaced frame indices including the first and the last."""
    if n < 1:
        raise InputError(f"a contact sheet needs >= 1 frame, got {n}")
    return sorted({int(round(i)) for i in np.linspace(0, n_frames - 1, min(n, n_frames))})


def contact_sheet(video: GeneratedVideo, n: int = 8) -> np.ndarray:
    """The frames at :func:`sheet_indices` side by side, (H, n*W, 3) uint8."""
    return np.concatenate([video.frames[i] for i in sheet_indices(video.n_frames, n)], axis=1)


def save_contact_sheet(video: GeneratedVideo, path: str | os.PathLike, n: int = 8) -> Path:
    """A titled strip of ``n`` frames (time stamps under each) written atomically to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    idx = sheet_indices(video.n_frames, n)
    w, h = video.size
    fig, axes = plt.subplots(1, len(idx), figsize=(2.4 * len(idx), 2.4 * h / w + 0.6), squeeze=False)
    for ax, i in zip(axes[0], idx):
        ax.imshow(video.frames[i])
        ax.set_title(f"frame {i}  t={i / video.fps:.2f}s", fontsize=8)
        ax.axis("off")
    fig.suptitle(f"{video.backend}: {video.task_text!r} (seed {video.seed})", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    with atomic_file(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path
