"""The physical world model from a generated video (PhysWorld III-A), stage by stage.

``reconstruct`` chains: video depth -> metric alignment against the captured depth (eq. 1) ->
support plane and gravity alignment (eq. 2) -> first-frame segmentation and labels -> object and
background meshes -> physical properties -> collision optimisation (eq. 3) -> object pose tracks
(eq. 4) -> :class:`physworld.bundle.SceneBundle`. Every stage is timed.

Inputs are what a robot has: the captured first RGB-D frame and the camera intrinsics, the
generated RGB frames (plus ``video.aux["depth"]`` handed ONLY to the simulated depth estimator), the
task (command, object names and categories, nominal object sizes as a stand-in for open-vocabulary
recognition) and, optionally, the camera extrinsics ``T_world_camera`` from a hand-eye
calibration. The extrinsics are a calibrated input, not an oracle: with them the scene lives in the
robot's world frame (the plane fit still corrects their tilt, eq. 2, and a calibration that
disagrees with the plane is refused); without them the world frame is built from the plane alone
(z up, plane at z = 0, yaw arbitrary) and the robot cannot act in it until calibrated.
``ignore_mask`` marks pixels to leave out everywhere (the robot's own body, from its model).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..bundle import BundleObject, SceneBundle, save_bundle
from ..config import param
from ..errors import InputError
from ..sim.camera import CameraIntrinsics, unproject
from .collision import CollisionConfig, optimise_clearance
from .tracking import TrackingConfig, TrackResult, matrix_to_pose, track_objects

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)


class EmptyDepthError(InputError):
    """The captured depth image has no usable pixel."""


class FrameSizeError(InputError):
    """Images, video frames and intrinsics disagree in size."""


class NoSupportPlaneError(InputError):
    """No support plane (table, floor) was found: the object-on-ground assumption cannot hold."""


class NoObjectError(InputError):
    """No object (or not the task's moved object) was found on the support plane."""


class CalibrationError(InputError):
    """The given camera extrinsics disagree with the observed support plane."""


@dataclass
class ReconstructionConfig:
    depth_backend: str = param(
        "sim_relative", "video depth backend (physworld.recon.depth)", choices=("sim_relative", "transformers")
    )
    depth_seed: int = param(0, "seed of the simulated depth estimator's distortion", range=(0, 2**31 - 1))
    depth_model_path: str = param("", "local model directory of the 'transformers' depth backend")
    plane_threshold: float = param(0.01, "RANSAC inlier distance of the support plane (m)", range=(0.001, 0.1))
    plane_subsample: int = param(4, "every n-th valid pixel enters the RANSAC plane fit", range=(1, 100))
    max_calibration_tilt_deg: float = param(
        5.0, "largest tilt between calibrated 'up' and the plane normal", range=(0.0, 45.0)
    )
    segment_by_colour: bool = param(True, "split touching object clusters by colour (recon.segment)")
    label_by_size: bool = param(True, "map clusters to task objects by nominal sizes (else by volume order)")
    mirror_hidden: bool = param(
        False,
        "complete an object's hidden back by mirroring about its farthest "
        "visible point (meshing.object_mesh; for side views, where the top is not seen)",
    )
    object_completion: str = param(
        "parts",
        "close each height level / near-convex piece of an object by its own hull (keeps knobs, handles, "
        "cavities seen from above), or all of it by one convex hull (meshing.object_mesh)",
        choices=("parts", "convex"),
    )
    carve_free_space: bool = param(
        True, "object_completion 'parts': no extrusion into space the captured view sees through (under a handle)"
    )
    background_resolution: float = param(0.01, "height-map cell size (m)", range=(0.002, 0.2))
    background_simplify_m: float = param(
        0.001, "simplify the background height map within this distance (m; 0 = keep the full grid)", range=(0.0, 0.02)
    )
    background_margin: float = param(
        0.05, "background kept this far beyond the plane's footprint (m)", range=(0.0, 2.0)
    )
    background_thickness: float = param(
        0.05, "the background solid reaches this below its lowest cell (m)", range=(0.001, 1.0)
    )
    property_backend: str = param("table", "physical property backend", choices=("table", "vlm"))
    property_url: str = param("", "URL of the VLM property server (backend 'vlm')")
    clearance: float = param(0.002, "eq. 3 clearance between objects and background (m)", range=(0.0, 0.05))
    collision_voxel: float = param(0.004, "eq. 3 SDF grid spacing (m)", range=(0.001, 0.05))
    collision_max_iters: int = param(300, "eq. 3 Adam iterations at most", range=(1, 100000))
    track: str = param(
        "moved", "objects to track: the task's moved object, or all movable ones", choices=("moved", "all")
    )
    require_moved_object: bool = param(True, "fail if the task's moved object is not found")
    track_min_fitness: float = param(0.5, "tracking: smallest accepted ICP fitness", range=(0.0, 1.0))
    track_max_rmse: float = param(0.008, "tracking: largest accepted ICP inlier RMSE (m)", range=(0.0, 1.0))
    track_smooth_window: int = param(5, "tracking: smoothing window (frames)", range=(1, 101))
    device: str = param("auto", "torch device for eq. 3: auto, cpu or cuda")


@dataclass
class ReconstructionResult:
    bundle: SceneBundle
    meshes: dict  # relative mesh path -> trimesh (what save_bundle writes)
    timings: dict[str, float]  # stage -> seconds
    diagnostics: dict  # JSON-able per-stage numbers
    tracks: dict[str, TrackResult] = field(default_factory=dict)
    metric_depth: np.ndarray | None = None  # (T, H, W) aligned video depth, for the report
    alignment_residual: np.ndarray | None = None  # (H, W) metres, frame 0 video depth - captured depth
    surface_points: dict = field(default_factory=dict)  # name -> observed surface (object frame), the ICP model
    scene_depth: np.ndarray | None = None  # (H, W) static scene depth the tracker subtracts

    def save(self, out_dir) -> object:
        """Write the bundle (scene.json + meshes) atomically; returns the directory."""
        return save_bundle(self.bundle, out_dir, self.meshes)


STAGES = (
    "inputs",
    "video_depth_alignment",
    "gravity_alignment",
    "segmentation",
    "meshing",
    "properties",
    "collision_optimisation",
    "pose_tracking",
)  # the order reconstruct() runs them in


def overall_progress(stage: str, done: int, total: int) -> float:
    """Fraction of the whole reconstruction done when ``stage`` is at ``done / total`` (for one bar)."""
    i = STAGES.index(stage) if stage in STAGES else 0
    return (i + min(max(done / max(total, 1), 0.0), 1.0)) / len(STAGES)


class _Clock:
    def __init__(self, progress: ProgressFn | None):
        self.timings: dict[str, float] = {}
        self.progress = progress

    def run(self, stage: str, fn, *args, **kwargs):
        if self.progress:
            self.progress(stage, 0, 1)
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        self.timings[stage] = time.perf_counter() - t0
        if self.progress:
            self.progress(stage, 1, 1)
        return out


# ----------------------------------------------------------------------------------------- stages


def check_inputs(first_rgb, first_depth, intr: CameraIntrinsics, frames, ignore_mask=None) -> np.ndarray:
    """Validate the capture and the video; returns the usable-pixel mask of the first depth."""
    first_rgb, first_depth = np.asarray(first_rgb), np.asarray(first_depth)
    size = (intr.height, intr.width)
    if first_rgb.shape != (*size, 3):
        raise FrameSizeError(f"first RGB image is {first_rgb.shape}, the camera is {intr.width}x{intr.height}")
    if first_depth.shape != size:
        raise FrameSizeError(f"first depth image is {first_depth.shape}, the camera is {intr.width}x{intr.height}")
    if frames.ndim != 4 or frames.shape[1:] != (*size, 3):
        raise FrameSizeError(
            f"video frames are {frames.shape[1:]}, the captured image is {(*size, 3)}: "
            "generate the video at the camera's resolution (or resize it) first"
        )
    if ignore_mask is not None and np.shape(ignore_mask) != size:
        raise FrameSizeError(f"ignore_mask is {np.shape(ignore_mask)}, the camera is {size}")
    valid = np.isfinite(first_depth) & (first_depth > 0)
    if ignore_mask is not None:
        valid &= ~np.asarray(ignore_mask, bool)
    if valid.sum() < 100:
        raise EmptyDepthError(
            f"the captured depth has {int(valid.sum())} usable pixel(s) (empty or all NaN): check the depth stream"
        )
    return valid


def metric_video_depth(video, first_depth: np.ndarray, valid: np.ndarray, cfg: ReconstructionConfig):
    """Relative video depth (estimator) and its eq. 1 alignment: (metric (T,H,W), AlignResult, residual)."""
    from .align import apply_scale_shift, fit_scale_shift
    from .depth import make_depth_estimator

    if cfg.depth_backend == "sim_relative":
        est = make_depth_estimator("sim_relative", seed=cfg.depth_seed)
    else:
        est = make_depth_estimator("transformers", model_path=cfg.depth_model_path, progress=False)
    # the estimator gets the rendered depth only (sim backend); never the ground-truth poses
    rel = est.estimate(video.frames, {"depth": video.aux.get("depth")} if video.aux else None)
    fit = fit_scale_shift(rel[0], first_depth, valid_mask=valid)
    metric = apply_scale_shift(rel, fit.scale, fit.shift)
    residual = np.where(valid, metric[0] - first_depth, np.nan).astype(np.float32)
    return metric, fit, residual


def world_frame(first_depth, valid, intr, T_world_camera_guess, cfg: ReconstructionConfig):
    """Support plane (camera frame) and the camera pose in the gravity-aligned world frame.

    Returns (plane, R_gravity (eq. 2, camera -> up), T_world_camera, plane height, info)."""
    from .gravity import angle_between_deg, find_support_plane, gravity_transform, minimal_rotation

    pts = unproject(np.where(valid, first_depth, np.nan), intr)[:: cfg.plane_subsample]
    up_hint = None
    if T_world_camera_guess is not None:
        up_hint = np.asarray(T_world_camera_guess, float)[:3, :3].T @ [0.0, 0.0, 1.0]
    try:
        plane = find_support_plane(pts, threshold=cfg.plane_threshold, up_hint=up_hint)
    except InputError as exc:
        raise NoSupportPlaneError(str(exc)) from exc
    R_g = minimal_rotation(plane.normal)
    if T_world_camera_guess is None:
        T = gravity_transform(plane.normal, plane.d)
        return plane, R_g, T, 0.0, {"extrinsics": "from the plane (uncalibrated)", "tilt_correction_deg": 0.0}
    T_cal = np.asarray(T_world_camera_guess, float)
    n_world = T_cal[:3, :3] @ plane.normal
    tilt = angle_between_deg(n_world, [0.0, 0.0, 1.0])
    if tilt > cfg.max_calibration_tilt_deg:
        raise CalibrationError(
            f"the calibrated camera extrinsics put the support plane {tilt:.1f} deg off horizontal "
            f"(> {cfg.max_calibration_tilt_deg}): re-run the hand-eye calibration or check the plane"
        )
    # eq. 2 in the calibrated frame: the minimal rotation levelling the plane, about its centroid
    inl = pts[plane.inliers] @ T_cal[:3, :3].T + T_cal[:3, 3]
    c = inl.mean(axis=0)
    fix = np.eye(4)
    fix[:3, :3] = minimal_rotation(n_world)
    fix[:3, 3] = c - fix[:3, :3] @ c
    T = fix @ T_cal
    height = float(np.median(inl @ fix[:3, :3].T[:, 2] + fix[2, 3]))  # median: a thin object among the inliers
    return plane, R_g, T, height, {"extrinsics": "calibrated", "tilt_correction_deg": tilt}


def find_objects(first_rgb, first_depth, ignore_mask, intr, plane, task, cfg: ReconstructionConfig):
    """Segmentation of the first frame and labels: (Segmentation, {cluster index: task object name})."""
    from .segment import label_objects, point_map, segment_first_frame

    try:
        seg = segment_first_frame(
            point_map(first_depth, intr), plane.normal, plane.d, plane_threshold=cfg.plane_threshold,
            ignore_mask=ignore_mask, colors=np.asarray(first_rgb) if cfg.segment_by_colour else None,
        )  # fmt: skip
        sizes = None
        if cfg.label_by_size:
            sizes = {o.name: tuple(float(v) for v in o.shape.mesh().extents) for o in task.objects}
        labels = label_objects(seg.objects, task.object_names, sizes)
    except InputError as exc:
        if "no object" in str(exc):
            raise NoObjectError(str(exc)) from exc
        raise
    if cfg.require_moved_object and task.moved_object not in labels.names.values():
        raise NoObjectError(
            f"the task's moved object {task.moved_object!r} was not found among {len(seg.objects)} object "
            f"cluster(s) on the support plane (labels: {sorted(labels.names.values())})"
        )
    return seg, labels


def build_meshes(first_depth, valid, intr, T_wc, plane, plane_height, seg, labels, moved: str,
                 cfg: ReconstructionConfig):  # fmt: skip
    """Closed object meshes (name -> ObjectMesh), the observed surface points of each (object frame),
    the background height-map solid (world frame) and notes. An object is extruded down to what it
    stands on (segment.support_height: the plane, or another object under it). A cluster whose points
    give no closed mesh (flat or too few) stays part of the background, unless it is the ``moved``
    object."""
    from .meshing import (
        complete_background_depth,
        free_space_test,
        heightmap_mesh,
        object_mesh,
        plane_depth,
        simplify_surface,
    )
    from .segment import point_map, support_height

    objects, surfaces, notes = {}, {}, []
    free = free_space_test(np.where(valid, first_depth, np.nan), intr, T_wc) if cfg.carve_free_space else None
    world_map = point_map(np.where(valid, first_depth, np.nan), intr) @ T_wc[:3, :3].T + T_wc[:3, 3]
    for c in seg.objects:
        name = labels.names.get(c.index)
        if name is None:
            continue  # not a task object: it stays part of the background
        pts = c.points @ T_wc[:3, :3].T + T_wc[:3, 3]
        others = np.any([o.mask for o in seg.objects if o.index != c.index], axis=0) if len(seg.objects) > 1 else None
        base = plane_height if others is None else support_height(c.mask, others, world_map, plane_height)
        if base > plane_height:
            notes.append(f"{name}: stands on another object, {100 * (base - plane_height):.1f} cm above the plane")
        try:
            objects[name] = object_mesh(pts, base, mirror=cfg.mirror_hidden, camera_position=T_wc[:3, 3],
                                        completion=cfg.object_completion, free_space=free)  # fmt: skip
        except InputError as exc:
            if name == moved:
                raise NoObjectError(f"the moved object {name!r} gives no mesh: {exc}") from exc
            labels.names.pop(c.index)
            notes.append(f"{name}: no mesh ({exc}); left in the background")
            continue
        inv = np.linalg.inv(objects[name].T_world_object)
        surfaces[name] = pts @ inv[:3, :3].T + inv[:3, 3]  # the observed surface, object frame
    # object pixels are filled by the object-on-ground completion, and so are ignored ones (the robot,
    # flying pixels); clusters that are no task object stay part of the background
    occluded = np.zeros(valid.shape, bool) if seg.ignored_mask is None else seg.ignored_mask.copy()
    keep = seg.background_mask.copy()
    for c in seg.objects:
        if c.index in labels.names:
            occluded |= c.mask
        else:
            keep |= c.mask
    depth = np.where(keep & ~occluded, first_depth, np.nan)
    filled = complete_background_depth(depth, occluded, intr, plane.normal, plane.d, T_world_camera=T_wc)
    # the support plane's pixels lie on the plane the objects stand on (world z = plane_height); so do
    # the low skirts of objects (below the segmentation's min_height) that would otherwise raise the
    # height map under each object's rim, and eq. 3 would lift every object by them
    flat = seg.plane_mask & keep & ~occluded
    filled = np.where(flat, plane_depth(intr, T_wc[2, :3], T_wc[2, 3] - plane_height), filled)
    bg = unproject(filled, intr, T_wc)
    plane_xy = unproject(np.where(seg.plane_mask, first_depth, np.nan), intr, T_wc)[:, :2]
    lo, hi = plane_xy.min(0) - cfg.background_margin, plane_xy.max(0) + cfg.background_margin
    bg = bg[np.all((bg[:, :2] >= lo) & (bg[:, :2] <= hi), axis=1)]
    base = float(bg[:, 2].min()) - cfg.background_thickness
    background = heightmap_mesh(bg, cfg.background_resolution, bounds_xy=((lo[0], hi[0]), (lo[1], hi[1])), base_z=base)
    if cfg.background_simplify_m > 0:
        background = simplify_surface(background, cfg.background_simplify_m)
    return objects, surfaces, background, notes


def _posed(mesh, T):
    m = mesh.copy()
    m.apply_transform(T)
    return m


# ------------------------------------------------------------------------------------------ main


def reconstruct(
    first_rgb: np.ndarray,
    first_depth: np.ndarray,
    intrinsics: CameraIntrinsics,
    T_world_camera_guess: np.ndarray | None,
    video,
    task,
    config: ReconstructionConfig | None = None,
    progress: ProgressFn | None = None,
    ignore_mask: np.ndarray | None = None,
) -> ReconstructionResult:
    """The physical world model of ``task`` from the capture and the generated ``video`` (see module)."""
    from .properties import make_property_estimator

    cfg = config or ReconstructionConfig()
    clock = _Clock(progress)
    frames = np.asarray(video.frames)
    first_depth = np.asarray(first_depth, dtype=np.float32)
    valid = clock.run("inputs", check_inputs, first_rgb, first_depth, intrinsics, frames, ignore_mask)
    metric, fit, residual = clock.run("video_depth_alignment", metric_video_depth, video, first_depth, valid, cfg)
    plane, R_g, T_wc, plane_h, frame_info = clock.run(
        "gravity_alignment", world_frame, first_depth, valid, intrinsics, T_world_camera_guess, cfg
    )
    seg, labels = clock.run(
        "segmentation", find_objects, first_rgb, first_depth, ignore_mask, intrinsics, plane, task, cfg
    )
    objects, surfaces, background, mesh_notes = clock.run(
        "meshing", build_meshes, first_depth, valid, intrinsics, T_wc, plane, plane_h, seg, labels,
        task.moved_object, cfg,
    )  # fmt: skip
    est = make_property_estimator(cfg.property_backend, **({"url": cfg.property_url} if cfg.property_url else {}))
    props = clock.run(
        "properties",
        lambda: {n: est.estimate(task.object(n).category, float(o.mesh.volume)) for n, o in objects.items()},
    )
    bg_props = est.estimate("table")
    ccfg = CollisionConfig(voxel_size=cfg.collision_voxel, clearance=cfg.clearance,
                           max_iters=cfg.collision_max_iters, device=cfg.device)  # fmt: skip
    coll = clock.run(
        "collision_optimisation",
        optimise_clearance, background, {n: _posed(o.mesh, o.T_world_object) for n, o in objects.items()}, ccfg,
    )  # fmt: skip
    poses = {n: o.T_world_object.copy() for n, o in objects.items()}
    for n, dz in coll.offsets.items():
        poses[n][2, 3] += dz
    if cfg.track == "moved":
        tracked = [n for n in objects if n == task.moved_object]
    else:
        tracked = [n for n in objects if props[n].mass > 0]
    tcfg = TrackingConfig(min_fitness=cfg.track_min_fitness, max_rmse=cfg.track_max_rmse,
                          smooth_window=cfg.track_smooth_window)  # fmt: skip
    depth_frames = metric if ignore_mask is None else np.where(np.asarray(ignore_mask, bool), np.nan, metric)
    # the static scene as the video shows it at frame 0; where tracked objects were, the background mesh
    tracked_px = np.zeros(valid.shape, bool)
    for c in seg.objects:
        tracked_px |= c.mask if labels.names.get(c.index) in tracked else False
    scene_depth = np.where(tracked_px, np.nan, depth_frames[0])
    colours = {labels.names[c.index]: np.asarray(first_rgb)[c.mask] for c in seg.objects
               if labels.names.get(c.index) in tracked}  # fmt: skip
    tracks = clock.run(
        "pose_tracking",
        track_objects, depth_frames, intrinsics, T_wc, {n: objects[n].mesh for n in tracked},
        {n: poses[n] for n in tracked}, [background],
        [_posed(objects[n].mesh, poses[n]) for n in objects if n not in tracked], tcfg,
        (lambda d, t: progress("pose_tracking", d, t)) if progress else None, {n: surfaces[n] for n in tracked},
        scene_depth, frames, colours,
    )  # fmt: skip

    meshes = {"meshes/background.obj": background}
    bundle_objects = []
    for n, o in objects.items():
        meshes[f"meshes/{n}.obj"] = o.mesh
        pose = matrix_to_pose(poses[n])
        p = props[n]
        bundle_objects.append(
            BundleObject(
                name=n, category=task.object(n).category, mesh=f"meshes/{n}.obj",
                position=pose[:3].tolist(), orientation=pose[3:].tolist(),
                mass=p.mass if p.mass > 0 else 1.0,  # static parts: mass unused, the part is fixed
                friction=p.friction, extent=[float(v) for v in o.mesh.extents], movable=p.mass > 0,
                target_trajectory=tracks[n].poses.tolist() if n in tracks else None,
            )
        )  # fmt: skip
    bundle = SceneBundle(
        task_name=task.name, task_text=video.task_text or task.command, camera=intrinsics.to_dict(),
        T_world_camera=T_wc.tolist(), gravity_rotation=R_g.tolist(), background_mesh="meshes/background.obj",
        background_friction=bg_props.friction, objects=bundle_objects, frame_dt=1.0 / float(video.fps),
        source="reconstruction",
        meta={"moved_object": task.moved_object, "plane_height": plane_h, "video_backend": video.backend,
              "depth_backend": cfg.depth_backend, **frame_info},
    )  # fmt: skip
    diagnostics = {
        "alignment": {"scale": fit.scale, "shift": fit.shift, "inlier_fraction": fit.inlier_fraction,
                      "residual_median_abs_m": fit.residual_median_abs, "rmse_inliers_m": fit.residual_rmse_inliers},
        "plane": {"normal_camera": plane.normal.tolist(), "d": plane.d, "inliers": int(plane.inliers.sum()),
                  "height_world": plane_h, **frame_info},
        "segmentation": {"clusters": len(seg.objects), "labels": {str(k): v for k, v in labels.names.items()},
                         "missing": labels.missing, "notes": labels.notes + mesh_notes},
        "properties": {n: {"mass": p.mass, "friction": p.friction, "source": p.source} for n, p in props.items()},
        "collision": {"offsets_m": coll.offsets, "min_clearance_m": coll.min_clearance,
                      "initial_min_clearance_m": coll.initial_min_clearance, "iterations": coll.iterations,
                      "converged": coll.converged},
        "tracking": {n: {"acceptance": r.acceptance, "mean_fitness": float(r.fitness.mean()),
                         "mean_points": float(r.n_points.mean())} for n, r in tracks.items()},
    }  # fmt: skip
    return ReconstructionResult(
        bundle, meshes, clock.timings, diagnostics, tracks, metric, residual, surfaces, scene_depth
    )


from .evaluation import evaluate_reconstruction  # noqa: E402,F401  (evaluation only; re-exported here)
