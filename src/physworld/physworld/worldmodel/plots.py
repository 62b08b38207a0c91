"""Pictures of generated rollouts (matplotlib, Agg), written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import atomic_file


def _figure(rows: list[tuple[str, np.ndarray, str | None]], title: str, path: str | Path) -> Path:
    """rows: (label, frames (T, H, W, 3) in [0, 1] or (T, H, W) depth, colormap or None)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = max(r[1].shape[0] for r in rows)
    fig, axes = plt.subplots(len(rows), t, figsize=(1.3 * t + 1.5, 1.3 * len(rows) + 0.6), squeeze=False)
    for i, (label, frames, cmap) in enumerate(rows):
        for j in range(t):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < frames.shape[0]:
                ax.imshow(
                    np.clip(frames[j], 0, 1) if cmap is None else frames[j],
                    cmap=cmap,
                    **({} if cmap is None else {"vmin": np.nanmin(frames), "vmax": np.nanmax(frames)}),
                )
            if i == 0:
                ax.set_title(f"t+{j}" if j else "t", fontsize=8)
        axes[i, 0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_file(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return Path(path)


def save_rollout_png(
    path: str | Path,
    title: str,
    ref_rgb: np.ndarray,
    gen: dict[str, np.ndarray],
    est_depth: np.ndarray | None,
    examples: list[int],
) -> Path:
    """One method: for each example clip, rows real / generated / depth of the generated clip."""
    rows = []
    for n in examples:
        rows.append((f"real #{n}", ref_rgb[n].transpose(0, 2, 3, 1), None))
        rows.append((f"generated #{n}", gen["rgb"][n].transpose(0, 2, 3, 1), None))
        if "depth" in gen:
            rows.append(("rendered depth", gen["depth"][n], "viridis"))
        if est_depth is not None:
            rows.append(("estimated depth", est_depth[n], "viridis"))
    return _figure(rows, title, path)


def save_comparison_png(path: str | Path, ref_rgb: np.ndarray, gens: dict[str, dict], example: int) -> Path:
    """Like the paper's Fig. 3: the real clip and every method's rollout from the same first frame."""
    rows = [("real", ref_rgb[example].transpose(0, 2, 3, 1), None)]
    rows += [(name, g["rgb"][example].transpose(0, 2, 3, 1), None) for name, g in gens.items()]
    return _figure(rows, f"rollouts from the first frame of test clip #{example}", path)


def save_loss_png(path: str | Path, history: list[dict], title: str) -> Path:
    """Loss curves of one training run (one line per logged term, log scale where positive)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    keys = sorted({k for row in history for k in row})
    for k in keys:
        ax.plot([row.get(k, np.nan) for row in history], label=k, lw=1)
    if history and all(v > 0 for row in history for v in row.values()):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_file(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return Path(path)
