"""Oracle world model: a SceneBundle (``source="ground_truth"``) made from the ground-truth task scene
and its scripted object trajectory, with the TRUE meshes, poses, masses and frictions.

For debugging only: training on it separates policy errors from reconstruction errors (the
failure breakdown's "reconstruction" class compares against it). The table is written as the
background mesh (a box in the world frame); fixed objects (shelf, dustpan, board) become
``movable=False`` objects with a nominal mass of 1 kg (the bundle schema wants mass > 0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..bundle import BundleObject, SceneBundle, save_bundle
from . import geometry as geo

ORACLE_FRAME_DT = 0.1


def build_oracle_bundle(task: str, seed: int, out_dir: str | Path, frame_dt: float = ORACLE_FRAME_DT) -> Path:
    """Write the oracle bundle of ``task`` / scene ``seed`` to ``out_dir`` and return it."""
    import trimesh

    from ..sim.tasks import resolve_task
    from ..sim.world import ROBOT_BASE, TABLE_CENTRE_XY, TABLE_HALF_XY, TABLE_TOP_Z, build_task_scene
    from ..sim.world import scripted_object_trajectory as scripted

    spec = resolve_task(task)
    scene = build_task_scene(spec, seed, with_robot=False, image_size=(64, 48))
    try:
        n_frames = int(round(spec.duration_s / frame_dt)) + 1
        traj = scripted(scene, n_frames)[spec.moved_object]
        dt = spec.duration_s / (n_frames - 1)
        objects, meshes = [], {}
        for name, info in scene.objects.items():
            pos, quat = scene.object_pose(name)
            rel = f"meshes/{name}.obj"
            meshes[rel] = info.mesh
            objects.append(
                BundleObject(
                    name=name,
                    category=info.category,
                    mesh=rel,
                    position=np.asarray(pos, float).tolist(),
                    orientation=geo.canonical_quat(np.asarray(quat, float)).tolist(),
                    mass=float(info.mass) if info.movable else 1.0,
                    friction=float(info.friction),
                    extent=np.asarray(info.mesh.extents, float).tolist(),
                    movable=bool(info.movable),
                    target_trajectory=np.asarray(traj, float).tolist() if name == spec.moved_object else None,
                )
            )
        table = trimesh.creation.box((2 * TABLE_HALF_XY[0], 2 * TABLE_HALF_XY[1], TABLE_TOP_Z))
        table.apply_translation([TABLE_CENTRE_XY[0], TABLE_CENTRE_XY[1], TABLE_TOP_Z / 2])
        meshes["meshes/background.obj"] = table
        cam = scene.camera
        bundle = SceneBundle(
            task_name=spec.name,
            task_text=spec.command,
            camera=cam.intrinsics.to_dict(),
            T_world_camera=np.asarray(cam.T_world_optical).tolist(),
            gravity_rotation=np.eye(3).tolist(),
            background_mesh="meshes/background.obj",
            background_friction=0.6,
            objects=objects,
            frame_dt=dt,
            source="ground_truth",
            meta={
                "robot_base": {"position": list(ROBOT_BASE), "orientation": [0.0, 0.0, 0.0, 1.0]},
                "oracle": True,
                "scene_seed": int(seed),
                "moved_object": spec.moved_object,
            },
        )
        return save_bundle(bundle, out_dir, meshes)
    finally:
        scene.close()
