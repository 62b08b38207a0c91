"""Watchdog and the mode / e-stop state machine (time is injected)."""

from __future__ import annotations

import math

import pytest

from physworld.control.modes import Mode, ModeManager, parse_mode
from physworld.control.watchdog import Watchdog
from physworld.errors import ConfigError


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_watchdog_stale_before_feed_and_after_silence():
    clock = FakeClock()
    dog = Watchdog(0.1, clock=clock)
    assert dog.stale() and dog.age() == math.inf and not dog.fed
    dog.feed()
    clock.t += 0.05
    assert not dog.stale() and dog.age() == pytest.approx(0.05)
    clock.t += 0.06
    assert dog.stale()
    dog.feed(busy_until=clock.t + 1.0)  # a trajectory running for 1 s
    clock.t += 1.05
    assert not dog.stale()
    clock.t += 0.1
    assert dog.stale()
    dog.reset()
    assert not dog.fed
    with pytest.raises(ConfigError):
        Watchdog(0.0)


def test_modes_accept_only_the_source_in_control():
    m = ModeManager("hold")
    assert m.accepts("policy") == (False, "mode is 'hold', commands from 'policy' are ignored")
    assert m.request("policy", now=1.0) == (True, "mode hold -> policy")
    assert m.accepts("policy") == (True, "")
    assert not m.accepts("teleop")[0]
    assert "unknown command source" in m.accepts("joystick")[1]
    ok, msg = m.request("dance", now=2.0)
    assert not ok and "unknown control mode 'dance'" in msg
    with pytest.raises(ConfigError):
        parse_mode("fast")


def test_estop_latches_and_blocks_mode_changes_until_released():
    m = ModeManager("policy")
    m.engage_estop(now=1.0, reason="button")
    assert m.mode == Mode.HOLD and m.estopped
    assert m.accepts("policy") == (False, "e-stop engaged (button)")
    ok, msg = m.request("teleop", now=2.0)
    assert not ok and "release it" in msg
    m.release_estop(now=3.0)
    assert m.mode == Mode.HOLD  # no automatic resume
    assert m.request("teleop", now=4.0)[0]
    assert [t.reason for t in m.history][:1] == ["e-stop: button"]


def test_policy_failure_hands_over_to_teleop_or_holds():
    m = ModeManager("policy", fallback_to_teleop=True)
    assert m.policy_failed(1.0, "crashed") == Mode.TELEOP
    assert m.history[-1].reason == "policy failure: crashed"
    m2 = ModeManager("policy", fallback_to_teleop=False)
    assert m2.policy_failed(1.0, "crashed") == Mode.HOLD
    m3 = ModeManager("teleop")
    assert m3.policy_failed(1.0, "late report") == Mode.TELEOP and not m3.history
