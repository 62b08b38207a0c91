"""video_generation_client: action ``generate_video`` (physworld_interfaces/action/GenerateVideo).

Image + task text in, a task video on disk out (the result carries its path). The backend is a
parameter (``sim_rollout`` embedded default, ``http`` remote image-to-video server, ``world_model``);
generation runs off the executor thread with per-frame feedback and honours cancel requests.

A managed node (``physworld.ros.lifecycle``): the configured backend is built in configure (its
configuration checked, a world model checkpoint loaded; a failure fails configure with the reason
logged and the node stays unconfigured), goals are served only while active, a goal naming another
backend builds that one on first use, and cleanup drops every built backend.
"""

from __future__ import annotations

from rclpy.callback_groups import ReentrantCallbackGroup

from physworld_interfaces.action import GenerateVideo

from ..configs import VideoGenerationConfig
from ..video import make_generator
from .goal_gate import single_goal_server
from .lifecycle import ManagedNode
from .params import declare_config
from .runner import destroy_actions, spin_node
from .video_action import execute_generate_video


class VideoGenerationNode(ManagedNode):
    def __init__(self, **kwargs):
        super().__init__("video_generation_client", **kwargs)
        self.cfg = declare_config(self, VideoGenerationConfig)
        self._generators: dict[str, object] = {}  # backend name -> built generator
        group = ReentrantCallbackGroup()
        self._server = single_goal_server(self, GenerateVideo, "generate_video", self._execute, group,
                                          available=self.inactive_reason)  # fmt: skip
        self.autostart()

    def configure_resources(self) -> None:
        self._generator(self.cfg.backend)
        self.get_logger().info(f"video backend '{self.cfg.backend}' ready")

    def release_resources(self) -> None:
        self._generators.clear()  # a goal still holding one keeps it until it returns

    def _backend_config(self, name: str) -> dict:
        if name == "http":
            return {"url": self.cfg.http_url, "api_key_env": self.cfg.http_api_key_env,
                    "timeout_s": self.cfg.http_timeout_s}  # fmt: skip
        if name == "world_model":
            return {"checkpoint": self.cfg.world_model_checkpoint, "device": self.cfg.device}
        return {}

    def _generator(self, backend: str):
        if backend not in self._generators:
            self._generators[backend] = make_generator(backend, **self._backend_config(backend))
        return self._generators[backend]

    async def _execute(self, goal_handle):
        return await execute_generate_video(goal_handle, self._generator, self.cfg.backend, self.cfg.run_root,
                                            self.cfg.default_frames, self.get_logger(), node=self)  # fmt: skip

    def destroy_node(self):
        destroy_actions(self)
        return super().destroy_node()


def main(args=None) -> None:
    spin_node(VideoGenerationNode, args)
