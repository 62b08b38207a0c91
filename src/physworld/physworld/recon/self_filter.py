"""Robot self-filter: the pixels of the robot's own body in a camera image.

A robot knows its kinematic model (URDF), its joint positions (``joint_states``) and, after a
hand-eye calibration, the camera pose. Rendering the model alone from the camera gives the pixels
the robot covers; reconstruction leaves them out (``reconstruct(..., ignore_mask=...)``), as
MoveIt's self filter does for point clouds. Nothing of the scene is read: a separate PyBullet
DIRECT client holds the robot model only.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..sim.camera import CameraIntrinsics, PyBulletCamera


def robot_pixel_mask(
    urdf_path: str,
    base_position,
    joint_positions: dict[str, float],
    intrinsics: CameraIntrinsics,
    T_world_camera: np.ndarray,
    base_orientation=(0.0, 0.0, 0.0, 1.0),
    dilate_px: int = 1,
) -> np.ndarray:
    """(H, W) bool: pixels where the robot model, posed at ``joint_positions`` (joint name ->
    position), is seen by the camera; dilated by ``dilate_px`` for the silhouette's edge."""
    import cv2
    import pybullet as p

    cid = p.connect(p.DIRECT)
    try:
        try:
            body = p.loadURDF(
                str(urdf_path), list(base_position), list(base_orientation), useFixedBase=True, physicsClientId=cid
            )
        except p.error as exc:
            raise InputError(f"cannot load the robot model {urdf_path!r}: {exc}") from exc
        names = {}
        for j in range(p.getNumJoints(body, physicsClientId=cid)):
            names[p.getJointInfo(body, j, physicsClientId=cid)[1].decode()] = j
        unknown = sorted(set(joint_positions) - set(names))
        if unknown:
            raise InputError(f"joint(s) {unknown} are not in the robot model {urdf_path!r}")
        for name, q in joint_positions.items():
            p.resetJointState(body, names[name], float(q), physicsClientId=cid)
        _, depth, _ = PyBulletCamera(intrinsics, np.asarray(T_world_camera, float)).render(cid)
    finally:
        p.disconnect(cid)
    mask = np.isfinite(depth)
    if dilate_px > 0:
        k = 2 * int(dilate_px) + 1
        mask = cv2.dilate(mask.astype(np.uint8), np.ones((k, k), np.uint8)).astype(bool)
    return mask
