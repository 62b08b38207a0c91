"""ArmController core: modes, limits and watchdog combined, driven with injected time."""

from __future__ import annotations

import numpy as np
import pytest

from physworld.control.controller import ArmController
from physworld.control.limits import JointLimits, WorkspaceBox
from physworld.control.modes import Mode, ModeManager

LIM = JointLimits(("a", "b"), np.array([-1.0, -1.0]), np.array([1.0, 1.0]), np.array([1.0, 1.0]))
DT = 0.01


def make(**kw) -> ArmController:
    kw.setdefault("modes", ModeManager("policy"))
    return ArmController(LIM, DT, watchdog_timeout_s=0.1, policy_failure_timeout_s=1.0, **kw)


def run(ctrl, t0, seconds, q, stream=None):
    """Step for ``seconds``; ``stream(t)`` optionally submits each tick. Returns the last result, t, q."""
    t, res = t0, None
    for _ in range(round(seconds / DT)):
        if stream is not None:
            stream(t)
        res = ctrl.step(t, q)
        q = res.q  # a perfect position-controlled arm
        t += DT
    return res, t, q


def test_holds_until_a_command_arrives_then_moves_within_velocity_limits():
    ctrl = make()
    res = ctrl.step(0.0, np.zeros(2))
    assert res.holding and res.reason == "waiting for commands from 'policy'"
    assert any("holding position" in e for e in res.events)
    d = ctrl.submit("policy", ["a", "b"], [(0.0, [0.5, -0.2])], now=0.0)
    assert d.accepted
    q, t, prev = np.zeros(2), DT, np.zeros(2)
    for _ in range(30):
        ctrl.submit("policy", ["a", "b"], [(0.0, [0.5, -0.2])], now=t)
        res = ctrl.step(t, q)
        assert not res.holding
        assert np.all(np.abs(res.q - prev) <= LIM.max_velocity * DT + 1e-12)
        prev = q = res.q
        t += DT
    np.testing.assert_allclose(q, [0.3, -0.2], atol=1e-9)  # a: 30 ticks at 1 rad/s; b already there


def test_commands_beyond_limits_are_clamped_or_rejected_with_a_reason():
    ctrl = make()
    ctrl.step(0.0, np.zeros(2))
    d = ctrl.submit("policy", ["b", "a"], [(0.0, [0.0, 3.0])], now=0.0)
    assert d.accepted and d.clamped and "a target 3.000 above upper limit 1.000" in d.reason
    res, _, q = run(ctrl, 0.0, 1.5, np.zeros(2), stream=lambda t: ctrl.submit("policy", ["a", "b"], [(0, [3, 0])], t))
    np.testing.assert_allclose(q, [1.0, 0.0])

    strict = make(limit_mode="reject")
    strict.step(0.0, np.zeros(2))
    d = strict.submit("policy", ["a", "b"], [(0.0, [3.0, 0.0])], now=0.0)
    assert not d.accepted and "above upper limit" in d.reason
    d = strict.submit("policy", ["a", "b"], [(0.1, [0.5, 0.0])], now=0.0)
    assert not d.accepted and "a needs 5.00 > max velocity 1.00" in d.reason
    assert strict.submit("policy", ["a", "b"], [(1.0, [0.5, 0.0])], now=0.0).accepted
    bad = strict.submit("policy", ["a"], [(0.0, [0.5])], now=0.0)
    assert not bad.accepted and "lacks joints ['b']" in bad.reason
    assert "no points" in strict.submit("policy", ["a", "b"], [], now=0.0).reason
    assert "non-decreasing" in strict.submit("policy", ["a", "b"], [(1.0, [0, 0]), (0.5, [0, 0])], 0.0).reason


def test_watchdog_holds_within_200_ms_after_the_stream_stalls():
    ctrl = make()
    ctrl.step(0.0, np.zeros(2))
    stream_until = 0.5
    t, q, last_cmd, hold_at = 0.0, np.zeros(2), None, None
    while t < 1.0:
        if t < stream_until:
            target = [np.sin(t), 0.0]
            assert ctrl.submit("policy", ["a", "b"], [(0.0, target)], now=t).accepted
            last_cmd = t
        res = ctrl.step(t, q)
        if t >= stream_until and res.holding and hold_at is None:
            hold_at, hold_q = t, res.q.copy()
            assert "'policy' command stream stalled" in res.reason
        if hold_at is not None:
            assert res.holding
            np.testing.assert_allclose(res.q, hold_q)  # holds the position it had, no drift
        q = res.q
        t += DT
    assert hold_at is not None and hold_at - last_cmd <= 0.2
    assert ctrl.hold_since == pytest.approx(hold_at) and ctrl.watchdogs["policy"].last_feed == pytest.approx(last_cmd)
    assert hold_at - last_cmd > 0.1 - 1e-9  # not before the watchdog timeout
    assert ctrl.modes.mode == Mode.POLICY  # 0.5 s silence is not yet a policy failure


def test_policy_silence_beyond_failure_timeout_hands_the_arm_to_teleop():
    ctrl = make()
    ctrl.step(0.0, np.zeros(2))
    ctrl.submit("policy", ["a", "b"], [(0.0, [0.1, 0.0])], now=0.0)
    res, t, q = run(ctrl, 0.0, 1.2, np.zeros(2))
    assert ctrl.modes.mode == Mode.TELEOP
    assert not ctrl.submit("policy", ["a", "b"], [(0.0, [0.0, 0.0])], now=t).accepted
    assert ctrl.submit("teleop", ["a", "b"], [(0.0, [0.0, 0.0])], now=t).accepted
    events = []
    ctrl2 = make(modes=ModeManager("policy", fallback_to_teleop=False))
    ctrl2.step(0.0, np.zeros(2))
    ctrl2.submit("policy", ["a", "b"], [(0.0, [0.1, 0.0])], now=0.0)
    t = 0.0
    while t < 1.2:
        events += ctrl2.step(t, np.zeros(2)).events
        t += DT
    assert ctrl2.modes.mode == Mode.HOLD
    assert any("policy failure" in e for e in events)
    ctrl3 = make()
    ctrl3.report_policy_failure("reward collapsed", now=0.0)
    assert ctrl3.modes.mode == Mode.TELEOP


def test_switching_back_to_policy_after_a_long_hold_is_no_policy_failure():
    ctrl = make()
    ctrl.step(0.0, np.zeros(2))
    ctrl.submit("policy", ["a", "b"], [(0.0, [0.1, 0.0])], now=0.0)
    assert ctrl.set_mode("hold", 0.05)[0]
    run(ctrl, 0.05, 3.0, np.zeros(2))  # the policy is silent for 3 s, far beyond the 1 s failure timeout
    assert ctrl.set_mode("policy", 3.05)[0]
    res, t, q = run(ctrl, 3.05, 0.2, np.zeros(2))  # before its first new command
    assert ctrl.modes.mode == Mode.POLICY, "the stale watchdog of the old stream handed the arm to teleop"
    assert ctrl.submit("policy", ["a", "b"], [(0.0, [0.1, 0.0])], now=t).accepted
    run(ctrl, t, 1.3, q)  # ...but a policy that falls silent again still fails over
    assert ctrl.modes.mode == Mode.TELEOP


def test_estop_blocks_commands_and_needs_an_explicit_mode_after_release():
    ctrl = make()
    ctrl.step(0.0, np.zeros(2))
    ctrl.submit("policy", ["a", "b"], [(0.0, [0.5, 0.0])], now=0.0)
    res, t, q = run(ctrl, 0.0, 0.1, np.zeros(2), stream=lambda t: ctrl.submit("policy", ["a", "b"], [(0, [0.5, 0])], t))
    ctrl.e_stop(True, now=t)
    d = ctrl.submit("policy", ["a", "b"], [(0.0, [0.5, 0.0])], now=t)
    assert not d.accepted and "e-stop engaged" in d.reason
    res = ctrl.step(t, q)
    assert res.holding and "e-stop" in res.reason
    np.testing.assert_allclose(res.q, q)
    ctrl.e_stop(False, now=t)
    assert not ctrl.submit("policy", ["a", "b"], [(0.0, [0.5, 0.0])], now=t).accepted  # mode is hold
    assert ctrl.set_mode("policy", now=t)[0]
    assert ctrl.submit("policy", ["a", "b"], [(0.0, [0.5, 0.0])], now=t).accepted


def test_multi_point_trajectory_is_followed_on_time_and_keeps_the_watchdog_fed():
    ctrl = make()
    ctrl.step(0.0, np.zeros(2))
    d = ctrl.submit("policy", ["a", "b"], [(0.5, [0.2, 0.0]), (1.0, [0.2, 0.3])], now=0.0)
    assert d.accepted and not d.clamped
    res, t, q = run(ctrl, 0.0, 0.5, np.zeros(2))
    assert not res.holding
    np.testing.assert_allclose(q, [0.2, 0.0], atol=0.01)
    res, t, q = run(ctrl, t, 0.55, q)
    assert not res.holding
    np.testing.assert_allclose(q, [0.2, 0.3], atol=1e-6)
    res, t, q = run(ctrl, t, 0.15, q)
    assert res.holding and "stalled" in res.reason


def test_gripper_joints_are_split_out_and_clamped():
    ctrl = make(gripper_joints=("f1", "f2"), gripper_range=(0.0, 0.04))
    ctrl.step(0.0, np.zeros(2))
    d = ctrl.submit("policy", ["a", "b", "f1", "f2"], [(0.0, [0.0, 0.0, 0.1, 0.02])], now=0.0)
    assert d.accepted
    res = ctrl.step(0.0, np.zeros(2))
    assert res.gripper == [0.04, 0.02]
    assert ctrl.step(DT, np.zeros(2)).gripper is None  # sent once
    d = ctrl.submit("policy", ["f1"], [(0.0, [0.0])], now=DT)  # gripper only keeps the arm target
    assert d.accepted
    res = ctrl.step(2 * DT, np.zeros(2))
    assert res.gripper == [0.0, 0.0] and not res.holding


def test_workspace_box_is_enforced_through_forward_kinematics():
    box = WorkspaceBox(np.array([-0.5, -1, -1]), np.array([0.5, 1, 1]))
    ctrl = make(workspace=box, fk=lambda q: np.array([q[0], q[1], 0.0]))
    ctrl.step(0.0, np.zeros(2))
    d = ctrl.submit("policy", ["a", "b"], [(0.0, [0.9, 0.0])], now=0.0)
    assert d.accepted and "leave the workspace" in d.reason
    res, _, q = run(ctrl, 0.0, 1.0, np.zeros(2), stream=lambda t: ctrl.submit("policy", ["a", "b"], [(0, [0.9, 0])], t))
    assert q[0] == pytest.approx(0.5, abs=1e-3)
