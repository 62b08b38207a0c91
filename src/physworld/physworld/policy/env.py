"""Gymnasium environment for object-centric residual RL (PhysWorld eq. 5-9).

One episode executes the baseline plan (:mod:`physworld.policy.baseline`) step by step. Modes:

- ``residual``: action ``a in [-1, 1]^6`` -> residual translation ``a[:3] * max_residual_pos`` and
  rotation vector ``a[3:] * max_residual_rot`` added to the planned EE pose (eq. 7); the gripper
  follows the plan (closed in the close/track phases).
- ``scratch``: RL from scratch on the same world and rewards; ``a in [-1, 1]^7`` moves the commanded
  EE pose by a bounded delta each step and ``a[6] > 0`` closes the gripper; no baseline in the
  observation.

Rewards per step: ``w_track * exp(-(|dp| / sigma_pos + angle / sigma_rot))`` between the object and
its target pose (eq. 8, bounded form), ``- w_grasp`` while the EE is farther than ``delta`` from the
object during the track phase (eq. 9), ``- w_plan`` when the IK of the commanded pose fails (the
planning penalty). Observation layout: :func:`observation_layout` (names and sizes, saved with the
policy). Non-finite observations raise :class:`NonFiniteObservation`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

from ..errors import InputError, PhysWorldError
from . import geometry as geo
from .baseline import PHASES, TRACK, BaselinePlan
from .control import ArmController, ControlConfig
from .world import ManipWorld, WorldSource

MODES = ("residual", "scratch")
SETTLE_STEPS = 10


class NonFiniteObservation(PhysWorldError):
    """The simulation produced NaN/inf state (exploded physics or a corrupt world model)."""


@dataclass(frozen=True)
class RewardConfig:
    w_track: float = 1.0
    sigma_pos: float = 0.05  # m
    sigma_rot: float = 0.5  # rad
    w_grasp: float = 0.5
    grasp_delta: float = 0.03  # m beyond the grasp point's distance from the object origin
    w_plan: float = 0.5


@dataclass(frozen=True)
class RandomizationConfig:
    """Uniform perturbations applied at every reset (training and ground-truth evaluation)."""

    mass: float = 0.2  # +- fraction of each movable object's mass
    friction: float = 0.2  # +- fraction of each movable object's lateral friction
    pos_xy: float = 0.01  # m, +- on the moved object's x and y (objects resting on it move along)
    yaw_deg: float = 5.0  # +- deg about z


@dataclass(frozen=True)
class EnvConfig:
    mode: str = "residual"
    max_residual_pos: float = 0.03  # m
    max_residual_rot: float = 0.15  # rad
    scratch_step_pos: float = 0.03  # m per step
    scratch_step_rot: float = 0.15  # rad per step
    fall_distance: float = 0.2  # m below its start: the object fell off, episode ends
    randomize: bool = True
    reward: RewardConfig = field(default_factory=RewardConfig)
    rand: RandomizationConfig = field(default_factory=RandomizationConfig)
    control: ControlConfig = field(default_factory=ControlConfig)

    def __post_init__(self):
        if self.mode not in MODES:
            raise InputError(f"env mode {self.mode!r} unknown; use one of {MODES}")


def observation_layout(mode: str) -> list[tuple[str, int]]:
    """Names and sizes of the observation vector's parts, in order (positions relative to the robot
    base, rotations as 6-D codes, time normalised to [0, 1])."""
    common = [("ee_pos", 3), ("ee_rot6", 6), ("obj_pos", 3), ("obj_rot6", 6), ("time", 1),
              ("target_pos", 3), ("target_rot6", 6)]  # fmt: skip
    derived = [("obj_minus_target", 3), ("ee_to_obj", 3), ("finger_width", 1)]
    if mode == "scratch":
        return common + derived
    baseline = [("grasp_pos", 3), ("grasp_rot6", 6), ("pregrasp_offset", 3), ("plan_ee_pos", 3),
                ("plan_ee_rot6", 6), ("ee_minus_plan", 3), ("ee_to_grasp_point", 3),
                ("phase", len(PHASES))]  # fmt: skip
    return common + baseline + derived


def layout_slices(layout: list[tuple[str, int]]) -> dict[str, list[int]]:
    out, i = {}, 0
    for name, n in layout:
        out[name] = [i, i + n]
        i += n
    return out


class PhysWorldEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(
        self, world: ManipWorld | WorldSource, plan: BaselinePlan, cfg: EnvConfig = EnvConfig(), record: bool = False
    ):
        import pybullet as p

        self.world = world.build() if isinstance(world, WorldSource) else world
        self.plan, self.cfg, self.record = plan, cfg, record
        self.ctrl = ArmController(self.world, cfg.control)
        self.base = self.world.robot.base_pose[:3].copy()
        self.layout = observation_layout(cfg.mode)
        n_obs = sum(n for _, n in self.layout)
        # positions are within metres of the robot base; 10 is a loose bound, not a clip
        self.observation_space = gym.spaces.Box(-10.0, 10.0, (n_obs,), np.float32)
        n_act = 6 if cfg.mode == "residual" else 7
        self.action_space = gym.spaces.Box(-1.0, 1.0, (n_act,), np.float32)
        self._movable = [n for n, b in self.world.bodies.items() if self.world.dynamics(n)[0] > 0]
        self._nominal = {n: self.world.dynamics(n) for n in self._movable}
        self._riders = _riders(self.world)
        # settle with the arm held at home so that the saved state carries its contact manifolds:
        # restoring it then gives bit-identical episodes for the same seed
        self.ctrl.command_joints(self.world.robot.home, False)
        for _ in range(SETTLE_STEPS):
            p.stepSimulation(physicsClientId=self.world.client)
        self._snapshot = p.saveState(physicsClientId=self.world.client)
        self._grasp_local = plan.T_obj_grasp[:3]
        self._delta = cfg.reward.grasp_delta + float(np.linalg.norm(self._grasp_local))
        self._ee_home = self.ctrl.kin.fk(self.world.robot.home)
        self.t, self.trace = 0, None

    # -- gymnasium API ---------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        import pybullet as p

        super().reset(seed=seed)
        p.restoreState(self._snapshot, physicsClientId=self.world.client)
        self.perturbation = self._perturb() if self.cfg.randomize else {}
        self.t, self._cmd, self._track_sum, self._n_ik_fail = 0, self._ee_home.copy(), 0.0, 0
        self.ctrl.command_joints(self.world.robot.home, False)
        self._obj0 = self.world.object_pose(self.world.moved)
        self.trace = {"obj": [], "ee": [], "gripper": [], "ik_ok": []} if self.record else None
        return self._observe(), {"perturbation": self.perturbation}

    def step(self, action):
        a = np.asarray(action, dtype=float).ravel()
        if a.shape != self.action_space.shape or not np.all(np.isfinite(a)):
            raise InputError(f"action must be a finite vector of shape {self.action_space.shape}, got {a}")
        a = np.clip(a, -1.0, 1.0)
        plan, t = self.plan, min(self.t, self.plan.horizon - 1)
        if self.cfg.mode == "residual":
            cmd = geo.apply_residual(plan.ee[t], a[:3] * self.cfg.max_residual_pos, a[3:6] * self.cfg.max_residual_rot)
            closed, rest, seed = bool(plan.gripper[t] > 0.5), plan.q[t], plan.q[t]
        else:
            self._cmd = geo.apply_residual(
                self._cmd, a[:3] * self.cfg.scratch_step_pos, a[3:6] * self.cfg.scratch_step_rot
            )
            self._cmd[:3] = np.clip(self._cmd[:3], self.base + [-0.2, -0.8, -0.05], self.base + [0.9, 0.8, 0.9])
            cmd, closed, rest, seed = self._cmd, bool(a[6] > 0), self.world.robot.home, None
        ik = self.ctrl.command_pose(cmd, closed, rest, seed)
        self.ctrl.step()
        self.t += 1
        obj = self.world.object_pose(self.world.moved)
        ee = self.ctrl.ee_pose()
        r_track, d_pos, d_rot = self._tracking(obj, plan.target[t])
        far = bool(plan.phase[t] == TRACK and np.linalg.norm(ee[:3] - obj[:3]) > self._delta)
        rc = self.cfg.reward
        reward = r_track - rc.w_grasp * far - rc.w_plan * (not ik.ok)
        self._track_sum += r_track
        self._n_ik_fail += not ik.ok
        if self.trace is not None:
            self.trace["obj"].append(obj)
            self.trace["ee"].append(ee)
            self.trace["gripper"].append(closed)
            self.trace["ik_ok"].append(ik.ok)
        fell = bool(obj[2] < self._obj0[2] - self.cfg.fall_distance)
        terminated = self.t >= plan.horizon or fell
        info = {"phase": PHASES[plan.phase[t]], "ik_ok": ik.ok, "pos_err": d_pos, "rot_err": d_rot, "far": far}
        if terminated:
            final = plan.target[-1]
            info.update(
                episode_tracking=self._track_sum / self.t,
                ik_failures=self._n_ik_fail,
                fell=fell,
                final_pos_err=float(np.linalg.norm(obj[:3] - final[:3])),
                final_rot_err=float(geo.rotation_angle(obj[3:], final[3:])),
            )
        return self._observe(), float(reward), terminated, False, info

    def close(self) -> None:
        self.ctrl.close()
        self.world.close()

    # -- pieces ------------------------------------------------------------------------------
    def _tracking(self, obj: np.ndarray, target: np.ndarray) -> tuple[float, float, float]:
        rc = self.cfg.reward
        d_pos = float(np.linalg.norm(obj[:3] - target[:3]))
        d_rot = float(geo.rotation_angle(obj[3:], target[3:]))
        return rc.w_track * float(np.exp(-(d_pos / rc.sigma_pos + d_rot / rc.sigma_rot))), d_pos, d_rot

    def _observe(self) -> np.ndarray:
        plan, t = self.plan, min(self.t, self.plan.horizon - 1)
        ee, obj, tgt = self.ctrl.ee_pose(), self.world.object_pose(self.world.moved), plan.target[t]
        b = self.base
        parts = {
            "ee_pos": ee[:3] - b, "ee_rot6": geo.quat_to_rot6(ee[3:]),
            "obj_pos": obj[:3] - b, "obj_rot6": geo.quat_to_rot6(obj[3:]),
            "time": [self.t / plan.horizon],
            "target_pos": tgt[:3] - b, "target_rot6": geo.quat_to_rot6(tgt[3:]),
            "obj_minus_target": obj[:3] - tgt[:3], "ee_to_obj": obj[:3] - ee[:3],
            "finger_width": [self.ctrl.finger_width()],
        }  # fmt: skip
        if self.cfg.mode == "residual":
            pe = plan.ee[t]
            parts.update({
                "grasp_pos": plan.T_obj_grasp[:3], "grasp_rot6": geo.quat_to_rot6(plan.T_obj_grasp[3:]),
                "pregrasp_offset": plan.pregrasp, "plan_ee_pos": pe[:3] - b, "plan_ee_rot6": geo.quat_to_rot6(pe[3:]),
                "ee_minus_plan": ee[:3] - pe[:3],
                "ee_to_grasp_point": geo.transform_point(obj, self._grasp_local) - ee[:3],
                "phase": np.eye(len(PHASES))[plan.phase[t]],
            })  # fmt: skip
        vec = np.concatenate([np.asarray(parts[name], float) for name, _ in self.layout]).astype(np.float32)
        if not np.all(np.isfinite(vec)):
            bad = [name for name, _ in self.layout if not np.all(np.isfinite(parts[name]))]
            raise NonFiniteObservation(
                f"non-finite observation at step {self.t} in parts {bad}: the simulation diverged or the world "
                "model is corrupt (check masses, meshes and poses of the scene bundle)"
            )
        return vec

    def _perturb(self) -> dict:
        rnd, rc = self.np_random, self.cfg.rand
        out = {}
        for name in self._movable:
            m0, f0 = self._nominal[name]
            m, f = m0 * rnd.uniform(1 - rc.mass, 1 + rc.mass), f0 * rnd.uniform(1 - rc.friction, 1 + rc.friction)
            self.world.set_dynamics(name, m, f)
            out[name] = {"mass": m, "friction": f}
        if rc.pos_xy > 0 or rc.yaw_deg > 0:
            dxy = rnd.uniform(-rc.pos_xy, rc.pos_xy, 2)
            yaw = np.deg2rad(rnd.uniform(-rc.yaw_deg, rc.yaw_deg))
            moved = self.world.object_pose(self.world.moved)
            delta = np.array([dxy[0], dxy[1], 0.0, 0, 0, np.sin(yaw / 2), np.cos(yaw / 2)])
            for name in [self.world.moved, *self._riders]:
                pose = self.world.object_pose(name)
                rel = pose.copy()
                rel[:3] -= moved[:3]
                new = geo.compose(delta, rel)
                new[:3] += moved[:3]
                self.world.set_object_pose(name, new)
            out["moved_pose_delta"] = {"xy": dxy.tolist(), "yaw_rad": float(yaw)}
        return out


def _riders(world: ManipWorld) -> list[str]:
    """Movable objects resting on/in the moved object (their centre inside its footprint, above its
    bottom): they move along when the moved object's start pose is perturbed."""
    import pybullet as p

    lo, hi = p.getAABB(world.moved_id, -1, physicsClientId=world.client)
    out = []
    for name, body in world.bodies.items():
        if name == world.moved or p.getDynamicsInfo(body, -1, physicsClientId=world.client)[0] <= 0:
            continue
        c = world.object_pose(name)[:3]
        if lo[0] <= c[0] <= hi[0] and lo[1] <= c[1] <= hi[1] and c[2] >= lo[2]:
            out.append(name)
    return out
