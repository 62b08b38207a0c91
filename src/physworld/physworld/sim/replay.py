"""Scripted trajectories of the moved object and their kinematic replay in a scene.

``scripted_object_trajectory`` samples the task's motion template (:mod:`physworld.sim.motions`)
at ``n_frames`` evenly spaced times over the task's duration. ``replay_trajectory`` drives the
objects named in a trajectory kinematically (pose AND velocity set every physics step, so contacts
with simulated objects behave) while every other object is simulated, and records the poses of
all objects at each frame.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.spatial.transform import Rotation

from ..errors import InputError
from .motions import slerp

MAX_FRAMES = 5000


def scripted_object_trajectory(scene, n_frames: int) -> dict[str, np.ndarray]:
    """Poses (n_frames, 7) ``[x, y, z, qx, qy, qz, qw]`` of the moved object that complete the task."""
    if not isinstance(n_frames, (int, np.integer)) or not 2 <= n_frames <= MAX_FRAMES:
        raise InputError(f"n_frames must be an integer in [2, {MAX_FRAMES}], got {n_frames!r}")
    from .motions import sample

    keys = scene.task.motion.keyframes(scene)
    return {scene.task.moved_object: sample(keys, np.linspace(0.0, 1.0, int(n_frames)))}


def _check_trajectory(scene, trajectory: dict[str, np.ndarray]) -> int:
    if not trajectory:
        raise InputError("trajectory is empty: give at least one object's (T, 7) poses")
    lengths = set()
    for name, poses in trajectory.items():
        if name not in scene.objects:
            raise InputError(f"trajectory names {name!r}, which is not in the scene ({list(scene.objects)})")
        poses = np.asarray(poses)
        if poses.ndim != 2 or poses.shape[1] != 7 or not np.isfinite(poses).all():
            raise InputError(f"trajectory of {name!r} must be a finite (T, 7) array, got shape {poses.shape}")
        lengths.add(len(poses))
    if len(lengths) != 1 or min(lengths) < 2:
        raise InputError(f"all trajectories need the same length >= 2, got lengths {sorted(lengths)}")
    return lengths.pop()


def replay_trajectory(
    scene,
    trajectory: dict[str, np.ndarray],
    duration_s: float | None = None,
    *,
    on_frame: Callable[[int], None] | None = None,
    release_at_end: bool = False,
    settle_s: float = 0.0,
) -> dict[str, np.ndarray]:
    """Play ``trajectory`` (frame 0 = now) over ``duration_s`` seconds (default: the task's).

    Returns the poses (T, 7) of ALL scene objects at every frame. ``on_frame(i)`` is called after
    frame ``i`` is reached (render there). With ``release_at_end`` the driven objects are let go
    after the last frame and the world is simulated ``settle_s`` more seconds (the returned poses
    stay those of the frames; read the settled state from the scene).
    """
    n = _check_trajectory(scene, trajectory)
    duration_s = float(duration_s or scene.task.duration_s)
    if duration_s <= 0:
        raise InputError(f"duration_s must be > 0, got {duration_s}")
    frame_dt = duration_s / (n - 1)
    substeps = max(1, int(round(frame_dt / scene.dt)))
    traj = {k: np.asarray(v, dtype=float) for k, v in trajectory.items()}
    names = list(scene.objects)
    record = {name: np.empty((n, 7)) for name in names}

    def snapshot(i: int) -> None:
        for name, (pos, quat) in scene.object_poses().items():
            record[name][i, :3], record[name][i, 3:] = pos, quat

    for name, poses in traj.items():
        scene.set_object_pose(name, poses[0, :3], poses[0, 3:])
    snapshot(0)
    if on_frame:
        on_frame(0)
    for i in range(1, n):
        segments = {}
        for name, poses in traj.items():
            a, b = poses[i - 1], poses[i]
            rots = Rotation.from_quat(np.stack([a[3:], b[3:]]))
            ang = (rots[1] * rots[0].inv()).as_rotvec() / frame_dt
            segments[name] = (a[:3], b[:3], (a[3:], b[3:]), (b[:3] - a[:3]) / frame_dt, ang)
        for name, (pa, _, (qa, _), v, w) in segments.items():  # contacts during the step see the motion
            scene.set_object_pose(name, pa, qa, lin_vel=v, ang_vel=w)
        for k in range(1, substeps + 1):
            scene.step(1)
            for name, (pa, pb, (qa, qb), v, w) in segments.items():  # exact pose, no integration drift
                s = k / substeps
                scene.set_object_pose(name, (1 - s) * pa + s * pb, slerp(qa, qb, s), lin_vel=v, ang_vel=w)
        snapshot(i)
        if on_frame:
            on_frame(i)
    if release_at_end:
        for name, poses in traj.items():
            scene.set_object_pose(name, poses[-1, :3], poses[-1, 3:])
        scene.step(int(round(settle_s / scene.dt)))
    return record
