"""Arm backends: PyBullet Panda (position control) and the pure ros2_control bridge."""

from __future__ import annotations

import numpy as np
import pybullet as p
import pytest

from physworld.control.arm_backend import PyBulletArm, RosControlArm, trajectory_dict
from physworld.control.kinematics import PANDA_ARM_JOINTS, PANDA_FINGER_JOINTS, PANDA_HOME, PyBulletKinematics
from physworld.errors import BackendError, InputError


@pytest.fixture
def client():
    c = p.connect(p.DIRECT)
    yield c
    p.disconnect(c)


def test_pybullet_arm_tracks_position_targets_and_holds(client):
    arm = PyBulletArm(client)
    s = arm.read_joint_state()
    assert s.names == PANDA_ARM_JOINTS + PANDA_FINGER_JOINTS
    np.testing.assert_allclose(s.position[:7], PANDA_HOME, atol=1e-9)
    target = np.array(PANDA_HOME) + np.array([0.3, 0.2, -0.2, 0.3, 0.2, -0.2, 0.3])
    for _ in range(150):
        arm.command_positions(target, 0.01)
    s = arm.read_joint_state()
    np.testing.assert_allclose(s.position[:7], target, atol=0.02)
    assert s.stamp == pytest.approx(1.5, abs=0.01)  # simulated time advanced by the commands
    q_hold = arm.hold(0.01)
    for _ in range(50):
        arm.command_positions(q_hold, 0.01)
    np.testing.assert_allclose(arm.read_joint_state().position[:7], q_hold, atol=0.01)
    arm.command_gripper([0.04, 0.04])
    for _ in range(100):
        arm.command_positions(q_hold, 0.01)
    np.testing.assert_allclose(arm.read_joint_state().position[7:], [0.04, 0.04], atol=0.003)
    with pytest.raises(InputError, match="7 finite joint positions"):
        arm.command_positions(np.zeros(6), 0.01)
    with pytest.raises(InputError, match="2 positions"):
        arm.command_gripper([0.0])


def test_ros_control_arm_builds_trajectories_and_tracks_joint_state_age():
    sent, grip, now = [], [], [10.0]
    arm = RosControlArm(sent.append, grip.append, stale_after_s=0.5, clock=lambda: now[0])
    with pytest.raises(BackendError, match="no joint_states received yet"):
        arm.read_joint_state()
    names = list(reversed(PANDA_ARM_JOINTS)) + ["extra_joint"]
    arm.update_joint_state(names, [7, 6, 5, 4, 3, 2, 1, 99])
    s = arm.read_joint_state()
    np.testing.assert_allclose(s.position[:7], [1, 2, 3, 4, 5, 6, 7])
    assert np.isnan(s.position[7:]).all()  # no finger joints in that message
    now[0] += 0.6
    with pytest.raises(BackendError, match="0.60 s old"):
        arm.read_joint_state()
    with pytest.raises(InputError, match="lacks arm joints"):
        arm.update_joint_state(["panda_joint1"], [0.0])
    arm.command_positions(np.arange(7) * 0.1, 0.05)
    assert sent[-1]["joint_names"] == list(PANDA_ARM_JOINTS)
    assert sent[-1]["points"][0]["positions"] == pytest.approx(list(np.arange(7) * 0.1))
    assert sent[-1]["points"][0]["time_from_start"] == {"sec": 0, "nanosec": 50_000_000}
    arm.command_gripper([0.01, 0.01])
    assert grip == [[0.01, 0.01]]
    assert trajectory_dict(["j"], [1.0], 1.25)["points"][0]["time_from_start"] == {"sec": 1, "nanosec": 250_000_000}


def test_kinematics_fk_ik_round_trip():
    kin = PyBulletKinematics()
    try:
        pos, quat = kin.fk(np.array(PANDA_HOME))
        assert 0.2 < pos[0] < 0.7 and pos[2] > 0.2 and quat.shape == (4,)
        q_goal = np.array(PANDA_HOME) + np.array([0.2, 0.1, -0.1, 0.2, 0.1, -0.1, 0.1])
        goal_pos, goal_quat = kin.fk(q_goal)
        q = kin.ik(goal_pos, goal_quat, np.array(PANDA_HOME))
        got_pos, got_quat = kin.fk(q)
        np.testing.assert_allclose(got_pos, goal_pos, atol=2e-3)
        assert abs(abs(np.dot(got_quat, goal_quat)) - 1) < 1e-4
    finally:
        kin.close()
