"""End-to-end reconstruction (PhysWorld III-A) on a small sim task, and its input errors."""

from __future__ import annotations

import numpy as np
import pybullet as p
import pytest
from scipy.spatial.transform import Rotation

from physworld.bundle import load_bundle
from physworld.recon.pipeline import (
    CalibrationError,
    EmptyDepthError,
    FrameSizeError,
    NoObjectError,
    NoSupportPlaneError,
    ReconstructionConfig,
    evaluate_reconstruction,
    reconstruct,
)
from physworld.recon.self_filter import robot_pixel_mask
from physworld.sim import assets
from physworld.sim.world import ROBOT_BASE, build_task_scene
from physworld.video import GeneratedVideo, make_generator

SIZE = (240, 180)
N_FRAMES = 24
CFG = ReconstructionConfig(device="cpu", collision_max_iters=100)


def _joint_positions(scene) -> dict[str, float]:
    rb, c = scene.robot, scene.client
    out = {}
    for j in range(p.getNumJoints(rb.body_id, physicsClientId=c)):
        info = p.getJointInfo(rb.body_id, j, physicsClientId=c)
        if info[2] != p.JOINT_FIXED:
            out[info[1].decode()] = p.getJointState(rb.body_id, j, physicsClientId=c)[0]
    return out


@pytest.fixture(scope="module")
def capture():
    scene = build_task_scene("stack_block", 0, image_size=SIZE)
    rgb, depth, seg = scene.render()
    cam = scene.camera
    mask = robot_pixel_mask(assets.panda_urdf_path(), ROBOT_BASE, _joint_positions(scene), cam.intrinsics,
                            cam.T_world_optical)  # fmt: skip
    video = make_generator("sim_rollout").generate(rgb, scene.task.command, N_FRAMES, 0)
    yield dict(scene=scene, rgb=rgb, depth=depth, seg=seg, mask=mask, video=video)
    scene.close()


PROGRESS: list[tuple[str, int, int]] = []  # what the module's reconstruction reported


@pytest.fixture(scope="module")
def result(capture):
    c = capture
    cam = c["scene"].camera
    return reconstruct(c["rgb"], c["depth"], cam.intrinsics, cam.T_world_optical, c["video"], c["scene"].task, CFG,
                       lambda *a: PROGRESS.append(a), ignore_mask=c["mask"])  # fmt: skip


def test_progress_covers_every_stage_in_order_and_only_grows(result):
    from physworld.recon.pipeline import STAGES, overall_progress

    assert [st for st in dict.fromkeys(st for st, _, _ in PROGRESS)] == list(STAGES)
    fractions = [overall_progress(*a) for a in PROGRESS]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(b >= a for a, b in zip(fractions, fractions[1:])), fractions  # one bar never jumps back


def test_self_filter_covers_the_robot(capture):
    robot = capture["seg"] == capture["scene"].robot.body_id
    assert robot.sum() > 100
    assert capture["mask"][robot].mean() > 0.99  # every robot pixel is masked
    assert capture["mask"][~robot].mean() < 0.02  # and little else


def test_reconstruction_builds_a_scene_with_a_target_trajectory(result, capture, tmp_path):
    b = result.bundle
    assert sorted(o.name for o in b.objects) == ["base_block", "block"]
    moved = b.object("block")
    assert moved.movable and moved.mass > 0
    traj = b.target_trajectory("block")
    assert traj.shape == (N_FRAMES, 7)
    np.testing.assert_allclose(traj[0, :3], moved.position, atol=1e-6)  # the target starts where the object is
    assert b.target_trajectory("base_block") is None  # only the moved object is tracked by default
    assert abs(b.meta["plane_height"] - 0.625) < 0.005  # the table top, in the calibrated world frame
    assert set(result.timings) >= {"video_depth_alignment", "gravity_alignment", "segmentation", "meshing",
                                   "collision_optimisation", "pose_tracking"}  # fmt: skip
    assert result.diagnostics["collision"]["converged"]
    out = result.save(tmp_path / "bundle")
    loaded = load_bundle(out)
    assert loaded.object("block").target_trajectory == moved.target_trajectory
    assert (out / "meshes" / "background.obj").is_file()


def test_reconstruction_is_accurate_against_ground_truth(result, capture):
    m = evaluate_reconstruction(result, capture["scene"], capture["video"])
    assert m["missing_objects"] == []
    for name in ("block", "base_block"):
        o = m["objects"][name]
        assert o["position_error_m"] < 0.02, (name, o["position_error_m"])
        assert max(abs(v) for v in o["size_error_m"]) < 0.02, (name, o["size_error_m"])
        # objects stand on the table: eq. 3 lifts them by its clearance only, not by the low skirt of
        # object pixels (below the segmentation's min_height) left in the background height map
        assert abs(o["position_error_xyz_m"][2]) < 0.004, (name, o["position_error_xyz_m"])
        assert result.diagnostics["collision"]["offsets_m"][name] < CFG.clearance + 0.002
    t = m["moved_track"]
    assert t["true_motion_m"] > 0.1  # the block really moved
    assert t["track_mean_position_error_m"] < 0.01, t
    assert t["track_mean_rotation_error_deg"] < 8.0, t


def test_without_extrinsics_the_world_frame_comes_from_the_plane(capture):
    c = capture
    res = reconstruct(c["rgb"], c["depth"], c["scene"].camera.intrinsics, None, c["video"], c["scene"].task, CFG,
                      ignore_mask=c["mask"])  # fmt: skip
    assert res.bundle.meta["extrinsics"].startswith("from the plane")
    T = np.asarray(res.bundle.T_world_camera)
    assert T[2, 3] > 0.3  # camera above the plane (at z = 0)
    # objects sit on z = 0 and the camera looks down
    for o in res.bundle.objects:
        assert 0.0 < o.position[2] < 0.1
    assert (T[:3, :3] @ [0, 0, 1])[2] < -0.5


def test_miscalibrated_extrinsics_are_refused(capture):
    c = capture
    T = c["scene"].camera.T_world_optical.copy()
    T[:3, :3] = Rotation.from_euler("x", 20, degrees=True).as_matrix() @ T[:3, :3]
    with pytest.raises(CalibrationError, match="hand-eye"):
        reconstruct(c["rgb"], c["depth"], c["scene"].camera.intrinsics, T, c["video"], c["scene"].task, CFG,
                    ignore_mask=c["mask"])  # fmt: skip


def _video(frames, depth, text="stack the block"):
    return GeneratedVideo(frames, fps=10.0, task_text=text, seed=0, backend="test", aux={"depth": depth})


def test_input_errors_are_specific_and_write_nothing(capture, tmp_path):
    c = capture
    intr, T = c["scene"].camera.intrinsics, c["scene"].camera.T_world_optical
    task = c["scene"].task
    video = c["video"]

    def run(rgb=c["rgb"], depth=c["depth"], vid=video):
        return reconstruct(rgb, depth, intr, T, vid, task, CFG).save(tmp_path / "never")

    with pytest.raises(EmptyDepthError, match="empty or all NaN"):
        run(depth=np.full_like(c["depth"], np.nan))
    small = _video(video.frames[:, :-2], video.aux["depth"][:, :-2])
    with pytest.raises(FrameSizeError, match="video frames"):
        run(vid=small)
    with pytest.raises(FrameSizeError, match="first depth"):
        run(depth=c["depth"][:-1])
    # a vertical wall filling the view: a plane, but none that could support objects
    v, u = np.mgrid[0 : intr.height, 0 : intr.width]
    rays = np.stack([(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, np.ones(u.shape)], -1) @ T[:3, :3].T
    wall = ((0.25 - T[0, 3]) / rays[..., 0]).astype(np.float32)  # the plane x = 0.25 m
    with pytest.raises(NoSupportPlaneError, match="support plane"):
        run(depth=wall, vid=_video(video.frames, np.repeat(wall[None], N_FRAMES, 0)))
    # an empty table: the plane and nothing on it
    plane = c["depth"].copy()
    objects = (c["seg"] != c["scene"].table_id) & (c["seg"] != c["scene"].plane_id)
    plane[objects] = np.nan
    from physworld.recon.gravity import find_support_plane
    from physworld.recon.meshing import complete_background_depth
    from physworld.recon.segment import point_map

    pl = find_support_plane(point_map(plane, intr).reshape(-1, 3))
    empty = complete_background_depth(plane, objects, intr, pl.normal, pl.d)
    with pytest.raises(NoObjectError):
        run(depth=empty, vid=_video(video.frames, np.repeat(empty[None], N_FRAMES, 0)))
    assert not (tmp_path / "never").exists()


def test_report_files_are_written(result, capture, tmp_path):
    from physworld.recon.report import write_report

    bundle_dir = result.save(tmp_path / "scene")
    metrics = evaluate_reconstruction(result, capture["scene"], capture["video"])
    files = write_report(tmp_path, result, bundle_dir, capture["rgb"], capture["video"], metrics)
    assert files["png"].stat().st_size > 10_000
    md = files["markdown"].read_text()
    assert "report.png" in md and "block" in md and "meets the targets" in md
    import json

    doc = json.loads(files["metrics"].read_text())
    assert doc["metrics"]["moved_object"] == "block"
    assert set(doc["timings_s"]) == set(result.timings)
    assert not list(tmp_path.glob(".*tmp*"))  # no staging files left behind


def test_cli_registers_reconstruct():
    import argparse

    from physworld import cli_reconstruct

    parser = argparse.ArgumentParser()
    cli_reconstruct.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["reconstruct", "--task", "stack_block", "--out", "x", "--size", "160x120"])
    assert args.size == (160, 120) and args.frames == 50 and args.func is cli_reconstruct.run_reconstruct
    assert not args.no_progress
    with pytest.raises(SystemExit):
        parser.parse_args(["reconstruct", "--task", "stack_block", "--out", "x", "--size", "big"])


def test_obtain_bundle_forwards_no_progress_to_the_reconstruction(tmp_path, monkeypatch):
    import physworld.cli
    from physworld.errors import BackendError
    from physworld.policy.bundles import obtain_bundle

    calls = []
    monkeypatch.setattr(physworld.cli, "main", lambda argv: calls.append(argv) or 1)
    for progress in (True, False):
        with pytest.raises(BackendError, match="exit code 1"):
            obtain_bundle("stack_block", 0, tmp_path / "wm", progress=progress)
    assert "--no-progress" not in calls[0] and calls[1][-1] == "--no-progress"
    assert calls[1][:2] == ["reconstruct", "--task"]


def test_cli_config_reads_the_world_model_entry(tmp_path):
    from physworld.cli_reconstruct import _config
    from physworld.errors import ConfigError

    y = tmp_path / "p.yaml"
    y.write_text("world_model:\n  ros__parameters:\n    run_root: runs\n    clearance: 0.003\n    track: all\n")
    cfg = _config(str(y))
    assert cfg.clearance == 0.003 and cfg.track == "all"
    y.write_text("world_model:\n  ros__parameters:\n    track: everything\n")
    with pytest.raises(ConfigError, match="track"):
        _config(str(y))
