"""Pose helpers for the policy stack (REP 103: metres, radians; quaternions ``[x, y, z, w]``).

A *pose7* is ``[x, y, z, qx, qy, qz, qw]``. Rotations use :mod:`scipy.spatial.transform`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial.transform import Rotation


def canonical_quat(q: np.ndarray) -> np.ndarray:
    """Unit quaternion with ``w >= 0`` (q and -q are the same rotation)."""
    q = np.asarray(q, dtype=float)
    if q.ndim == 1:
        q = q / math.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3])
        return -q if q[3] < 0.0 else q
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., 3:4] < 0.0, -q, q)


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a * b`` of ``[x, y, z, w]`` quaternions (rotation b first, then a)."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return np.array(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ]
    )


def quat_conj(q: np.ndarray) -> np.ndarray:
    return np.array([-q[0], -q[1], -q[2], q[3]])


def quat_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vector ``v`` by unit quaternion ``q``."""
    x, y, z, w = (float(c) for c in q)
    vx, vy, vz = (float(c) for c in v)
    tx, ty, tz = 2.0 * (y * vz - z * vy), 2.0 * (z * vx - x * vz), 2.0 * (x * vy - y * vx)
    return np.array([vx + w * tx + y * tz - z * ty, vy + w * ty + z * tx - x * tz, vz + w * tz + x * ty - y * tx])


def rotvec_to_quat(r: np.ndarray) -> np.ndarray:
    r = np.asarray(r, float)
    angle = math.sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2])
    if angle < 1e-12:
        return np.array([0.5 * r[0], 0.5 * r[1], 0.5 * r[2], 1.0]) / math.sqrt(1.0 + 0.25 * angle * angle)
    s = math.sin(0.5 * angle) / angle
    return np.array([r[0] * s, r[1] * s, r[2] * s, math.cos(0.5 * angle)])


def pose_to_matrix(pose: np.ndarray) -> np.ndarray:
    pose = np.asarray(pose, dtype=float)
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(pose[3:7]).as_matrix()
    T[:3, 3] = pose[:3]
    return T


def matrix_to_pose(T: np.ndarray) -> np.ndarray:
    T = np.asarray(T, dtype=float)
    return np.concatenate([T[:3, 3], canonical_quat(Rotation.from_matrix(T[:3, :3]).as_quat())])


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pose ``a * b`` (b expressed in a's frame)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.concatenate([a[:3] + quat_rotate(a[3:7], b[:3]), canonical_quat(quat_mul(a[3:7], b[3:7]))])


def inverse(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, float)
    qi = quat_conj(canonical_quat(a[3:7]))
    return np.concatenate([-quat_rotate(qi, a[:3]), canonical_quat(qi)])


def rotation_angle(q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """Geodesic angle (rad) between unit quaternions, element-wise over leading axes."""
    d = np.abs(np.sum(np.asarray(q1, dtype=float) * np.asarray(q2, dtype=float), axis=-1))
    return 2.0 * np.arccos(np.clip(d, 0.0, 1.0))


def apply_residual(base: np.ndarray, d_pos: np.ndarray, d_rotvec: np.ndarray) -> np.ndarray:
    """PhysWorld eq. 7: ``p = p_base + dp``, ``R = exp([dr]) R_base`` (residual rotation in the world frame)."""
    base = np.asarray(base, dtype=float)
    q = quat_mul(rotvec_to_quat(d_rotvec), base[3:7])
    return np.concatenate([base[:3] + d_pos, canonical_quat(q)])


def interpolate_poses(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """``n`` poses from ``a`` (exclusive) to ``b`` (inclusive): linear in position, slerp in rotation."""
    from scipy.spatial.transform import Slerp

    s = np.linspace(0.0, 1.0, n + 1)[1:]
    pos = (1 - s)[:, None] * np.asarray(a[:3]) + s[:, None] * np.asarray(b[:3])
    rots = Slerp([0.0, 1.0], Rotation.from_quat([a[3:7], b[3:7]]))(s)
    return np.concatenate([pos, canonical_quat(rots.as_quat())], axis=1)


def resample_trajectory(traj: np.ndarray, dt_in: float, dt_out: float) -> np.ndarray:
    """Resample a (T, 7) pose trajectory from period ``dt_in`` to ``dt_out`` (linear + slerp)."""
    from scipy.spatial.transform import Slerp

    traj = np.asarray(traj, dtype=float)
    t_in = np.arange(len(traj)) * dt_in
    n_out = max(1, int(round(t_in[-1] / dt_out)) + 1)
    t_out = np.minimum(np.arange(n_out) * dt_out, t_in[-1])
    pos = np.stack([np.interp(t_out, t_in, traj[:, k]) for k in range(3)], axis=1)
    if len(traj) == 1:
        return np.repeat(traj, n_out, axis=0)
    quats = Slerp(t_in, Rotation.from_quat(traj[:, 3:7]))(t_out).as_quat()
    return np.concatenate([pos, canonical_quat(quats)], axis=1)


def quat_to_rot6(q: np.ndarray) -> np.ndarray:
    """First two columns of the rotation matrix (a continuous 6-D rotation code, Zhou et al. 2019)."""
    x, y, z, w = np.asarray(q, dtype=float)
    return np.array(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y + z * w), 2 * (x * z - y * w),
            2 * (x * y - z * w), 1 - 2 * (x * x + z * z), 2 * (y * z + x * w),
        ]
    )  # fmt: skip


def transform_point(pose: np.ndarray, point: np.ndarray) -> np.ndarray:
    return quat_rotate(pose[3:7], point) + np.asarray(pose[:3], float)
