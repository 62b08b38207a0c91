"""Graph test (real DDS): the world_model node loads a trained 4D world model checkpoint (a tiny one
made here with `physworld worldmodel pretrain`) and serves predict_video; as a managed node it loads
the model in configure and serves only while active; a corrupt checkpoint makes configure fail with
an error naming the file while the node stays reachable; without a checkpoint predict_video is not
offered."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from rclpy.node import Node
from rclpy.parameter import Parameter
from ros_graph_utils import wait_future

from physworld.cli_worldmodel import register
from physworld.ros.action_client import ActionClient
from physworld.ros.conversions import numpy_to_image
from physworld.ros.world_model import WorldModelNode
from physworld_interfaces.action import GenerateVideo, ReconstructScene

pytestmark = pytest.mark.ros

TINY_YAML = """
model: {image_size: [16, 16], grid_size: [8, 8, 8], channels: 4, encoder_width: 8, depth_bins: 8, render_samples: 8}
sim_data: {clip_len: 3}
pretrain: {steps: 2, batch_size: 2, device: cpu}
"""


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    d = tmp_path_factory.mktemp("wm4d")
    (d / "tiny.yaml").write_text(TINY_YAML)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["worldmodel", "pretrain", "--config", str(d / "tiny.yaml"), "--out", str(d), "--quiet"])
    assert args.func(args) == 0
    return d / "syn.pt"


def test_predict_video_from_a_loaded_checkpoint(graph, checkpoint, tmp_path):
    graph.add(
        WorldModelNode(
            context=graph.context,
            parameter_overrides=[
                Parameter("world_model_checkpoint", value=str(checkpoint)),
                Parameter("device", value="cpu"),
            ],
        )
    )
    client_node = graph.add(Node("predict_client", context=graph.context))
    client = ActionClient(client_node, GenerateVideo, "predict_video")
    assert client.wait_for_server(timeout_sec=10.0)
    first = np.random.default_rng(0).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    feedback = []
    goal = GenerateVideo.Goal(image=numpy_to_image(first, "rgb8"), task_text="push the block", n_frames=3,
                              run_dir=str(tmp_path / "pred"))  # fmt: skip
    handle = wait_future(
        client.send_goal_async(goal, feedback_callback=lambda m: feedback.append(m.feedback)), 10, "goal"
    )
    result = wait_future(handle.get_result_async(), 60, "result").result
    assert result.success, result.message
    assert result.n_frames == 3 and "world_model" in result.message
    assert len(list((tmp_path / "pred" / "frames").glob("*.png"))) == 3
    assert (tmp_path / "pred" / "contact_sheet.png").is_file()
    assert [f.frames_done for f in feedback][-1] == 3

    goal.backend = "http"  # the node serves its loaded model only
    handle = wait_future(client.send_goal_async(goal), 10, "goal")
    result = wait_future(handle.get_result_async(), 30, "result").result
    assert not result.success and "http" in result.message


def _send(client, goal, timeout=10.0):
    assert client.wait_for_server(timeout_sec=10.0), "action server did not appear"
    return wait_future(client.send_goal_async(goal), timeout, "goal response")


def test_managed_world_model_loads_in_configure_serves_while_active(graph, checkpoint, tmp_path):
    """autostart false: nothing loaded, goals rejected; configure loads the model, activate serves,
    deactivate rejects again, cleanup frees the model (all through the standard lifecycle services)."""
    node = graph.add(WorldModelNode(context=graph.context, parameter_overrides=[
        Parameter("world_model_checkpoint", value=str(checkpoint)), Parameter("device", value="cpu"),
        Parameter("autostart", value=False)]))  # fmt: skip
    probe = graph.add(Node("managed_probe", context=graph.context))
    predict = ActionClient(probe, GenerateVideo, "predict_video")
    reconstruct = ActionClient(probe, ReconstructScene, "reconstruct_scene")
    first = np.random.default_rng(1).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    goal = GenerateVideo.Goal(image=numpy_to_image(first, "rgb8"), task_text="push the block", n_frames=2,
                              run_dir=str(tmp_path / "pred"))  # fmt: skip
    assert graph.state("world_model") == "unconfigured" and node._predictor is None
    assert not _send(predict, goal).accepted and not _send(reconstruct, ReconstructScene.Goal()).accepted
    assert graph.change_state("world_model", "configure") and graph.state("world_model") == "inactive"
    assert node._predictor is not None  # loaded in configure
    assert not _send(predict, goal).accepted  # inactive: still rejected
    assert graph.change_state("world_model", "activate")
    result = wait_future(_send(predict, goal).get_result_async(), 60, "result").result
    assert result.success and result.n_frames == 2, result.message
    bad = _send(reconstruct, ReconstructScene.Goal(task_text=""))  # served: answered with the reason
    assert bad.accepted and not wait_future(bad.get_result_async(), 30, "result").result.success
    assert graph.change_state("world_model", "deactivate")
    assert not _send(predict, goal).accepted and not _send(reconstruct, ReconstructScene.Goal()).accepted
    assert graph.change_state("world_model", "cleanup") and node._predictor is None
    assert graph.state("world_model") == "unconfigured"


def test_corrupt_checkpoint_fails_configure_naming_the_file_and_the_node_stays_reachable(graph, tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint")
    logs = graph.rosout()
    graph.add(WorldModelNode(context=graph.context, parameter_overrides=[Parameter("world_model_checkpoint",
                                                                                   value=str(bad))]))  # fmt: skip
    assert graph.state("world_model") == "unconfigured"  # autostart tried and failed: not half-built
    graph.wait_for_log(logs, "world_model", "configure failed", "broken.pt")
    probe = graph.add(Node("predict_probe", context=graph.context))
    first = numpy_to_image(np.zeros((24, 32, 3), np.uint8), "rgb8")
    assert not _send(ActionClient(probe, GenerateVideo, "predict_video"), GenerateVideo.Goal(image=first)).accepted
    assert not _send(ActionClient(probe, ReconstructScene, "reconstruct_scene"), ReconstructScene.Goal()).accepted
    assert not graph.change_state("world_model", "configure")  # the same file fails again; the node answers
    assert graph.state("world_model") == "unconfigured"


def test_without_a_checkpoint_predict_video_is_not_offered(graph):
    graph.add(WorldModelNode(context=graph.context, namespace="no_ckpt"))
    assert graph.state("no_ckpt/world_model") == "active"
    probe = graph.add(Node("predict_probe2", context=graph.context))
    assert ActionClient(probe, ReconstructScene, "no_ckpt/reconstruct_scene").wait_for_server(timeout_sec=10.0)
    assert not ActionClient(probe, GenerateVideo, "no_ckpt/predict_video").wait_for_server(timeout_sec=1.0)
