"""Model-based 6-DoF tracking (eq. 4) on a synthetic rendered sequence with a known path."""

from __future__ import annotations

import numpy as np
import pybullet as p
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from physworld.errors import InputError
from physworld.recon.tracking import (
    TrackingConfig,
    fill_rejected,
    pose_errors,
    pose_to_matrix,
    smooth_poses,
    track_objects,
)
from physworld.sim.camera import CameraIntrinsics, PyBulletCamera, look_at

EXTENTS = (0.08, 0.06, 0.05)
N_FRAMES = 12


def _noisy(d, rng):
    """Per-pixel depth-estimator errors, 2-3x those of the simulated estimator (recon.depth):
    0.5 % multiplicative and 2 mm additive noise, 1 % gross outliers."""
    d = d * (1 + 0.005 * rng.standard_normal(d.shape)) + 0.002 * rng.standard_normal(d.shape)
    idx = rng.choice(d.size, int(0.01 * d.size), replace=False)
    d.reshape(-1)[idx] *= rng.uniform(0.3, 3.0, len(idx))
    return d.astype(np.float32)


@pytest.fixture(scope="module")
def sequence():
    """A box lifted, carried 30 cm sideways and turned 70 deg (yaw) with some pitch, rendered by
    PyBulletCamera over a ground slab, seen the way the task scenes' camera sees the table."""
    cid = p.connect(p.DIRECT)
    try:
        ground = p.createCollisionShape(p.GEOM_BOX, halfExtents=[0.5, 0.5, 0.01], physicsClientId=cid)
        p.createMultiBody(0, ground, basePosition=[0.5, 0, -0.01], physicsClientId=cid)
        he = [e / 2 for e in EXTENTS]
        shape = p.createCollisionShape(p.GEOM_BOX, halfExtents=he, physicsClientId=cid)
        box = p.createMultiBody(0.1, shape, physicsClientId=cid)
        intr = CameraIntrinsics.from_fov(240, 180, 50.0)
        cam = PyBulletCamera(intr, look_at([1.18, 0.0, 0.62], [0.52, 0.0, 0.02]))
        s = np.linspace(0, 1, N_FRAMES)
        pos = np.stack([0.45 + 0.1 * s, -0.15 + 0.3 * s, EXTENTS[2] / 2 + 0.12 * np.sin(np.pi * s)], 1)
        ang = np.stack([np.radians(70) * s, np.radians(15) * np.sin(np.pi * s), np.zeros(N_FRAMES)], 1)
        gt = np.concatenate([pos, Rotation.from_euler("zyx", ang).as_quat()], 1)
        depths = []
        for t in range(N_FRAMES):
            p.resetBasePositionAndOrientation(box, pos[t], gt[t, 3:], physicsClientId=cid)
            depths.append(cam.render(cid)[1])
    finally:
        p.disconnect(cid)
    ground_mesh = trimesh.creation.box(extents=[1.0, 1.0, 0.02])
    ground_mesh.apply_translation([0.5, 0, -0.01])
    return dict(depth=np.stack(depths), intr=intr, T=cam.T_world_optical, gt=gt, bg=ground_mesh)


def _track(seq, depth, **cfg):
    mesh = trimesh.creation.box(extents=EXTENTS)
    res = track_objects(
        depth,
        seq["intr"],
        seq["T"],
        {"box": mesh},
        {"box": pose_to_matrix(seq["gt"][0])},
        [seq["bg"]],
        config=TrackingConfig(**cfg),
    )
    return res["box"]


def test_tracks_clean_sequence(sequence):
    r = _track(sequence, sequence["depth"])
    e = pose_errors(r.poses, sequence["gt"])
    assert r.accepted.all()
    assert e["mean_position_error_m"] < 0.004 and e["max_position_error_m"] < 0.01
    assert e["mean_rotation_error_deg"] < 3.0 and e["max_rotation_error_deg"] < 6.0
    assert r.poses.shape == (N_FRAMES, 7) and np.allclose(np.linalg.norm(r.poses[:, 3:], axis=1), 1.0)


def test_tracks_noisy_depth_within_targets(sequence):
    rng = np.random.default_rng(1)
    noisy = np.stack([_noisy(d.copy(), rng) for d in sequence["depth"]])
    r = _track(sequence, noisy)
    e = pose_errors(r.poses, sequence["gt"])
    assert r.acceptance >= 0.9
    assert e["mean_position_error_m"] < 0.01 and e["mean_rotation_error_deg"] < 5.0


def test_frames_without_depth_are_rejected_and_filled(sequence):
    depth = sequence["depth"].copy()
    depth[5:7] = np.nan  # the depth stream drops two frames
    r = _track(sequence, depth)
    assert not r.accepted[5] and not r.accepted[6]
    assert r.accepted[:5].all() and r.accepted[7:].all()
    e = pose_errors(r.poses, sequence["gt"])
    assert e["max_position_error_m"] < 0.02  # the gap is bridged by interpolation, not held
    assert e["mean_position_error_m"] < 0.006


def test_tracking_without_a_background_model_still_follows_the_box(sequence):
    r = _track(sequence, sequence["depth"])
    mesh = trimesh.creation.box(extents=EXTENTS)
    # a wrong initial guess far from the box finds nothing in its region and holds still
    far = pose_to_matrix(sequence["gt"][0])
    far[:3, 3] += [0.0, 0.0, 0.4]
    lost = track_objects(sequence["depth"], sequence["intr"], sequence["T"], {"box": mesh}, {"box": far})["box"]
    assert not lost.accepted.any()
    assert np.allclose(lost.poses[:, :3], far[:3, 3], atol=1e-6)
    assert r.accepted.all()


def test_pose_errors_values():
    gt = np.array([[0, 0, 0, 0, 0, 0, 1.0], [1, 0, 0, 0, 0, 0, 1.0]])
    q90 = Rotation.from_euler("z", 90, degrees=True).as_quat()
    pred = np.array([[0, 0, 0.01, *q90], [1, 0.02, 0, 0, 0, 0, 1.0]])
    e = pose_errors(pred, gt)
    np.testing.assert_allclose(e["position_error_m"], [0.01, 0.02])
    np.testing.assert_allclose(e["rotation_error_deg"], [90.0, 0.0], atol=1e-9)
    assert e["mean_position_error_m"] == pytest.approx(0.015)
    with pytest.raises(InputError, match=r"\(T, 7\)"):
        pose_errors(pred[:, :3], gt)


def test_smoothing_keeps_uniform_motion_and_removes_jitter():
    n = 15
    s = np.linspace(0, 1, n)
    quats = Rotation.from_euler("z", 60 * s[:, None], degrees=True).as_quat()
    clean = np.concatenate([np.stack([s, 2 * s, 0 * s], 1), quats], 1)
    np.testing.assert_allclose(smooth_poses(clean, 5, 2)[:, :3], clean[:, :3], atol=1e-9)
    assert pose_errors(smooth_poses(clean, 5, 2), clean)["max_rotation_error_deg"] < 0.05
    jitter = clean.copy()
    jitter[:, :3] += 0.005 * np.random.default_rng(0).standard_normal((n, 3))
    before = pose_errors(jitter, clean)["mean_position_error_m"]
    after = pose_errors(smooth_poses(jitter, 5, 2), clean)["mean_position_error_m"]
    assert after < 0.8 * before


def test_fill_rejected_interpolates_between_accepted_frames():
    poses = np.zeros((5, 7))
    poses[:, 6] = 1.0
    poses[:, 0] = [0.0, 9.0, 9.0, 0.3, 9.0]
    acc = np.array([True, False, False, True, False])
    out = fill_rejected(poses, acc)
    np.testing.assert_allclose(out[:, 0], [0.0, 0.1, 0.2, 0.3, 0.3])


def test_bad_inputs_are_rejected(sequence):
    mesh = trimesh.creation.box(extents=EXTENTS)
    with pytest.raises(InputError, match="depth frames must be"):
        track_objects(sequence["depth"][:, :10], sequence["intr"], sequence["T"], {"b": mesh}, {"b": np.eye(4)})
    with pytest.raises(InputError, match="no initial pose"):
        track_objects(sequence["depth"], sequence["intr"], sequence["T"], {"b": mesh}, {})
