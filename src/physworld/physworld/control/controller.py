"""ArmController core: modes + e-stop, limits and a watchdog per command source.

The ROS node feeds it commands (``submit``) and calls ``step(now, q_measured)`` at the control
rate; ``step`` returns the arm position to command now, or the hold position and why it holds.
Nothing here knows about ROS or a particular arm: time is passed in, kinematics are a callable.

Commands are trajectories: a list of ``(time_from_start_s, positions)``; a single point with
time 0 is a streaming target (reach it as fast as the velocity limits allow). The watchdog of
the source in control trips ``watchdog_timeout_s`` after its last message (or after the end of
its trajectory) and the arm holds position. A policy stream silent for
``policy_failure_timeout_s`` counts as a policy failure: the arm is handed to teleop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from .limits import JointLimits, WorkspaceBox, check_positions, check_velocity, check_workspace, order_positions
from .limits import rate_limit as rate_limit_step
from .modes import SOURCES, Mode, ModeManager
from .watchdog import Watchdog


@dataclass
class Decision:
    accepted: bool
    reason: str = ""  # why refused, or what was clamped
    clamped: bool = False


@dataclass
class StepResult:
    q: np.ndarray  # arm position to command now
    holding: bool
    reason: str = ""  # why the arm holds
    gripper: list[float] | None = None  # new gripper target to send, None = unchanged
    events: list[str] = field(default_factory=list)  # transitions worth logging once


@dataclass
class _Plan:
    waypoints: list[tuple[float, np.ndarray]]  # (absolute time, q)
    gripper: list[float] | None = None


class ArmController:
    def __init__(
        self,
        limits: JointLimits,
        period_s: float,
        *,
        watchdog_timeout_s: float = 0.1,
        policy_failure_timeout_s: float = 1.0,
        limit_mode: str = "clamp",
        workspace: WorkspaceBox | None = None,
        fk: Callable[[np.ndarray], np.ndarray] | None = None,
        modes: ModeManager | None = None,
        gripper_joints: Sequence[str] = (),
        gripper_range: tuple[float, float] = (0.0, 0.04),
    ):
        if workspace is not None and fk is None:
            raise ConfigError("a workspace box needs forward kinematics (fk)")
        if policy_failure_timeout_s < watchdog_timeout_s:
            raise ConfigError("policy_failure_timeout_s must be >= watchdog_timeout_s")
        self.limits, self.period_s, self.limit_mode = limits, float(period_s), limit_mode
        self.workspace, self.fk = workspace, fk
        self.modes = modes or ModeManager()
        self.policy_failure_timeout_s = policy_failure_timeout_s
        self.watchdogs = {s: Watchdog(watchdog_timeout_s) for s in SOURCES}
        self.gripper_joints, self.gripper_range = tuple(gripper_joints), gripper_range
        self._plans: dict[str, _Plan] = {}
        self._q_cmd: np.ndarray | None = None  # last commanded arm position
        self._hold_q: np.ndarray | None = None
        self._hold_reason = ""
        self._last_step: float | None = None
        self.hold_since: float | None = None  # time of the step that started the current hold
        self._events: list[str] = []

    # --- commands ---------------------------------------------------------------------------

    def _gripper_positions(self, names: Sequence[str], positions: Sequence[float]) -> list[float] | None:
        given = dict(zip(names, positions, strict=False))
        if not self.gripper_joints or not any(n in given for n in self.gripper_joints):
            return None
        lo, hi = self.gripper_range
        fallback = float(np.clip(next(given[n] for n in self.gripper_joints if n in given), lo, hi))
        return [float(np.clip(given.get(n, fallback), lo, hi)) for n in self.gripper_joints]

    def submit(
        self, source: str, names: Sequence[str], points: Sequence[tuple[float, Sequence[float]]], now: float
    ) -> Decision:
        """Check a command from ``source``; keep it (maybe clamped) or refuse it with the reason."""
        ok, why = self.modes.accepts(source)
        if not ok:
            return Decision(False, why)
        if not points:
            return Decision(False, "trajectory has no points")
        times = [float(t) for t, _ in points]
        if any(t < 0 for t in times) or any(b < a for a, b in zip(times, times[1:], strict=False)):
            return Decision(False, f"time_from_start must be >= 0 and non-decreasing, got {times}")
        arm_given = any(n in self.limits.names for n in names)
        gripper = self._gripper_positions(names, points[-1][1])
        if not arm_given:
            if gripper is None:
                return Decision(False, f"command names no known joint (arm: {list(self.limits.names)})")
            old = self._plans.get(source)
            self._plans[source] = _Plan(old.waypoints if old else [], gripper)
            self.watchdogs[source].feed(now)
            return Decision(True)
        if self._q_cmd is None:
            return Decision(False, "no joint state from the arm yet")
        reasons: list[str] = []
        prev, prev_t, waypoints = self._q_cmd, 0.0, []
        for t, positions in points:
            res = order_positions(names, positions, self.limits)
            if res.accepted:
                res = check_positions(res.q, self.limits, self.limit_mode)
            if res.accepted and self.workspace is not None:
                more = check_workspace(res.q, prev, self.fk, self.workspace, self.limit_mode)
                res.reasons.extend(more.reasons)
                res.q = more.q
            if res.accepted:
                duration = max(t - prev_t, self.period_s)
                vel = check_velocity(res.q, prev, duration, self.limits, self.limit_mode)
                res.reasons.extend(vel.reasons)
                res.q = vel.q
            reasons.extend(res.reasons)
            if not res.accepted:
                return Decision(False, "; ".join(reasons))
            waypoints.append((now + t, res.q))
            prev, prev_t = res.q, t
        self._plans[source] = _Plan(waypoints, gripper)
        self.watchdogs[source].feed(now, busy_until=waypoints[-1][0])
        return Decision(True, "; ".join(reasons), clamped=bool(reasons))

    # --- modes --------------------------------------------------------------------------------

    def set_mode(self, mode: str, now: float) -> tuple[bool, str]:
        ok, msg = self.modes.request(mode, now)
        if ok:
            self._plans.clear()
            # the source taking over starts with a fresh watchdog: its silence before the switch
            # (e.g. a policy that last streamed minutes ago, then 'hold') is no policy failure
            if self.modes.mode.value in self.watchdogs:
                self.watchdogs[self.modes.mode.value].reset()
            self._events.append(msg)
        return ok, msg

    def e_stop(self, engage: bool, now: float) -> str:
        if engage:
            self.modes.engage_estop(now)
            self._plans.clear()
            msg = "e-stop engaged: arm holds, all commands refused"
        else:
            self.modes.release_estop(now)
            msg = f"e-stop released; mode stays '{self.modes.mode.value}' until set_mode"
        self._events.append(msg)
        return msg

    def report_policy_failure(self, reason: str, now: float) -> Mode:
        before = self.modes.mode
        mode = self.modes.policy_failed(now, reason)
        if mode != before:
            self._plans.pop("policy", None)
            self._events.append(f"policy failure ({reason}): arm handed to '{mode.value}'")
        return mode

    # --- control loop -------------------------------------------------------------------------

    def _hold(self, q_measured: np.ndarray, reason: str) -> StepResult:
        if self._hold_q is None:
            self._hold_q = np.array(q_measured, dtype=float)
            self.hold_since = self._last_step
        if reason != self._hold_reason:
            self._events.append(f"holding position: {reason}")
            self._hold_reason = reason
        self._q_cmd = self._hold_q.copy()
        return StepResult(self._hold_q.copy(), True, reason)

    def step(self, now: float, q_measured: np.ndarray) -> StepResult:
        """The arm command for this control tick (``q_measured``: arm joints in ``limits.names`` order)."""
        q_measured = np.asarray(q_measured, dtype=float)
        dt = self.period_s if self._last_step is None else min(max(now - self._last_step, 0.0), 2 * self.period_s)
        self._last_step = now
        if self._q_cmd is None:
            self._q_cmd = q_measured.copy()
        policy_dog = self.watchdogs["policy"]
        if self.modes.mode == Mode.POLICY and policy_dog.fed and policy_dog.age(now) > self.policy_failure_timeout_s:
            policy_dog.reset()
            self.report_policy_failure(f"no command for {self.policy_failure_timeout_s:.2f} s", now)
        result = self._step(now, q_measured, dt)
        result.events, self._events = self._events, []
        return result

    def _step(self, now: float, q_measured: np.ndarray, dt: float) -> StepResult:
        modes = self.modes
        if modes.estopped:
            return self._hold(q_measured, f"e-stop engaged ({modes.estop_reason})")
        if modes.mode == Mode.HOLD:
            return self._hold(q_measured, "mode is 'hold'")
        source = modes.mode.value
        plan, dog = self._plans.get(source), self.watchdogs[source]
        if plan is None:
            return self._hold(q_measured, f"waiting for commands from '{source}'")
        if dog.stale(now):
            return self._hold(
                q_measured,
                f"'{source}' command stream stalled ({dog.age(now):.3f} s since its last command "
                f"> watchdog {dog.timeout_s:.3f} s)",
            )
        gripper, plan.gripper = plan.gripper, None
        if not plan.waypoints:  # gripper-only command
            result = self._hold(q_measured, f"'{source}' sent no arm target")
            result.gripper = gripper
            return result
        self._hold_q, self._hold_reason, self.hold_since = None, "", None
        t_wp, q_wp = next(((t, q) for t, q in plan.waypoints if t >= now), plan.waypoints[-1])
        fraction = min(1.0, dt / max(t_wp - now, dt)) if dt > 0 else 0.0
        desired = self._q_cmd + (q_wp - self._q_cmd) * fraction
        self._q_cmd = rate_limit_step(desired, self._q_cmd, dt, self.limits)
        return StepResult(self._q_cmd.copy(), False, gripper=gripper)
