"""PyBulletCamera renders exactly what project/unproject assume (pixel centres, metric depth)."""

import numpy as np
import pytest

from physworld.sim.camera import CameraIntrinsics, PyBulletCamera, look_at, project, unproject


@pytest.fixture()
def client():
    import pybullet as p

    c = p.connect(p.DIRECT)
    yield c
    p.disconnect(c)


def _tilted_wall(client, rpy):
    """A large slab whose -x face passes through (1, 0, 0); returns the face's unit normal."""
    import pybullet as p

    q = p.getQuaternionFromEuler(rpy)
    R = np.array(p.getMatrixFromQuaternion(q)).reshape(3, 3)
    col = p.createCollisionShape(p.GEOM_BOX, halfExtents=[0.01, 3, 3], physicsClientId=client)
    vis = p.createVisualShape(p.GEOM_BOX, halfExtents=[0.01, 3, 3], physicsClientId=client)
    centre = np.array([1.0, 0, 0]) - R @ np.array([-0.01, 0, 0])
    p.createMultiBody(0, col, vis, centre.tolist(), q, physicsClientId=client)
    return R @ np.array([-1.0, 0, 0])


@pytest.mark.parametrize("rpy", [(0, 0, 0.6), (0, -0.6, 0), (0.3, 0.4, -0.5)])
@pytest.mark.parametrize("size", [(160, 120), (81, 61)])
def test_rendered_depth_matches_ray_plane_intersection(client, rpy, size):
    normal = _tilted_wall(client, rpy)
    intr = CameraIntrinsics.from_fov(*size, 55)
    T = look_at([0, 0, 0], [1, 0, 0])
    _, depth, seg = PyBulletCamera(intr, T).render(client)
    assert np.isfinite(depth).all() and (seg >= 0).all()
    pts = unproject(depth, intr, T)
    # every unprojected pixel lies on the plane (a half-pixel error would give mm-scale offsets)
    dist = (pts - np.array([1.0, 0, 0])) @ normal
    assert np.abs(dist).max() < 2e-4


def test_project_inverts_unproject():
    intr = CameraIntrinsics.from_fov(64, 48, 60)
    T = look_at([0.3, -0.2, 1.0], [0.5, 0.1, 0.0])
    depth = np.random.default_rng(0).uniform(0.5, 2.0, (48, 64)).astype(np.float32)
    pts = unproject(depth, intr, T)
    uvz = project(pts, intr, T)
    v, u = np.mgrid[0:48, 0:64]
    np.testing.assert_allclose(uvz[:, 0], u.ravel(), atol=1e-6)
    np.testing.assert_allclose(uvz[:, 1], v.ravel(), atol=1e-6)
    np.testing.assert_allclose(uvz[:, 2], depth.ravel(), rtol=1e-6)


def test_nothing_in_view_is_nan(client):
    intr = CameraIntrinsics.from_fov(32, 24, 50)
    _, depth, seg = PyBulletCamera(intr, look_at([0, 0, 1], [1, 0, 1])).render(client)
    assert np.isnan(depth).all() and (seg == -1).all()
