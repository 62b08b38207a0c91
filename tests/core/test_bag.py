"""rosbag2 recording and replay: write, read back, metadata, corrupt bags, replay timing."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import yaml

from physworld.bag.convert import (
    camera_info_from_intrinsics,
    image_to_numpy,
    intrinsics_from_camera_info,
    joint_state,
    joint_state_to_arrays,
    joint_trajectory,
    numpy_to_image,
    stamp_ns,
    typestore,
)
from physworld.bag.play import BagMessage, BagReader, Player, read_messages
from physworld.bag.record import DEFAULT_TOPICS, BagWriter, trim_cdr
from physworld.errors import ArtefactError, InputError
from physworld.sim.camera import CameraIntrinsics

RNG = np.random.default_rng(1)
T0 = 1_700_000_000_000_000_000
INTR = CameraIntrinsics.from_fov(8, 6, 60.0)


def write_sample_bag(path, storage):
    frames = [RNG.integers(0, 255, (6, 8, 3), dtype=np.uint8) for _ in range(4)]
    depths = [RNG.uniform(0.3, 2.0, (6, 8)).astype(np.float32) for _ in range(4)]
    with BagWriter(path, storage=storage) as bag:
        for topic in ("camera/color/image_raw", "camera/depth/image_raw", "camera/color/camera_info", "joint_states"):
            bag.add_topic(topic, DEFAULT_TOPICS[topic])
        bag.add_topic("arm_controller/joint_command", "trajectory_msgs/msg/JointTrajectory")
        for i, (rgb, depth) in enumerate(zip(frames, depths, strict=True)):
            t = T0 + i * 100_000_000
            bag.write("camera/color/image_raw", t, numpy_to_image(rgb, "rgb8", t, "cam"))
            bag.write("camera/depth/image_raw", t, numpy_to_image(depth, "32FC1", t, "cam"))
            bag.write("camera/color/camera_info", t, camera_info_from_intrinsics(INTR, t, "cam"))
        for i in range(10):
            t = T0 + i * 40_000_000
            bag.write("joint_states", t, joint_state(["j1", "j2"], [i * 0.1, -i * 0.1], [0.0, 0.0], [], t))
        for i in range(3):
            bag.write("arm_controller/joint_command", T0 + i, joint_trajectory(["j1", "j2"], [(0.5, [i, 0.0])]))
        counts = dict(bag.counts)
    return frames, depths, counts


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_written_bag_is_valid_rosbag2_and_reads_back(tmp_path, storage):
    path = tmp_path / "rec"
    frames, depths, counts = write_sample_bag(path, storage)
    assert counts == {
        "camera/color/image_raw": 4,
        "camera/depth/image_raw": 4,
        "camera/color/camera_info": 4,
        "joint_states": 10,
        "arm_controller/joint_command": 3,
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec"]  # no staging leftovers
    meta = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["version"] == 9 and meta["storage_identifier"] == storage and meta["message_count"] == 25
    by_topic = {t["topic_metadata"]["name"]: t for t in meta["topics_with_message_count"]}
    assert by_topic["joint_states"]["message_count"] == 10
    assert by_topic["camera/color/image_raw"]["topic_metadata"]["type"] == "sensor_msgs/msg/Image"
    assert by_topic["joint_states"]["topic_metadata"]["type_description_hash"].startswith("RIHS01_")
    for rel in meta["relative_file_paths"]:
        assert (path / rel).is_file()

    with BagReader(path) as bag:
        assert bag.topics["joint_states"] == ("sensor_msgs/msg/JointState", 10)
        assert bag.message_count == 25 and bag.start_ns == T0
        assert bag.duration_s == pytest.approx(0.36)
    got = list(read_messages(path, ["camera/color/image_raw", "camera/depth/image_raw", "camera/color/camera_info"]))
    rgb = [image_to_numpy(m) for _, topic, _, m in got if topic == "camera/color/image_raw"]
    for a, b in zip(rgb, frames, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        image_to_numpy(next(m for _, tp, _, m in got if tp == "camera/color/image_raw"), "bgr8"), frames[0][:, :, ::-1]
    )
    dep = [image_to_numpy(m) for _, topic, _, m in got if topic == "camera/depth/image_raw"]
    np.testing.assert_array_equal(dep[2], depths[2])
    info = next(m for _, topic, _, m in got if topic == "camera/color/camera_info")
    np.testing.assert_allclose(intrinsics_from_camera_info(info).K, INTR.K)
    js = [m for _, _, _, m in read_messages(path, ["joint_states"])]
    names, q, dq, tau = joint_state_to_arrays(js[3])
    assert names == ["j1", "j2"] and stamp_ns(js[3]) == T0 + 3 * 40_000_000
    np.testing.assert_allclose(q, [0.3, -0.3])
    assert tau.size == 0
    cmds = [m for _, _, _, m in read_messages(path, ["arm_controller/joint_command"])]
    np.testing.assert_allclose(cmds[2].points[0].positions, [2.0, 0.0])
    assert cmds[2].points[0].time_from_start.nanosec == 500_000_000
    times = [t for t, *_ in read_messages(path)]
    assert times == sorted(times)


def test_messages_serialised_by_rclpy_are_stored_and_read_back(tmp_path):
    """The recorder stores the CDR bytes rclpy hands to raw subscriptions; rosbags must read them."""
    serialization = pytest.importorskip("rclpy.serialization")
    from sensor_msgs.msg import Image, JointState

    msg = JointState(name=["a", "b"], position=[0.5, -1.0])
    msg.header.stamp.sec, msg.header.frame_id = 12, "base"
    img = Image(height=2, width=3, encoding="mono8", step=3)
    img.data = bytes(range(6))
    with pytest.raises(InputError, match="not a valid serialised message"):
        trim_cdr(b"\x00\x01\x00\x00\xff", "sensor_msgs/msg/JointState")
    with BagWriter(tmp_path / "raw") as bag:
        bag.add_topic("joint_states", "sensor_msgs/msg/JointState")
        bag.add_topic("image", "sensor_msgs/msg/Image")
        bag.write_cdr("joint_states", T0, serialization.serialize_message(msg))
        bag.write_cdr("image", T0 + 1, serialization.serialize_message(img))
    (_, _, _, back), (_, _, _, back_img) = list(read_messages(tmp_path / "raw"))
    assert back.name == ["a", "b"] and back.header.stamp.sec == 12 and back.header.frame_id == "base"
    np.testing.assert_allclose(back.position, [0.5, -1.0])
    np.testing.assert_array_equal(image_to_numpy(back_img), np.arange(6, dtype=np.uint8).reshape(2, 3))


def test_writer_refuses_existing_paths_unknown_types_and_cleans_up_on_error(tmp_path):
    (tmp_path / "exists").mkdir()
    with pytest.raises(ArtefactError, match="already exists"):
        BagWriter(tmp_path / "exists")
    with pytest.raises(InputError, match="storage 'rosbag1'"):
        BagWriter(tmp_path / "x", storage="rosbag1")
    with pytest.raises(RuntimeError), BagWriter(tmp_path / "broken") as bag:
        bag.add_topic("joint_states", "sensor_msgs/msg/JointState")
        with pytest.raises(InputError, match="unknown to the Kilted typestore"):
            bag.add_topic("x", "my_pkg/msg/Thing")
        with pytest.raises(InputError, match="was not added"):
            bag.write_cdr("camera/color/image_raw", 0, b"")
        raise RuntimeError("recording interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists"]  # nothing half-written left


def test_missing_and_corrupt_bags_raise_artefact_error_naming_the_path(tmp_path):
    with pytest.raises(ArtefactError, match=r"nope: bag not found"):
        BagReader(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArtefactError, match=r"empty: no metadata.yaml"):
        BagReader(tmp_path / "empty")

    write_sample_bag(tmp_path / "good", "sqlite3")
    bad_meta = tmp_path / "bad_meta"
    shutil.copytree(tmp_path / "good", bad_meta)
    (bad_meta / "metadata.yaml").write_text("rosbag2_bagfile_information: [this is: not, a bag")
    with pytest.raises(ArtefactError, match="bad_meta: not a readable rosbag2 bag"):
        BagReader(bad_meta)

    bad_db = tmp_path / "bad_db"
    shutil.copytree(tmp_path / "good", bad_db)
    for f in bad_db.glob("*.db3"):
        f.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ArtefactError, match="bad_db: not a readable rosbag2 bag"):
        with BagReader(bad_db) as bag:
            list(bag.messages())

    write_sample_bag(tmp_path / "good_mcap", "mcap")
    cut = tmp_path / "cut_mcap"
    shutil.copytree(tmp_path / "good_mcap", cut)
    for f in cut.glob("*.mcap"):
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(ArtefactError, match="cut_mcap: not a readable rosbag2 bag"):
        with BagReader(cut) as bag:
            list(bag.messages())

    with BagReader(tmp_path / "good") as bag, pytest.raises(InputError, match="has no topics"):
        list(bag.messages(["tf"]))
    with pytest.raises(ArtefactError, match="not a valid sensor_msgs/msg/Image"):
        BagReader.deserialize(BagMessage(0, "camera/color/image_raw", "sensor_msgs/msg/Image", b"\x00\x01\x00\x00"))


def test_player_schedules_messages_with_the_rate_factor():
    msgs = [BagMessage(T0 + int(dt * 1e9), "t", "x", b"") for dt in (0.0, 0.1, 0.25, 0.25)]
    clock = [50.0]
    player = Player(msgs, rate=2.0, clock=lambda: clock[0])
    with pytest.raises(InputError, match="start"):
        player.next_due()
    player.start()
    assert player.next_due() == pytest.approx(50.0)
    assert len(player.pop_due()) == 1
    assert player.next_due() == pytest.approx(50.05)
    clock[0] = 50.06
    assert len(player.pop_due()) == 1
    assert player.next_due() == pytest.approx(50.125)
    assert player.pop_due(50.124) == []
    assert len(player.pop_due(50.2)) == 2 and player.done and player.next_due() is None
    np.testing.assert_allclose(player.lateness, [0.0, 0.01, 0.075, 0.075], atol=1e-9)
    assert player.published == 4
    with pytest.raises(InputError, match="must be positive"):
        Player(msgs, rate=0.0)
    assert Player([], rate=1.0).done


def test_background_writer_accepts_writes_from_many_threads(tmp_path):
    """sqlite3 ties a connection to its thread; ROS executors call back from several threads."""
    import threading

    from physworld.bag.record import BackgroundBagWriter

    serialized = typestore().serialize_cdr(joint_state(["j"], [1.0]), "sensor_msgs/msg/JointState")
    bag = BackgroundBagWriter(tmp_path / "mt", storage="sqlite3")
    bag.add_topic("/joint_states", "sensor_msgs/msg/JointState")
    with pytest.raises(InputError, match="not a valid serialised message"):
        bag.write_cdr("/joint_states", 0, b"\x00\x01\x00\x00\x01")

    def worker(k):
        for i in range(50):
            bag.write_cdr("/joint_states", T0 + k * 1000 + i, serialized)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bag.close() == tmp_path / "mt"
    assert bag.counts == {"/joint_states": 150} and bag.dropped == 0 and not bag.errors
    with BagReader(tmp_path / "mt") as reader:
        assert reader.topics["/joint_states"] == ("sensor_msgs/msg/JointState", 150)
