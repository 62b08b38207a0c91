"""Object and background meshes from one RGB-D view (PhysWorld III-A, "textured mesh generation").

The paper inpaints the background and lifts object crops with an image-to-3D generator. The
embedded default does the geometric part without learned weights:

Objects
    The observed (one-sided) points of an object, in the gravity-aligned world frame, are cleaned
    (radius outlier removal), extruded straight down to the support plane (object-on-ground
    assumption: the object fills the space between what is seen and the plane; with
    :func:`free_space_test`, not into space the captured view sees through), optionally mirrored
    about a vertical plane for the hidden back, and closed part by part (:mod:`physworld.recon.parts`:
    one convex hull per height level and near-convex piece of the footprint, so that a lid keeps its
    knob and a pan its handle) or by one convex hull (trimesh, watertight; :func:`closed_convex_hull`
    closes the slivers qhull leaves at nearly collinear points).
    The object frame has its origin at the hull's centre of mass and z = world up; its yaw is that of
    the minimum-area rectangle around the footprint (``trimesh.bounds.oriented_bounds_2D``).
Background
    Occluded pixels (behind objects) get depth from the object-on-ground assumption: their camera
    ray is cut with the support plane, or with the scene bounds where it misses the plane or leaves
    the bounds first. The completed background is then triangulated as a height map on a regular
    grid in the gravity-aligned frame (cell height = highest point; empty cells take their nearest
    filled cell), either as an open surface or closed into a solid down to ``base_z``.
Meshes are not textured (the simulator only needs geometry).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, InputError
from ..sim.camera import CameraIntrinsics

COMPLETIONS = ("parts", "convex")


@dataclass
class ObjectMesh:
    mesh: object  # trimesh.Trimesh, closed, in the object frame (metres)
    T_world_object: np.ndarray  # 4x4 pose in the gravity-aligned world frame
    n_points: int  # observed points used (after outlier removal)

    @property
    def position(self) -> np.ndarray:
        return self.T_world_object[:3, 3].copy()

    @property
    def yaw(self) -> float:
        return float(np.arctan2(self.T_world_object[1, 0], self.T_world_object[0, 0]))

    @property
    def quaternion(self) -> np.ndarray:
        """[x, y, z, w] (a pure yaw)."""
        return np.array([0.0, 0.0, np.sin(self.yaw / 2.0), np.cos(self.yaw / 2.0)])

    @property
    def extent(self) -> np.ndarray:
        return np.asarray(self.mesh.extents, dtype=float)


def transform_points(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    T = np.asarray(T, dtype=float)
    return np.asarray(points, dtype=float) @ T[:3, :3].T + T[:3, 3]


def remove_outliers(points: np.ndarray, min_neighbors: int = 3, radius: float = 0.02) -> np.ndarray:
    """open3d radius outlier removal: points with fewer than ``min_neighbors`` others within
    ``radius`` metres are dropped (isolated flying pixels). Unlike statistical removal it keeps the
    sparse points seen at grazing angles, which carry the object's outline."""
    import open3d as o3d

    if min_neighbors <= 0 or len(points) == 0:
        return points
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points, dtype=float)))
    _, idx = cloud.remove_radius_outlier(nb_points=int(min_neighbors), radius=float(radius))
    return np.asarray(points)[np.asarray(idx, dtype=int)]


def mirror_hidden_side(points_world: np.ndarray, camera_position: np.ndarray) -> np.ndarray:
    """Points plus their reflection about the vertical plane that faces the camera (normal = the
    horizontal viewing direction) through the farthest visible point: completes the hidden back of
    objects whose top is not seen (for a cylinder seen from the side, that plane is its axis)."""
    p = np.asarray(points_world, dtype=float)
    view = p.mean(axis=0) - np.asarray(camera_position, dtype=float)
    view[2] = 0.0
    if np.linalg.norm(view) < 1e-9:  # camera straight above: nothing is hidden at the back
        return p
    view /= np.linalg.norm(view)
    far = float(np.max(p @ view))
    mirrored = p - 2.0 * np.outer(p @ view - far, view)
    return np.concatenate([p, mirrored])


def closed_convex_hull(points: np.ndarray, joggle: tuple[float, ...] = (1e-6, 1e-5, 1e-4)):
    """Watertight convex hull (trimesh) of ``points`` (N, 3).

    qhull's triangulated output can hold zero-area slivers across nearly collinear points of a
    merged facet (the straight edges of a depth map give many); trimesh drops those faces and the
    hull is left open. Then the hull is retried on the points moved by a deterministic random
    joggle of each size in ``joggle`` (metres, smallest first): the slivers get an area and close.
    A joggle is only used on points at least 100 times thicker than it (extent along their thinnest
    principal axis), so that it never gives a flat set a volume. Raises InputError for degenerate
    (flat, collinear) input."""
    import trimesh

    p = np.asarray(points, dtype=float)
    thickness = _thickness(p)
    rng = np.random.default_rng(0)
    for scale in (0.0, *(j for j in joggle if 100.0 * j <= thickness)):
        q = p if scale == 0.0 else p + rng.normal(0.0, scale, p.shape)
        try:
            with np.errstate(invalid="ignore", divide="ignore"):  # trimesh's centre of a flat hull
                hull = trimesh.convex.convex_hull(q)
        except Exception as exc:  # qhull: degenerate (collinear/coplanar) input
            raise InputError(f"object points are degenerate, no closed hull: {exc}") from exc
        if hull.is_watertight and hull.volume > 0:
            return hull
    raise InputError("object points are degenerate (flat): the convex hull has no volume")


def _thickness(points: np.ndarray) -> float:
    """Extent of ``points`` along their thinnest principal axis (0 for fewer than 4 points)."""
    if len(points) < 4:
        return 0.0
    q = points - points.mean(axis=0)
    _, _, vt = np.linalg.svd(q, full_matrices=False)
    return float(np.ptp(q @ vt[-1]))


def object_mesh(
    points_world: np.ndarray,
    plane_height: float = 0.0,
    mirror: bool = False,
    camera_position: np.ndarray | None = None,
    outlier_neighbors: int = 3,
    outlier_radius: float = 0.02,
    min_points: int = 20,
    completion: str = "parts",
    free_space=None,
) -> ObjectMesh:
    """Closed object mesh from its observed points in the gravity-aligned world frame (z up, support
    plane at ``plane_height``); see the module docstring. ``mirror`` needs ``camera_position``.
    ``completion``: "parts" closes each height level and near-convex piece by its own hull
    (:mod:`physworld.recon.parts`: a lid keeps its knob, a pan its handle); "convex" closes all
    points by one hull. ``free_space`` (:func:`free_space_test`, "parts" only) stops the extrusion
    above the free space the camera sees under a point (a pan's handle is not a wall to the table)."""
    import trimesh

    from .parts import parts_mesh

    if completion not in COMPLETIONS:
        raise ConfigError(f"completion must be one of {COMPLETIONS}, got {completion!r}")

    p = np.asarray(points_world, dtype=float)
    if p.ndim != 2 or p.shape[1] != 3:
        raise InputError(f"object points must be (N, 3), got shape {p.shape}")
    p = p[np.all(np.isfinite(p), axis=1)]
    p = p[p[:, 2] > plane_height]
    p = remove_outliers(p, outlier_neighbors, outlier_radius)
    if len(p) < min_points:
        raise InputError(
            f"only {len(p)} object point(s) above the support plane (need >= {min_points}) to build a mesh; "
            "the object is too small or hidden in this view"
        )
    n_used = len(p)
    if mirror:
        if camera_position is None:
            raise ConfigError("mirror=True needs the camera position in the world frame")
        p = mirror_hidden_side(p, camera_position)
    foot = p.copy()
    foot[:, 2] = plane_height  # extrude down to the support plane
    cloud = np.concatenate([p, foot])
    hull = closed_convex_hull(cloud) if completion == "convex" else parts_mesh(p, plane_height, free=free_space)
    T_2d, _ = trimesh.bounds.oriented_bounds_2D(cloud[:, :2])
    yaw = -float(np.arctan2(T_2d[1, 0], T_2d[0, 0]))  # T_2d rotates the points into the rectangle's axes
    c, s = np.cos(yaw), np.sin(yaw)
    T = np.eye(4)
    T[:3, :3] = [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
    T[:3, 3] = hull.center_mass
    hull.apply_transform(np.linalg.inv(T))
    return ObjectMesh(hull, T, n_used)


def ray_directions(intr: CameraIntrinsics) -> np.ndarray:
    """(H, W, 3) camera rays with unit z (so the ray parameter is the depth)."""
    v, u = np.mgrid[0 : intr.height, 0 : intr.width]
    return np.stack([(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, np.ones(u.shape)], axis=-1)


def plane_depth(intr: CameraIntrinsics, plane_normal: np.ndarray, plane_d: float) -> np.ndarray:
    """(H, W) depth at which each pixel's ray meets the plane ``n . x + d = 0`` (camera frame);
    NaN where the ray misses it (parallel, or behind the camera)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -float(plane_d) / (ray_directions(intr) @ np.asarray(plane_normal, dtype=float))
    return np.where(np.isfinite(t) & (t > 0), t, np.nan).astype(np.float32)


def free_space_test(
    depth: np.ndarray, intr: CameraIntrinsics, T_world_camera: np.ndarray, margin: float = 0.003, window: int = 3
):
    """A test ``free(points_world (N, 3)) -> bool (N,)``: True where the camera saw past the point,
    i.e. every pixel within ``window // 2`` of its projection has a depth more than ``margin``
    beyond the point's (free space, which an extrusion must not fill). Points outside the image,
    behind the camera or next to an invalid pixel are not free (unknown)."""
    from scipy.ndimage import minimum_filter

    from ..sim.camera import project

    d = np.asarray(depth, dtype=float)
    if d.shape != (intr.height, intr.width):
        raise InputError(f"depth {d.shape} must match the camera ({intr.height}, {intr.width})")
    nearest = minimum_filter(np.where(np.isfinite(d) & (d > 0), d, 0.0), size=int(window), mode="constant", cval=0.0)

    def free(points_world: np.ndarray) -> np.ndarray:
        uvz = project(points_world, intr, T_world_camera)
        with np.errstate(invalid="ignore"):
            u, v = np.round(uvz[:, 0]), np.round(uvz[:, 1])
            ok = np.isfinite(uvz).all(axis=1) & (uvz[:, 2] > 0) & (u >= 0) & (u < intr.width) & (v >= 0)
            ok &= v < intr.height
        out = np.zeros(len(uvz), bool)
        out[ok] = uvz[ok, 2] < nearest[v[ok].astype(int), u[ok].astype(int)] - margin
        return out

    return free


def complete_background_depth(
    depth: np.ndarray,
    occluded: np.ndarray,
    intr: CameraIntrinsics,
    plane_normal: np.ndarray,
    plane_d: float,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
    T_world_camera: np.ndarray | None = None,
) -> np.ndarray:
    """Depth of the background where ``occluded`` (object pixels): the nearest hit of the pixel's
    ray with the support plane (camera frame ``n . x + d = 0``) or the scene bounds.

    ``bounds`` is an axis-aligned box (lo, hi) in the frame of ``T_world_camera`` (camera frame if
    None); by default, the box of the valid background points. Returns float32 depth (H, W) with the
    occluded pixels filled; pixels not occluded are unchanged.
    """
    depth = np.asarray(depth, dtype=np.float64)
    occ = np.asarray(occluded, dtype=bool)
    if depth.shape != (intr.height, intr.width) or occ.shape != depth.shape:
        raise InputError(
            f"depth {depth.shape} and occluded mask {occ.shape} must match the camera ({intr.height}, {intr.width})"
        )
    T = np.eye(4) if T_world_camera is None else np.asarray(T_world_camera, dtype=float)
    rays = ray_directions(intr)
    if bounds is None:
        bg = np.isfinite(depth) & (depth > 0) & ~occ
        if bg.sum() < 3:
            raise InputError("no valid background depth to bound the scene; pass bounds explicitly")
        bp = transform_points(T, rays[bg] * depth[bg][:, None])
        bounds = (bp.min(axis=0), bp.max(axis=0))
    lo, hi = (np.asarray(b, dtype=float) for b in bounds)
    if np.any(hi <= lo):
        raise InputError(f"scene bounds must have lo < hi on every axis, got {lo}, {hi}")
    r = rays[occ]
    n = np.asarray(plane_normal, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_plane = -plane_d / (r @ n)
    t_plane = np.where(np.isfinite(t_plane) & (t_plane > 0), t_plane, np.inf)
    # where the ray leaves the bounds box (slab method, in the bounds' frame)
    o = T[:3, 3]
    dw = r @ T[:3, :3].T
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (lo - o) / dw, (hi - o) / dw
    t_exit = np.nanmin(np.where(np.isnan(np.maximum(t1, t2)), np.inf, np.maximum(t1, t2)), axis=1)
    t = np.minimum(t_plane, t_exit)
    t = np.where(np.isfinite(t) & (t > 0), t, np.nan)
    out = depth.copy()
    out[occ] = t  # unit-z rays: the ray parameter is the depth
    return out.astype(np.float32)


def heightmap_mesh(
    points_world: np.ndarray,
    resolution: float = 0.01,
    bounds_xy: tuple[tuple[float, float], tuple[float, float]] | None = None,
    base_z: float | None = None,
    max_cells: int = 1_000_000,
):
    """Height-map triangulation of background points (gravity-aligned frame, z up).

    Grid cells of ``resolution`` metres over ``bounds_xy = ((xmin, xmax), (ymin, ymax))`` (default:
    the points' extent); a cell's height is its highest point, empty cells copy the nearest filled
    cell. Vertices sit at cell centres. With ``base_z`` the surface is closed into a watertight solid
    down to that height; otherwise it is an open surface.
    """
    import trimesh
    from scipy.ndimage import distance_transform_edt

    p = np.asarray(points_world, dtype=float)
    if p.ndim != 2 or p.shape[1] != 3:
        raise InputError(f"background points must be (N, 3), got shape {p.shape}")
    p = p[np.all(np.isfinite(p), axis=1)]
    if len(p) < 3:
        raise InputError("fewer than 3 finite background points: nothing to triangulate")
    if not resolution > 0:
        raise ConfigError(f"height-map resolution must be > 0 metres, got {resolution}")
    if bounds_xy is None:
        (x0, y0), (x1, y1) = p[:, :2].min(axis=0), p[:, :2].max(axis=0)
    else:
        (x0, x1), (y0, y1) = bounds_xy
    nx, ny = int(np.ceil((x1 - x0) / resolution)) + 1, int(np.ceil((y1 - y0) / resolution)) + 1
    if nx < 2 or ny < 2 or nx * ny > max_cells:
        raise ConfigError(f"height-map grid of {nx} x {ny} cells: change resolution ({resolution} m) or bounds")
    ix = np.round((p[:, 0] - x0) / resolution).astype(int)
    iy = np.round((p[:, 1] - y0) / resolution).astype(int)
    keep = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
    if not keep.any():
        raise InputError("no background point inside the height-map bounds")
    z = np.full((ny, nx), -np.inf)
    np.maximum.at(z, (iy[keep], ix[keep]), p[keep, 2])
    empty = ~np.isfinite(z)
    if empty.any():
        _, (jy, jx) = distance_transform_edt(empty, return_indices=True)
        z = z[jy, jx]
    xs, ys = x0 + resolution * np.arange(nx), y0 + resolution * np.arange(ny)
    X, Y = np.meshgrid(xs, ys)
    top = np.stack([X.ravel(), Y.ravel(), z.ravel()], axis=1)
    idx = np.arange(ny * nx).reshape(ny, nx)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, 1:].ravel(), idx[1:, :-1].ravel()
    faces = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])  # counter-clockwise from above
    if base_z is None:
        return trimesh.Trimesh(top, faces, process=False)
    if base_z >= z.min():
        raise ConfigError(f"base_z {base_z} must be below the lowest height {z.min():.3f}")
    bottom = top.copy()
    bottom[:, 2] = base_z
    off = ny * nx
    border = np.concatenate([idx[0, :], idx[1:, -1], idx[-1, -2::-1], idx[-2:0:-1, 0]])  # closed loop
    nxt = np.roll(border, -1)
    walls = np.concatenate([np.stack([border, nxt + off, nxt], 1), np.stack([border, border + off, nxt + off], 1)])
    mesh = trimesh.Trimesh(np.concatenate([top, bottom]), np.concatenate([faces, faces[:, ::-1] + off, walls]))
    trimesh.repair.fix_normals(mesh)
    return mesh


def simplify_surface(mesh, max_error: float = 1e-3, samples: int = 20_000, seed: int = 0):
    """The same surface with far fewer triangles: quadric-error decimation (Open3D) of a height map,
    whose flat table collapses to a handful of triangles. Collision checks in the physical world model
    test every triangle near an object, so the regular 1 cm grid (tens of thousands of triangles) made
    each physics step 5x slower than the simplified surface (docs/benchmarks.md).

    The quadric error bound (1e-9: a sum of squared plane distances) is not a distance bound -- a
    small bump has few planes and can vanish under a looser one -- so the result is checked both ways
    on ``samples`` surface points (original -> simplified and back): if either deviates by more than
    ``max_error`` metres, decimation is retried with a 100x tighter bound; if that fails too, the
    original mesh is returned unchanged."""
    import open3d as o3d
    import trimesh

    # a 0.1 micrometre jitter: on an exactly flat regular grid every collapse costs the same and Open3D's
    # decimation took 100 s instead of 1.5 s (measured on a 160 x 160 grid)
    v = np.asarray(mesh.vertices, float) + np.random.default_rng(seed).normal(0.0, 1e-7, (len(mesh.vertices), 3))
    src = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(v),
                                    o3d.utility.Vector3iVector(np.asarray(mesh.faces, np.int32)))  # fmt: skip
    scene_src = _distance_scene(mesh)
    pts_src = np.asarray(mesh.sample(samples, seed=seed), np.float32)
    for bound in (1e-9, 1e-11):
        d = src.simplify_quadric_decimation(target_number_of_triangles=4, maximum_error=bound)
        out = trimesh.Trimesh(np.asarray(d.vertices), np.asarray(d.triangles), process=True)
        if len(out.faces) == 0 or (mesh.is_watertight and not out.is_watertight):
            continue
        there = _distance_scene(out).compute_distance(o3d.core.Tensor(pts_src)).numpy()
        back = scene_src.compute_distance(o3d.core.Tensor(np.asarray(out.sample(samples, seed=seed), np.float32)))
        if max(there.max(), back.numpy().max()) <= max_error:
            trimesh.repair.fix_normals(out)
            return out
    return mesh


def _distance_scene(mesh):
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(np.asarray(mesh.vertices, np.float32)),
                        o3d.core.Tensor(np.asarray(mesh.faces, np.uint32)))  # fmt: skip
    return scene
