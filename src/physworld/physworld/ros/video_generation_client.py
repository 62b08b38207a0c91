"""video_generation_client: action ``generate_video`` (physworld_interfaces/action/GenerateVideo).

Image + task text in, a task video on disk out (the result carries its path). The backend is a
parameter (``sim_rollout`` embedded default, ``http`` remote image-to-video server, ``world_model``);
generation runs off the executor thread with per-frame feedback and honours cancel requests.
"""

from __future__ import annotations

from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from physworld_interfaces.action import GenerateVideo

from ..configs import VideoGenerationConfig
from ..video import make_generator
from .goal_gate import single_goal_server
from .params import declare_config
from .runner import destroy_actions, spin_node
from .video_action import execute_generate_video


class VideoGenerationNode(Node):
    def __init__(self, **kwargs):
        super().__init__("video_generation_client", **kwargs)
        self.cfg = declare_config(self, VideoGenerationConfig)
        group = ReentrantCallbackGroup()
        self._server = single_goal_server(self, GenerateVideo, "generate_video", self._execute, group)

    def _backend_config(self, name: str) -> dict:
        if name == "http":
            return {"url": self.cfg.http_url, "api_key_env": self.cfg.http_api_key_env,
                    "timeout_s": self.cfg.http_timeout_s}  # fmt: skip
        if name == "world_model":
            return {"checkpoint": self.cfg.world_model_checkpoint, "device": self.cfg.device}
        return {}

    async def _execute(self, goal_handle):
        def generator_for(backend: str):
            return make_generator(backend, **self._backend_config(backend))

        return await execute_generate_video(
            goal_handle, generator_for, self.cfg.backend, self.cfg.run_root, self.cfg.default_frames, self.get_logger()
        )

    def destroy_node(self):
        destroy_actions(self)
        return super().destroy_node()


def main(args=None) -> None:
    spin_node(VideoGenerationNode, args)
