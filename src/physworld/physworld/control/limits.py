"""Joint position / velocity limits and an end-effector workspace box.

Every check returns a ``LimitResult``: the target to use (clamped) or ``None`` (rejected), and the
reasons, each naming the joint or axis, the value and the limit, so the controller can log them.
``mode="clamp"`` moves a command inside the limits; ``mode="reject"`` refuses it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError

LIMIT_MODES = ("clamp", "reject")


@dataclass(frozen=True)
class JointLimits:
    names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    max_velocity: np.ndarray  # rad/s (or m/s for prismatic joints)

    def __post_init__(self) -> None:
        n = len(self.names)
        for name in ("lower", "upper", "max_velocity"):
            arr = np.asarray(getattr(self, name), dtype=float)
            if arr.shape != (n,):
                raise ConfigError(f"JointLimits.{name} must have {n} entries (one per joint), got shape {arr.shape}")
            object.__setattr__(self, name, arr)
        if len(set(self.names)) != n:
            raise ConfigError(f"JointLimits: duplicate joint names in {list(self.names)}")
        if not (self.lower < self.upper).all():
            raise ConfigError(f"JointLimits: lower must be below upper for every joint ({list(self.names)})")
        if not (self.max_velocity > 0).all():
            raise ConfigError("JointLimits: max_velocity must be positive for every joint")

    @classmethod
    def from_urdf(cls, urdf_path: str, joint_names: Sequence[str] | None = None) -> JointLimits:
        """Limits of the revolute/prismatic joints of a URDF (PyBullet parses it), in URDF order."""
        import pybullet as p

        client = p.connect(p.DIRECT)
        try:
            body = p.loadURDF(str(urdf_path), useFixedBase=True, physicsClientId=client)
            found = {}
            for j in range(p.getNumJoints(body, physicsClientId=client)):
                info = p.getJointInfo(body, j, physicsClientId=client)
                if info[2] in (p.JOINT_REVOLUTE, p.JOINT_PRISMATIC):
                    found[info[1].decode()] = (info[8], info[9], info[11])
        finally:
            p.disconnect(client)
        names = list(joint_names) if joint_names is not None else list(found)
        missing = [n for n in names if n not in found]
        if missing:
            raise ConfigError(f"{urdf_path}: joints {missing} not found; movable joints: {sorted(found)}")
        lo, hi, vel = (np.array([found[n][k] for n in names]) for k in range(3))
        return cls(tuple(names), lo, hi, vel)

    def scaled(self, velocity_scale: float, position_margin: float = 0.0) -> JointLimits:
        """Limits tightened by a margin (rad) on each side and a velocity scale in (0, 1]."""
        if not 0 < velocity_scale <= 1:
            raise ConfigError(f"velocity_scale={velocity_scale} must be in (0, 1]")
        lo, hi = self.lower + position_margin, self.upper - position_margin
        if not (lo < hi).all():
            raise ConfigError(f"position_margin={position_margin} leaves no range for some joint")
        return JointLimits(self.names, lo, hi, self.max_velocity * velocity_scale)


@dataclass(frozen=True)
class WorkspaceBox:
    """Axis-aligned box (metres, robot base frame) the end effector must stay in."""

    lower: np.ndarray
    upper: np.ndarray

    def __post_init__(self) -> None:
        lo, hi = np.asarray(self.lower, dtype=float), np.asarray(self.upper, dtype=float)
        if lo.shape != (3,) or hi.shape != (3,) or not (lo < hi).all():
            raise ConfigError(f"WorkspaceBox needs 3 lower < 3 upper bounds, got {lo.tolist()} / {hi.tolist()}")
        object.__setattr__(self, "lower", lo)
        object.__setattr__(self, "upper", hi)

    def violation(self, p: np.ndarray) -> float:
        """Distance (m) from ``p`` to the box; 0 inside."""
        p = np.asarray(p, dtype=float)
        return float(np.linalg.norm(np.maximum(self.lower - p, 0) + np.maximum(p - self.upper, 0)))

    def describe(self, p: np.ndarray) -> str:
        axes = []
        for i, ax in enumerate("xyz"):
            if p[i] < self.lower[i]:
                axes.append(f"{ax}={p[i]:.3f} < {self.lower[i]:.3f}")
            elif p[i] > self.upper[i]:
                axes.append(f"{ax}={p[i]:.3f} > {self.upper[i]:.3f}")
        return ", ".join(axes)


@dataclass
class LimitResult:
    q: np.ndarray | None  # target to use; None = rejected
    reasons: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.q is not None

    @property
    def clamped(self) -> bool:
        return self.q is not None and bool(self.reasons)


def _check_mode(mode: str) -> None:
    if mode not in LIMIT_MODES:
        raise ConfigError(f"limit mode {mode!r} must be one of {LIMIT_MODES}")


def order_positions(names: Sequence[str], positions: Sequence[float], limits: JointLimits) -> LimitResult:
    """Positions in ``limits.names`` order from a named command; all limited joints are required."""
    if len(names) != len(positions):
        return LimitResult(None, [f"{len(names)} joint names but {len(positions)} positions"])
    given = dict(zip(names, positions, strict=True))
    missing = [n for n in limits.names if n not in given]
    if missing:
        return LimitResult(None, [f"command lacks joints {missing} (expected {list(limits.names)})"])
    q = np.array([given[n] for n in limits.names], dtype=float)
    if not np.isfinite(q).all():
        bad = [n for n, v in zip(limits.names, q, strict=True) if not np.isfinite(v)]
        return LimitResult(None, [f"non-finite target for {bad}"])
    return LimitResult(q)


def check_positions(q: np.ndarray, limits: JointLimits, mode: str = "clamp") -> LimitResult:
    _check_mode(mode)
    q = np.asarray(q, dtype=float)
    reasons = []
    for i, name in enumerate(limits.names):
        if q[i] < limits.lower[i]:
            reasons.append(f"{name} target {q[i]:.3f} below lower limit {limits.lower[i]:.3f}")
        elif q[i] > limits.upper[i]:
            reasons.append(f"{name} target {q[i]:.3f} above upper limit {limits.upper[i]:.3f}")
    if reasons and mode == "reject":
        return LimitResult(None, reasons)
    return LimitResult(np.clip(q, limits.lower, limits.upper), reasons)


def check_velocity(
    q_target: np.ndarray, q_from: np.ndarray, duration_s: float, limits: JointLimits, mode: str = "clamp"
) -> LimitResult:
    """Is reaching ``q_target`` from ``q_from`` in ``duration_s`` within the velocity limits?

    In clamp mode the target is kept (the controller's per-step rate limit slows the motion down)
    and the reasons say so; in reject mode the command is refused.
    """
    _check_mode(mode)
    dq = np.abs(np.asarray(q_target, float) - np.asarray(q_from, float))
    need = dq / max(duration_s, 1e-9)
    reasons = [
        f"{name} needs {need[i]:.2f} > max velocity {limits.max_velocity[i]:.2f} (slowed down)"
        if mode == "clamp"
        else f"{name} needs {need[i]:.2f} > max velocity {limits.max_velocity[i]:.2f}"
        for i, name in enumerate(limits.names)
        if need[i] > limits.max_velocity[i] * (1 + 1e-9)
    ]
    if reasons and mode == "reject":
        return LimitResult(None, reasons)
    return LimitResult(np.asarray(q_target, float), reasons)


def rate_limit(q_target: np.ndarray, q_from: np.ndarray, dt: float, limits: JointLimits) -> np.ndarray:
    """One control step from ``q_from`` toward ``q_target`` no faster than the velocity limits."""
    step = np.clip(np.asarray(q_target) - q_from, -limits.max_velocity * dt, limits.max_velocity * dt)
    return np.asarray(q_from, dtype=float) + step


def check_workspace(
    q_target: np.ndarray,
    q_from: np.ndarray,
    fk: Callable[[np.ndarray], np.ndarray],
    box: WorkspaceBox,
    mode: str = "clamp",
    iterations: int = 12,
) -> LimitResult:
    """Keep the end effector (``fk(q)`` -> xyz) inside ``box``.

    A target is allowed if its EE is inside the box, or (when the arm already is outside) no
    farther outside than at ``q_from`` (so the arm can always move back in). Clamp mode moves as
    far as allowed along the joint-space segment from ``q_from`` (bisection).
    """
    _check_mode(mode)
    q_target, q_from = np.asarray(q_target, float), np.asarray(q_from, float)
    allowed = box.violation(fk(q_from)) + 1e-6
    p = fk(q_target)
    if box.violation(p) <= allowed:
        return LimitResult(q_target)
    reason = f"end effector would leave the workspace ({box.describe(p)})"
    if mode == "reject":
        return LimitResult(None, [reason])
    lo, hi = 0.0, 1.0
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        if box.violation(fk(q_from + mid * (q_target - q_from))) <= allowed:
            lo = mid
        else:
            hi = mid
    return LimitResult(q_from + lo * (q_target - q_from), [reason + f": stopped at {lo:.0%} of the move"])
