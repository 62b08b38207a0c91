"""Graph test (real DDS): bag_recorder records live topics into a valid rosbag2 bag, bag_player
replays a bag with its timing scaled by the rate, and bad bags are answered without crashing."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from rclpy.node import Node
from rclpy.parameter import Parameter
from ros_graph_utils import call as call_client
from sensor_msgs.msg import Image, JointState
from std_srvs.srv import Trigger

from physworld.bag.convert import image_to_numpy, joint_state
from physworld.bag.play import BagReader, read_messages
from physworld.bag.record import BagWriter
from physworld.ros.bag_player import BagPlayerNode
from physworld.ros.bag_recorder import BagRecorderNode
from physworld.ros.conversions import numpy_to_image

pytestmark = pytest.mark.ros


def call(graph, node, name, timeout=10.0):
    return call_client(node.create_client(Trigger, name), Trigger.Request(), timeout)


def test_recorder_writes_live_topics_to_a_valid_bag(graph, tmp_path):
    out = tmp_path / "live"
    fake = graph.add(Node("fake_robot", context=graph.context))
    js_pub = fake.create_publisher(JointState, "joint_states", 10)
    img_pub = fake.create_publisher(Image, "camera/color/image_raw", 5)
    frame = np.random.default_rng(0).integers(0, 255, (12, 16, 3), dtype=np.uint8)
    fake.create_timer(0.02, lambda: js_pub.publish(JointState(name=["j1"], position=[0.25])))
    fake.create_timer(0.1, lambda: img_pub.publish(numpy_to_image(frame, "rgb8", "cam")))
    params = [
        Parameter("output", value=str(out)),
        Parameter("topics", value=["joint_states", "camera/color/image_raw", "not_published"]),
        Parameter("discovery_period_s", value=0.1),
    ]
    rec = graph.add(BagRecorderNode(context=graph.context, parameter_overrides=params))
    graph.wait_for(lambda: len(rec._subs) == 2, 10.0, "recorder subscriptions")
    time.sleep(1.5)
    resp = call(graph, fake, "bag_recorder/stop")
    assert resp.success and str(out) in resp.message, resp.message
    assert (out / "metadata.yaml").is_file()
    with BagReader(out) as bag:
        topics = bag.topics
    assert set(topics) == {"/joint_states", "/camera/color/image_raw"}
    assert topics["/joint_states"][1] >= 40 and topics["/camera/color/image_raw"][1] >= 8
    imgs = [m for _, topic, _, m in read_messages(out, ["/camera/color/image_raw"])]
    np.testing.assert_array_equal(image_to_numpy(imgs[0]), frame)
    js = [m for _, _, _, m in read_messages(out, ["/joint_states"])]
    assert js[0].name == ["j1"] and js[0].position[0] == 0.25

    resp = call(graph, fake, "bag_recorder/start")  # the output exists now: refused, node alive
    assert not resp.success and "already exists" in resp.message
    assert not call(graph, fake, "bag_recorder/stop").success


def test_player_replays_with_scaled_timing_and_reports_bad_bags(graph, tmp_path):
    bag_path = tmp_path / "replay"
    t0 = 1_000_000_000_000
    with BagWriter(bag_path, storage="mcap") as bag:
        bag.add_topic("/joint_states", "sensor_msgs/msg/JointState")
        for i in range(21):  # 20 Hz for 1 s
            t = t0 + i * 50_000_000
            bag.write("/joint_states", t, joint_state(["j1"], [i * 0.1], stamp=t))
    probe = graph.add(Node("probe", context=graph.context))
    received: list[tuple[float, JointState]] = []
    lock = threading.Lock()

    def on_state(msg):
        with lock:
            received.append((time.monotonic(), msg))

    probe.create_subscription(JointState, "/joint_states", on_state, 50)
    params = [Parameter("bag_path", value=str(bag_path)), Parameter("rate", value=2.0)]
    player = graph.add(BagPlayerNode(context=graph.context, parameter_overrides=params))
    graph.wait_for(lambda: player.count_subscribers("/joint_states") > 0, 10.0, "probe discovery")
    resp = call(graph, probe, "bag_player/play")  # restart now that the probe is connected
    assert resp.success, resp.message
    graph.wait_for(lambda: len(received) >= 21, 10.0, "21 replayed messages")
    time.sleep(0.2)
    with lock:
        last_21 = received[-21:]
    assert [round(m.position[0], 3) for _, m in last_21] == [round(i * 0.1, 3) for i in range(21)]
    span = last_21[-1][0] - last_21[0][0]
    assert 0.4 < span < 0.7, f"1 s of bag replayed at 2x took {span:.3f} s"
    gaps = np.diff([t for t, _ in last_21])
    assert np.median(gaps) == pytest.approx(0.025, abs=0.008)

    player.set_parameters([Parameter("bag_path", value=str(tmp_path / "missing"))])
    resp = call(graph, probe, "bag_player/play")
    assert not resp.success and "missing: bag not found" in resp.message
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "metadata.yaml").write_text("rosbag2_bagfile_information: {version: 9")
    player.set_parameters([Parameter("bag_path", value=str(broken))])
    resp = call(graph, probe, "bag_player/play")
    assert not resp.success and "broken: not a readable rosbag2 bag" in resp.message
    player.set_parameters([Parameter("bag_path", value=str(bag_path))])
    assert call(graph, probe, "bag_player/play").success  # still alive and playing again
