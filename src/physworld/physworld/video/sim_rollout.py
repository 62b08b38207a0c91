"""Embedded video generator: the task carried out in a simulator and rendered (CPU, no model).

Given the first RGB frame and the task text it resolves the task, rebuilds the same scene (task +
seed) in its own PyBullet DIRECT client, checks that the scene's first rendered frame is the given
image (mean absolute difference below ``match_threshold`` grey levels; otherwise the image is not
from this task/seed and an InputError says so), replays the scripted object motion
(:func:`physworld.sim.world.scripted_object_trajectory`, moved object driven kinematically, the rest
simulated) and renders one frame per time step, the robot parked in its ready pose. Optional
artefacts (blur, jitter, drift, occluder) are applied afterwards, seeded by the request's seed.

The motion is sampled densely (<= 1/30 s between physics keyframes) whatever ``n_frames`` is, so a
short video shows the same physical rollout as a long one, just with fewer frames.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError, InputError
from . import artefacts as art
from .base import GeneratedVideo, ProgressFn, VideoGenerator

DENSE_DT_S = 1.0 / 30.0


class SimRolloutGenerator(VideoGenerator):
    name = "sim_rollout"

    def __init__(
        self,
        artefacts=(),
        match_threshold: float = 3.0,
        robot: str = "auto",
        blur_strength: float = 0.4,
        jitter_px: float = 2.0,
        drift_scale: float = 0.04,
        occluder_radius: float = 0.08,
    ):
        self.artefacts = art.parse_artefacts(artefacts)
        if robot not in ("auto", "visible", "hidden"):
            raise ConfigError(f"robot must be 'auto', 'visible' or 'hidden', got {robot!r}")
        if not 0 < match_threshold <= 255:
            raise ConfigError(f"match_threshold must be in (0, 255] grey levels, got {match_threshold}")
        self.match_threshold, self.robot = float(match_threshold), robot
        self.blur_strength, self.jitter_px = float(blur_strength), float(jitter_px)
        self.drift_scale, self.occluder_radius = float(drift_scale), float(occluder_radius)

    # -- scene matching --------------------------------------------------------------------------
    def _matching_scene(self, first_rgb: np.ndarray, task, seed: int):
        from ..sim.world import build_task_scene

        size = (first_rgb.shape[1], first_rgb.shape[0])
        options = {"auto": (True, False), "visible": (True,), "hidden": (False,)}[self.robot]
        diffs = []
        for with_robot in options:
            scene = build_task_scene(task, seed, with_robot=with_robot, image_size=size)
            rgb0 = scene.render()[0]
            mad = float(np.abs(rgb0.astype(np.int16) - first_rgb.astype(np.int16)).mean())
            if mad <= self.match_threshold:
                return scene, mad
            diffs.append(mad)
            scene.close()
        raise InputError(
            f"the first image is not the scene of task {task.name!r} with seed {seed} (mean abs difference "
            f"{min(diffs):.1f} > {self.match_threshold} grey levels): the sim_rollout backend can only continue "
            "images rendered from its own task scenes; pass the task and seed that produced the image"
        )

    # -- generation -----------------------------------------------------------------------------
    def _generate(self, first_rgb, task_text, n_frames, seed, progress: ProgressFn) -> GeneratedVideo:
        from ..sim.tasks import resolve_task
        from ..sim.world import replay_trajectory, scripted_object_trajectory

        task = resolve_task(task_text)
        scene, mad = self._matching_scene(first_rgb, task, seed)
        try:
            frame_dt = task.duration_s / (n_frames - 1)
            k = max(1, math.ceil(frame_dt / DENSE_DT_S - 1e-9))
            dense = scripted_object_trajectory(scene, (n_frames - 1) * k + 1)
            h, w = first_rgb.shape[:2]
            frames = np.empty((n_frames, h, w, 3), np.uint8)
            depth = np.empty((n_frames, h, w), np.float32)

            def on_frame(i: int) -> None:
                if i % k:
                    return
                j = i // k
                frames[j], depth[j], _ = scene.render()
                progress(j + 1, n_frames)

            record = replay_trajectory(scene, dense, task.duration_s, on_frame=on_frame)
            poses = {name: traj[::k].copy() for name, traj in record.items()}
            robot_visible = scene.robot is not None
            camera = scene.camera
        finally:
            scene.close()
        frames, depth = self._apply_artefacts(frames, depth, poses[task.moved_object], camera, seed)
        meta = {
            "task_name": task.name,
            "duration_s": task.duration_s,
            "artefacts": list(self.artefacts),
            "first_frame_mean_abs_diff": mad,
            "robot_visible": robot_visible,
            "moved_object": task.moved_object,
        }
        return GeneratedVideo(
            frames,
            fps=(n_frames - 1) / task.duration_s,
            task_text=task_text,
            seed=seed,
            backend=self.name,
            aux={"depth": depth, "object_poses": poses},
            meta=meta,
        )

    def _apply_artefacts(self, frames, depth, moved_poses, camera, seed: int):
        from ..sim.camera import project

        rng = np.random.default_rng([seed, 0x5EED])
        for name in self.artefacts:
            if name == "blur":
                frames = art.motion_blur(frames, self.blur_strength)
            elif name == "jitter":
                frames, depth = art.camera_jitter(frames, depth, rng, self.jitter_px)
            elif name == "drift":
                frames, depth = art.scale_drift(frames, depth, self.drift_scale)
            elif name == "occluder":
                uvz = project(moved_poses[:, :3], camera.intrinsics, camera.T_world_optical)
                frames, depth = art.occluder(frames, depth, rng, uvz[:, :2], uvz[:, 2], self.occluder_radius)
        return frames, depth
