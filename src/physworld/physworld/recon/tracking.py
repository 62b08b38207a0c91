"""Object poses from the generated video (PhysWorld III-A / III-B, eq. 4).

Model-based 6-DoF tracking, the CPU stand-in for FoundationPose: for every frame the object's
metric points are cut out of the frame's (metric-aligned) depth and the object mesh is registered
to them by ICP, starting from the previous pose moved on at the previous linear velocity (and from a
second guess that puts the observed points' centroid at its offset from the object in the last
frame; the better fit wins).

Per frame and object:
1. region of interest: pixels whose point lies within ``object radius + search_margin`` of the
   predicted object centre;
2. points explained by the static scene are dropped: pixels at or behind the background surface
   (ray-cast depth of the background mesh, minus ``background_margin``) and pixels within
   ``other_margin`` of another object's surface (ray-cast at its current pose);
3. point-to-plane ICP (open3d, Tukey robust kernel, coarse-to-fine correspondence distances) of the
   observed points onto points sampled on the mesh surface (with the mesh normals), in the object
   frame. Observed -> model is the right direction for a partial view: every observed point lies on
   the model, while most of the model is unseen;
4. a fit is rejected (too few points, fitness or RMSE out of bounds, implausible jump); rejected
   frames are re-filled afterwards by interpolation between accepted neighbours (held at the ends);
5. temporal smoothing: Savitzky-Golay on positions and on (sign-continuous) quaternions.

Each depth frame is first median-filtered and loses its flying pixels (a depth estimator's
per-pixel noise and outliers, mixed silhouette pixels).

With ``anchor_first_frame`` the track is re-based so that frame 0 is exactly the reconstructed pose
(see :func:`anchor_track`): a constant bias of the video depth against the captured depth then
cancels out, and the target trajectory starts where the object sits in the physical scene.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from ..config import param
from ..errors import InputError
from ..sim.camera import CameraIntrinsics
from .poses import (  # noqa: F401  (re-exported: the tracker's public pose API)
    anchor_track,
    fill_rejected,
    matrix_to_pose,
    pose_errors,
    pose_to_matrix,
    remove_twist,
    smooth_poses,
    symmetry_axis,
)


@dataclass
class TrackingConfig:
    model_points: int = param(1500, "points sampled on each object mesh for ICP", range=(50, 100000))
    hybrid_gap: float = param(
        0.01, "mesh samples farther than this from the observed surface complete it (m)", range=(0.0, 0.2)
    )
    surface_icp: str = param(
        "generalized",
        "ICP on the observed-surface model (generalized: plane-to-plane)",
        choices=("point_to_point", "point_to_plane", "generalized"),
    )
    model_source: str = param(
        "observed",
        "ICP model: the observed first-frame surface where given, else the mesh; or always the mesh",
        choices=("observed", "mesh"),
    )
    voxel_size: float = param(0.003, "observed points are voxel-downsampled to this (m)", range=(0.0, 0.05))
    max_source_points: int = param(
        600, "at most this many observed points (random subset) enter ICP", range=(10, 1000000)
    )
    search_margin: float = param(
        0.06, "region of interest: object radius + this around the prediction (m)", range=(0.0, 1.0)
    )
    max_search_margin: float = param(0.3, "the lost-track search stops growing at this margin (m)", range=(0.0, 5.0))
    background_margin: float = param(
        0.012, "pixels within this of the background surface are background (m)", range=(0.0, 0.1)
    )
    other_margin: float = param(
        0.006, "pixels within this of another object's surface belong to it (m)", range=(0.0, 0.1)
    )
    icp_distances: list[float] = param([0.05, 0.02, 0.008], "coarse-to-fine ICP correspondence distances (m)")
    icp_iterations: int = param(30, "ICP iterations per stage", range=(1, 1000))
    tukey_k: float = param(0.01, "Tukey robust kernel width of the point-to-plane ICP (m)", range=(1e-4, 1.0))
    min_points: int = param(30, "fewer observed points than this: the frame is rejected", range=(3, 100000))
    min_fitness: float = param(0.5, "fraction of observed points matched within the finest distance", range=(0.0, 1.0))
    good_fitness: float = param(0.9, "a fit this good from the first guess skips the other guesses", range=(0.0, 1.0))
    max_rmse: float = param(0.008, "largest inlier RMSE of an accepted fit (m)", range=(0.0, 1.0))
    max_step: float = param(0.15, "largest accepted jump from the prediction (m)", range=(0.0, 10.0))
    max_turn_deg: float = param(
        25.0,
        "largest accepted rotation from the previous frame (deg); stops flips of flat objects onto their mirror pose",
        range=(0.0, 180.0),
    )
    depth_median_px: int = param(
        3, "median filter of each depth frame before unprojection (1 = off; 5 erodes thin objects)", choices=(1, 3, 5)
    )
    flying_jump: float = param(
        0.05, "depth edges steeper than this (m, 3x3) lose their mixed pixels (0 = off)", range=(0.0, 1.0)
    )
    flying_on_filtered: bool = param(True, "flag flying pixels on the median-filtered frame (else the raw one)")
    colour_gate: float = param(
        0.2,
        "a pixel counts only within this RGB distance ([0, 1] units) of the "
        "object's first-frame colours, where colours are given (0 = off)",
        range=(0.0, 2.0),
    )
    smooth_window: int = param(5, "temporal smoothing window (frames, odd; 1 = off)", range=(1, 101))
    smooth_polyorder: int = param(2, "Savitzky-Golay polynomial order of the position smoothing", range=(0, 5))
    handle_symmetry: bool = param(True, "no spin about the axis of a rotationally symmetric model")
    anchor_first_frame: bool = param(True, "re-base the track so frame 0 is the reconstructed pose")


@dataclass
class TrackResult:
    poses: np.ndarray  # (T, 7) [x, y, z, qx, qy, qz, qw] of the object frame in the world, smoothed
    raw_poses: np.ndarray  # (T, 7) before filling and smoothing (rejected frames hold the prediction)
    fitness: np.ndarray  # (T,)
    rmse: np.ndarray  # (T,) metres
    n_points: np.ndarray  # (T,) observed points used
    accepted: np.ndarray  # (T,) bool

    @property
    def acceptance(self) -> float:
        return float(self.accepted.mean()) if len(self.accepted) else 0.0


# ----------------------------------------------------------------------------------- geometry


def render_depth(meshes: list, intr: CameraIntrinsics, T_world_camera: np.ndarray) -> np.ndarray:
    """Depth image (H, W) along the optical axis of world-frame ``meshes`` (open3d ray casting);
    +inf where no mesh is hit."""
    import open3d as o3d

    meshes = [m for m in meshes if m is not None and len(m.faces)]
    if not meshes:
        return np.full((intr.height, intr.width), np.inf)
    scene = o3d.t.geometry.RaycastingScene()
    for m in meshes:
        scene.add_triangles(
            o3d.core.Tensor(np.asarray(m.vertices, np.float32)), o3d.core.Tensor(np.asarray(m.faces, np.uint32))
        )
    v, u = np.mgrid[0 : intr.height, 0 : intr.width]
    d_cam = np.stack([(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, np.ones(u.shape)], axis=-1).reshape(-1, 3)
    d_world = d_cam @ T_world_camera[:3, :3].T
    origin = np.broadcast_to(T_world_camera[:3, 3], d_world.shape)
    rays = np.concatenate([origin, d_world], axis=1).astype(np.float32)
    t_hit = scene.cast_rays(o3d.core.Tensor(rays))["t_hit"].numpy().astype(np.float64)
    return t_hit.reshape(intr.height, intr.width)  # unit z in the camera frame: t_hit is the depth


def _model_cloud(mesh, n: int):
    import open3d as o3d
    import trimesh

    pts, faces = trimesh.sample.sample_surface_even(mesh, n, seed=0)
    if len(pts) < n // 2:  # sample_surface_even may return fewer points on thin meshes
        pts, faces = trimesh.sample.sample_surface(mesh, n, seed=0)
    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(pts, float)))
    pc.normals = o3d.utility.Vector3dVector(np.asarray(mesh.face_normals[faces], float))
    return pc


def _surface_cloud(points: np.ndarray, viewpoint: np.ndarray, mesh, cfg: TrackingConfig):
    """A model cloud from observed surface points (object frame; normals estimated and turned
    towards ``viewpoint``, the camera in the object frame), completed by the mesh's surface samples
    farther than ``hybrid_gap`` from any observed point (the unseen sides)."""
    import open3d as o3d
    from scipy.spatial import cKDTree

    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points, float)))
    if cfg.voxel_size > 0:
        pc = pc.voxel_down_sample(cfg.voxel_size)
    pc.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=4 * max(cfg.voxel_size, 0.003), max_nn=30))
    pc.orient_normals_towards_camera_location(np.asarray(viewpoint, float))
    hull = _model_cloud(mesh, cfg.model_points)
    hp = np.asarray(hull.points)
    far = cKDTree(np.asarray(pc.points)).query(hp)[0] > cfg.hybrid_gap
    out = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.concatenate([np.asarray(pc.points), hp[far]])))
    out.normals = o3d.utility.Vector3dVector(np.concatenate([np.asarray(pc.normals), np.asarray(hull.normals)[far]]))
    return out


def _icp(observed_obj: np.ndarray, model, cfg: TrackingConfig) -> tuple[np.ndarray, float, float]:
    """ICP of observed points (object frame of the prediction) onto ``model`` = (cloud, method);
    returns the correction ``C`` (model <- observed), fitness and inlier RMSE at the finest distance.
    Point-to-plane (Tukey kernel) converges fast on a complete model; on a partial surface (top and
    one side of a box) it slides along the edge, so an observed-surface model uses point-to-point."""
    import open3d as o3d

    reg = o3d.pipelines.registration
    src = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(observed_obj))
    if cfg.voxel_size > 0:
        src = src.voxel_down_sample(cfg.voxel_size)
    if len(src.points) > cfg.max_source_points:  # ICP cost grows with the points; a few hundred suffice
        keep = np.random.default_rng(0).choice(len(src.points), cfg.max_source_points, replace=False)
        src = src.select_by_index(np.sort(keep).tolist())
    model, method = model
    C = np.eye(4)
    if method == "point_to_plane":
        est = reg.TransformationEstimationPointToPlane(reg.TukeyLoss(k=cfg.tukey_k))
    elif method == "generalized":
        est = reg.TransformationEstimationForGeneralizedICP(kernel=reg.TukeyLoss(k=cfg.tukey_k))
    else:
        est = reg.TransformationEstimationPointToPoint()
    crit = reg.ICPConvergenceCriteria(relative_fitness=1e-6, relative_rmse=1e-6, max_iteration=cfg.icp_iterations)
    for dist in cfg.icp_distances:
        if method == "generalized":
            C = reg.registration_generalized_icp(src, model, dist, C, est, crit).transformation
        else:
            C = reg.registration_icp(src, model, dist, C, est, crit).transformation
    ev = reg.evaluate_registration(src, model, min(cfg.icp_distances), C)
    return C, float(ev.fitness), float(ev.inlier_rmse)


# ----------------------------------------------------------------------------------- tracking


def observed_points(
    depth: np.ndarray,
    intr: CameraIntrinsics,
    T_world_camera: np.ndarray,
    center: np.ndarray,
    radius: float,
    background_depth: np.ndarray | None,
    others_depth: np.ndarray | None,
    cfg: TrackingConfig,
    rgb: np.ndarray | None = None,
    palette=None,
) -> np.ndarray:
    """World points of ``depth`` within ``radius`` of ``center`` that the background (rendered depth
    ``background_depth``) and the other objects (``others_depth``) do not explain; with ``rgb`` (the
    frame) and ``palette`` (a cKDTree of the object's colours in [0, 1]) only pixels within
    ``colour_gate`` of the object's colours (an occluding hand is not the object)."""
    from ..sim.camera import project

    # pixel box of the sphere (centre +- radius) projected into the image
    corners = center + radius * np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    uvz = project(corners, intr, T_world_camera)
    if np.any(uvz[:, 2] <= 0):
        u0, v0, u1, v1 = 0, 0, intr.width - 1, intr.height - 1
    else:
        u0, v0 = np.floor(uvz[:, :2].min(0)).astype(int)
        u1, v1 = np.ceil(uvz[:, :2].max(0)).astype(int)
        u0, v0, u1, v1 = max(u0, 0), max(v0, 0), min(u1, intr.width - 1), min(v1, intr.height - 1)
    if u1 < u0 or v1 < v0:
        return np.zeros((0, 3))
    win = np.s_[v0 : v1 + 1, u0 : u1 + 1]
    z = depth[win]
    ok = np.isfinite(z) & (z > 0)
    if background_depth is not None:
        ok &= z < background_depth[win] - cfg.background_margin
    if others_depth is not None:
        ok &= ~(np.abs(z - others_depth[win]) <= cfg.other_margin)
    if rgb is not None and palette is not None and ok.any():
        colours = np.asarray(rgb[win][ok], float) / 255.0
        gate = ok.copy()
        gate[ok] = palette.query(colours, distance_upper_bound=cfg.colour_gate)[0] <= cfg.colour_gate
        ok = gate
    vv, uu = np.nonzero(ok)
    z = z[ok].astype(float)
    cam = np.stack([(uu + u0 - intr.cx) / intr.fx * z, (vv + v0 - intr.cy) / intr.fy * z, z], axis=1)
    world = cam @ T_world_camera[:3, :3].T + T_world_camera[:3, 3]
    return world[np.linalg.norm(world - center, axis=1) <= radius]


def track_objects(
    depth_frames: np.ndarray,
    intr: CameraIntrinsics,
    T_world_camera: np.ndarray,
    models: dict,
    initial_poses: dict,
    background: list | None = None,
    static_objects: list | None = None,
    config: TrackingConfig | None = None,
    progress=None,
    surface_points: dict | None = None,
    scene_depth: np.ndarray | None = None,
    rgb_frames: np.ndarray | None = None,
    object_colours: dict | None = None,
) -> dict[str, TrackResult]:
    """Track each of ``models`` (name -> trimesh in its object frame) through metric depth frames
    (T, H, W) starting at ``initial_poses`` (name -> 4x4 world pose). ``background`` and
    ``static_objects`` are world-frame meshes that explain the points they cover.

    ``surface_points`` (name -> (N, 3) object-frame points actually observed at the initial pose,
    e.g. the first frame's object pixels): with ``model_source="observed"`` ICP registers onto
    this surface (completed by mesh samples away from it) instead of the mesh alone. A mesh completed
    from one view (a convex hull extruded to the table) has invented surfaces next to the seen ones
    that bias ICP. The mesh still gives the search radius and the symmetry axis.

    ``scene_depth`` (H, W): the depth of the static scene as observed, e.g. the first frame with the
    tracked objects' pixels replaced by the background (NaN there to use the ``background`` render).
    Pixels at or behind it are explained: background subtraction against what was seen, which also
    covers what meshes get wrong (the inside of a container whose mesh is a convex hull).

    ``rgb_frames`` (T, H, W, 3) uint8 and ``object_colours`` (name -> (N, 3) uint8, the object's
    pixel colours in the first frame) gate the points by colour (``colour_gate``): a hand or
    another thing in front of the object, in a colour the object does not have, is left out."""
    cfg = config or TrackingConfig()
    depth_frames = np.asarray(depth_frames)
    if depth_frames.ndim != 3 or depth_frames.shape[1:] != (intr.height, intr.width):
        raise InputError(
            f"depth frames must be (T, {intr.height}, {intr.width}) to match the camera, got {depth_frames.shape}"
        )
    missing = set(models) - set(initial_poses)
    if missing:
        raise InputError(f"no initial pose for tracked object(s) {sorted(missing)}")
    names = list(models)
    n_frames = len(depth_frames)
    surfaces = surface_points or {}
    clouds = {}
    for n in names:
        pts = surfaces.get(n)
        if cfg.model_source == "observed" and pts is not None and len(pts) >= cfg.min_points:
            cam = np.linalg.inv(np.asarray(initial_poses[n], float)) @ np.append(T_world_camera[:3, 3], 1.0)
            clouds[n] = (_surface_cloud(pts, cam[:3], models[n], cfg), cfg.surface_icp)
        else:
            clouds[n] = (_model_cloud(models[n], cfg.model_points), "point_to_plane")
    radius = {n: float(np.linalg.norm(models[n].vertices, axis=1).max()) for n in names}
    palettes = {}
    for n, cols in (object_colours or {}).items():
        if n in models and cols is not None and len(cols) and cfg.colour_gate > 0:
            from scipy.spatial import cKDTree

            palettes[n] = cKDTree(np.unique((np.asarray(cols, float) / 255.0).round(2), axis=0))
    bg_depth = render_depth(list(background), intr, T_world_camera) if background else None
    if scene_depth is not None:  # the observed static scene (see docstring); the background render fills holes
        sd = clean_depth(scene_depth, cfg).astype(float)
        sd = np.where(np.isfinite(sd), sd, np.inf)
        bg_depth = sd if bg_depth is None else np.where(np.isfinite(sd), sd, bg_depth)
    static_depth = render_depth(list(static_objects), intr, T_world_camera) if static_objects else None

    cur = {n: np.asarray(initial_poses[n], float).copy() for n in names}
    vel = {n: np.zeros(3) for n in names}  # last inter-frame translation (world)
    axes = {n: symmetry_axis(models[n]) if cfg.handle_symmetry else None for n in names}
    misses = {n: 0 for n in names}  # consecutive rejected frames: the search region grows with them
    offset = {n: None for n in names}  # observed-points centroid minus object position, last accepted frame
    raw = {n: np.zeros((n_frames, 4, 4)) for n in names}
    stats = {n: np.zeros((n_frames, 3)) for n in names}  # fitness, rmse, points
    acc = {n: np.zeros(n_frames, bool) for n in names}
    for t in range(n_frames):
        frame = clean_depth(depth_frames[t], cfg)
        for n in names:
            pred = _predict(cur[n], vel[n])
            others = static_depth
            if len(names) > 1:  # the other tracked objects, at their latest poses
                moving = render_depth([_posed(models[m], cur[m]) for m in names if m != n], intr, T_world_camera)
                others = moving if others is None else np.minimum(others, moving)
            pts = observed_points(
                frame,
                intr,
                T_world_camera,
                pred[:3, 3],
                _search_radius(radius[n], vel[n], misses[n], cfg),
                bg_depth,
                others,
                cfg,
                None if rgb_frames is None else rgb_frames[t],
                palettes.get(n),
            )
            ok, fit, rmse, new = False, 0.0, np.inf, pred
            if len(pts) >= cfg.min_points:
                guesses = [pred]
                if offset[n] is not None:  # the visible surface's centroid keeps its offset from frame to frame
                    g = pred.copy()
                    g[:3, 3] = pts.mean(0) - offset[n]
                    guesses.append(g)
                fit, rmse, new = _best_fit(pts, guesses, clouds[n], cfg)
                if axes[n] is not None:
                    new = remove_twist(cur[n], new, *axes[n])
                step = np.linalg.norm(new[:3, 3] - pred[:3, 3])
                turn = np.degrees(Rotation.from_matrix(new[:3, :3] @ pred[:3, :3].T).magnitude())
                ok = fit >= cfg.min_fitness and rmse <= cfg.max_rmse and step <= cfg.max_step * (1 + misses[n])
                ok = ok and turn <= cfg.max_turn_deg
                if ok:
                    offset[n] = pts.mean(0) - new[:3, 3]
            stats[n][t] = fit, rmse, len(pts)
            acc[n][t] = ok
            misses[n] = 0 if ok else misses[n] + 1
            if ok:
                if t > 0:
                    vel[n] = new[:3, 3] - cur[n][:3, 3]
                cur[n] = new
            else:  # hold the prediction, damp the velocity
                cur[n] = pred
                vel[n] = 0.5 * vel[n]
            raw[n][t] = cur[n]
        if progress is not None:
            progress(t + 1, n_frames)

    out = {}
    for n in names:
        poses = np.stack([matrix_to_pose(m) for m in raw[n]])
        smooth = smooth_poses(fill_rejected(poses, acc[n]), cfg.smooth_window, cfg.smooth_polyorder)
        if cfg.anchor_first_frame and acc[n][0]:  # anchored on the smoothed frame 0: less noise than one fit
            mats = anchor_track(np.stack([pose_to_matrix(q) for q in smooth]), np.asarray(initial_poses[n], float))
            smooth = np.stack([matrix_to_pose(m) for m in mats])
        out[n] = TrackResult(
            poses=smooth,
            raw_poses=poses,
            fitness=stats[n][:, 0],
            rmse=stats[n][:, 1],
            n_points=stats[n][:, 2].astype(int),
            accepted=acc[n],
        )
    return out


def _search_radius(obj_radius: float, vel: np.ndarray, misses: int, cfg: TrackingConfig) -> float:
    """Object radius + margin + last frame's speed, widened by one margin per missed frame (lost-track
    search: with the background subtracted, the moving object is what is left in the region)."""
    r = obj_radius + cfg.search_margin * (1 + misses) + float(np.linalg.norm(vel))
    return min(r, obj_radius + cfg.max_search_margin)


def _best_fit(pts: np.ndarray, guesses: list, cloud, cfg: TrackingConfig) -> tuple[float, float, np.ndarray]:
    """ICP from each initial guess (the first is the prediction). Fits that turn the object by more
    than ``max_turn_deg`` from the prediction lose against any that does not (a cube fits as well
    turned by 90 degrees); otherwise the highest fitness wins, fitness within 0.02 counting as a tie
    broken by the smaller turn."""
    R0 = guesses[0][:3, :3]
    fits = []
    for guess in guesses:
        inv = np.linalg.inv(guess)
        C, fit, rmse = _icp(pts @ inv[:3, :3].T + inv[:3, 3], cloud, cfg)
        T = guess @ np.linalg.inv(C)
        turn = float(np.degrees(Rotation.from_matrix(T[:3, :3] @ R0.T).magnitude()))
        fits.append((turn <= cfg.max_turn_deg, round(fit / 0.02), -turn, fit, rmse, T))
        if fit >= cfg.good_fitness and rmse <= 0.5 * cfg.max_rmse and turn <= cfg.max_turn_deg:
            break  # good enough: skip the other guesses
    best = max(fits, key=lambda f: f[:3])
    return best[3], best[4], best[5]


def _posed(mesh, T: np.ndarray):
    m = mesh.copy()
    m.apply_transform(T)
    return m


def _predict(T: np.ndarray, vel: np.ndarray) -> np.ndarray:
    """Constant-velocity prediction of the position; the rotation is held (extrapolating it lets an
    unobservable spin of a near-symmetric object run away)."""
    out = T.copy()
    out[:3, 3] += vel
    return out


def clean_depth(depth: np.ndarray, cfg: TrackingConfig) -> np.ndarray:
    """A depth frame without flying pixels (mixed foreground/background depth at silhouettes, see
    ``recon.segment.flying_pixel_mask``, flagged on the raw or on the median-filtered frame), then
    median-filtered."""
    from .segment import flying_pixel_mask

    d = np.asarray(depth, np.float32)
    med = filter_depth(d, cfg.depth_median_px)
    if cfg.flying_jump > 0:
        flying = flying_pixel_mask(med if cfg.flying_on_filtered else d, cfg.flying_jump)
        med = np.where(flying, np.nan, med).astype(np.float32)
    return med


def filter_depth(depth: np.ndarray, ksize: int) -> np.ndarray:
    """Median filter (``cv2.medianBlur``, 3 or 5 px) of a metric depth image; NaN stays NaN. Removes
    per-pixel noise and outliers of a depth estimator while keeping depth edges."""
    import cv2

    if ksize <= 1:
        return depth
    d = np.asarray(depth, np.float32)
    bad = ~np.isfinite(d)
    fill = float(np.nanmax(d)) if not bad.all() else 0.0
    out = cv2.medianBlur(np.where(bad, fill, d).astype(np.float32), ksize)
    out[bad] = np.nan
    return out
