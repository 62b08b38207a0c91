"""Evaluation of a reconstruction against the simulator's ground truth (metrics only).

This module is the ONLY recon code that reads ground truth: the true object meshes of the task
scene and ``video.aux["object_poses"]``. Reconstruction never calls it.

Metrics per object (matched by name; objects the task cannot tell apart, such as four identical ink
marks, are matched to the true ones by position, :func:`match_identical`):
- position error: distance between the centres of the world-axis-aligned bounding boxes of the
  reconstructed and the true mesh at the capture (frame 0);
- size error: per-axis difference of those boxes' extents (absolute, metres, and relative);
- pose-track errors (tracked objects): the track is expressed in the true body frame with the
  constant offset ``X = T_pred(0)^-1 T_gt(0)`` (the reconstructed object frame is not the
  simulator's body frame) and compared frame by frame with the true poses (``track_*``: what the
  accuracy target refers to); for a rotationally symmetric true mesh the rotation error is also
  given for the symmetry axis only (``track_*_axis``), since the spin about it is unobservable;
- ``centre_track_*``: distance of the tracked box centre from the true box centre over the frames,
  which includes the reconstruction's position error.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from .poses import matrix_to_pose, pose_errors, pose_to_matrix, symmetry_axis

TARGET_POSITION_M = 0.01
TARGET_ROTATION_DEG = 5.0


def _posed(mesh, T):
    m = mesh.copy()
    m.apply_transform(T)
    return m


def _box(mesh) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = mesh.bounds
    return (lo + hi) / 2.0, hi - lo


def track_in_true_frame(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``pred`` (T, 7) re-expressed in the true body frame via the frame-0 offset."""
    X = np.linalg.inv(pose_to_matrix(pred[0])) @ pose_to_matrix(gt[0])
    return np.stack([matrix_to_pose(pose_to_matrix(q) @ X) for q in pred])


def axis_errors_deg(pred: np.ndarray, gt: np.ndarray, axis: np.ndarray) -> np.ndarray:
    a_p = Rotation.from_quat(pred[:, 3:]).apply(axis)
    a_g = Rotation.from_quat(gt[:, 3:]).apply(axis)
    return np.degrees(np.arccos(np.clip(np.sum(a_p * a_g, axis=1), -1.0, 1.0)))


def evaluate_track(pred: np.ndarray, gt: np.ndarray, true_mesh, recon_mesh) -> dict:
    """Track metrics of one object (see module docstring)."""
    n = min(len(pred), len(gt))
    pred, gt = np.asarray(pred[:n], float), np.asarray(gt[:n], float)
    rel = track_in_true_frame(pred, gt)
    e = pose_errors(rel, gt)
    out = {
        "track_mean_position_error_m": e["mean_position_error_m"],
        "track_max_position_error_m": e["max_position_error_m"],
        "track_mean_rotation_error_deg": e["mean_rotation_error_deg"],
        "track_max_rotation_error_deg": e["max_rotation_error_deg"],
        "track_final_position_error_m": float(e["position_error_m"][-1]),
        "track_position_error_m": e["position_error_m"].tolist(),
        "track_rotation_error_deg": e["rotation_error_deg"].tolist(),
        "true_motion_m": float(np.linalg.norm(gt[-1, :3] - gt[0, :3])),
        "symmetric": False,
    }
    rot_for_target = e["mean_rotation_error_deg"]
    sym = symmetry_axis(true_mesh)
    if sym is not None:
        ax = axis_errors_deg(rel, gt, sym[0])
        out.update(symmetric=True, track_mean_rotation_error_deg_axis=float(ax.mean()),
                   track_max_rotation_error_deg_axis=float(ax.max()))  # fmt: skip
        rot_for_target = float(ax.mean())
    c_true, _ = _box(true_mesh)
    c_rec, _ = _box(recon_mesh)
    ct = np.array([pose_to_matrix(q)[:3, :3] @ c_true + q[:3] for q in gt])
    cp = np.array([pose_to_matrix(q)[:3, :3] @ c_rec + q[:3] for q in pred])
    d = np.linalg.norm(ct - cp, axis=1)
    out.update(centre_track_mean_error_m=float(d.mean()), centre_track_max_error_m=float(d.max()))
    out["meets_target"] = bool(
        e["mean_position_error_m"] <= TARGET_POSITION_M and rot_for_target <= TARGET_ROTATION_DEG
    )
    return out


def _true_pose0(task_scene, gt_poses: dict, name: str) -> np.ndarray:
    if name in gt_poses:
        return pose_to_matrix(gt_poses[name][0])
    pos, quat = task_scene.initial_poses.get(name) or task_scene.object_pose(name)
    return pose_to_matrix(np.concatenate([pos, quat]))


def match_identical(result, task_scene, gt_poses: dict) -> dict[str, str]:
    """Reconstructed object name -> true object name. Objects the task cannot tell apart (same
    category and true size, e.g. four ink marks) may carry each other's names: within such a group
    the names are matched by the least total distance of the box centres (Hungarian), the others
    by name."""
    from scipy.optimize import linear_sum_assignment

    truth = task_scene.objects
    out = {o.name: o.name for o in result.bundle.objects if o.name in truth}
    groups: dict = {}
    for name in out:
        key = (truth[name].category, tuple(np.round(truth[name].mesh.extents, 4)))
        groups.setdefault(key, []).append(name)
    for names in groups.values():
        if len(names) < 2:
            continue
        rec = [_box(_posed(result.meshes[result.bundle.object(n).mesh], _bundle_pose(result.bundle.object(n))))[0]
               for n in names]  # fmt: skip
        true = [_box(_posed(truth[n].mesh, _true_pose0(task_scene, gt_poses, n)))[0] for n in names]
        rows, cols = linear_sum_assignment(np.linalg.norm(np.asarray(rec)[:, None] - np.asarray(true)[None], axis=2))
        out.update({names[r]: names[c] for r, c in zip(rows, cols)})
    return out


def _bundle_pose(o) -> np.ndarray:
    return pose_to_matrix(np.concatenate([o.position, o.orientation]))


def evaluate_reconstruction(result, task_scene, video) -> dict:
    """Metrics of ``result`` (ReconstructionResult) against ``task_scene`` (the ground-truth
    TaskScene at capture time) and the video's true object poses. Evaluation only. Objects the task
    cannot tell apart are compared with the true object they match best (:func:`match_identical`)."""
    gt_poses = (video.aux or {}).get("object_poses") or {}
    match = match_identical(result, task_scene, gt_poses)
    objects = {}
    for o in result.bundle.objects:
        entry: dict = {"category": o.category, "movable": o.movable}
        if o.name not in match:
            entry["matched"] = False
            objects[o.name] = entry
            continue
        truth = match[o.name]
        true_local = task_scene.objects[truth].mesh
        T_true0 = _true_pose0(task_scene, gt_poses, truth)
        recon_local = result.meshes[o.mesh]
        true_w = _posed(true_local, T_true0)
        rec_w = _posed(recon_local, _bundle_pose(o))
        (c_t, ext_t), (c_r, ext_r) = _box(true_w), _box(rec_w)
        entry.update(
            matched=True,
            true_object=truth,
            position_error_m=float(np.linalg.norm(c_r - c_t)),
            position_error_xyz_m=(c_r - c_t).tolist(),
            true_extent_m=ext_t.tolist(),
            extent_m=ext_r.tolist(),
            size_error_m=(ext_r - ext_t).tolist(),
            size_error_rel=((ext_r - ext_t) / np.maximum(ext_t, 1e-6)).tolist(),
            true_mass=task_scene.objects[o.name].mass,
            mass=o.mass if o.movable else 0.0,
        )
        traj = result.bundle.target_trajectory(o.name)
        if traj is not None and truth in gt_poses:
            entry["track"] = evaluate_track(traj, np.asarray(gt_poses[truth]), true_local, recon_local)
        objects[o.name] = entry
    missing = sorted(set(task_scene.objects) - set(match.values()))
    moved = result.bundle.meta.get("moved_object")
    track = objects.get(moved, {}).get("track")
    return {
        "task": result.bundle.task_name,
        "moved_object": moved,
        "objects": objects,
        "missing_objects": missing,
        "moved_track": {k: v for k, v in (track or {}).items() if not isinstance(v, list)},
        "meets_track_target": bool(track and track["meets_target"]),
        "targets": {
            "track_mean_position_error_m": TARGET_POSITION_M,
            "track_mean_rotation_error_deg": TARGET_ROTATION_DEG,
        },
        "timings_s": dict(result.timings),
        "total_time_s": float(sum(result.timings.values())),
    }
