"""The pipeline stages replay evaluation runs on a bag's first RGB-D frame, and the ground-truth
scores of sim bags (ROS-free). Each stage returns a ``Stage`` record and never raises for a stage
failure: the report says what failed and why.

Ground truth for sim bags is the task scene re-built from the task and seed stored in the bag.
What the pipeline may use from it is what a calibrated robot has: the camera extrinsics (hand-eye
calibration) and the mask of the robot's own body (from its model). Object poses are read only
to score.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import PhysWorldError


@dataclass
class Stage:
    name: str
    status: str  # "ok", "failed", "skipped"
    message: str
    seconds: float = 0.0
    metrics: dict = field(default_factory=dict)


def generate_video_stage(frame, task, task_text: str, seed: int, out_dir: Path, backend: str = "sim_rollout",
                         n_frames: int = 30, backend_config: dict | None = None):  # fmt: skip
    """Generate the task video from the frame's RGB image; (Stage, GeneratedVideo | None)."""
    from tqdm import tqdm

    from .video import make_generator, save_video

    if task is None:
        why = "no task: pass --task or --text (the bag has no physworld.task)"
        return Stage("generate_video", "skipped", why), None
    t0 = time.monotonic()
    bar = tqdm(total=n_frames, desc=f"generate_video ({backend})", unit="frame")

    def progress(done: int, total: int) -> None:
        bar.n = done
        bar.refresh()

    try:
        generator = make_generator(backend, **(backend_config or {}))
        video = generator.generate(frame.rgb, task_text, n_frames, seed, progress=progress)
        save_video(video, out_dir / "video")
    except PhysWorldError as exc:
        return Stage("generate_video", "failed", str(exc), time.monotonic() - t0), None
    finally:
        bar.close()
    metrics = {"backend": backend, "n_frames": video.n_frames, "fps": video.fps, "seed": seed}
    if "first_frame_mean_abs_diff" in video.meta:
        metrics["first_frame_mean_abs_diff"] = float(video.meta["first_frame_mean_abs_diff"])
    msg = f"{video.n_frames} frames from '{backend}' (task {task.name}, seed {seed}) in video/"
    return Stage("generate_video", "ok", msg, time.monotonic() - t0, metrics), video


def recon_available() -> bool:
    return importlib.util.find_spec("physworld.recon.pipeline") is not None


def reconstruct_stage(frame, video, task, out_dir: Path, T_world_camera=None, ignore_mask=None, device="auto"):
    """The physical world model from the frame and the video; (Stage, ReconstructionResult | None)."""
    if video is None:
        return Stage("reconstruct_scene", "skipped", "no video (generate_video did not run)"), None
    if not recon_available():
        return Stage("reconstruct_scene", "skipped", "physworld.recon.pipeline is not installed"), None
    from tqdm import tqdm

    from .recon.pipeline import ReconstructionConfig, reconstruct

    bar = tqdm(desc="reconstruct_scene", unit="stage")

    def progress(stage: str, done: int, total: int) -> None:
        bar.set_postfix_str(f"{stage} {done}/{total}")

    t0 = time.monotonic()
    try:
        result = reconstruct(frame.rgb, frame.depth, frame.intrinsics, T_world_camera, video, task,
                             ReconstructionConfig(device=device), progress, ignore_mask)  # fmt: skip
        result.save(out_dir / "scene")
    except PhysWorldError as exc:
        return Stage("reconstruct_scene", "failed", str(exc), time.monotonic() - t0), None
    except Exception as exc:  # a bug in a stage must not lose the rest of the report; it is named there
        return Stage("reconstruct_scene", "failed", f"unexpected {type(exc).__name__}: {exc}",
                     time.monotonic() - t0), None  # fmt: skip
    finally:
        bar.close()
    d = result.diagnostics
    metrics = {
        "timings_s": result.timings,
        "objects": [o.name for o in result.bundle.objects],
        "alignment": d.get("alignment", {}),
        "collision": {k: v for k, v in d.get("collision", {}).items() if k != "offsets_m"},
        "extrinsics": "calibrated" if T_world_camera is not None else "from the plane (uncalibrated)",
    }
    msg = f"{len(result.bundle.objects)} object(s) {metrics['objects']} in scene/"
    return Stage("reconstruct_scene", "ok", msg, time.monotonic() - t0, metrics), result


# ------------------------------------------------------------------------------- ground truth


def ground_truth_scene(task, seed: int, size: tuple[int, int]):
    """The sim task scene of ``task``/``seed`` rendered at ``size`` (w, h), robot included."""
    from .sim.world import build_task_scene

    return build_task_scene(task, seed, with_robot=True, image_size=size)


def frame_vs_ground_truth(frame, scene) -> dict:
    """How the recorded frame compares with a fresh render of the ground-truth scene."""
    rgb, depth, _ = scene.render()
    both = np.isfinite(depth) & np.isfinite(frame.depth)
    err = np.abs(frame.depth[both] - depth[both])
    k_diff = np.abs(frame.intrinsics.K - scene.camera.intrinsics.K).max()
    return {
        "rgb_mean_abs_diff": float(np.abs(rgb.astype(np.int16) - frame.rgb.astype(np.int16)).mean()),
        "depth_median_abs_error_m": float(np.median(err)) if err.size else None,
        "depth_p90_abs_error_m": float(np.percentile(err, 90)) if err.size else None,
        "depth_valid_agreement": float((np.isfinite(depth) == np.isfinite(frame.depth)).mean()),
        "intrinsics_max_abs_diff_px": float(k_diff),
    }


def robot_mask(scene) -> np.ndarray | None:
    """Pixels of the robot's own body (its model, rendered at its state), or None without a robot."""
    if scene.robot is None:
        return None
    _, _, seg = scene.render()
    return np.asarray(seg) == scene.robot.body_id


def recon_vs_ground_truth(result, scene, video) -> dict | None:
    """``physworld.recon.evaluation`` metrics of the reconstruction (None if that module is absent)."""
    if importlib.util.find_spec("physworld.recon.evaluation") is None:
        return None
    from .recon.evaluation import evaluate_reconstruction

    try:
        return evaluate_reconstruction(result, scene, video)
    except Exception as exc:  # scoring must not lose the report; the error is shown there
        return {"error": f"{type(exc).__name__}: {exc}"}
