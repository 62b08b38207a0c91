"""Run a trained residual policy on a robot (sim or real) from measured state, without the world model.

:class:`PolicyRunner` loads a policy directory (:func:`physworld.policy.train.load_policy`) and, each
control step, turns the measured EE pose, the tracked object pose and the finger opening into the
SAME observation the policy was trained on (:func:`physworld.policy.env.assemble_observation`) and
the action into an EE command (:func:`physworld.policy.env.command_from_action`); :meth:`ee_to_joints`
solves the IK with the training's seeds, rest poses and tolerances (:class:`physworld.policy.control.
Kinematics`, the Panda in a private PyBullet DIRECT client). Nothing here talks to ROS.

Object frames: a pose tracker reports the object in ITS frame (the sim's stand-in reports the body's
inertial frame), the policy was trained in the world model's object frame. Both are z-up frames at
the object's centre of mass, but a box-fit convention may turn them by a multiple of 90 deg about
the vertical. :func:`frame_offset` finds that turn once, at :meth:`PolicyRunner.reset`, from the
first tracked pose and the model's start pose (the plan's first target); positions are never
shifted, so a real displacement of the object stays visible to the policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ..errors import ArtefactError, InputError
from . import geometry as geo
from .baseline import PHASES
from .control import Kinematics
from .env import assemble_observation, command_from_action, observation_layout
from .train import env_config_from_meta, load_policy
from .world import default_robot_base

TILT_LIMIT = np.deg2rad(20.0)  # tracked vs model start tilt beyond this: frames are not both z-up


@dataclass
class JointCommand:
    q: np.ndarray  # (7,) arm joints (best effort, within the joint limits, even when ok is False)
    ok: bool
    reason: str  # "" when ok; what failed otherwise
    pos_err: float  # m, FK(q) vs the commanded pose
    rot_err: float  # rad


def _yaw(q: np.ndarray) -> float:
    x, y, z, w = q
    return float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))


def frame_offset(tracked0: np.ndarray, model0: np.ndarray, snap_deg: float = 90.0) -> np.ndarray:
    """Quaternion ``R_off`` with ``R_model = R_tracked * R_off``: the turn about the object's vertical
    between the tracker's and the world model's object frame, snapped to a multiple of ``snap_deg``
    (so a small real yaw error is NOT absorbed). Raises :class:`InputError` when the two disagree on
    which way is up by more than 20 deg (the tracker is not reporting a z-up object frame)."""
    tracked0, model0 = np.asarray(tracked0, float), np.asarray(model0, float)
    rel = geo.quat_mul(geo.quat_conj(tracked0[3:7]), model0[3:7])  # tracked frame -> model frame
    up = geo.quat_rotate(rel, np.array([0.0, 0.0, 1.0]))
    tilt = float(np.arccos(np.clip(up[2], -1.0, 1.0)))
    if tilt > TILT_LIMIT:
        raise InputError(
            f"tracked object frame is tilted {np.degrees(tilt):.0f} deg from the world model's object frame at the "
            "start; the pose tracker must report a z-up frame at the object's centre of mass"
        )
    step = np.deg2rad(snap_deg)
    yaw = step * round(_yaw(rel) / step) if snap_deg > 0 else _yaw(rel)
    return geo.canonical_quat(np.array([0.0, 0.0, np.sin(yaw / 2), np.cos(yaw / 2)]))


def robot_base_from_meta(meta: dict) -> np.ndarray:
    """Robot base pose (pose7, world) of the world the policy was trained in: the bundle's
    ``meta.robot_base`` when the bundle is readable, else the task suite's default base."""
    src = meta.get("world_source") or {}
    if src.get("kind") == "bundle" and src.get("path") and Path(src["path"], "scene.json").is_file():
        from ..bundle import load_bundle
        from .world import robot_base_of

        return robot_base_of(load_bundle(src["path"]))
    return default_robot_base()


class PolicyRunner:
    """A trained policy as a controller: ``reset(obj_pose)``, then ``act(...)`` once per control step."""

    def __init__(self, policy_dir: str | Path, base_pose: np.ndarray | None = None, deterministic: bool = True):
        policy_dir = Path(policy_dir)
        if not (policy_dir / "policy.json").is_file():
            raise ArtefactError(f"{policy_dir}: no trained policy here (policy.json missing); train one first")
        self.model, self.meta, self.plan = load_policy(policy_dir)
        self.policy_dir, self.deterministic = policy_dir, deterministic
        self.env_cfg = env_config_from_meta(self.meta)
        self.mode = self.env_cfg.mode
        self.layout = observation_layout(self.mode)
        if [list(x) for x in self.layout] != [list(x) for x in self.meta["observation"]["layout"]]:
            raise ArtefactError(
                f"{policy_dir}: policy was trained on observation layout {self.meta['observation']['layout']}, "
                f"this code builds {self.layout}; retrain the policy"
            )
        self.base = np.asarray(robot_base_from_meta(self.meta) if base_pose is None else base_pose, float)
        self.kin = Kinematics(SimpleNamespace(base_pose=self.base), self.env_cfg.control)
        self.home = np.asarray(self.kin.robot.home, float)
        self.offset = np.array([0.0, 0, 0, 1])
        self._cmd = self.kin.fk(self.home)

    @property
    def control_hz(self) -> float:
        return float(self.env_cfg.control.control_hz)

    @property
    def horizon(self) -> int:
        return self.plan.horizon

    def reset(self, obj_pose: np.ndarray | None = None) -> None:
        """Start an episode; ``obj_pose`` (the first tracked pose) fixes the tracker -> model frame turn."""
        self._cmd = self.kin.fk(self.home)
        self.offset = np.array([0.0, 0, 0, 1]) if obj_pose is None else frame_offset(obj_pose, self.plan.target[0])

    def model_object_pose(self, tracked: np.ndarray) -> np.ndarray:
        """A tracked object pose expressed in the world model's object frame."""
        tracked = np.asarray(tracked, float)
        return np.concatenate([tracked[:3], geo.canonical_quat(geo.quat_mul(tracked[3:7], self.offset))])

    def observation(self, ee_pose: np.ndarray, obj_pose: np.ndarray, finger_width: float, t: int) -> np.ndarray:
        return assemble_observation(
            self.plan, t, self.mode, self.base, ee_pose, self.model_object_pose(obj_pose), finger_width, self.layout
        )

    def act(
        self, ee_pose: np.ndarray, obj_pose: np.ndarray, finger_width: float, t: int
    ) -> tuple[np.ndarray, bool, dict]:
        """EE command pose (7), gripper closed?, info (observation, action, phase, rest/seed joints) for
        control step ``t`` (0-based; steps past the plan's horizon hold its last step)."""
        for name, v, n in (("ee_pose", ee_pose, 7), ("obj_pose", obj_pose, 7)):
            v = np.asarray(v, float)
            if v.shape != (n,) or not np.all(np.isfinite(v)):
                raise InputError(f"{name} must be a finite pose [x y z qx qy qz qw], got {v}")
        if t < 0:
            raise InputError(f"control step t must be >= 0, got {t}")
        obs = self.observation(ee_pose, obj_pose, finger_width, t)
        action, _ = self.model.predict(obs, deterministic=self.deterministic)
        a = np.clip(np.asarray(action, float).ravel(), -1.0, 1.0)
        cmd, closed, rest, seed = command_from_action(a, self.plan, t, self.env_cfg, self._cmd, self.base, self.home)
        if self.mode == "scratch":
            self._cmd = cmd
        k = min(t, self.horizon - 1)
        info = {"obs": obs, "action": a, "phase": PHASES[self.plan.phase[k]], "rest_q": rest, "seed_q": seed,
                "target": self.plan.target[k]}  # fmt: skip
        return cmd, closed, info

    def fk(self, q: np.ndarray) -> np.ndarray:
        """EE pose (world frame) of arm joints ``q``."""
        return self.kin.fk(np.asarray(q, float))

    def ee_to_joints(self, pose: np.ndarray, q_current: np.ndarray, rest_q=None, seed_q=None) -> JointCommand:
        """IK as in training (seed ``seed_q``, default ``q_current``; null space toward ``rest_q``); a
        solution off the command by more than the control config's tolerances is ``ok = False`` with
        the reason (the best-effort joints are still returned, as the training env commands them)."""
        seed = np.asarray(q_current if seed_q is None else seed_q, float)
        res = self.kin.ik(np.asarray(pose, float), seed, rest_q)
        c = self.env_cfg.control
        reason = "" if res.ok else (
            f"IK misses the command by {res.pos_err * 100:.1f} cm / {np.degrees(res.rot_err):.0f} deg "
            f"(tolerance {c.ik_pos_tol * 100:.1f} cm / {np.degrees(c.ik_rot_tol):.0f} deg)"
        )  # fmt: skip
        return JointCommand(res.q, res.ok, reason, res.pos_err, res.rot_err)

    def close(self) -> None:
        self.kin.close()
