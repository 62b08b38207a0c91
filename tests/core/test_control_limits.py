"""Joint/velocity limits and the workspace box: clamp or reject, with reasons."""

from __future__ import annotations

import numpy as np
import pytest

from physworld.control.kinematics import PANDA_ARM_JOINTS, panda_urdf_path
from physworld.control.limits import (
    JointLimits,
    WorkspaceBox,
    check_positions,
    check_velocity,
    check_workspace,
    order_positions,
    rate_limit,
)
from physworld.errors import ConfigError

LIM = JointLimits(("a", "b"), np.array([-1.0, 0.0]), np.array([1.0, 2.0]), np.array([1.0, 0.5]))


def test_panda_limits_from_urdf():
    lim = JointLimits.from_urdf(panda_urdf_path(), PANDA_ARM_JOINTS)
    assert lim.names == PANDA_ARM_JOINTS
    assert lim.lower[3] == pytest.approx(-3.1416) and lim.upper[3] == pytest.approx(0.0)  # pybullet_data panda
    assert lim.max_velocity[0] == pytest.approx(2.175)
    with pytest.raises(ConfigError, match="not found"):
        JointLimits.from_urdf(panda_urdf_path(), ["nope"])


def test_invalid_limits_are_config_errors():
    with pytest.raises(ConfigError, match="lower must be below upper"):
        JointLimits(("a",), np.array([1.0]), np.array([0.0]), np.array([1.0]))
    with pytest.raises(ConfigError, match="2 entries"):
        JointLimits(("a", "b"), np.zeros(1), np.ones(2), np.ones(2))
    with pytest.raises(ConfigError, match="velocity_scale"):
        LIM.scaled(1.5)
    tight = LIM.scaled(0.5, position_margin=0.1)
    np.testing.assert_allclose(tight.lower, [-0.9, 0.1])
    np.testing.assert_allclose(tight.max_velocity, [0.5, 0.25])


def test_order_positions_reorders_and_validates():
    res = order_positions(["b", "x", "a"], [1.5, 9.0, 0.2], LIM)
    np.testing.assert_allclose(res.q, [0.2, 1.5])
    assert "lacks joints ['b']" in order_positions(["a"], [0.0], LIM).reasons[0]
    assert "non-finite" in order_positions(["a", "b"], [np.nan, 0.0], LIM).reasons[0]
    assert "2 joint names but 1" in order_positions(["a", "b"], [0.0], LIM).reasons[0]


def test_position_limits_clamp_or_reject_with_reason():
    res = check_positions(np.array([1.5, 1.0]), LIM, "clamp")
    assert res.accepted and res.clamped
    np.testing.assert_allclose(res.q, [1.0, 1.0])
    assert res.reasons == ["a target 1.500 above upper limit 1.000"]
    res = check_positions(np.array([0.0, -0.5]), LIM, "reject")
    assert not res.accepted and "b target -0.500 below lower limit 0.000" in res.reasons[0]
    ok = check_positions(np.array([0.0, 1.0]), LIM, "reject")
    assert ok.accepted and not ok.clamped
    with pytest.raises(ConfigError):
        check_positions(np.zeros(2), LIM, "ignore")


def test_velocity_limits():
    q0 = np.array([0.0, 1.0])
    assert check_velocity(np.array([0.5, 1.2]), q0, 1.0, LIM, "reject").accepted
    res = check_velocity(np.array([0.5, 1.8]), q0, 1.0, LIM, "reject")
    assert not res.accepted and res.reasons == ["b needs 0.80 > max velocity 0.50"]
    res = check_velocity(np.array([0.5, 1.8]), q0, 1.0, LIM, "clamp")
    assert res.accepted and "slowed down" in res.reasons[0]
    step = rate_limit(np.array([1.0, 2.0]), q0, 0.1, LIM)
    np.testing.assert_allclose(step, [0.1, 1.05])


def test_workspace_box_clamps_along_the_move_and_lets_the_arm_return():
    box = WorkspaceBox(np.array([-1.0, -1.0, 0.0]), np.array([1.0, 1.0, 1.0]))

    def fk(q):  # a "robot" whose EE is at (q0, q1, 0.5)
        return np.array([q[0], q[1], 0.5])

    assert box.violation(np.array([0.0, 0.0, 0.5])) == 0.0
    assert box.violation(np.array([2.0, 0.0, 1.5])) == pytest.approx(np.hypot(1.0, 0.5))
    res = check_workspace(np.array([3.0, 0.0]), np.array([0.0, 0.0]), fk, box, "clamp")
    assert res.accepted and "x=3.000 > 1.000" in res.reasons[0]
    assert res.q[0] == pytest.approx(1.0, abs=1e-3) and res.q[0] <= 1.0 + 1e-6
    assert not check_workspace(np.array([3.0, 0.0]), np.zeros(2), fk, box, "reject").accepted
    # outside already: moving back toward the box is allowed, moving farther is not
    assert check_workspace(np.array([1.5, 0.0]), np.array([2.0, 0.0]), fk, box, "reject").accepted
    assert not check_workspace(np.array([2.5, 0.0]), np.array([2.0, 0.0]), fk, box, "reject").accepted
    with pytest.raises(ConfigError):
        WorkspaceBox(np.array([0.0, 0, 0]), np.array([0.0, 1, 1]))
