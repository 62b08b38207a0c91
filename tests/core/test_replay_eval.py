"""Replay evaluation (ROS-free): a bag written here with the project's BagWriter is scanned, scored
and run through video generation; bad frames, inconsistent camera_info and broken bags are named."""

from __future__ import annotations

import argparse
import json
import shutil

import numpy as np
import pytest

from physworld import cli_bag
from physworld.bag.convert import camera_info_from_intrinsics, joint_state, numpy_to_image
from physworld.bag.record import BagWriter
from physworld.errors import ArtefactError, InputError
from physworld.replay_eval import evaluate_bag, find_topic, scan_bag, timing_stats
from physworld.sim.camera import CameraIntrinsics

T0 = 1_700_000_000_000_000_000
MS = 1_000_000
CAM = ("/camera/color/image_raw", "/camera/depth/image_raw", "/camera/color/camera_info")
# joint_states intervals (ms): 10 ms nominal with +-1 ms jitter and one 25 ms gap
JOINT_DT_MS = [10, 9, 11, 10, 10, 9, 11, 25, 10, 10, 9, 11, 10, 10, 10, 10, 9, 11, 10, 10]


def _topics(bag, joints=True):
    types = ("sensor_msgs/msg/Image", "sensor_msgs/msg/Image", "sensor_msgs/msg/CameraInfo")
    for t, ty in zip(CAM, types, strict=True):
        bag.add_topic(t, ty)
    if joints:
        bag.add_topic("/joint_states", "sensor_msgs/msg/JointState")


def _write_frame(bag, t, rgb, depth, intr, frame="cam"):
    bag.write(CAM[0], t, numpy_to_image(rgb, "rgb8", t, frame))
    bag.write(CAM[1], t, numpy_to_image(depth, "32FC1", t, frame))
    bag.write(CAM[2], t, camera_info_from_intrinsics(intr, t, frame))


def _write_joints(bag):
    t = T0
    for i, dt in enumerate([0, *JOINT_DT_MS]):
        t += dt * MS
        bag.write("/joint_states", t + 3 * MS, joint_state(["j1", "j2"], [0.01 * i, 0.0], stamp=t))


@pytest.fixture(scope="module")
def sim_bag(tmp_path_factory):
    """5 frames of the lid_on_pot scene (seed 1) at 64x48, 10 Hz, with task/seed in custom_data."""
    from physworld.sim.world import build_task_scene

    with build_task_scene("lid_on_pot", 1, image_size=(64, 48)) as scene:
        rgb, depth, _ = scene.render()
        intr = scene.camera.intrinsics
    path = tmp_path_factory.mktemp("bags") / "sim"
    with BagWriter(path, storage="mcap") as bag:
        _topics(bag)
        custom = {"task": "lid_on_pot", "seed": "1", "source": "sim_world", "joint_state_rate_hz": "100"}
        for key, value in custom.items():
            bag.set_custom_data(f"physworld.{key}", value)
        for i in range(5):
            _write_frame(bag, T0 + i * 100 * MS, rgb, depth, intr)
        _write_joints(bag)
    return path, rgb, depth


def test_timing_stats_rate_jitter_and_gaps():
    t = T0 + np.cumsum([0, *JOINT_DT_MS]) * MS
    st = timing_stats(t)
    dt = np.array(JOINT_DT_MS, float)
    assert st["count"] == 21 and st["non_increasing"] == 0
    assert st["rate_hz"] == pytest.approx(20 / (dt.sum() * 1e-3))
    assert st["period_median_ms"] == pytest.approx(10.0)
    assert st["jitter_std_ms"] == pytest.approx(dt.std())
    assert st["max_gap_ms"] == pytest.approx(25.0)
    assert timing_stats(np.array([t[0], t[2], t[1], t[3]]))["non_increasing"] == 1
    assert timing_stats(t[:2]) == {"count": 2}


def test_find_topic_accepts_relative_absolute_and_namespaced_names():
    assert find_topic({"/robot1/joint_states": 0}, "joint_states") == "/robot1/joint_states"
    assert find_topic({"camera/color/image_raw": 0}, "camera/color/image_raw") == "camera/color/image_raw"
    assert find_topic({"/a/joint_states": 0, "/joint_states": 0}, "joint_states") == "/joint_states"
    assert find_topic({"/other": 0}, "joint_states") is None
    with pytest.raises(InputError, match="several topics"):
        find_topic({"/a/joint_states": 0, "/b/joint_states": 0}, "joint_states")


def test_evaluate_sim_bag_scores_it_generates_a_video_and_writes_the_report(sim_bag, tmp_path):
    path, rgb, depth = sim_bag
    out = tmp_path / "eval"
    m = evaluate_bag(path, out, n_frames=3, reconstruct=False, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval"]  # staged, then moved into place
    for name in ("report.md", "metrics.json", "first_frame.png", "joint_states_timing.png", "capture/color.png",
                 "capture/depth.npy", "video/video.json"):  # fmt: skip
        assert (out / name).is_file(), name
    np.testing.assert_array_equal(np.load(out / "capture" / "depth.npy"), depth)
    assert json.loads((out / "metrics.json").read_text())["passed"] is True and m["passed"]
    assert m["task"] == "lid_on_pot" and m["seed"] == 1
    cam = m["camera"]
    assert (cam["color_frames"], cam["valid_pairs"], cam["camera_info_calibrations"]) == (5, 5, 1)
    assert cam["camera_timing"]["rate_hz"] == pytest.approx(10.0)
    js = m["joint_states"]["header"]
    dt = np.array(JOINT_DT_MS, float)
    assert js["jitter_std_ms"] == pytest.approx(dt.std()) and js["max_gap_ms"] == pytest.approx(25.0)
    assert m["joint_states"]["receive"]["rate_hz"] == pytest.approx(js["rate_hz"])  # receive = stamp + 3 ms
    stages = {s["name"]: s for s in m["stages"]}
    assert stages["generate_video"]["status"] == "ok"
    assert stages["generate_video"]["metrics"]["first_frame_mean_abs_diff"] == 0.0
    assert m["ground_truth"]["frame"]["rgb_mean_abs_diff"] == 0.0
    checks = {c["name"]: c["passed"] for c in m["checks"]}
    assert checks["joint_states rate"] is True and checks["recorded frame matches ground truth"] is True
    report = (out / "report.md").read_text()
    assert "Result: **passed**" in report and "![joint_states_timing](joint_states_timing.png)" in report

    with pytest.raises(ArtefactError, match="already exists"):
        evaluate_bag(path, out, n_frames=3, reconstruct=False, progress=False)
    # a wrong seed: the recorded frame is not that scene, so generation fails and says why
    m2 = evaluate_bag(path, out, seed=2, n_frames=3, reconstruct=False, overwrite=True, progress=False)
    gen = next(s for s in m2["stages"] if s["name"] == "generate_video")
    assert gen["status"] == "failed" and "not the scene of task 'lid_on_pot' with seed 2" in gen["message"]
    assert not m2["passed"] and "**FAIL**" in (out / "report.md").read_text()


def test_bad_frames_and_changing_camera_info_are_counted_and_reported(tmp_path):
    intr = CameraIntrinsics.from_fov(32, 24, 60.0)
    other = CameraIntrinsics.from_fov(32, 24, 45.0)
    rgb = np.random.default_rng(0).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    depth = np.full((24, 32), 1.5, np.float32)
    path = tmp_path / "bad"
    with BagWriter(path) as bag:
        _topics(bag, joints=False)
        _write_frame(bag, T0, rgb, np.full_like(depth, np.nan), intr)  # no depth reading at all
        _write_frame(bag, T0 + 100 * MS, rgb, depth, intr)  # the first valid frame
        _write_frame(bag, T0 + 200 * MS, rgb, depth, other)  # camera recalibrated mid-bag
        mono = numpy_to_image(rgb[:, :, 0], "mono8", T0 + 300 * MS, "cam")
        mono.encoding = "8UC2"  # data no longer matches the encoding: undecodable
        bag.write(CAM[0], T0 + 300 * MS, mono)
    m = evaluate_bag(path, tmp_path / "out", progress=False)
    cam = m["camera"]
    assert cam["color_frames"] == 4 and cam["color_decoded"] == 3 and cam["valid_pairs"] == 2
    assert cam["camera_info_calibrations"] == 2 and cam["decode_errors"]
    stages = {s["name"]: s for s in m["stages"]}
    assert stages["capture"]["status"] == "ok" and str(T0 + 100 * MS) in stages["capture"]["message"]
    assert stages["generate_video"]["status"] == "skipped" and "--task" in stages["generate_video"]["message"]
    checks = {c["name"]: c["passed"] for c in m["checks"]}
    assert checks["camera frames valid"] is False and checks["camera_info consistent"] is False
    assert checks["joint_states recorded"] is False and not m["passed"]
    assert m["ground_truth"] is None
    assert (tmp_path / "out" / "report.md").is_file() and not (tmp_path / "out" / "joint_states_timing.png").exists()


def test_missing_corrupt_and_cameraless_bags_raise_artefact_error(sim_bag, tmp_path):
    with pytest.raises(ArtefactError, match="nope: bag not found"):
        evaluate_bag(tmp_path / "nope", tmp_path / "o1", progress=False)
    broken = tmp_path / "broken"
    shutil.copytree(sim_bag[0], broken)
    (broken / "metadata.yaml").write_text("rosbag2_bagfile_information: {version: 9")
    with pytest.raises(ArtefactError, match="broken: not a readable rosbag2 bag"):
        evaluate_bag(broken, tmp_path / "o2", progress=False)
    cut = tmp_path / "cut"
    shutil.copytree(sim_bag[0], cut)
    for f in cut.glob("*.mcap"):
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 3])
    with pytest.raises(ArtefactError, match="cut: not a readable rosbag2 bag"):
        evaluate_bag(cut, tmp_path / "o3", progress=False)
    joints_only = tmp_path / "joints_only"
    with BagWriter(joints_only) as bag:
        bag.add_topic("/joint_states", "sensor_msgs/msg/JointState")
        _write_joints(bag)
    with pytest.raises(ArtefactError, match=r"no camera topic\(s\) \['camera/color/image_raw'"):
        scan_bag(joints_only, progress=False)
    assert not any((tmp_path / f"o{i}").exists() for i in (1, 2, 3))


def _cli(argv):
    parser = argparse.ArgumentParser()
    cli_bag.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_info_and_evaluate(sim_bag, tmp_path, capsys):
    assert _cli(["bag", "info", str(sim_bag[0])]) == 0
    out = capsys.readouterr().out
    assert "Storage id:        mcap" in out and "Messages:          36" in out
    assert "Topic: /joint_states" in out and "Count: 21" in out and "physworld.task: lid_on_pot" in out
    with pytest.raises(ArtefactError, match="bag not found"):
        _cli(["bag", "info", str(tmp_path / "nope")])
    rc = _cli(["bag", "evaluate", str(sim_bag[0]), "--out", str(tmp_path / "ev"), "--frames", "3", "--no-recon"])
    out = capsys.readouterr().out
    assert rc == 0 and "[pass] stage generate_video" in out and "PASSED" in out
    rc = _cli(["bag", "evaluate", str(sim_bag[0]), "--out", str(tmp_path / "ev2"), "--task", "stack_block",
               "--frames", "3", "--no-recon"])  # fmt: skip
    assert rc == 1 and "[FAIL] stage generate_video" in capsys.readouterr().out
