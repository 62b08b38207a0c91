"""Teleop mapping: keys and Joy axes -> EE twist -> joint targets through PyBullet IK."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from physworld.control.kinematics import PANDA_HOME, PyBulletKinematics
from physworld.control.teleop import (
    JoyMapping,
    apply_deadzone,
    gripper_positions,
    integrate_pose,
    jog,
    joy_to_command,
    key_to_command,
)
from physworld.errors import InputError


def test_keys_map_to_twists_gripper_and_stop():
    cmd = key_to_command("w", 0.1, 0.5)
    np.testing.assert_allclose(cmd.twist, [0.1, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(key_to_command("F", 0.1, 0.5).twist, [0, 0, -0.1, 0, 0, 0])
    np.testing.assert_allclose(key_to_command("j", 0.1, 0.5).twist, [0, 0, 0, 0, 0, 0.5])
    assert key_to_command("g", 0.1, 0.5).gripper == "close"
    assert key_to_command(" ", 0.1, 0.5).stop and not key_to_command(" ", 0.1, 0.5).moving
    assert key_to_command("z", 0.1, 0.5) is None
    assert gripper_positions("open", 2, 0.04) == [0.04, 0.04]
    with pytest.raises(InputError):
        gripper_positions("wiggle", 2, 0.04)


def test_deadzone_is_rescaled():
    assert apply_deadzone(0.05, 0.1) == 0.0
    assert apply_deadzone(-1.0, 0.1) == -1.0
    assert apply_deadzone(0.55, 0.1) == pytest.approx(0.5)
    assert apply_deadzone(3.0, 0.1) == 1.0
    with pytest.raises(InputError):
        apply_deadzone(0.5, 1.0)


def test_joy_axes_need_the_deadman_and_enough_axes():
    mapping = JoyMapping(axes=(1, 0, 4, -1, -1, 3), deadman_button=4)
    axes = [0.5, 1.0, 0.0, -0.05, 0.0, 0.0]
    idle = joy_to_command(axes, [0, 0, 0, 0, 0], mapping, 0.1, 0.2, 1.0)
    assert not idle.moving
    cmd = joy_to_command(axes, [1, 0, 0, 0, 1], mapping, 0.1, 0.2, 1.0)
    np.testing.assert_allclose(cmd.twist, [0.2, 0.2 * 4 / 9, 0, 0, 0, 0])
    assert cmd.gripper == "close"
    with pytest.raises(InputError, match="has 3 axes but the mapping uses axis 4"):
        joy_to_command([0, 0, 0], [1] * 5, mapping, 0.1, 0.2, 1.0)


def test_integrate_pose_rotates_in_the_base_frame():
    pos, quat = integrate_pose([0, 0, 0], [0, 0, 0, 1], np.array([0.1, 0, 0, 0, 0, 1.0]), 0.5)
    np.testing.assert_allclose(pos, [0.05, 0, 0])
    assert Rotation.from_quat(quat).as_euler("xyz")[2] == pytest.approx(0.5)
    with pytest.raises(InputError):
        integrate_pose([0, 0, 0], [0, 0, 0, 1], np.array([np.nan] * 6), 0.1)


def test_jog_moves_the_panda_end_effector_along_the_twist():
    kin = PyBulletKinematics()
    try:
        q = np.array(PANDA_HOME)
        p0, r0 = kin.fk(q)
        twist = np.array([0.05, 0.0, -0.05, 0.0, 0.0, 0.0])
        for _ in range(20):
            q = jog(kin, q, twist, 0.1)
        p1, r1 = kin.fk(q)
        np.testing.assert_allclose(p1 - p0, [0.1, 0.0, -0.1], atol=3e-3)
        angle = (Rotation.from_quat(r1) * Rotation.from_quat(r0).inv()).magnitude()
        assert angle < 0.01
    finally:
        kin.close()
