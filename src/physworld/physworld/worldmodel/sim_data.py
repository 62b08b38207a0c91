"""Synthetic clips from PyBullet: primitives on a plane (some dropped, so they fall and settle),
optionally a translating camera. Labels: depth, body segmentation, optical flow from the known
motion, and the camera's ego-motion as the action a_t (translation from frame t to t+1 expressed in
the camera frame at t, metres).

``textured=True`` renders the "real" domain: procedural textures on every surface plus camera
effects (see ``domain_shift``); geometry and motion are drawn from the same distribution.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..sim.camera import CameraIntrinsics, PyBulletCamera, look_at, project, unproject
from .clips import ClipSet
from .config import ModelConfig, SimDataConfig
from .domain_shift import apply_camera_effects, make_texture, sample_camera_effects

PHYSICS_HZ = 240.0
N_GROUND_TEXTURES = 6
N_OBJECT_TEXTURES = 16


def camera_start_pose(cfg: SimDataConfig) -> np.ndarray:
    back = cfg.camera_height / np.tan(np.deg2rad(cfg.camera_pitch_deg))
    return look_at([0.0, -back, cfg.camera_height], [0.0, 0.0, 0.0])


def camera_velocity(cfg: SimDataConfig, T_world_cam: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """World-frame camera velocity (m per frame) for this clip's motion mode."""
    mode = cfg.camera_motion
    if mode == "random":
        mode = ("none", "lateral", "forward", "diagonal")[rng.integers(4)]
    if mode == "none":
        return np.zeros(3)
    x = T_world_cam[:3, 0] * np.array([1.0, 1.0, 0.0])
    fwd = T_world_cam[:3, 2] * np.array([1.0, 1.0, 0.0])
    x, fwd = x / np.linalg.norm(x), fwd / np.linalg.norm(fwd)
    direction = {"lateral": x, "forward": fwd, "diagonal": (x + fwd) / np.sqrt(2.0)}[mode]
    speed = rng.uniform(*cfg.camera_speed) * rng.choice([-1.0, 1.0])
    return direction * speed


def _build_scene(p, client: int, cfg: SimDataConfig, rng: np.random.Generator, textures: list[int] | None) -> list[int]:
    """Plane (body 0) + primitives (bodies 1..n); returns the object body ids."""
    col = p.createCollisionShape(p.GEOM_BOX, halfExtents=[2.5, 2.5, 0.01], physicsClientId=client)
    grey = rng.uniform(0.35, 0.65)
    vis = p.createVisualShape(
        p.GEOM_BOX, halfExtents=[2.5, 2.5, 0.01], rgbaColor=[grey, grey * 1.05, grey * 0.95, 1], physicsClientId=client
    )
    plane = p.createMultiBody(0, col, vis, [0, 0, -0.01], physicsClientId=client)
    bodies = [plane]
    placed: list[np.ndarray] = []
    for _ in range(rng.integers(cfg.objects_min, cfg.objects_max + 1)):
        shape = rng.integers(3)
        s = rng.uniform(0.08, 0.16)
        colour = [*rng.uniform(0.1, 1.0, 3), 1.0]
        if shape == 0:
            half = [s, s * rng.uniform(0.7, 1.3), s * rng.uniform(0.7, 1.3)]
            c = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=client)
            v = p.createVisualShape(p.GEOM_BOX, halfExtents=half, rgbaColor=colour, physicsClientId=client)
            rest = half[2]
        elif shape == 1:
            c = p.createCollisionShape(p.GEOM_SPHERE, radius=s, physicsClientId=client)
            v = p.createVisualShape(p.GEOM_SPHERE, radius=s, rgbaColor=colour, physicsClientId=client)
            rest = s
        else:
            h = 2 * s * rng.uniform(0.8, 1.6)
            c = p.createCollisionShape(p.GEOM_CYLINDER, radius=s, height=h, physicsClientId=client)
            v = p.createVisualShape(p.GEOM_CYLINDER, radius=s, length=h, rgbaColor=colour, physicsClientId=client)
            rest = h / 2
        for _try in range(20):
            xy = np.array([rng.uniform(-0.35, 0.35), rng.uniform(-0.2, 0.35)])
            if all(np.linalg.norm(xy - q) > 0.28 for q in placed):
                break
        placed.append(xy)
        z = rest + (rng.uniform(*cfg.drop_height) if rng.random() < cfg.fall_prob else 0.0)
        yaw = rng.uniform(-np.pi, np.pi)
        orn = p.getQuaternionFromEuler([0, 0, yaw])
        bodies.append(p.createMultiBody(1.0, c, v, [xy[0], xy[1], z], orn, physicsClientId=client))
    if textures:  # the first N_GROUND_TEXTURES are tiled ground textures
        for i, b in enumerate(bodies):
            pool = textures[:N_GROUND_TEXTURES] if i == 0 else textures[N_GROUND_TEXTURES:]
            tex = int(rng.choice(pool))
            p.changeVisualShape(b, -1, textureUniqueId=tex, rgbaColor=[1, 1, 1, 1], physicsClientId=client)
    return bodies[1:]


def _body_pose(p, client: int, body: int) -> np.ndarray:
    pos, orn = p.getBasePositionAndOrientation(body, physicsClientId=client)
    T = np.eye(4)
    T[:3, :3] = np.asarray(p.getMatrixFromQuaternion(orn)).reshape(3, 3)
    T[:3, 3] = pos
    return T


def flow_from_motion(depth, seg, intr: CameraIntrinsics, T_cam0, T_cam1, poses0: dict, poses1: dict) -> np.ndarray:
    """Optical flow (H, W, 2) t -> t+1: each pixel's 3D point moves with its body (static if not in
    ``poses``) and is projected into the next camera. NaN where there is no depth."""
    h, w = depth.shape
    flow = np.full((h, w, 2), np.nan, dtype=np.float32)
    valid = np.isfinite(depth) & (depth > 0)
    v, u = np.nonzero(valid)
    pts = unproject(depth, intr, T_cam0)  # same row-major order as np.nonzero
    ids = seg[v, u]
    moved = pts.copy()
    for body, T0 in poses0.items():
        m = ids == body
        if m.any():
            M = poses1[body] @ np.linalg.inv(T0)
            moved[m] = pts[m] @ M[:3, :3].T + M[:3, 3]
    uvz = project(moved, intr, T_cam1)
    flow[v, u, 0] = uvz[:, 0] - u
    flow[v, u, 1] = uvz[:, 1] - v
    return flow


def generate_sim_clips(
    cfg: SimDataConfig, model: ModelConfig, n_clips: int, seed: int, textured: bool = False, progress: bool = True
) -> ClipSet:
    import pybullet as p

    from .geometry import model_intrinsics

    rng = np.random.default_rng(seed)
    intr = model_intrinsics(model)
    intr = CameraIntrinsics(intr.width, intr.height, intr.fx, intr.fy, intr.cx, intr.cy, near=0.05, far=20.0)
    t_len, h, w = cfg.clip_len, model.height, model.width
    rgb = np.zeros((n_clips, t_len, h, w, 3), np.uint8)
    depth = np.zeros((n_clips, t_len, h, w), np.float32)
    seg = np.zeros((n_clips, t_len, h, w), np.int32)
    flow = np.zeros((n_clips, t_len - 1, h, w, 2), np.float32)
    actions = np.zeros((n_clips, t_len - 1, 3), np.float32)
    substeps = max(1, round(PHYSICS_HZ / cfg.fps))
    client = p.connect(p.DIRECT)
    try:
        with tempfile.TemporaryDirectory(prefix="physworld_tex_") as tex_dir:
            tex_files = []
            if textured:
                for i in range(N_GROUND_TEXTURES + N_OBJECT_TEXTURES):
                    f = Path(tex_dir) / f"tex{i}.png"
                    tex = make_texture(rng)
                    cv2.imwrite(str(f), (np.tile(tex, (6, 6, 1)) if i < N_GROUND_TEXTURES else tex)[..., ::-1])
                    tex_files.append(str(f))
            for n in tqdm(
                range(n_clips),
                desc="sim clips" + (" (real domain)" if textured else ""),
                disable=not progress,
                leave=False,
            ):
                p.resetSimulation(physicsClientId=client)
                p.setGravity(0, 0, -9.81, physicsClientId=client)
                p.setTimeStep(1.0 / PHYSICS_HZ, physicsClientId=client)
                textures = [p.loadTexture(f, physicsClientId=client) for f in tex_files]
                objects = _build_scene(p, client, cfg, rng, textures)
                T_cam = camera_start_pose(cfg)
                vel = camera_velocity(cfg, T_cam, rng)
                cam = PyBulletCamera(intr, T_cam)
                prev = None
                for t in range(t_len):
                    cam.set_pose(T_cam)
                    rgb[n, t], depth[n, t], seg[n, t] = cam.render(client)
                    poses = {b: _body_pose(p, client, b) for b in objects}
                    if prev is not None:
                        T_prev, poses_prev = prev
                        flow[n, t - 1] = flow_from_motion(
                            depth[n, t - 1], seg[n, t - 1], intr, T_prev, T_cam, poses_prev, poses
                        )
                        actions[n, t - 1] = T_prev[:3, :3].T @ (T_cam[:3, 3] - T_prev[:3, 3])
                    prev = (T_cam.copy(), poses)
                    for _ in range(substeps):
                        p.stepSimulation(physicsClientId=client)
                    T_cam = T_cam.copy()
                    T_cam[:3, 3] += vel
                if textured:
                    rgb[n] = apply_camera_effects(rgb[n], sample_camera_effects(rng), rng)
    finally:
        p.disconnect(client)
    source = "pybullet sim, " + ("textured + camera effects ('real' domain)" if textured else "clean synthetic")
    return ClipSet(
        rgb,
        actions,
        depth,
        seg,
        flow,
        source=source,
        meta={"seed": seed, "camera_motion": cfg.camera_motion, "fall_prob": cfg.fall_prob},
    )
