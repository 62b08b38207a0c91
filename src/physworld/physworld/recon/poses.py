"""Pose utilities of the tracker (PhysWorld eq. 4): 7-vectors ``[x, y, z, qx, qy, qz, qw]``,
pose errors, re-basing, filling of rejected frames, temporal smoothing and the handling of
rotationally symmetric objects."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from ..errors import InputError


def pose_to_matrix(pose7) -> np.ndarray:
    p = np.asarray(pose7, dtype=float)
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(p[3:7]).as_matrix()
    T[:3, 3] = p[:3]
    return T


def matrix_to_pose(T: np.ndarray) -> np.ndarray:
    return np.concatenate([T[:3, 3], Rotation.from_matrix(T[:3, :3]).as_quat()])


def pose_errors(pred: np.ndarray, gt: np.ndarray) -> dict:
    """Per-frame position error (m) and rotation error (deg, geodesic) of ``pred`` against ``gt``,
    both (T, 7), with their means and maxima."""
    pred, gt = np.asarray(pred, float), np.asarray(gt, float)
    if pred.shape != gt.shape or pred.ndim != 2 or pred.shape[1] != 7:
        raise InputError(f"pose_errors needs two (T, 7) arrays of equal shape, got {pred.shape} and {gt.shape}")
    pos = np.linalg.norm(pred[:, :3] - gt[:, :3], axis=1)
    rel = Rotation.from_quat(pred[:, 3:]) * Rotation.from_quat(gt[:, 3:]).inv()
    rot = np.degrees(rel.magnitude())
    return {
        "position_error_m": pos,
        "rotation_error_deg": rot,
        "mean_position_error_m": float(pos.mean()),
        "max_position_error_m": float(pos.max()),
        "mean_rotation_error_deg": float(rot.mean()),
        "max_rotation_error_deg": float(rot.max()),
    }


def anchor_track(mats: np.ndarray, T0: np.ndarray) -> np.ndarray:
    """Re-base a track (T, 4, 4) on ``T0``: ``p(t) = p(t) - p(0) + p0``, ``R(t) = R(t) R(0)^T R0``.
    The position offset cancels a constant bias of the video depth; the rotation correction
    cancels a constant misfit of the model in its own frame."""
    out = np.array(mats, dtype=float)
    out[:, :3, 3] += T0[:3, 3] - mats[0, :3, 3]
    out[:, :3, :3] = mats[:, :3, :3] @ (mats[0, :3, :3].T @ T0[:3, :3])
    return out


def symmetry_axis(mesh, tol: float = 0.02, n_samples: int = 500) -> tuple[np.ndarray, np.ndarray] | None:
    """``(axis, point)`` in the mesh frame if the mesh is (nearly) rotationally symmetric about an
    axis through its surface centroid, else None. Candidates: the mesh frame's z, x, y axes (a
    reconstructed mesh is gravity-aligned, z up), then its principal axes. Symmetric means: turned
    by 40, 100 and 160 degrees, its surface samples stay within ``tol`` x its bounding-box diagonal
    (mean distance to a dense sample of the unturned surface)."""
    import trimesh
    from scipy.spatial import cKDTree

    ref, _ = trimesh.sample.sample_surface(mesh, 8 * n_samples, seed=0)
    c = ref.mean(0)
    ref = ref - c
    q = ref[::8]
    _, _, vt = np.linalg.svd(ref, full_matrices=False)
    tree = cKDTree(ref)
    scale = float(np.linalg.norm(mesh.extents))
    for axis in [*np.eye(3)[[2, 0, 1]], *vt]:
        errs = [tree.query(Rotation.from_rotvec(np.radians(a) * axis).apply(q))[0].mean() for a in (40, 100, 160)]
        if max(errs) <= tol * scale:
            return axis, c
    return None


def remove_twist(T_prev: np.ndarray, T_new: np.ndarray, axis: np.ndarray, point: np.ndarray) -> np.ndarray:
    """``T_new`` without its rotation about the body ``axis`` (through body ``point``) relative to
    ``T_prev`` (swing-twist decomposition): a rotationally symmetric object's spin is not observable,
    so the tracker must not invent one."""
    D = Rotation.from_matrix(T_prev[:3, :3].T @ T_new[:3, :3]).as_quat()  # body-frame increment
    a = axis / np.linalg.norm(axis)
    twist = np.concatenate([a * np.dot(D[:3], a), [D[3]]])
    if np.linalg.norm(twist) < 1e-12:
        return T_new
    swing = Rotation.from_quat(D) * Rotation.from_quat(twist / np.linalg.norm(twist)).inv()
    out = T_new.copy()
    out[:3, :3] = T_prev[:3, :3] @ swing.as_matrix()
    out[:3, 3] = T_new[:3, :3] @ point + T_new[:3, 3] - out[:3, :3] @ point  # keep the axis point in place
    return out


def fill_rejected(poses: np.ndarray, accepted: np.ndarray) -> np.ndarray:
    """Replace rejected frames by interpolation between accepted neighbours (linear positions,
    slerp rotations); frames before the first / after the last accepted one hold it."""
    poses = np.asarray(poses, float).copy()
    good = np.flatnonzero(accepted)
    if len(good) == 0 or len(good) == len(poses):
        return poses
    t = np.arange(len(poses), dtype=float)
    tc = np.clip(t, good[0], good[-1])
    for k in range(3):
        poses[:, k] = np.interp(tc, good, poses[good, k])
    if len(good) == 1:
        poses[:, 3:] = poses[good[0], 3:]
    else:
        poses[:, 3:] = Slerp(good.astype(float), Rotation.from_quat(poses[good, 3:]))(tc).as_quat()
    return poses


def smooth_poses(poses: np.ndarray, window: int, polyorder: int) -> np.ndarray:
    """Savitzky-Golay on positions and on sign-continuous quaternions (renormalised): a local
    polynomial fit, so unlike a plain moving average it does not lag at the ends of a motion."""
    from scipy.signal import savgol_filter

    poses = np.asarray(poses, float).copy()
    n = len(poses)
    w = min(window if window % 2 == 1 else window + 1, n if n % 2 == 1 else n - 1)
    if w < 3:
        return poses
    order = min(polyorder, w - 1)
    poses[:, :3] = savgol_filter(poses[:, :3], w, order, axis=0, mode="interp")
    q = poses[:, 3:] / np.linalg.norm(poses[:, 3:], axis=1, keepdims=True)
    for i in range(1, n):  # q and -q are the same rotation: keep neighbours on one hemisphere
        if np.dot(q[i], q[i - 1]) < 0:
            q[i] = -q[i]
    q = savgol_filter(q, w, order, axis=0, mode="interp")
    poses[:, 3:] = q / np.linalg.norm(q, axis=1, keepdims=True)
    return poses
