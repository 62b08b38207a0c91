"""Teleoperation mapping: keyboard keys and Joy axes -> end-effector twist -> joint targets.

Twists are ``[vx, vy, vz, wx, wy, wz]`` in the robot base frame (m/s, rad/s). ``jog`` integrates a
twist over ``dt`` from the current EE pose and solves IK (PyBullet) seeded at the current joints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from ..errors import InputError

# key -> (twist axis, sign); axes 0-2 linear, 3-5 angular
KEY_BINDINGS: dict[str, tuple[int, float]] = {
    "w": (0, 1.0), "s": (0, -1.0),  # x forward / back
    "a": (1, 1.0), "d": (1, -1.0),  # y left / right
    "r": (2, 1.0), "f": (2, -1.0),  # z up / down
    "u": (3, 1.0), "o": (3, -1.0),  # roll
    "i": (4, 1.0), "k": (4, -1.0),  # pitch
    "j": (5, 1.0), "l": (5, -1.0),  # yaw
}  # fmt: skip
GRIPPER_KEYS = {"g": "close", "h": "open"}
STOP_KEYS = (" ",)
HELP = (
    "teleop keys: w/s x, a/d y, r/f z, u/o roll, i/k pitch, j/l yaw, g close / h open gripper, "
    "space stop, t take over (teleop mode), p hand back to policy"
)


@dataclass
class TeleopCommand:
    twist: np.ndarray  # (6,)
    gripper: str | None = None  # "open" / "close"
    stop: bool = False

    @property
    def moving(self) -> bool:
        return bool(np.any(self.twist != 0))


def key_to_command(key: str, linear_speed: float, angular_speed: float) -> TeleopCommand | None:
    """The command of one key press, or None for a key without a binding."""
    twist = np.zeros(6)
    k = key.lower() if len(key) == 1 else key
    if k in KEY_BINDINGS:
        axis, sign = KEY_BINDINGS[k]
        twist[axis] = sign * (linear_speed if axis < 3 else angular_speed)
        return TeleopCommand(twist)
    if k in GRIPPER_KEYS:
        return TeleopCommand(twist, gripper=GRIPPER_KEYS[k])
    if k in STOP_KEYS:
        return TeleopCommand(twist, stop=True)
    return None


@dataclass(frozen=True)
class JoyMapping:
    """Joy axis index per twist component (-1: unused), axis signs, and buttons (-1: none)."""

    axes: tuple[int, int, int, int, int, int] = (1, 0, 4, -1, -1, 3)  # Xbox-style: left stick xy, right stick
    signs: tuple[float, float, float, float, float, float] = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    deadman_button: int = 4  # LB: hold to move (-1: no deadman)
    gripper_close_button: int = 0
    gripper_open_button: int = 1


def apply_deadzone(value: float, deadzone: float) -> float:
    """0 inside the deadzone, then rescaled so the output still spans [-1, 1]."""
    if not 0 <= deadzone < 1:
        raise InputError(f"deadzone {deadzone} must be in [0, 1)")
    v = float(np.clip(value, -1.0, 1.0))
    if abs(v) <= deadzone:
        return 0.0
    return float(np.sign(v) * (abs(v) - deadzone) / (1.0 - deadzone))


def joy_to_command(
    axes: Sequence[float],
    buttons: Sequence[int],
    mapping: JoyMapping,
    deadzone: float,
    linear_speed: float,
    angular_speed: float,
) -> TeleopCommand:
    used = [i for i in (*mapping.axes,) if i >= 0]
    if used and max(used) >= len(axes):
        raise InputError(f"Joy message has {len(axes)} axes but the mapping uses axis {max(used)}: fix joy_axes")
    twist = np.zeros(6)

    def pressed(b: int) -> bool:
        return 0 <= b < len(buttons) and bool(buttons[b])

    if mapping.deadman_button < 0 or pressed(mapping.deadman_button):
        for k, (idx, sign) in enumerate(zip(mapping.axes, mapping.signs, strict=True)):
            if idx >= 0:
                twist[k] = sign * apply_deadzone(axes[idx], deadzone) * (linear_speed if k < 3 else angular_speed)
    gripper = (
        "close" if pressed(mapping.gripper_close_button) else "open" if pressed(mapping.gripper_open_button) else None
    )
    return TeleopCommand(twist, gripper=gripper)


def integrate_pose(pos, quat, twist: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """EE pose after moving with a base-frame ``twist`` for ``dt`` seconds (quat [x, y, z, w])."""
    twist = np.asarray(twist, dtype=float)
    if twist.shape != (6,) or not np.isfinite(twist).all():
        raise InputError(f"a twist must be 6 finite numbers, got {twist}")
    new_pos = np.asarray(pos, dtype=float) + twist[:3] * dt
    new_rot = Rotation.from_rotvec(twist[3:] * dt) * Rotation.from_quat(quat)
    return new_pos, new_rot.as_quat()


def jog(kinematics, q: np.ndarray, twist: np.ndarray, dt: float) -> np.ndarray:
    """Joint targets that move the EE by ``twist * dt`` (PyBullet IK seeded at ``q``)."""
    pos, quat = kinematics.fk(q)
    target_pos, target_quat = integrate_pose(pos, quat, twist, dt)
    return kinematics.ik(target_pos, target_quat, q)


def gripper_positions(action: str, n_fingers: int, max_finger: float) -> list[float]:
    if action not in ("open", "close"):
        raise InputError(f"gripper action {action!r} must be 'open' or 'close'")
    return [max_finger if action == "open" else 0.0] * n_fingers
