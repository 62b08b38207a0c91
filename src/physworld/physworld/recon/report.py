"""Per-run report of a reconstruction: ``report.png``, ``report.md`` and ``metrics.json``.

The picture shows the captured first frame, a strip of generated frames, the eq. 1 alignment
residual (map and histogram), the reconstructed scene rendered from the camera next to the
captured image (first frame) and next to the last generated frame (objects at the end of their
target trajectories), and the tracked object positions against the true ones where those are
known (sim). Every file is written atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import atomic_file, atomic_write_json, atomic_write_text
from ..sim.camera import CameraIntrinsics, PyBulletCamera

_COLOURS = [(0.85, 0.33, 0.1), (0.0, 0.45, 0.74), (0.47, 0.67, 0.19), (0.49, 0.18, 0.56), (0.93, 0.69, 0.13)]


def render_bundle(bundle, bundle_dir, frame: int | None = None) -> np.ndarray:
    """RGB render (H, W, 3) of a saved bundle from its camera, in a fresh PyBullet DIRECT client:
    background grey, objects coloured, at their initial poses or at ``frame`` of their target
    trajectories."""
    import pybullet as p

    intr = CameraIntrinsics.from_dict(bundle.camera)
    cam = PyBulletCamera(intr, np.asarray(bundle.T_world_camera, float))
    cid = p.connect(p.DIRECT)
    try:

        def add(rel, rgba, pose7):
            vis = p.createVisualShape(p.GEOM_MESH, fileName=str(Path(bundle_dir) / rel), rgbaColor=rgba,
                                      physicsClientId=cid)  # fmt: skip
            p.createMultiBody(0, -1, vis, list(pose7[:3]), list(pose7[3:]), physicsClientId=cid)

        if bundle.background_mesh:
            add(bundle.background_mesh, [0.72, 0.66, 0.58, 1.0], np.array([0, 0, 0, 0, 0, 0, 1.0]))
        for i, o in enumerate(bundle.objects):
            pose = np.array([*o.position, *o.orientation])
            traj = bundle.target_trajectory(o.name)
            if frame is not None and traj is not None:
                pose = traj[min(frame, len(traj) - 1)]
            add(o.mesh, [*_COLOURS[i % len(_COLOURS)], 1.0], pose)
        rgb, _, _ = cam.render(cid)
    finally:
        p.disconnect(cid)
    return rgb


def _track_panel(ax, result, metrics, gt_poses, dt):
    from .evaluation import track_in_true_frame

    moved = result.bundle.meta.get("moved_object")
    traj = result.bundle.target_trajectory(moved) if moved else None
    if traj is None:
        ax.text(0.5, 0.5, "no pose track", ha="center", va="center")
        ax.axis("off")
        return
    t = np.arange(len(traj)) * dt
    gt = None if not gt_poses or moved not in gt_poses else np.asarray(gt_poses[moved])[: len(traj)]
    pred = traj if gt is None else track_in_true_frame(traj, gt)
    for k, (axis, colour) in enumerate(zip("xyz", ("tab:red", "tab:green", "tab:blue"))):
        ax.plot(t, pred[:, k], color=colour, label=f"{axis} tracked")
        if gt is not None:
            ax.plot(t, gt[:, k], color=colour, ls="--", lw=1, label=f"{axis} true")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("position (m)")
    tm = (metrics or {}).get("moved_track") or {}
    err = ""
    if tm:
        pos, rot = tm["track_mean_position_error_m"] * 100, tm["track_mean_rotation_error_deg"]
        err = f": mean err {pos:.2f} cm, {rot:.1f} deg"
    ax.set_title(f"pose track of '{moved}'{err}", fontsize=9)
    ax.legend(fontsize=6, ncol=2)


def save_report_png(path, result, bundle_dir, first_rgb, video, metrics=None) -> Path:
    """The report picture (see module docstring), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gt_poses = (video.aux or {}).get("object_poses")
    n = video.n_frames
    idx = sorted({int(round(i)) for i in np.linspace(0, n - 1, min(5, n))})
    fig = plt.figure(figsize=(15, 11))
    gs = fig.add_gridspec(3, 3)
    ax = fig.add_subplot(gs[0, 0])
    ax.imshow(first_rgb)
    ax.set_title("captured first frame", fontsize=9)
    ax.axis("off")
    ax = fig.add_subplot(gs[0, 1:])
    ax.imshow(np.concatenate([video.frames[i] for i in idx], axis=1))
    ax.set_title(f"generated video ({video.backend}), frames {idx}", fontsize=9)
    ax.axis("off")
    res = result.alignment_residual
    if res is not None and np.isfinite(res).any():
        lim = max(float(np.nanpercentile(np.abs(res), 95)), 1e-4)
        ax = fig.add_subplot(gs[1, 0])
        im = ax.imshow(res * 100, cmap="coolwarm", vmin=-lim * 100, vmax=lim * 100)
        fig.colorbar(im, ax=ax, fraction=0.035, label="cm")
        ax.set_title("eq. 1 residual: aligned video depth - captured (frame 0)", fontsize=9)
        ax.axis("off")
        ax = fig.add_subplot(gs[1, 1])
        r = res[np.isfinite(res)] * 100
        ax.hist(np.clip(r, -3 * lim * 100, 3 * lim * 100), bins=80, color="tab:gray")
        a = result.diagnostics.get("alignment", {})
        ax.set_title(f"residual histogram (scale {a.get('scale', 0):.3f}, shift {a.get('shift', 0):.3f} m)", fontsize=9)
        ax.set_xlabel("cm (clipped at 3x the 95th percentile)")
    _track_panel(fig.add_subplot(gs[1, 2]), result, metrics, gt_poses, result.bundle.frame_dt)
    last = n - 1
    panels = [
        (first_rgb, "captured (frame 0)"),
        (render_bundle(result.bundle, bundle_dir), "reconstruction rendered from the camera (frame 0)"),
        (np.concatenate([video.frames[last], render_bundle(result.bundle, bundle_dir, frame=last)], axis=1),
         f"frame {last}: generated | reconstruction at the target pose"),
    ]  # fmt: skip
    for k, (img, title) in enumerate(panels):
        ax = fig.add_subplot(gs[2, k])
        ax.imshow(img)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.suptitle(f"reconstruction of '{result.bundle.task_name}': {result.bundle.task_text}", fontsize=11)
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return Path(path)


def report_markdown(result, metrics=None, png_name: str = "report.png") -> str:
    b = result.bundle
    lines = [f"# Reconstruction: {b.task_name}", "", f"Task: *{b.task_text}*  ", f"Video: {len(b.objects)} objects, "
             f"frame dt {b.frame_dt:.3f} s, extrinsics {b.meta.get('extrinsics')}", "", f"![report]({png_name})", "",
             "## Objects", "", "| object | category | movable | mass (kg) | extent (cm) | position error (cm) | "
             "size error (cm) |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    mobj = (metrics or {}).get("objects", {})
    for o in b.objects:
        m = mobj.get(o.name, {})
        pe = f"{m['position_error_m'] * 100:.1f}" if "position_error_m" in m else "-"
        se = ", ".join(f"{v * 100:+.1f}" for v in m["size_error_m"]) if "size_error_m" in m else "-"
        ext = ", ".join(f"{v * 100:.1f}" for v in o.extent)
        lines.append(f"| {o.name} | {o.category} | {o.movable} | {o.mass:.3f} | {ext} | {pe} | {se} |")
    tm = (metrics or {}).get("moved_track")
    if tm:
        lines += ["", "## Pose track of the moved object (eq. 4)", "",
                  f"- mean / max position error: {tm['track_mean_position_error_m'] * 100:.2f} / "
                  f"{tm['track_max_position_error_m'] * 100:.2f} cm (target <= 1 cm)",
                  f"- mean / max rotation error: {tm['track_mean_rotation_error_deg']:.1f} / "
                  f"{tm['track_max_rotation_error_deg']:.1f} deg (target <= 5 deg)"]  # fmt: skip
        if tm.get("symmetric"):
            axis = tm["track_mean_rotation_error_deg_axis"]
            lines.append(f"- symmetric object, rotation error of its axis only: {axis:.1f} deg")
        lines.append(f"- meets the targets: {'yes' if tm['meets_target'] else 'NO'}")
    lines += ["", "## Stage timings", "", "| stage | s |", "|---|---|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in result.timings.items()]
    lines += [f"| total | {sum(result.timings.values()):.2f} |", ""]
    return "\n".join(lines)


def write_report(out_dir, result, bundle_dir, first_rgb, video, metrics=None) -> dict[str, Path]:
    """``report.png``, ``report.md`` and ``metrics.json`` (metrics + diagnostics) in ``out_dir``."""
    out_dir = Path(out_dir)
    png = save_report_png(out_dir / "report.png", result, bundle_dir, first_rgb, video, metrics)
    md = atomic_write_text(out_dir / "report.md", report_markdown(result, metrics, png.name))
    doc = {"metrics": metrics or {}, "diagnostics": result.diagnostics, "timings_s": result.timings}
    js = atomic_write_json(out_dir / "metrics.json", doc)
    return {"png": png, "markdown": md, "metrics": js}
