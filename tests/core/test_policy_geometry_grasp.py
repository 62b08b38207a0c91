"""Pose helpers and antipodal grasp proposals of the policy stack."""

import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from physworld.errors import InputError
from physworld.policy import geometry as geo
from physworld.policy.grasp import GraspConfig, clear_grasps, gripper_clear, propose_grasps


def _random_pose(rng):
    return np.concatenate([rng.normal(size=3), Rotation.random(random_state=int(rng.integers(1 << 30))).as_quat()])


def test_compose_inverse_residual_match_matrices():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = _random_pose(rng), _random_pose(rng)
        assert np.allclose(geo.pose_to_matrix(geo.compose(a, b)), geo.pose_to_matrix(a) @ geo.pose_to_matrix(b))
        assert np.allclose(geo.pose_to_matrix(geo.inverse(a)), np.linalg.inv(geo.pose_to_matrix(a)))
        rv = rng.normal(size=3) * 0.2
        out = geo.apply_residual(a, np.array([0.01, 0, 0]), rv)
        assert np.allclose(out[:3], a[:3] + [0.01, 0, 0])
        R = Rotation.from_rotvec(rv).as_matrix() @ Rotation.from_quat(a[3:]).as_matrix()
        assert np.allclose(Rotation.from_quat(out[3:]).as_matrix(), R)
        assert out[6] >= 0  # canonical sign
        M = Rotation.from_quat(a[3:]).as_matrix()
        assert np.allclose(geo.quat_to_rot6(a[3:]), M[:, :2].ravel(order="F"))


def test_resample_keeps_endpoints_and_rate():
    traj = np.array([[0, 0, 0, 0, 0, 0, 1.0], [1, 0, 0, 0, 0, np.sin(0.5), np.cos(0.5)]])
    out = geo.resample_trajectory(traj, 1.0, 0.25)
    assert out.shape == (5, 7)
    assert np.allclose(out[0], traj[0]) and np.allclose(out[-1], traj[1])
    assert np.allclose(out[2, 0], 0.5)


def test_box_grasps_are_antipodal_top_down_and_fit_the_jaw():
    box = trimesh.creation.box((0.05, 0.05, 0.05))
    props = propose_grasps(box, np.array([0.5, 0, 0.025, 0, 0, 0, 1.0]), seed=0)
    assert len(props) > 50
    best = props[0]
    assert best.width == pytest.approx(0.05, abs=2e-3)
    z = geo.pose_to_matrix(best.T_obj_grasp)[:3, 2]
    assert z[2] < -0.95  # approach from above
    assert all(p.width < 0.075 for p in props)


def test_hollow_cup_gets_full_diameter_grasps():
    # a ring of wall boxes: wall pinches (5 mm) and whole-diameter grasps (6.8 cm) both appear
    parts = []
    for a in np.linspace(0, 2 * np.pi, 14, endpoint=False):
        b = trimesh.creation.box((0.005, 0.017, 0.08))
        T = np.eye(4)
        T[:3, :3] = Rotation.from_euler("z", a).as_matrix()
        T[:3, 3] = [0.0315 * np.cos(a), 0.0315 * np.sin(a), 0]
        b.apply_transform(T)
        parts.append(b)
    cup = trimesh.util.concatenate(parts)
    widths = np.array([p.width for p in propose_grasps(cup, np.array([0.5, 0, 0.04, 0, 0, 0, 1.0]))])
    assert np.any(widths < 0.01) and np.any(widths > 0.06)


def test_gripper_clearance_rejects_palm_overlap():
    tall = trimesh.creation.box((0.03, 0.03, 0.30))  # a grasp at the middle puts the palm inside it
    pts = tall.sample(2000)
    down = np.array([0, 0, 0, 1.0, 0, 0, 0])  # grasp frame at the centre, approach -z
    assert not gripper_clear(pts, down, 0.03)
    top = down.copy()
    top[2] = 0.14  # near the top: only the fingertips reach around it
    assert gripper_clear(pts, top, 0.03)
    props = propose_grasps(tall, np.array([0.5, 0, 0.15, 0, 0, 0, 1.0]))
    clear, rejected = clear_grasps(tall, props, GraspConfig(), limit=10)
    assert clear and rejected > 0


def test_empty_mesh_is_an_input_error():
    with pytest.raises(InputError, match="non-empty"):
        propose_grasps(trimesh.Trimesh(), np.array([0, 0, 0, 0, 0, 0, 1.0]))
