"""Gymnasium environment for object-centric residual RL (PhysWorld eq. 5-9).

One episode executes the baseline plan (:mod:`physworld.policy.baseline`) step by step. Modes:

- ``residual``: action ``a in [-1, 1]^6`` -> residual translation ``a[:3] * max_residual_pos`` and
  rotation vector ``a[3:] * max_residual_rot`` added to the planned EE pose (eq. 7); the gripper
  follows the plan (closed in the close/track phases).
- ``scratch``: RL from scratch on the same world and rewards; ``a in [-1, 1]^7`` moves the commanded
  EE pose by a bounded delta each step and ``a[6] > 0`` closes the gripper; no baseline in the
  observation.

Rewards per step: ``w_track * exp(-(|dp| / sigma_pos + angle / sigma_rot))`` between the object and
its target pose (eq. 8, bounded form); ``- w_grasp * min(1, d / delta)`` with ``d`` the distance
from the EE to the object's grasp point (the grasp proposal carried by the object's current pose)
while grasping and holding (close and track phases) -- eq. 9 with the indicator softened below
``delta`` so that a 1 cm misalignment is already felt; ``- w_plan`` when the IK of the commanded
pose fails (the planning penalty). Observation layout: :func:`observation_layout` (names and sizes, saved with the
policy). Non-finite observations raise :class:`NonFiniteObservation`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

from ..errors import InputError, PhysWorldError
from . import geometry as geo
from .baseline import CLOSE, PHASES, TRACK, BaselinePlan
from .control import ArmController, ControlConfig
from .world import ManipWorld, WorldSource

MODES = ("residual", "scratch")
SETTLE_STEPS = 10


class NonFiniteObservation(PhysWorldError):
    """The simulation produced NaN/inf state (exploded physics or a corrupt world model)."""


@dataclass(frozen=True)
class RewardConfig:
    w_track: float = 1.0
    sigma_pos: float = 0.02  # m: 1 cm off -> 0.61, 2 cm -> 0.37 (sensitive at the scale of the tasks' tolerances)
    sigma_rot: float = 0.3  # rad
    w_grasp: float = 0.5
    grasp_delta: float = 0.03  # m: EE farther than this from the object's grasp point = not holding it
    w_plan: float = 0.5


@dataclass(frozen=True)
class RandomizationConfig:
    """Uniform perturbations applied at every reset (training and ground-truth evaluation)."""

    mass: float = 0.2  # +- fraction of each movable object's mass
    friction: float = 0.2  # +- fraction of each movable object's lateral friction
    pos_xy: float = 0.01  # m, +- on the moved object's x and y (objects resting on it move along)
    yaw_deg: float = 5.0  # +- deg about z

    def __post_init__(self):
        vals = {"mass": self.mass, "friction": self.friction, "pos_xy": self.pos_xy, "yaw_deg": self.yaw_deg}
        bad = {k: v for k, v in vals.items() if not (np.isfinite(v) and v >= 0)}
        if bad:
            raise InputError(f"perturbation ranges must be finite and >= 0, got {bad}")
        if self.mass >= 1 or self.friction >= 1:
            raise InputError(f"mass and friction perturbations are fractions below 1, got {self.mass}, {self.friction}")
        if self.pos_xy > 0.1 or self.yaw_deg > 180:
            raise InputError(f"start perturbation at most 0.1 m and 180 deg, got {self.pos_xy} m, {self.yaw_deg} deg")


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
    base in metres, rotations as 6-D codes, time normalised to [0, 1]; the difference vectors in
    ``SCALED`` are multiplied by ``ERROR_SCALE``)."""
    common = [("ee_pos", 3), ("ee_rot6", 6), ("obj_pos", 3), ("obj_rot6", 6), ("time", 1),
              ("target_pos", 3), ("target_rot6", 6)]  # fmt: skip
    derived = [("obj_minus_target", 3), ("ee_to_obj", 3), ("finger_width", 1)]
    if mode == "scratch":
        return common + derived
    baseline = [("grasp_pos", 3), ("grasp_rot6", 6), ("pregrasp_offset", 3), ("plan_ee_pos", 3),
                ("plan_ee_rot6", 6), ("ee_minus_plan", 3), ("ee_to_grasp_point", 3),
                ("phase", len(PHASES))]  # fmt: skip
    return common + baseline + derived


# error features are small (cm); scaled so that 5 cm reads as 1.0 for the network
ERROR_SCALE = 20.0
SCALED = ("obj_minus_target", "ee_to_obj", "ee_minus_plan", "ee_to_grasp_point")


def layout_slices(layout: list[tuple[str, int]]) -> dict[str, list[int]]:
    out, i = {}, 0
    for name, n in layout:
        out[name] = [i, i + n]
        i += n
    return out


def assemble_observation(
    plan: BaselinePlan,
    step: int,
    mode: str,
    base: np.ndarray,
    ee: np.ndarray,
    obj: np.ndarray,
    finger_width: float,
    layout: list[tuple[str, int]] | None = None,
) -> np.ndarray:
    """The policy's observation (eq. 6) at control step ``step`` of ``plan`` from the measured state:
    EE pose and moved-object pose (pose7, world frame), finger opening (m) and the robot base pose
    ``base`` (its position is subtracted). Shared by :class:`PhysWorldEnv` and the policy runtime
    (``physworld.policy.runtime``), so a deployed policy sees exactly what it was trained on."""
    layout = observation_layout(mode) if layout is None else layout
    t = min(step, plan.horizon - 1)
    ee, obj, tgt, b = np.asarray(ee, float), np.asarray(obj, float), plan.target[t], np.asarray(base, float)[:3]
    parts = {
        "ee_pos": ee[:3] - b, "ee_rot6": geo.quat_to_rot6(ee[3:]),
        "obj_pos": obj[:3] - b, "obj_rot6": geo.quat_to_rot6(obj[3:]),
        "time": [step / plan.horizon],
        "target_pos": tgt[:3] - b, "target_rot6": geo.quat_to_rot6(tgt[3:]),
        "obj_minus_target": obj[:3] - tgt[:3], "ee_to_obj": obj[:3] - ee[:3],
        "finger_width": [finger_width],
    }  # fmt: skip
    if mode == "residual":
        pe = plan.ee[t]
        parts.update({
            "grasp_pos": plan.T_obj_grasp[:3], "grasp_rot6": geo.quat_to_rot6(plan.T_obj_grasp[3:]),
            "pregrasp_offset": plan.pregrasp, "plan_ee_pos": pe[:3] - b, "plan_ee_rot6": geo.quat_to_rot6(pe[3:]),
            "ee_minus_plan": ee[:3] - pe[:3],
            "ee_to_grasp_point": geo.transform_point(obj, plan.T_obj_grasp[:3]) - ee[:3],
            "phase": np.eye(len(PHASES))[plan.phase[t]],
        })  # fmt: skip
    for name in SCALED:
        if name in parts:
            parts[name] = ERROR_SCALE * np.asarray(parts[name], float)
    vec = np.concatenate([np.asarray(parts[name], float) for name, _ in layout]).astype(np.float32)
    if not np.all(np.isfinite(vec)):
        bad = [name for name, _ in layout if not np.all(np.isfinite(parts[name]))]
        raise NonFiniteObservation(
            f"non-finite observation at step {step} in parts {bad}: the simulation diverged or the world "
            "model is corrupt (check masses, meshes and poses of the scene bundle)"
        )
    return vec


def command_from_action(
    action: np.ndarray,
    plan: BaselinePlan,
    step: int,
    cfg: EnvConfig,
    prev_cmd: np.ndarray | None,
    base: np.ndarray,
    home_q: np.ndarray,
):
    """The EE command of a (clipped) action at control step ``step``: ``(pose7, gripper_closed,
    ik_rest_q, ik_seed_q)``; ``ik_seed_q`` None = seed the IK at the current joints. Residual mode adds
    the scaled action to the planned EE pose (eq. 7) with the plan's gripper; scratch mode moves
    ``prev_cmd`` (the last command) by a bounded delta. Shared by the env and the policy runtime."""
    a = np.asarray(action, dtype=float)
    t = min(step, plan.horizon - 1)
    if cfg.mode == "residual":
        cmd = geo.apply_residual(plan.ee[t], a[:3] * cfg.max_residual_pos, a[3:6] * cfg.max_residual_rot)
        return cmd, bool(plan.gripper[t] > 0.5), plan.q[t], plan.q[t]
    b = np.asarray(base, float)[:3]
    cmd = geo.apply_residual(prev_cmd, a[:3] * cfg.scratch_step_pos, a[3:6] * cfg.scratch_step_rot)
    cmd[:3] = np.clip(cmd[:3], b + [-0.2, -0.8, -0.05], b + [0.9, 0.8, 0.9])
    return cmd, bool(a[6] > 0), home_q, None


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
        home = self.world.robot.home
        cmd, closed, rest, seed = command_from_action(a, plan, self.t, self.cfg, self._cmd, self.base, home)
        if self.cfg.mode == "scratch":
            self._cmd = cmd
        ik = self.ctrl.command_pose(cmd, closed, rest, seed)
        self.ctrl.step()
        self.t += 1
        obj = self.world.object_pose(self.world.moved)
        ee = self.ctrl.ee_pose()
        r_track, d_pos, d_rot = self._tracking(obj, plan.target[t])
        rc = self.cfg.reward
        d_grasp = float(np.linalg.norm(geo.transform_point(obj, self._grasp_local) - ee[:3]))
        grasping = plan.phase[t] in (CLOSE, TRACK)
        far = bool(grasping and d_grasp > rc.grasp_delta)
        r_grasp = -rc.w_grasp * min(1.0, d_grasp / rc.grasp_delta) if grasping else 0.0
        reward = r_track + r_grasp - rc.w_plan * (not ik.ok)
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
        return assemble_observation(
            self.plan, self.t, self.cfg.mode, self.base, self.ctrl.ee_pose(),
            self.world.object_pose(self.world.moved), self.ctrl.finger_width(), self.layout,
        )  # fmt: skip

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


def run_episode(env: PhysWorldEnv, act, seed: int) -> tuple[float, dict]:
    """One episode from ``env.reset(seed=seed)`` with ``act(obs) -> action``: (return, last step's info,
    which carries the episode summary: ``episode_tracking``, ``final_pos_err``, ``final_rot_err``)."""
    obs, _ = env.reset(seed=seed)
    total, done, info = 0.0, False, {}
    while not done:
        obs, r, done, _, info = env.step(act(obs))
        total += r
    return total, info


def _riders(world: ManipWorld) -> list[str]:
    """Movable objects resting on/in the moved object (their centre inside its footprint, above its
    bottom): they move along when the moved object's start pose is perturbed."""
    import pybullet as p

    from ..sim.assets import body_aabb

    lo, hi = body_aabb(world.client, world.moved_id)
    out = []
    for name, body in world.bodies.items():
        if name == world.moved or p.getDynamicsInfo(body, -1, physicsClientId=world.client)[0] <= 0:
            continue
        c = world.object_pose(name)[:3]
        if lo[0] <= c[0] <= hi[0] and lo[1] <= c[1] <= hi[1] and c[2] >= lo[2]:
            out.append(name)
    return out
