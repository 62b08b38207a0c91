"""video_generation_client: action ``generate_video`` (physworld_interfaces/action/GenerateVideo).

Image + task text in, a task video on disk out (the result carries its path). The backend is a
parameter (``sim_rollout`` embedded default, ``http`` remote image-to-video server, ``world_model``);
generation runs off the executor thread with per-frame feedback and honours cancel requests.
"""

from __future__ import annotations

import time
from pathlib import Path

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from physworld_interfaces.action import GenerateVideo

from ..configs import VideoGenerationConfig
from ..errors import PhysWorldError
from ..video import make_generator, save_contact_sheet, save_video
from .conversions import image_to_numpy
from .params import declare_config
from .runner import GoalCancelled, run_off_executor, spin_node


class VideoGenerationNode(Node):
    def __init__(self, **kwargs):
        super().__init__("video_generation_client", **kwargs)
        self.cfg = declare_config(self, VideoGenerationConfig)
        self._server = ActionServer(
            self,
            GenerateVideo,
            "generate_video",
            execute_callback=self._execute,
            goal_callback=lambda _goal: GoalResponse.ACCEPT,
            cancel_callback=lambda _h: CancelResponse.ACCEPT,
            callback_group=ReentrantCallbackGroup(),
        )

    def _backend_config(self, name: str) -> dict:
        if name == "http":
            return {"url": self.cfg.http_url, "api_key_env": self.cfg.http_api_key_env,
                    "timeout_s": self.cfg.http_timeout_s}  # fmt: skip
        if name == "world_model":
            return {"checkpoint": self.cfg.world_model_checkpoint, "device": self.cfg.device}
        return {}

    async def _execute(self, goal_handle):
        goal = goal_handle.request
        result = GenerateVideo.Result()
        backend = goal.backend or self.cfg.backend
        n_frames = goal.n_frames or self.cfg.default_frames
        run_dir = Path(goal.run_dir or Path(self.cfg.run_root) / time.strftime("video_%Y%m%d_%H%M%S"))

        def progress(done: int, total: int) -> None:
            if goal_handle.is_cancel_requested:
                raise GoalCancelled()
            fb = GenerateVideo.Feedback(frames_done=done, frames_total=total, status=f"{backend}: frame {done}/{total}")
            goal_handle.publish_feedback(fb)

        def work():
            first = image_to_numpy(goal.image, desired_encoding="rgb8")
            generator = make_generator(backend, **self._backend_config(backend))
            video = generator.generate(first, goal.task_text, n_frames, goal.seed, progress=progress)
            out = save_video(video, run_dir)
            save_contact_sheet(video, out / "contact_sheet.png")  # what people look at first
            return out

        try:
            out = await run_off_executor(work)
        except GoalCancelled:
            goal_handle.canceled()
            result.message = "cancelled"
            return result
        except Exception as exc:  # the node answers every goal and keeps running
            if not isinstance(exc, (PhysWorldError, ValueError)):
                self.get_logger().error(
                    f"generate_video: unexpected {type(exc).__name__}: {exc}", throttle_duration_sec=0
                )
            self.get_logger().error(f"generate_video failed: {exc}")
            goal_handle.abort()
            result.message = str(exc)
            return result
        goal_handle.succeed()
        result.success, result.video_path, result.n_frames = True, str(out), n_frames
        result.message = f"{n_frames} frames from '{backend}' written to {out}"
        return result


def main(args=None) -> None:
    spin_node(VideoGenerationNode, args)
