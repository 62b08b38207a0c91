"""A small self-contained scene bundle (a box on a table, moved to a new place) for tests, the
benchmark and debugging without the task suite: ``make_demo_bundle(out_dir)``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..bundle import BundleObject, SceneBundle, save_bundle
from . import geometry as geo


def demo_trajectory(
    start: np.ndarray, goal_xy=(0.45, 0.15), lift: float = 0.12, n_frames: int = 40, still_frames: int = 8
) -> np.ndarray:
    """Pick-and-place object track: still, lift, carry to ``goal_xy`` while turning 30 deg, lower."""
    start = np.asarray(start, float)
    goal = start.copy()
    goal[:2] = goal_xy
    yaw = np.deg2rad(30.0)
    q_goal = geo.canonical_quat(np.array([0, 0, np.sin(yaw / 2), np.cos(yaw / 2)]))
    up = start.copy()
    up[2] += lift
    above = goal.copy()
    above[2] += lift
    above[3:] = q_goal
    goal[3:] = q_goal
    n_move = n_frames - still_frames
    n1, n3 = n_move // 4, n_move // 4
    n2 = n_move - n1 - n3
    parts = [
        np.repeat(start[None], still_frames, axis=0),
        geo.interpolate_poses(start, up, n1),
        geo.interpolate_poses(up, above, n2),
        geo.interpolate_poses(above, goal, n3),
    ]
    return np.concatenate(parts, axis=0)


def make_demo_bundle(
    out_dir: str | Path,
    box_xy=(0.55, -0.1),
    size: float = 0.05,
    mass: float = 0.2,
    friction: float = 0.7,
    n_frames: int = 40,
) -> Path:
    """Write a bundle: table top at z = 0 (background slab), one box to move, Panda base at the origin."""
    import trimesh

    start = np.array([box_xy[0], box_xy[1], size / 2, 0, 0, 0, 1.0])
    traj = demo_trajectory(start, n_frames=n_frames)
    obj = BundleObject(
        name="box",
        category="box",
        mesh="meshes/box.obj",
        position=start[:3].tolist(),
        orientation=start[3:].tolist(),
        mass=mass,
        friction=friction,
        extent=[size] * 3,
        movable=True,
        target_trajectory=traj.tolist(),
    )
    bundle = SceneBundle(
        task_name="demo_box",
        task_text="move the box to the left",
        camera={"width": 64, "height": 48, "fx": 60.0, "fy": 60.0, "cx": 31.5, "cy": 23.5},
        T_world_camera=np.eye(4).tolist(),
        gravity_rotation=np.eye(3).tolist(),
        background_mesh="meshes/background.obj",
        background_friction=0.8,
        objects=[obj],
        frame_dt=0.1,
        source="ground_truth",
        meta={"robot_base": {"position": [0.0, 0.0, 0.0], "orientation": [0, 0, 0, 1]}, "demo": True},
    )
    table = trimesh.creation.box((1.2, 1.4, 0.04))
    table.apply_translation([0.5, 0.0, -0.02])
    meshes = {"meshes/box.obj": trimesh.creation.box((size, size, size)), "meshes/background.obj": table}
    return save_bundle(bundle, out_dir, meshes)
