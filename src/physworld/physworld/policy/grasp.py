"""Antipodal grasp proposals on an object mesh (the RIGVid-style grasping step, PhysWorld III-B).

Grasp frame = the Panda's ``panda_grasptarget`` frame: z is the approach direction (out of the
palm), y the finger closing axis, x = y x z. A proposal is that frame expressed in the object frame
(``T_obj_grasp``, pose7) plus the jaw width it needs.

Sampling: surface points with their outward normals (trimesh), a ray into the object along the
inward normal finds the opposite contact; the pair is antipodal when both normals lie within the
friction cone of the contact axis. Each contact pair gives several approach directions around the
closing axis. Scoring (higher is better, documented in docs/policy.md): approach from above, grasp
centre near the object's centre of mass, small normal misalignment. Reachability and collisions are
checked afterwards in the world model (:mod:`physworld.policy.planning`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from . import geometry as geo

MAX_WIDTH = 0.075  # m: Panda opens 0.08; keep 5 mm of clearance
MIN_WIDTH = 0.004
# Panda gripper volumes in the grasp (panda_grasptarget) frame, measured from the URDF's collision
# meshes with the fingers open: (x half-size, |y| range, z range)
PALM = (0.040, (0.0, 0.110), (-1.0, -0.038))
FINGER = (0.016, (0.039, 0.072), (-0.052, 0.013))


@dataclass(frozen=True)
class GraspConfig:
    n_points: int = 400
    n_approach: int = 8  # approach directions per contact pair
    depths: tuple[float, ...] = (0.0, 0.02)  # contact this far inside the finger pads (m, along approach)
    n_clearance_points: int = 3000
    cone_deg: float = 20.0  # friction-cone half-angle used for the antipodal test
    max_width: float = MAX_WIDTH
    w_topdown: float = 1.0
    w_center: float = 1.0
    w_antipodal: float = 0.3
    w_track_pose: float = 1.0  # worst approach-from-above over the tracked object poses


@dataclass
class GraspProposal:
    T_obj_grasp: np.ndarray  # pose7 of the grasp frame in the object frame
    width: float
    score: float


def antipodal_pairs(mesh, n_points: int, cone_deg: float, max_width: float, rng: np.random.Generator):
    """Contact pairs (p1, p2, quality) on ``mesh`` (trimesh, object frame).

    From each sampled surface point a ray goes into the object along the inward normal; the pair
    partner is the FIRST exit (a wall pinched across its thickness) and the LAST exit within the
    jaw width (a hollow object, e.g. a cup, grasped across its whole diameter)."""
    import trimesh

    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise InputError("grasp sampling needs a non-empty triangle mesh of the object")
    pts, fidx = trimesh.sample.sample_surface(mesh, n_points, seed=int(rng.integers(2**31)))
    normals = mesh.face_normals[fidx]
    ray_id, t_hit, tri = _cast_all(mesh, pts - normals * 1e-4, -normals)
    n_hit = mesh.face_normals[tri]
    exits = (np.sum(n_hit * -normals[ray_id], axis=1) > 0) & (t_hit > MIN_WIDTH) & (t_hit < max_width)
    i1, i2 = [], []
    for r in np.unique(ray_id[exits]):
        idx = np.nonzero(exits & (ray_id == r))[0]
        order = idx[np.argsort(t_hit[idx])]
        i1.append(r)
        i2.append(order[0])
        if t_hit[order[-1]] - t_hit[order[0]] > 0.005:
            i1.append(r)
            i2.append(order[-1])
    if not i1:
        return np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0)
    i1, i2 = np.asarray(i1), np.asarray(i2)
    p1, n1 = pts[i1], normals[i1]
    width = t_hit[i2] + 1e-4
    hits = p1 - n1 * width[:, None]
    n2 = n_hit[i2]
    axis = -n1
    cos_cone = np.cos(np.deg2rad(cone_deg))
    c2 = np.sum(n2 * axis, axis=1)  # outward normal at p2 along the axis (p1's normal is the axis)
    ok = c2 >= cos_cone
    return p1[ok], hits[ok], c2[ok]


def _cast_all(mesh, origins: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All hits of each ray: (ray index, distance, triangle index) (open3d RaycastingScene)."""
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(
        o3d.core.Tensor(np.asarray(mesh.vertices, np.float32)), o3d.core.Tensor(np.asarray(mesh.faces, np.uint32))
    )
    rays = o3d.core.Tensor(np.concatenate([origins, dirs], axis=1).astype(np.float32))
    ans = scene.list_intersections(rays)
    return (
        ans["ray_ids"].numpy().astype(np.int64),
        ans["t_hit"].numpy().astype(float),
        ans["primitive_ids"].numpy().astype(np.int64),
    )


def grasp_frames(p1: np.ndarray, p2: np.ndarray, n_approach: int) -> tuple[np.ndarray, np.ndarray]:
    """Grasp rotations (N*n_approach, 3, 3) and centres for contact pairs, approach directions spread
    around each closing axis."""
    y = p2 - p1
    y = y / np.linalg.norm(y, axis=1, keepdims=True)
    ref = np.where(np.abs(y[:, 2:3]) < 0.9, np.array([[0.0, 0, 1]]), np.array([[1.0, 0, 0]]))
    a = np.cross(y, ref)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b = np.cross(y, a)
    mats, centres = [], []
    for k in range(n_approach):
        th = 2 * np.pi * k / n_approach
        z = np.cos(th) * a + np.sin(th) * b
        x = np.cross(y, z)
        mats.append(np.stack([x, y, z], axis=2))
        centres.append(0.5 * (p1 + p2))
    return np.concatenate(mats), np.concatenate(centres)


def gripper_clear(points_obj: np.ndarray, T_obj_grasp: np.ndarray, width: float) -> bool:
    """True when no object point lies in the palm, in the open fingers, or between the fingers
    outside the contact pair (where the jaws would touch the object before the contacts)."""
    T = geo.pose_to_matrix(T_obj_grasp)
    loc = (points_obj - T[:3, 3]) @ T[:3, :3]
    ax, ay, z = np.abs(loc[:, 0]), np.abs(loc[:, 1]), loc[:, 2]
    palm = (ax < PALM[0]) & (ay < PALM[1][1]) & (z < PALM[2][1])
    zin = (z > FINGER[2][0]) & (z < FINGER[2][1])
    finger = (ax < FINGER[0]) & (ay > FINGER[1][0]) & (ay < FINGER[1][1]) & zin
    sweep = (ax < 0.012) & (ay > width / 2 + 0.004) & (ay <= FINGER[1][0]) & zin
    return not bool(np.any(palm | finger | sweep))


def propose_grasps(
    mesh,
    T_world_obj: np.ndarray,
    cfg: GraspConfig = GraspConfig(),
    seed: int = 0,
    robot_base: np.ndarray | None = None,
    track: np.ndarray | None = None,
) -> list[GraspProposal]:
    """Scored antipodal grasp proposals, best first. ``T_world_obj`` (pose7) orients the scoring
    (approach from above in the world); ``robot_base`` (pose7) prefers hands pointing away from it;
    ``track`` ((T, 7) object poses to follow) penalises grasps whose hand would point upward on the
    way (a cup poured at 125 deg is better held from the side, turning about the approach axis)."""
    rng = np.random.default_rng(seed)
    p1, p2, quality = antipodal_pairs(mesh, cfg.n_points, cfg.cone_deg, cfg.max_width, rng)
    if len(p1) == 0:
        return []
    R, c = grasp_frames(p1, p2, cfg.n_approach)
    q = np.tile(quality, cfg.n_approach)
    width = np.tile(np.linalg.norm(p2 - p1, axis=1), cfg.n_approach)
    R_wo = geo.pose_to_matrix(T_world_obj)[:3, :3]
    z_world = np.einsum("ij,njk->nik", R_wo, R)[:, :, 2]
    topdown = -z_world[:, 2]  # 1 when approaching straight down
    size = float(np.max(mesh.extents)) + 1e-9
    centre = mesh.center_mass if mesh.is_watertight else mesh.centroid
    dist = np.linalg.norm(c - centre, axis=1) / size
    score = cfg.w_topdown * topdown - cfg.w_center * dist + cfg.w_antipodal * q
    if track is not None and len(track) and cfg.w_track_pose:
        worst = np.full(len(R), np.inf)
        for pose in np.asarray(track)[np.linspace(0, len(track) - 1, min(8, len(track))).astype(int)]:
            Rt = geo.pose_to_matrix(pose)[:3, :3]
            worst = np.minimum(worst, -np.einsum("j,njk->nk", Rt[2], R)[:, 2])
        score += cfg.w_track_pose * worst
    if robot_base is not None:
        # approach from the robot's side, and hand x axis pointing away from the base (wrist near home)
        R_w = np.einsum("ij,njk->nik", R_wo, R)
        radial = geo.pose_to_matrix(T_world_obj)[:3, 3] - np.asarray(robot_base)[:3]
        radial[2] = 0.0
        radial /= np.linalg.norm(radial) + 1e-9
        score += 0.2 * (R_w[:, :, 0] @ radial) + 0.5 * (R_w[:, :, 2] @ radial)
    order = np.argsort(-score)
    out = []
    for i in order:
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = R[i], c[i]
        out.append(GraspProposal(geo.matrix_to_pose(T), float(width[i]), float(score[i])))
    return out


def clear_grasps(
    mesh, proposals: list[GraspProposal], cfg: GraspConfig = GraspConfig(), limit: int = 40, seed: int = 0
) -> tuple[list[GraspProposal], int]:
    """The first ``limit`` grasps that pass :func:`gripper_clear`, each proposal tried at every depth of
    ``cfg.depths`` (deepest first, each clear depth kept); also returns how many proposals had none."""
    import trimesh

    pts, _ = trimesh.sample.sample_surface(mesh, cfg.n_clearance_points, seed=seed)
    out, rejected = [], 0
    for prop in proposals:
        n_clear = 0
        for depth in sorted(cfg.depths, reverse=True):
            T = geo.pose_to_matrix(prop.T_obj_grasp)
            T[:3, 3] += T[:3, 2] * depth
            cand = GraspProposal(geo.matrix_to_pose(T), prop.width, prop.score)
            if gripper_clear(pts, cand.T_obj_grasp, prop.width):
                out.append(cand)
                n_clear += 1
        rejected += n_clear == 0
        if len(out) >= limit:
            break
    return out, rejected


def pregrasp_offset(T_world_grasp: np.ndarray, distance: float) -> np.ndarray:
    """World-frame offset from the grasp to the pre-grasp pose: back along the approach axis."""
    z = geo.pose_to_matrix(T_world_grasp)[:3, 2]
    return -distance * z
