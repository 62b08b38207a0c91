"""The closed loop that runs a trained policy on an arm (ROS-free; the residual_policy node is glue).

At the policy's control rate: latest arm joints + tracked object pose -> EE pose by FK ->
:meth:`PolicyRunner.act` -> IK -> joint target (+ gripper) to the arm. After the plan's horizon the
last command is held for ``settle_s`` while the scene settles, then the object's final pose is
judged against the plan's final target. The loop stops early, without sending anything more (the
arm controller's watchdog then holds the arm), on: cancel, e-stop or the arm handed to another
source, stale inputs, the overall timeout, or ``max_ik_failures`` IK failures in a row.

Failure reasons: ``cancelled``, ``e_stop``, ``timeout`` (stale or missing inputs, or out of time),
``ik``, and for a finished run that missed the target the evaluation's classification
(:func:`physworld.policy.rollout.classify`): ``grasp``, ``tracking``, ``dynamics`` (its
``planning`` class, too many IK misses, is reported as ``ik``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from . import geometry as geo
from .rollout import classify
from .runtime import PolicyRunner

REASONS = ("grasp", "tracking", "dynamics", "timeout", "cancelled", "e_stop", "ik")


@dataclass(frozen=True)
class ExecutionConfig:
    stale_timeout_s: float = 0.5
    start_timeout_s: float = 5.0
    settle_s: float = 1.0
    max_ik_failures: int = 5
    success_pos_tol: float = 0.03
    success_rot_deg: float = 20.0
    timeout_s: float = 0.0  # 0 = horizon + settle + 50 %


@dataclass
class ArmSample:
    q: np.ndarray  # (7,) arm joints
    finger_width: float  # m, both fingers
    joints_age: float  # s since the joint state arrived
    obj_pose: np.ndarray | None  # (7,) tracked object pose, world frame
    obj_age: float


class ArmLink(Protocol):
    def sample(self) -> ArmSample | None: ...  # None: no joint state yet

    def send(self, q: np.ndarray, gripper_closed: bool) -> None: ...

    def status(self) -> str: ...  # "policy", "teleop", "hold", "e_stop" or "" (unknown)


@dataclass
class ExecutionResult:
    success: bool
    failure_reason: str
    message: str
    steps: int
    final_pos_err: float = float("nan")
    final_rot_err_deg: float = float("nan")
    trace: dict = field(default_factory=dict)
    completed: bool = False  # the loop ran to the end of the horizon and the settle time (not stopped)


def judge_in_sim(res: ExecutionResult, achieved: bool, text: str) -> ExecutionResult:
    """In sim the task's own predicate (``achieved``, described by ``text``) is the judge, not the world
    model's target: a run that reached the target but left the task undone fails with ``dynamics``;
    a run that went to its end and achieved the task succeeds even if the object ends outside the
    target tolerance (the world model's target is a proxy). A stopped run (timeout, cancel, e-stop,
    IK) stays failed."""
    message = f"{res.message}; sim ground truth: {text}"
    if res.success and not achieved:
        why = "the object reached the world model's target but the task is not achieved"
        return replace(res, success=False, failure_reason="dynamics", message=f"{why}: {message}")
    if achieved and not res.success and res.completed:
        why = f"task achieved (the world model's '{res.failure_reason}' check alone would fail it)"
        return replace(res, success=True, failure_reason="", message=f"{why}: {message}")
    return replace(res, message=message)


def _fresh(s: ArmSample | None, limit: float) -> str:
    """'' when both inputs are fresh, else what is missing or stale."""
    if s is None:
        return "no joint_states received"
    if s.joints_age > limit:
        return f"joint_states are {s.joints_age:.2f} s old (> {limit:.2f} s)"
    if s.obj_pose is None:
        return "no object_pose received"
    if s.obj_age > limit:
        return f"object_pose is {s.obj_age:.2f} s old (> {limit:.2f} s)"
    return ""


def wait_for_inputs(link: ArmLink, cfg: ExecutionConfig, cancelled, clock, sleep) -> tuple[ArmSample | None, str]:
    deadline = clock() + cfg.start_timeout_s
    while True:
        s = link.sample()
        why = _fresh(s, cfg.stale_timeout_s)
        if not why:
            return s, ""
        if cancelled() or clock() > deadline:
            return None, why
        sleep(0.02)


def judge(runner: PolicyRunner, obj_model: np.ndarray, cfg: ExecutionConfig) -> tuple[bool, float, float]:
    """Success when the object (world-model frame) ends within the tolerance of the plan's final target."""
    final = runner.plan.target[-1]
    pos = float(np.linalg.norm(obj_model[:3] - final[:3]))
    rot = float(np.degrees(geo.rotation_angle(obj_model[3:], final[3:])))
    return pos <= cfg.success_pos_tol and rot <= cfg.success_rot_deg, pos, rot


def execute(
    runner: PolicyRunner,
    link: ArmLink,
    cfg: ExecutionConfig = ExecutionConfig(),
    cancelled: Callable[[], bool] = lambda: False,
    feedback: Callable[[int, float, str], None] = lambda step, err, mode: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ExecutionResult:
    """Run the policy once; see the module doc."""
    period = 1.0 / runner.control_hz
    horizon = runner.horizon
    settle = int(round(cfg.settle_s / period))
    timeout = cfg.timeout_s if cfg.timeout_s > 0 else 1.5 * (horizon + settle) * period + cfg.start_timeout_s
    t_start = clock()
    s, why = wait_for_inputs(link, cfg, cancelled, clock, sleep)
    if s is None:
        reason = "cancelled" if cancelled() else "timeout"
        return ExecutionResult(False, reason, f"cannot start: {why}", 0)
    runner.reset(s.obj_pose)
    trace = {"obj": [], "ee": [], "ik_ok": [], "gripper": []}
    ik_fails, last, t_next = 0, None, clock()

    def stop(reason: str, message: str, k: int) -> ExecutionResult:
        return ExecutionResult(False, reason, message, k, trace=trace)

    for k in range(horizon + settle):
        status = link.status()
        if cancelled():
            return stop("cancelled", f"cancelled at step {k}; the arm holds", k)
        if status == "e_stop":
            return stop("e_stop", f"e-stop engaged at step {k}; the arm holds", k)
        if status in ("teleop", "hold"):
            return stop("cancelled", f"arm_controller handed the arm to '{status}' at step {k}", k)
        if clock() - t_start > timeout:
            return stop("timeout", f"out of time ({timeout:.1f} s) at step {k}", k)
        s = link.sample()
        why = _fresh(s, cfg.stale_timeout_s)
        if why:
            return stop("timeout", f"stale input at step {k}: {why}", k)
        obj_model = runner.model_object_pose(s.obj_pose)
        if k < horizon:
            ee = runner.fk(s.q)
            cmd, closed, info = runner.act(ee, s.obj_pose, s.finger_width, k)
            jc = runner.ee_to_joints(cmd, s.q, info["rest_q"], info["seed_q"])
            ik_fails = 0 if jc.ok else ik_fails + 1
            if ik_fails >= cfg.max_ik_failures:
                return stop("ik", f"IK failed {ik_fails} steps in a row at step {k}: {jc.reason}", k)
            last = (jc.q, closed)
            trace["obj"].append(obj_model)
            trace["ee"].append(ee)
            trace["ik_ok"].append(jc.ok)
            trace["gripper"].append(closed)
        link.send(*last)
        target = runner.plan.target[min(k, horizon - 1)]
        feedback(k, float(np.linalg.norm(obj_model[:3] - target[:3])), status or "policy")
        t_next += period
        sleep(max(0.0, t_next - clock()))
    s = link.sample()
    why = _fresh(s, cfg.stale_timeout_s)
    if why:
        return stop("timeout", f"stale input at the end: {why}", horizon + settle)
    ok, pos, rot = judge(runner, runner.model_object_pose(s.obj_pose), cfg)
    reason = classify(trace, runner.plan, ok, False) or ""
    reason = "ik" if reason == "planning" else reason
    msg = (
        f"object ends {pos * 100:.1f} cm / {rot:.0f} deg from the plan's final target "
        f"(tolerance {cfg.success_pos_tol * 100:.1f} cm / {cfg.success_rot_deg:.0f} deg); "
        f"IK failed on {trace['ik_ok'].count(False)}/{horizon} steps"
    )
    return ExecutionResult(ok, reason, msg, horizon + settle, pos, rot, trace, completed=True)
