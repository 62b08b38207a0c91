"""World-model data: PyBullet clips with labels, domain shift, ClipSet files, rosbag2/KITTI/VKITTI2 loaders."""

import cv2
import numpy as np
import pytest

from physworld.errors import ArtefactError, InputError
from physworld.worldmodel.clips import ClipSet, check_compatible, load_clips, save_clips
from physworld.worldmodel.config import ModelConfig, SimDataConfig
from physworld.worldmodel.domain_shift import apply_camera_effects, sample_camera_effects
from physworld.worldmodel.geometry import model_intrinsics
from physworld.worldmodel.real_data import load_kitti, load_rosbag2, load_vkitti2
from physworld.worldmodel.sim_data import generate_sim_clips

MODEL = ModelConfig(image_size=[24, 24])


def test_sim_clips_have_consistent_labels_and_ego_motion_flow():
    cfg = SimDataConfig(clip_len=3, fall_prob=0.0, camera_motion="lateral")
    clips = generate_sim_clips(cfg, MODEL, 2, seed=0, progress=False)
    assert clips.rgb.shape == (2, 3, 24, 24, 3) and clips.rgb.dtype == np.uint8
    assert clips.depth.shape == clips.seg.shape == (2, 3, 24, 24)
    assert clips.flow.shape == (2, 2, 24, 24, 2) and clips.actions.shape == (2, 2, 3)
    assert (clips.seg >= 1).any() and (clips.seg == 0).any()  # objects and ground visible
    # a sideways camera step dx (the action) moves static points by -fx*dx/z pixels, none vertically
    fx = model_intrinsics(MODEL).fx
    a = clips.actions[:, :, 0]
    assert np.allclose(clips.actions[:, :, 1:], 0, atol=1e-6) and (np.abs(a) > 0.01).all()
    ground = clips.seg[:, :2] == 0
    expected = -fx * a[:, :, None, None] / clips.depth[:, :2]
    assert np.allclose(clips.flow[:, :, :, :, 0][ground], expected[ground], atol=0.05)
    assert np.allclose(clips.flow[:, :, :, :, 1][ground], 0, atol=0.05)


def test_falling_objects_have_downward_flow_and_seeds_reproduce():
    cfg = SimDataConfig(clip_len=3, fall_prob=1.0, camera_motion="none")
    a = generate_sim_clips(cfg, MODEL, 1, seed=3, progress=False)
    b = generate_sim_clips(cfg, MODEL, 1, seed=3, progress=False)
    assert np.array_equal(a.rgb, b.rgb) and np.allclose(a.actions, 0)
    obj = a.seg[:, 1] >= 1
    assert np.nanmean(a.flow[:, 1, :, :, 1][obj]) > 0.3  # image y points down: falling = positive v


def test_real_domain_differs_but_keeps_geometry():
    cfg = SimDataConfig(clip_len=2, camera_motion="none")
    clean = generate_sim_clips(cfg, MODEL, 2, seed=5, progress=False)
    real = generate_sim_clips(cfg, MODEL, 2, seed=5, textured=True, progress=False)
    assert np.abs(clean.rgb.astype(float) - real.rgb).mean() > 10
    rng = np.random.default_rng(0)
    frames = np.full((2, 8, 8, 3), 128, np.uint8)
    shifted = apply_camera_effects(frames, sample_camera_effects(rng), rng)
    assert shifted.shape == frames.shape and shifted.dtype == np.uint8 and not np.array_equal(shifted, frames)


def test_clipset_file_roundtrip_validation_and_compatibility(tmp_path):
    rgb = np.zeros((2, 3, 8, 8, 3), np.uint8)
    clips = ClipSet(rgb, np.zeros((2, 2, 3), np.float32), depth=np.ones((2, 3, 8, 8), np.float32), source="x")
    back = load_clips(save_clips(tmp_path / "c.npz", clips))
    assert np.array_equal(back.depth, clips.depth) and back.seg is None and back.source == "x"
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ArtefactError, match="bad.npz"):
        load_clips(tmp_path / "bad.npz")
    with pytest.raises(InputError, match="depth"):
        ClipSet(rgb, np.zeros((2, 2, 3), np.float32), depth=np.ones((2, 3, 9, 8), np.float32))
    with pytest.raises(InputError, match="model.image_size"):
        check_compatible(clips, [16, 16], 3, "data")
    with pytest.raises(InputError, match="action_dim"):
        check_compatible(clips, [8, 8], 2, "data")


def _png(path, img):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)


def test_kitti_raw_and_odometry_layouts(tmp_path):
    raw = tmp_path / "raw" / "2011_09_26" / "2011_09_26_drive_0001_sync" / "image_02" / "data"
    for i in range(7):
        img = np.zeros((20, 60, 3), np.uint8)
        img[:, :, 2] = 200  # BGR on disk: red
        _png(raw / f"{i:010d}.png", img)
    clips = load_kitti(tmp_path / "raw", [16, 16], clip_len=3)
    assert clips.rgb.shape == (2, 3, 16, 16, 3) and clips.rgb[..., 0].mean() > 150 and clips.rgb[..., 2].max() < 10
    odo = tmp_path / "odo"
    for i in range(4):
        _png(odo / "sequences" / "00" / "image_2" / f"{i:06d}.png", np.zeros((20, 60, 3), np.uint8))
    poses = np.tile(np.eye(4)[:3].reshape(1, 12), (4, 1))
    poses[:, 11] = 0.5 * np.arange(4)  # camera moves forward 0.5 m per frame
    (odo / "poses").mkdir()
    np.savetxt(odo / "poses" / "00.txt", poses)
    clips = load_kitti(odo, [16, 16], clip_len=4)
    assert np.allclose(clips.actions[0], [[0, 0, 0.5]] * 3)


def test_kitti_bad_input_names_the_file_or_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty.*no KITTI images"):
        load_kitti(tmp_path / "empty", [16, 16], clip_len=3)
    seq = tmp_path / "mixed" / "d_sync" / "image_02" / "data"
    _png(seq / "0.png", np.zeros((20, 60, 3), np.uint8))
    _png(seq / "1.png", np.zeros((22, 60, 3), np.uint8))
    with pytest.raises(InputError, match="1.png.*resolution"):
        load_kitti(tmp_path / "mixed", [16, 16], clip_len=2)


def test_vkitti2_layout_with_depth_and_extrinsics(tmp_path):
    var = tmp_path / "Scene01" / "clone"
    lines = ["frame cameraID r1,1 r1,2 r1,3 t1 r2,1 r2,2 r2,3 t2 r3,1 r3,2 r3,3 t3 0 0 0 1"]
    for i in range(3):
        _png(var / "frames" / "rgb" / "Camera_0" / f"rgb_{i:05d}.png", np.full((30, 40, 3), 90, np.uint8))
        depth = np.full((30, 40), 1234, np.uint16)  # 12.34 m
        depth[:5] = 65535  # sky
        _png(var / "frames" / "depth" / "Camera_0" / f"depth_{i:05d}.png", depth)
        for cam in (0, 1):
            E = np.eye(4)
            E[0, 3] = -1.0 * i  # world->camera of a camera at x = i
            lines.append(" ".join([str(i), str(cam)] + [f"{v:g}" for v in E.ravel()]))
    (var / "extrinsic.txt").write_text("\n".join(lines) + "\n")
    clips = load_vkitti2(tmp_path, [10, 10], clip_len=3)
    assert clips.rgb.shape == (1, 3, 10, 10, 3)
    assert np.allclose(clips.actions[0], [[1.0, 0, 0]] * 2)
    assert np.isnan(clips.depth[0, 0, 0]).all() and np.allclose(clips.depth[0, 0, -1], 12.34)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(InputError, match="nothing.*Virtual KITTI 2"):
        load_vkitti2(tmp_path / "nothing", [10, 10], clip_len=3)


def _write_bag(path, encodings, sizes):
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.LATEST)
    Image = store.types["sensor_msgs/msg/Image"]
    Header = store.types["std_msgs/msg/Header"]
    Time = store.types["builtin_interfaces/msg/Time"]
    with Writer(path, version=9) as w:
        conn = w.add_connection("/camera/color/image_raw", Image.__msgtype__, typestore=store)
        for i, (enc, (h, wd)) in enumerate(zip(encodings, sizes)):
            img = np.zeros((h, wd, 3), np.uint8)
            img[..., 0 if enc == "rgb8" else 2] = 220  # red in either channel order
            msg = Image(
                header=Header(stamp=Time(sec=i, nanosec=0), frame_id="cam"),
                height=h,
                width=wd,
                encoding=enc,
                is_bigendian=0,
                step=wd * 3,
                data=img.reshape(-1),
            )
            w.write(conn, i * 10**9, store.serialize_cdr(msg, Image.__msgtype__))


def test_rosbag2_images_decode_in_rgb_order(tmp_path):
    _write_bag(tmp_path / "bag", ["rgb8", "bgr8", "rgb8", "bgr8"], [(12, 16)] * 4)
    clips = load_rosbag2(tmp_path / "bag", [8, 8], clip_len=2)
    assert clips.rgb.shape == (2, 2, 8, 8, 3) and np.allclose(clips.actions, 0)
    assert (clips.rgb[..., 0] > 200).all() and (clips.rgb[..., 2] < 10).all()
    with pytest.raises(InputError, match="no topic '/other'"):
        load_rosbag2(tmp_path / "bag", [8, 8], clip_len=2, image_topic="/other")


def test_rosbag2_resolution_change_is_an_error(tmp_path):
    _write_bag(tmp_path / "bag", ["rgb8", "rgb8"], [(12, 16), (10, 16)])
    with pytest.raises(InputError, match="message 1.*resolution"):
        load_rosbag2(tmp_path / "bag", [8, 8], clip_len=2)
