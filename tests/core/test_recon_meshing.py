import numpy as np
import pytest

from physworld.errors import ConfigError, InputError
from physworld.recon.gravity import find_support_plane, gravity_transform
from physworld.recon.meshing import (
    closed_convex_hull,
    complete_background_depth,
    free_space_test,
    heightmap_mesh,
    object_mesh,
    plane_depth,
    transform_points,
)
from physworld.recon.segment import point_map, segment_first_frame
from physworld.sim.camera import CameraIntrinsics, PyBulletCamera, look_at

INTR = CameraIntrinsics.from_fov(160, 120, 60.0)
TABLE_RGBA, OBJ_RGBA = (0.55, 0.4, 0.25, 1.0), (0.85, 0.15, 0.12, 1.0)


def render(obj=None, eye=(0.25, -0.45, 0.45), target=(0.0, 0.0, 0.05)):
    """Table top (z=0) with one object: ("box", (dx, dy, dz), yaw), ("cyl", (radius, height)) or
    ("lid", ((radius, thickness), (knob radius, knob height))).
    Returns depth, body segmentation (object = body 1), T_world_optical; the RGB image of the
    last render is kept in ``render.rgb`` (brown table, red object)."""
    import pybullet as p

    cid = p.connect(p.DIRECT)
    try:
        s = p.createCollisionShape(p.GEOM_BOX, halfExtents=[0.5, 0.4, 0.01], physicsClientId=cid)
        v = p.createVisualShape(p.GEOM_BOX, halfExtents=[0.5, 0.4, 0.01], rgbaColor=TABLE_RGBA, physicsClientId=cid)
        p.createMultiBody(0, s, v, basePosition=[0, 0, -0.01], physicsClientId=cid)
        if obj is not None and obj[0] == "box":
            size, yaw = obj[1], obj[2]
            s = p.createCollisionShape(p.GEOM_BOX, halfExtents=np.asarray(size) / 2, physicsClientId=cid)
            v = p.createVisualShape(
                p.GEOM_BOX, halfExtents=np.asarray(size) / 2, rgbaColor=OBJ_RGBA, physicsClientId=cid
            )
            q = p.getQuaternionFromEuler([0, 0, yaw])
            p.createMultiBody(0, s, v, basePosition=[0, 0, size[2] / 2], baseOrientation=q, physicsClientId=cid)
        elif obj is not None and obj[0] == "lid":  # a disc with a knob on top
            (r, t), (kr, kh) = obj[1]
            for rad, hgt, z in ((r, t, t / 2), (kr, kh, t + kh / 2)):
                s = p.createCollisionShape(p.GEOM_CYLINDER, radius=rad, height=hgt, physicsClientId=cid)
                v = p.createVisualShape(
                    p.GEOM_CYLINDER, radius=rad, length=hgt, rgbaColor=OBJ_RGBA, physicsClientId=cid
                )
                p.createMultiBody(0, s, v, basePosition=[0, 0, z], physicsClientId=cid)
        elif obj is not None:
            r, h = obj[1]
            s = p.createCollisionShape(p.GEOM_CYLINDER, radius=r, height=h, physicsClientId=cid)
            v = p.createVisualShape(p.GEOM_CYLINDER, radius=r, length=h, rgbaColor=OBJ_RGBA, physicsClientId=cid)
            p.createMultiBody(0, s, v, basePosition=[0, 0, h / 2], physicsClientId=cid)
        T = look_at(eye, target)
        render.rgb, depth, body = PyBulletCamera(INTR, T).render(cid)
    finally:
        p.disconnect(cid)
    return depth, body, T


def reconstruct(depth, T_true, colors=None):
    """Plane, gravity frame and the single object's world points, as the pipeline would."""
    pts = point_map(depth, INTR)
    plane = find_support_plane(pts.reshape(-1, 3), 0.005, up_hint=T_true[:3, :3].T @ [0, 0, 1.0])
    seg = segment_first_frame(pts, plane.normal, plane.d, plane_threshold=0.005, colors=colors)
    assert len(seg.objects) == 1
    T_gc = gravity_transform(plane.normal, plane.d)  # camera -> gravity frame, table at z = 0
    return plane, seg, T_gc, transform_points(T_gc, seg.objects[0].points)


def test_box_from_one_side_gives_closed_mesh_with_true_extent_and_pose():
    size, yaw = np.array([0.12, 0.07, 0.09]), 0.4
    depth, _, T = render(("box", size, yaw))
    _, _, T_gc, pw = reconstruct(depth, T)
    om = object_mesh(pw)
    assert om.mesh.is_watertight and om.mesh.volume > 0
    ext = np.r_[np.sort(om.extent[:2]), om.extent[2]]
    np.testing.assert_allclose(ext, np.r_[np.sort(size[:2]), size[2]], rtol=0.15)
    # the pose, compared in the camera frame (the gravity frame's yaw is arbitrary)
    T_co = np.linalg.inv(T_gc) @ om.T_world_object
    centre_true = np.linalg.inv(T) @ np.r_[0, 0, size[2] / 2, 1]
    assert np.linalg.norm(T_co[:3, 3] - centre_true[:3]) < 0.01
    x_true = np.linalg.inv(T)[:3, :3] @ [np.cos(yaw), np.sin(yaw), 0.0]
    c = abs(T_co[:3, 0] @ x_true)  # box axes agree up to a quarter turn
    assert max(c, np.sqrt(max(0.0, 1 - c * c))) > np.cos(np.deg2rad(5))
    np.testing.assert_allclose(np.linalg.norm(om.quaternion), 1.0)
    assert om.mesh.bounds[0][2] == pytest.approx(-om.position[2], abs=1e-4)  # bottom on the plane (parts shrink 1e-4)


def test_cylinder_from_one_side():
    r, h = 0.04, 0.11
    depth, _, T = render(("cyl", (r, h)))
    _, _, _, pw = reconstruct(depth, T)
    om = object_mesh(pw)
    assert om.mesh.is_watertight
    np.testing.assert_allclose(om.extent, [2 * r, 2 * r, h], rtol=0.15)
    assert om.mesh.volume == pytest.approx(np.pi * r * r * h, rel=0.25)


def test_mirror_completes_the_hidden_back_of_a_tall_cylinder():
    r, h = 0.04, 0.30
    eye = (0.0, -0.5, 0.2)  # below the top: only the front half is seen
    depth, _, T = render(("cyl", (r, h)), eye=eye, target=(0.0, 0.0, 0.12))
    _, _, T_gc, pw = reconstruct(depth, T)
    cam = T_gc[:3, 3]  # camera position in the gravity frame
    plain = object_mesh(pw)
    full = object_mesh(pw, mirror=True, camera_position=cam)
    assert min(plain.extent[:2]) < 0.8 * 2 * r  # half a cylinder
    np.testing.assert_allclose(np.sort(full.extent[:2]), [2 * r, 2 * r], rtol=0.15)
    assert full.extent[2] == pytest.approx(h, rel=0.1)
    with pytest.raises(ConfigError, match="camera position"):
        object_mesh(pw, mirror=True)


def test_parts_completion_keeps_a_lids_knob_where_one_hull_fills_a_cone():
    depth, _, T = render(("lid", ((0.09, 0.008), (0.014, 0.025))), eye=(0.3, -0.35, 0.45))
    _, _, _, pw = reconstruct(depth, T)
    parts, convex = object_mesh(pw), object_mesh(pw, completion="convex")
    assert len(parts.mesh.split(only_watertight=False)) == 2 and parts.mesh.is_watertight
    assert len(convex.mesh.split(only_watertight=False)) == 1
    for om in (parts, convex):
        np.testing.assert_allclose(om.extent, [0.18, 0.18, 0.033], atol=0.01)

    def width_at(om, z):  # the mesh's horizontal section at height z above the table
        sec = om.mesh.section(plane_origin=[0, 0, z - om.position[2]], plane_normal=[0, 0, 1])
        return float(max(sec.extents[:2]))

    assert width_at(parts, 0.02) == pytest.approx(0.028, abs=0.006)  # the knob
    assert width_at(convex, 0.02) > 0.08  # a cone from the rim to the knob's top
    assert parts.mesh.volume == pytest.approx(np.pi * (0.09**2 * 0.008 + 0.014**2 * 0.025), rel=0.2)
    with pytest.raises(ConfigError, match="completion"):
        object_mesh(pw, completion="nope")


def test_object_mesh_errors():
    with pytest.raises(InputError, match=r"\(N, 3\)"):
        object_mesh(np.zeros((10, 2)))
    with pytest.raises(InputError, match="object point"):
        object_mesh(np.random.default_rng(0).uniform(0.01, 0.02, (5, 3)))
    flat = np.c_[np.random.default_rng(0).uniform(0, 0.1, (100, 2)), np.zeros(100)]  # on the plane
    with pytest.raises(InputError, match="object point"):
        object_mesh(flat)


# three nearly collinear points on the base (as a depth map's straight edges give): qhull's
# triangulation has a zero-area sliver there, which trimesh drops, and its plain hull is open
SLIVER = [
    [0.048439504595788475, -0.057865539310659915, 0.035421131418625774],
    [0.03801393711270701, -0.06119602517926629, 0.0],
    [0.04336269660606469, -0.05948734451646655, 0.0],
    [0.04447281685069041, -0.05913271255690123, 0.0],
    [0.06802477993234628, 0.016812688754732255, 0.0],
]


def test_closed_convex_hull_closes_qhull_slivers():
    import trimesh

    pts = np.array(SLIVER)
    assert not trimesh.convex.convex_hull(pts).is_watertight  # the failure this guards against
    hull = closed_convex_hull(pts)
    assert hull.is_watertight
    assert hull.volume == pytest.approx(trimesh.convex.convex_hull(pts).volume, rel=1e-3)
    assert np.abs(hull.vertices[:, None] - pts[None]).sum(axis=2).min(axis=1).max() < 1e-5  # barely moved
    # the joggle never gives a flat set a volume
    flat = np.c_[np.random.default_rng(0).uniform(0, 0.1, (50, 2)), np.full(50, 0.02)]
    with pytest.raises(InputError, match="degenerate"):
        closed_convex_hull(flat)


def test_background_completion_fills_the_hole_on_the_plane():
    size = np.array([0.1, 0.1, 0.12])
    depth, body, T = render(("box", size, 0.0))
    empty, _, _ = render(None)
    plane, seg, T_gc, _ = reconstruct(depth, T)
    occ = seg.object_mask
    filled = complete_background_depth(depth, occ, INTR, plane.normal, plane.d)
    assert np.array_equal(filled[~occ], depth[~occ], equal_nan=True)
    hole = occ & np.isfinite(empty)
    assert hole.sum() > 100
    err = np.abs(filled[hole] - empty[hole])
    assert np.median(err) < 0.003 and np.percentile(err, 95) < 0.01
    # the unfilled depth had the object there, far from the table behind it
    assert np.median(np.abs(depth[hole] - empty[hole])) > 0.03
    # height map of the completed background: the table is flat where the box stood
    bg = np.isfinite(filled)
    pts_w = transform_points(T_gc, point_map(filled, INTR)[bg])
    mesh = heightmap_mesh(pts_w, resolution=0.01)
    box_xy = transform_points(T_gc, seg.objects[0].points)[:, :2].mean(axis=0)
    assert abs(_height_at(mesh, box_xy)) < 0.005  # no bump where the object stood


def test_background_completion_uses_scene_bounds_where_rays_miss_the_plane():
    intr = CameraIntrinsics.from_fov(40, 30, 60.0)
    depth = np.full((30, 40), 1.0, np.float32)
    occ = np.zeros((30, 40), bool)
    occ[10:20, 10:20] = True
    n, d = np.array([0.0, -1.0, 0.0]), 0.5  # plane y = 0.5 (below the camera, y down)
    out = complete_background_depth(depth, occ, intr, n, d, bounds=(np.array([-5, -5, 0.0]), np.array([5, 5, 1.2])))
    rays_y = (np.arange(30) - intr.cy) / intr.fy
    for v in range(10, 20):
        t_plane = 0.5 / rays_y[v] if rays_y[v] > 0 else np.inf
        assert out[v, 15] == pytest.approx(min(t_plane, 1.2), rel=1e-5)  # ray hits the far wall z = 1.2 first
    pd = plane_depth(intr, n, d)
    for v in (5, 20, 29):
        assert pd[v, 15] == pytest.approx(0.5 / rays_y[v], rel=1e-5) if rays_y[v] > 0 else np.isnan(pd[v, 15])
    with pytest.raises(InputError, match="lo < hi"):
        complete_background_depth(depth, occ, intr, n, d, bounds=(np.zeros(3), np.zeros(3)))
    with pytest.raises(InputError, match="must match"):
        complete_background_depth(depth[:-1], occ, intr, n, d)


def _height_at(mesh, xy):
    """z of the (open) height-map mesh's vertex nearest to ``xy`` (vertices sit on a grid)."""
    v = np.asarray(mesh.vertices)
    return float(v[np.argmin(np.linalg.norm(v[:, :2] - np.asarray(xy), axis=1)), 2])


def test_heightmap_mesh_fills_holes_and_closes():
    rng = np.random.default_rng(0)
    xy = rng.uniform(-0.3, 0.3, (6000, 2))
    z = np.where(xy[:, 0] > 0.1, 0.05, 0.0)  # a step
    keep = np.linalg.norm(xy, axis=1) > 0.08  # a hole in the middle (an object stood there)
    pts = np.c_[xy[keep], z[keep]]
    open_mesh = heightmap_mesh(pts, resolution=0.02)
    assert not open_mesh.is_watertight
    heights = [_height_at(open_mesh, xy) for xy in ([0.0, 0.0], [0.2, 0.0], [-0.2, 0.1])]
    np.testing.assert_allclose(heights, [0.0, 0.05, 0.0], atol=1e-9)
    solid = heightmap_mesh(pts, resolution=0.02, base_z=-0.1)
    assert solid.is_watertight and solid.volume > 0
    assert solid.bounds[0][2] == pytest.approx(-0.1)
    with pytest.raises(ConfigError, match="base_z"):
        heightmap_mesh(pts, resolution=0.02, base_z=0.01)
    with pytest.raises(ConfigError, match="resolution"):
        heightmap_mesh(pts, resolution=0.0)
    with pytest.raises(ConfigError, match="cells"):
        heightmap_mesh(pts, resolution=1e-5)


def test_simplified_background_keeps_small_bumps_within_a_millimetre():
    import open3d as o3d

    from physworld.recon.meshing import _distance_scene, simplify_surface

    xs = np.arange(-0.4, 0.4, 0.005)
    X, Y = np.meshgrid(xs, xs)
    Z = np.where((np.abs(X - 0.1) < 0.012) & (np.abs(Y) < 0.012), 0.006, 0.0)  # a 6 mm high, 2.4 cm bump
    Z = Z + np.where(X < -0.2, 0.04, 0.0)  # and a 4 cm step
    solid = heightmap_mesh(np.c_[X.ravel(), Y.ravel(), Z.ravel()], resolution=0.005, base_z=-0.05)
    simple = simplify_surface(solid, max_error=0.001)
    assert len(simple.faces) < len(solid.faces) / 20 and simple.is_watertight
    pts = np.asarray(solid.sample(20000, seed=1), np.float32)
    dist = _distance_scene(simple).compute_distance(o3d.core.Tensor(pts)).numpy()
    assert dist.max() <= 0.001  # the bump and the step survive
    bump_top = np.array([[0.1, 0.0, 1.0]], np.float32)  # a ray straight down onto the bump
    scene = _distance_scene(simple)
    hit = scene.cast_rays(o3d.core.Tensor(np.c_[bump_top, [[0.0, 0.0, -1.0]]].astype(np.float32)))
    assert 1.0 - float(hit["t_hit"].numpy()[0]) == pytest.approx(0.006, abs=0.001)


@pytest.mark.parametrize("seed", [0, 1])
def test_box_through_the_simulated_depth_model(seed):
    """Depth model errors (affine, smeared edges, smooth scale error, noise) -> eq. 1 -> mesh.
    Table pixels smeared towards the object are split off by colour, object pixels smeared
    towards the table are dropped as flying pixels."""
    from physworld.recon.align import apply_scale_shift, fit_scale_shift
    from physworld.recon.depth import make_depth_estimator

    size, yaw = np.array([0.12, 0.07, 0.09]), 0.4
    depth, _, T = render(("box", size, yaw))
    frames = np.zeros((1, *depth.shape, 3), np.uint8)
    rel = make_depth_estimator("sim_relative", seed=seed).estimate(frames, {"depth": depth[None]})
    fit = fit_scale_shift(rel[0], depth)
    metric = apply_scale_shift(rel, fit.scale, fit.shift)[0]
    _, _, _, pw = reconstruct(metric, T, colors=render.rgb)
    om = object_mesh(pw)
    ext = np.r_[np.sort(om.extent[:2]), om.extent[2]]
    np.testing.assert_allclose(ext, np.r_[np.sort(size[:2]), size[2]], rtol=0.15)


def test_free_space_test_sees_past_points_in_front_of_the_observed_depth():
    intr = CameraIntrinsics.from_fov(40, 30, 60.0)
    depth = np.full((30, 40), 1.0, np.float32)
    depth[10:20, 10:20] = 0.8  # a patch in front
    depth[0, :] = np.nan
    free = free_space_test(depth, intr, np.eye(4), margin=0.01)
    ray = lambda u, v, z: [(u - intr.cx) / intr.fx * z, (v - intr.cy) / intr.fy * z, z]  # noqa: E731
    pts = np.array([ray(30, 25, 0.9), ray(15, 15, 0.9), ray(15, 15, 0.7), ray(11, 25, 0.995), ray(20, 0, 0.5),
                    ray(20, 25, -0.5), ray(90, 15, 0.5)])  # fmt: skip
    np.testing.assert_array_equal(free(pts), [True, False, True, False, False, False, False])
    # next to the patch (within the 3 x 3 window) a point is not free either: silhouettes are unsure
    assert not free(np.array([ray(9, 15, 0.9)]))[0] and free(np.array([ray(7, 15, 0.9)]))[0]


def test_an_overhang_is_not_extruded_down_to_the_table_the_camera_sees_under_it():
    """A bar 3 cm above the table on a post at one end (a pan's handle): seen from the front at an
    angle, the table shows under the bar, and the free-space test stops the extrusion above it."""
    import pybullet as p

    cid = p.connect(p.DIRECT)
    try:
        table, bar, post = [0.5, 0.4, 0.01], [0.08, 0.015, 0.006], [0.015, 0.015, 0.015]
        for half, pos, rgba in ((table, [0, 0, -0.01], TABLE_RGBA), (bar, [0, 0, 0.036], OBJ_RGBA),
                                (post, [-0.065, 0, 0.015], OBJ_RGBA)):  # fmt: skip
            s = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=cid)
            v = p.createVisualShape(p.GEOM_BOX, halfExtents=half, rgbaColor=rgba, physicsClientId=cid)
            p.createMultiBody(0, s, v, basePosition=pos, physicsClientId=cid)
        T = look_at((0.0, -0.4, 0.35), (0.0, 0.0, 0.02))
        intr = CameraIntrinsics.from_fov(320, 240, 60.0)
        _, depth, _ = PyBulletCamera(intr, T).render(cid)
    finally:
        p.disconnect(cid)
    pts = point_map(depth, intr)
    plane = find_support_plane(pts.reshape(-1, 3), 0.005, up_hint=T[:3, :3].T @ [0, 0, 1.0])
    seg = segment_first_frame(pts, plane.normal, plane.d, plane_threshold=0.005)
    assert len(seg.objects) == 1
    T_gc = gravity_transform(plane.normal, plane.d)
    pw = transform_points(T_gc, seg.objects[0].points)
    free = free_space_test(depth, intr, T_gc)  # the camera in the gravity frame
    carved = object_mesh(pw, free_space=free)
    filled = object_mesh(pw)

    def bottom_under_bar(om):  # lowest point of the mesh 3-6 cm from the post, along the bar
        v = transform_points(om.T_world_object, om.mesh.vertices)
        post = pw[pw[:, 2] < 0.02][:, :2].mean(axis=0)
        far = np.linalg.norm(v[:, :2] - post, axis=1) > 0.05
        return float(v[far, 2].min())

    assert bottom_under_bar(filled) < 0.002  # object-on-ground: a wall down to the table
    assert bottom_under_bar(carved) > 0.02  # the bar floats at its true height (3 cm)
