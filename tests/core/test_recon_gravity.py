import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from physworld.errors import InputError
from physworld.recon.gravity import (
    angle_between_deg,
    find_support_plane,
    gravity_transform,
    minimal_rotation,
    ransac_plane,
)
from physworld.sim.camera import look_at

UP = np.array([0.0, 0.0, 1.0])


def _box_surface(rng, centre, size, n):
    """Points on the surface of an axis-aligned box (world frame)."""
    p = rng.uniform(-0.5, 0.5, (n, 3)) * size
    axis = rng.integers(0, 3, n)
    p[np.arange(n), axis] = np.sign(rng.standard_normal(n)) * 0.5 * np.asarray(size)[axis]
    return p + centre


def _tilted_scene(seed, n_plane=4000, wall=False):
    """Camera-frame points of a table (z=0 in the world) with boxes and clutter, seen by a camera
    whose world is tilted by up to 30 deg; returns points, the true camera-frame up normal, the
    camera pose and the number of plane points."""
    rng = np.random.default_rng(seed)
    plane = np.c_[rng.uniform(-0.6, 0.6, (n_plane, 2)), 0.002 * rng.standard_normal(n_plane)]
    boxes = [_box_surface(rng, [rng.uniform(-0.3, 0.3), rng.uniform(-0.2, 0.2), 0.06], [0.1, 0.08, 0.12], 500)]
    boxes.append(_box_surface(rng, [0.2, -0.1, 0.1], [0.06, 0.06, 0.2], 500))
    clutter = rng.uniform([-0.6, -0.6, 0.0], [0.6, 0.6, 0.5], (600, 3))
    parts = [plane, *boxes, clutter]
    if wall:  # a big wall behind the table, more points than the table
        parts.append(np.c_[rng.uniform(-1, 1, 6000), np.full(6000, 0.8), rng.uniform(0.0, 1.2, 6000)])
    pts_w = np.concatenate(parts)
    axis = np.r_[rng.normal(size=2), 0.0]
    tilt = Rotation.from_rotvec(axis / np.linalg.norm(axis) * np.deg2rad(rng.uniform(0, 30))).as_matrix()
    az = rng.uniform(-2.5, -0.6)  # camera in front of the table (y < 0), looking at it
    eye = np.array([0.9 * np.cos(az), 0.9 * np.sin(az), rng.uniform(0.5, 0.9)])
    T = look_at(eye, [0.0, 0.0, 0.0])
    T[:3, :3] = tilt @ T[:3, :3]  # tilt the camera (roll/pitch error of up to 30 deg)
    T[:3, 3] = tilt @ T[:3, 3]
    pts_c = (pts_w - T[:3, 3]) @ T[:3, :3]
    n_true = T[:3, :3].T @ UP  # world up in the camera frame
    return pts_c, n_true, T, n_plane


@pytest.mark.parametrize("seed", range(6))
def test_tilted_scenes_align_within_one_degree(seed):
    pts, n_true, _, n_plane = _tilted_scene(seed)
    n, d, inl = ransac_plane(pts, threshold=0.01, iters=300, seed=seed)
    assert angle_between_deg(n, n_true) < 1.0  # oriented towards the camera = world up
    assert d > 0  # the camera (origin) is on the positive side
    assert inl[:n_plane].mean() > 0.95 and inl[n_plane:].mean() < 0.2
    R = minimal_rotation(n, UP)
    assert angle_between_deg(R @ n_true, UP) < 1.0
    T = gravity_transform(n, d, plane_height=0.0)
    p = pts @ T[:3, :3].T + T[:3, 3]
    assert abs(np.median(p[:n_plane, 2])) < 0.005 and np.std(p[:n_plane, 2]) < 0.01
    assert np.all(p[n_plane : n_plane + 1000, 2] > -0.01)  # boxes stand on the plane


def test_support_plane_skips_a_wall_with_an_up_hint():
    pts, n_true, T, _ = _tilted_scene(11, wall=True)
    n_dom, _, _ = ransac_plane(pts, 0.01, 300, seed=0)
    assert angle_between_deg(n_dom, n_true) > 45.0  # the wall is the dominant plane
    rough_up = Rotation.from_rotvec([0.2, -0.1, 0.15]).as_matrix() @ n_true  # ~15 deg off
    plane = find_support_plane(pts, 0.01, 300, seed=0, up_hint=rough_up, max_tilt_deg=40.0)
    assert angle_between_deg(plane.normal, n_true) < 1.0
    assert plane.inliers.shape == (len(pts),)
    assert np.abs(plane.signed_distance(pts[plane.inliers])).max() <= 0.01 + 1e-9


def test_minimal_rotation_cases():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = rng.normal(size=3)
        R = minimal_rotation(n, UP)
        np.testing.assert_allclose(R @ (n / np.linalg.norm(n)), UP, atol=1e-9)
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-9)
        assert np.linalg.det(R) == pytest.approx(1.0)
        # minimal: the rotation angle equals the angle between n and up (no extra twist)
        angle = np.degrees(np.linalg.norm(Rotation.from_matrix(R).as_rotvec()))
        assert angle == pytest.approx(angle_between_deg(n, UP), abs=1e-6)
    np.testing.assert_allclose(minimal_rotation(UP * 2.0), np.eye(3))
    R = minimal_rotation(-UP)
    np.testing.assert_allclose(R @ -UP, UP, atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    R = minimal_rotation(-UP + [1e-12, 0, 0])
    np.testing.assert_allclose(R @ -UP, UP, atol=1e-9)
    with pytest.raises(InputError, match="non-zero"):
        minimal_rotation(np.zeros(3))


def test_no_plane_errors():
    rng = np.random.default_rng(0)
    blob = rng.normal(size=(3000, 3))  # no plane in an isotropic blob
    with pytest.raises(InputError, match="no support plane"):
        ransac_plane(blob, threshold=0.005, iters=100, min_inliers=500)
    with pytest.raises(InputError, match="no support plane"):
        ransac_plane(np.full((1000, 3), np.nan))
    with pytest.raises(InputError, match=r"\(N, 3\)"):
        ransac_plane(np.zeros((10, 2)))
    pts, n_true, _, _ = _tilted_scene(1)
    with pytest.raises(InputError, match="no support plane within"):
        find_support_plane(pts, up_hint=np.cross(n_true, [1.0, 0.0, 0.0]), max_tilt_deg=20.0, max_planes=2)


def test_nan_rows_are_skipped():
    pts, n_true, _, n_plane = _tilted_scene(3)
    pts = pts.copy()
    pts[::7] = np.nan
    n, d, inl = ransac_plane(pts, 0.01, 300)
    assert angle_between_deg(n, n_true) < 1.0
    assert not inl[::7].any()
