"""Graph test (real DDS): the world_model node loads a trained 4D world model checkpoint (a tiny one
made here with `physworld worldmodel pretrain`) and serves predict_video; a corrupt checkpoint stops
the node with an error naming the file; without a checkpoint predict_video is not offered."""

from __future__ import annotations

import argparse
import time

import numpy as np
import pytest
from rclpy.action import ActionClient
from rclpy.node import Node
from rclpy.parameter import Parameter

from physworld.cli_worldmodel import register
from physworld.errors import ArtefactError
from physworld.ros.conversions import numpy_to_image
from physworld.ros.world_model import WorldModelNode
from physworld_interfaces.action import GenerateVideo

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


def _wait(future, timeout, what):
    end = time.monotonic() + timeout
    while not future.done():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)
    return future.result()


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
    handle = _wait(client.send_goal_async(goal, feedback_callback=lambda m: feedback.append(m.feedback)), 10, "goal")
    result = _wait(handle.get_result_async(), 60, "result").result
    assert result.success, result.message
    assert result.n_frames == 3 and "world_model" in result.message
    assert len(list((tmp_path / "pred" / "frames").glob("*.png"))) == 3
    assert (tmp_path / "pred" / "contact_sheet.png").is_file()
    assert [f.frames_done for f in feedback][-1] == 3

    goal.backend = "http"  # the node serves its loaded model only
    handle = _wait(client.send_goal_async(goal), 10, "goal")
    result = _wait(handle.get_result_async(), 30, "result").result
    assert not result.success and "http" in result.message


def test_corrupt_checkpoint_names_the_file_and_no_checkpoint_serves_nothing(graph, tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ArtefactError, match="broken.pt"):
        WorldModelNode(context=graph.context, parameter_overrides=[Parameter("world_model_checkpoint", value=str(bad))])
    graph.add(WorldModelNode(context=graph.context))
    probe = graph.add(Node("predict_probe", context=graph.context))
    assert not ActionClient(probe, GenerateVideo, "predict_video").wait_for_server(timeout_sec=1.0)
