"""The body of a ``GenerateVideo`` action goal, shared by ``video_generation_client``
(``generate_video``, any backend) and ``world_model`` (``predict_video``, its loaded 4D model)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from physworld_interfaces.action import GenerateVideo

from ..video import save_contact_sheet, save_video
from .conversions import image_to_numpy
from .runner import GoalCancelled, goal_failure, run_off_executor


async def execute_generate_video(
    goal_handle,
    generator_for: Callable[[str], object],
    default_backend: str,
    run_root: str,
    default_frames: int,
    logger,
    node=None,
) -> GenerateVideo.Result:
    """Generate off the executor with per-frame feedback and cancel; frames + contact sheet on disk.
    ``generator_for(backend)`` returns the generator (or raises a PhysWorldError naming the problem).
    ``node``: a ``ManagedNode`` whose deactivation stops the job (``guarded``, ``check_active``)."""
    goal = goal_handle.request
    result = GenerateVideo.Result()
    backend = goal.backend or default_backend
    n_frames = goal.n_frames or default_frames
    run_dir = Path(goal.run_dir or Path(run_root) / time.strftime("video_%Y%m%d_%H%M%S"))

    def progress(done: int, total: int) -> None:
        if goal_handle.is_cancel_requested:
            raise GoalCancelled()
        if node is not None:
            node.check_active()
        fb = GenerateVideo.Feedback(frames_done=done, frames_total=total, status=f"{backend}: frame {done}/{total}")
        goal_handle.publish_feedback(fb)

    def work():
        first = image_to_numpy(goal.image, desired_encoding="rgb8")
        video = generator_for(backend).generate(first, goal.task_text, n_frames, goal.seed, progress=progress)
        out = save_video(video, run_dir)
        save_contact_sheet(video, out / "contact_sheet.png")  # what people look at first
        return out

    try:
        out = await run_off_executor(node.guarded(work) if node is not None else work)
    except GoalCancelled:
        goal_handle.canceled()
        result.message = "cancelled"
        return result
    except Exception as exc:  # the node answers every goal and keeps running
        result.message = goal_failure(exc, f"video goal ({backend})", logger)
        goal_handle.abort()
        return result
    goal_handle.succeed()
    result.success, result.video_path, result.n_frames = True, str(out), n_frames
    result.message = f"{n_frames} frames from '{backend}' written to {out}"
    return result
