"""Graph test (real DDS): video_generation_client as a managed node. Its backend is built in
configure (a bad backend configuration fails configure with the reason on /rosout, the node stays
reachable and rejects goals), goals are served only while active, and deactivating it stops a
running job."""

from __future__ import annotations

import time

import numpy as np
import pytest
from action_msgs.msg import GoalStatus
from rclpy.node import Node
from rclpy.parameter import Parameter
from ros_graph_utils import wait_future

from physworld.ros.action_client import ActionClient
from physworld.ros.conversions import numpy_to_image
from physworld.ros.video_generation_client import VideoGenerationNode
from physworld.video import base as video_base
from physworld.video.base import GeneratedVideo, VideoGenerator
from physworld_interfaces.action import GenerateVideo

pytestmark = pytest.mark.ros


class StepGenerator(VideoGenerator):
    """Repeats the first frame, 0.2 s per frame, reporting progress per frame."""

    name = "step_test"

    def _generate(self, first_rgb, task_text, n_frames, seed, progress):
        for i in range(n_frames):
            time.sleep(0.2)
            progress(i + 1, n_frames)
        return GeneratedVideo(np.repeat(first_rgb[None], n_frames, 0), 10.0, task_text, seed, self.name)


@pytest.fixture
def step_backend(monkeypatch):
    monkeypatch.setitem(video_base._REGISTRY, StepGenerator.name, StepGenerator)


def _goal(tmp_path, n_frames):
    image = numpy_to_image(np.zeros((16, 16, 3), np.uint8), "rgb8")
    return GenerateVideo.Goal(image=image, task_text="push the block", n_frames=n_frames, run_dir=str(tmp_path))


def test_unconfigured_until_configure_and_activate_and_deactivate_stops_a_running_job(graph, step_backend, tmp_path):
    graph.add(VideoGenerationNode(context=graph.context, parameter_overrides=[
        Parameter("backend", value=StepGenerator.name), Parameter("autostart", value=False)]))  # fmt: skip
    client = ActionClient(graph.add(Node("video_probe", context=graph.context)), GenerateVideo, "generate_video")
    assert client.wait_for_server(timeout_sec=10.0)
    assert graph.state("video_generation_client") == "unconfigured"
    assert not wait_future(client.send_goal_async(_goal(tmp_path / "a", 2)), 10, "goal").accepted
    assert graph.change_state("video_generation_client", "configure")
    assert not wait_future(client.send_goal_async(_goal(tmp_path / "a", 2)), 10, "goal").accepted  # inactive
    assert graph.change_state("video_generation_client", "activate")
    handle = wait_future(client.send_goal_async(_goal(tmp_path / "b", 2)), 10, "goal")
    assert handle.accepted and wait_future(handle.get_result_async(), 30, "result").result.success

    feedback = []
    handle = wait_future(client.send_goal_async(_goal(tmp_path / "c", 100), lambda m: feedback.append(m)), 10, "goal")
    assert handle.accepted
    graph.wait_for(lambda: len(feedback) >= 2, 20.0, "the long job running")
    t0 = time.monotonic()
    assert graph.change_state("video_generation_client", "deactivate")
    wrapped = wait_future(handle.get_result_async(), 10, "result of the stopped job")
    assert time.monotonic() - t0 < 5.0, "deactivate did not stop the 20 s job"
    msg = wrapped.result.message
    assert wrapped.status == GoalStatus.STATUS_ABORTED and "video_generation_client is being deactivated" in msg, msg
    assert not (tmp_path / "c" / "frames").exists()  # stopped before anything was written
    assert not wait_future(client.send_goal_async(_goal(tmp_path / "d", 2)), 10, "goal").accepted
    assert graph.change_state("video_generation_client", "activate")
    handle = wait_future(client.send_goal_async(_goal(tmp_path / "e", 2)), 10, "goal")
    assert handle.accepted and wait_future(handle.get_result_async(), 30, "result").result.success


def test_a_bad_backend_configuration_fails_configure_with_the_reason(graph, tmp_path):
    logs = graph.rosout()
    graph.add(VideoGenerationNode(context=graph.context, parameter_overrides=[Parameter("backend", value="http")]))
    assert graph.state("video_generation_client") == "unconfigured"  # http_url is empty
    graph.wait_for_log(logs, "video_generation_client", "configure failed", "base URL")
    client = ActionClient(graph.add(Node("video_probe2", context=graph.context)), GenerateVideo, "generate_video")
    assert client.wait_for_server(timeout_sec=10.0)  # reachable, not half-built
    assert not wait_future(client.send_goal_async(_goal(tmp_path / "x", 2)), 10, "goal").accepted
    assert not graph.change_state("video_generation_client", "configure")
