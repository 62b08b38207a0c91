"""Gravity alignment (PhysWorld III-A, eq. 2).

The support plane is found by RANSAC (open3d ``segment_plane``) and refitted by least squares
(SVD) on its inliers. Its normal ``n`` is oriented towards the camera (the camera sits on the
positive side, ``n . c + d > 0``), so that it points "up" out of a table or floor seen from above.
The minimal rotation taking ``n`` to the world up axis ``u`` is Rodrigues' formula (eq. 2)

    R = I + [v]x + [v]x^2 (1 - c) / s^2,    v = n x u,  c = n . u,  s = |v|

with the two degenerate cases handled: ``n ~ u`` gives ``I`` and ``n ~ -u`` a half turn about an
axis perpendicular to ``n``. Planes are ``n . x + d = 0`` with ``|n| = 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, InputError


@dataclass
class Plane:
    normal: np.ndarray  # (3,) unit normal
    d: float  # n . x + d = 0
    inliers: np.ndarray  # (N,) bool mask over the input points

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        return np.asarray(points, dtype=float) @ self.normal + self.d


def _check_points(points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise InputError(f"points must be (N, 3), got shape {pts.shape}")
    return pts


def fit_plane_lstsq(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Total least squares plane through points (SVD); returns (unit normal, d)."""
    pts = _check_points(points)
    if len(pts) < 3:
        raise InputError(f"a plane needs >= 3 points, got {len(pts)}")
    c = pts.mean(axis=0)
    _, _, vt = np.linalg.svd(pts - c, full_matrices=False)
    n = vt[-1] / np.linalg.norm(vt[-1])
    return n, float(-n @ c)


def orient_towards(normal: np.ndarray, d: float, viewpoint=(0.0, 0.0, 0.0)) -> tuple[np.ndarray, float]:
    """Flip (n, d) so that ``viewpoint`` (default: the camera at the origin) is on the positive side."""
    n = np.asarray(normal, dtype=float)
    if n @ np.asarray(viewpoint, dtype=float) + d < 0:
        return -n, -float(d)
    return n, float(d)


def ransac_plane(
    points: np.ndarray,
    threshold: float = 0.01,
    iters: int = 500,
    seed: int = 0,
    min_inliers: int = 200,
    viewpoint=(0.0, 0.0, 0.0),
) -> tuple[np.ndarray, float, np.ndarray]:
    """Dominant plane of a point cloud: ``(normal, d, inlier_mask)``, normal towards ``viewpoint``.

    RANSAC (open3d, seeded) with ``threshold`` metres, then a least-squares refit on the inliers.
    Rows with NaN are ignored (their mask entry is False).
    Fewer than ``min_inliers`` inliers -> InputError("no support plane ...").
    """
    import open3d as o3d

    pts = _check_points(points)
    if not threshold > 0:
        raise ConfigError(f"RANSAC threshold must be > 0 metres, got {threshold}")
    if iters < 1:
        raise ConfigError(f"RANSAC iters must be >= 1, got {iters}")
    finite = np.all(np.isfinite(pts), axis=1)  # NaN rows (invalid pixels) are skipped
    pts = pts[finite]
    if len(pts) < max(3, min_inliers):
        raise InputError(
            f"no support plane: only {len(pts)} finite point(s) (need >= {max(3, min_inliers)}); "
            "check the depth image and the alignment"
        )
    o3d.utility.random.seed(int(seed))
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    _, idx = cloud.segment_plane(distance_threshold=float(threshold), ransac_n=3, num_iterations=int(iters))
    inl = np.zeros(len(pts), dtype=bool)
    inl[np.asarray(idx, dtype=int)] = True
    if inl.sum() < min_inliers:
        raise InputError(
            f"no support plane found: the best plane has {int(inl.sum())} inliers within {threshold} m "
            f"(need >= {min_inliers}); is a table or floor visible, and is the depth metric?"
        )
    n, d = fit_plane_lstsq(pts[inl])
    inl = np.abs(pts @ n + d) <= threshold  # inliers of the refitted plane
    n, d = orient_towards(n, d, viewpoint)
    mask = np.zeros(len(finite), dtype=bool)
    mask[np.flatnonzero(finite)] = inl
    return n, d, mask


def find_support_plane(
    points: np.ndarray,
    threshold: float = 0.01,
    iters: int = 500,
    seed: int = 0,
    min_inliers: int = 200,
    up_hint=None,
    max_tilt_deg: float = 45.0,
    max_planes: int = 3,
) -> Plane:
    """The support plane of a scene, normal towards the camera (at the origin of ``points``).

    Without ``up_hint``: the dominant RANSAC plane. With ``up_hint`` (the rough world up direction
    in the points' frame, e.g. from the nominal camera extrinsics): the first of up to
    ``max_planes`` planes, extracted largest first, whose normal is within ``max_tilt_deg`` of it,
    so that a large wall is skipped. InputError("no support plane ...") if none qualifies.
    """
    pts = _check_points(points)
    if up_hint is None:
        return Plane(*ransac_plane(pts, threshold, iters, seed, min_inliers))
    hint = np.asarray(up_hint, dtype=float)
    hint = hint / np.linalg.norm(hint)
    remaining = np.all(np.isfinite(pts), axis=1)
    seen = []
    for k in range(max_planes):
        try:
            n, d, m = ransac_plane(np.where(remaining[:, None], pts, np.nan), threshold, iters, seed + k, min_inliers)
        except InputError:
            break
        tilt = angle_between_deg(n, hint)
        seen.append(f"{int(m.sum())} inliers at {tilt:.0f} deg")
        if tilt <= max_tilt_deg:
            return Plane(n, d, m)
        remaining &= ~m
    raise InputError(
        f"no support plane within {max_tilt_deg} deg of up {hint.round(2).tolist()} "
        f"(planes found: {seen or 'none'}); the object-on-ground assumption needs a visible table or floor"
    )


def skew(v: np.ndarray) -> np.ndarray:
    x, y, z = np.asarray(v, dtype=float)
    return np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])


def minimal_rotation(n: np.ndarray, up=(0.0, 0.0, 1.0), eps: float = 1e-9) -> np.ndarray:
    """Eq. 2: the smallest rotation R with ``R @ n = up`` (both normalised), by Rodrigues."""
    n = np.asarray(n, dtype=float)
    u = np.asarray(up, dtype=float)
    if n.shape != (3,) or u.shape != (3,) or np.linalg.norm(n) < eps or np.linalg.norm(u) < eps:
        raise InputError(f"minimal_rotation needs two non-zero 3-vectors, got {n} and {u}")
    n, u = n / np.linalg.norm(n), u / np.linalg.norm(u)
    v = np.cross(n, u)
    c = float(n @ u)
    s2 = float(v @ v)
    if s2 < eps**2:
        if c > 0:
            return np.eye(3)
        # half turn about any axis perpendicular to n
        a = np.cross(n, [1.0, 0.0, 0.0] if abs(n[0]) < 0.9 else [0.0, 1.0, 0.0])
        a /= np.linalg.norm(a)
        return 2.0 * np.outer(a, a) - np.eye(3)
    V = skew(v)
    return np.eye(3) + V + V @ V * ((1.0 - c) / s2)


def gravity_transform(normal: np.ndarray, d: float, up=(0.0, 0.0, 1.0), plane_height: float = 0.0) -> np.ndarray:
    """4x4 transform from the camera frame to a gravity-aligned frame: rotation of eq. 2 and a shift
    along ``up`` that puts the support plane at height ``plane_height``. ``normal`` must point up
    (towards the camera, as returned by :func:`ransac_plane`)."""
    n = np.asarray(normal, dtype=float)
    n = n / np.linalg.norm(n)
    u = np.asarray(up, dtype=float)
    u = u / np.linalg.norm(u)
    R = minimal_rotation(n, u)
    T = np.eye(4)
    T[:3, :3] = R
    # a plane point x0 = -d n maps to R x0 = -d u; move it to plane_height along u
    T[:3, 3] = (plane_height + d) * u
    return T


def angle_between_deg(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    c = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))
