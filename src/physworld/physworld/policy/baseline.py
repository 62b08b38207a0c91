"""Baseline actions (RIGVid-style grasp + plan, PhysWorld eq. 5's ``a_base``) in the world model.

:func:`make_plan` turns the moved object's target trajectory into a per-control-step plan:

=========  =====================================================================================
phase      what the planned EE pose does
=========  =====================================================================================
approach   home -> pre-grasp, a collision-checked joint path (interpolation or RRT-Connect)
descend    pre-grasp -> grasp, straight line along the approach axis
close      hold the grasp pose, gripper closing
track      EE target = object target pose (from the video) x grasp transform ``T_obj_grasp``
release    hold the last pose, gripper opening
retreat    back off along the approach axis, then hold while the scene settles
=========  =====================================================================================

Grasp selection: antipodal proposals on the world model's object mesh, best score first; the first
one whose grasp and pre-grasp have IK solutions, are collision-free in the world model, and whose
tracked EE poses (sampled along the track) have IK solutions is used. Planning and IK failures are
recorded in ``BaselinePlan.failures``; a plan with no usable grasp has ``ok = False``.
:func:`candidate_plans` returns the plans of the first N feasible proposals; PhysWorld picks among them
by executing them in the world model (:mod:`physworld.policy.grasp_feedback`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ArtefactError, InputError
from ..io import atomic_file, atomic_write_json, read_json
from . import geometry as geo
from .control import ControlConfig, Kinematics
from .grasp import GraspConfig, GraspProposal, clear_grasps, pregrasp_offset, propose_grasps
from .planning import PlanConfig, config_free, plan_joint_path, retime, saved_state
from .world import ManipWorld

PLAN_IK_ITERATIONS = 100
PHASES = ("approach", "descend", "close", "track", "release", "retreat")
APPROACH, DESCEND, CLOSE, TRACK, RELEASE, RETREAT = range(6)


@dataclass(frozen=True)
class BaselineConfig:
    approach_s: float = 1.5
    descend_s: float = 0.75
    close_s: float = 0.5
    release_s: float = 0.4
    retreat_s: float = 0.75
    pregrasp_distance: float = 0.10  # m along -approach
    retreat_distance: float = 0.08
    time_scale: float = 1.0  # >1 slows the video's object motion down
    move_threshold: float = 0.004  # m: the object starts moving in the video when it moved this much
    max_proposals: int = 60  # proposals checked in the world model, best score first
    track_checks: int = 30  # tracked poses checked with IK per proposal
    track_tol_pos: float = 0.025  # m: a tracked pose the arm reaches this closely counts as feasible
    track_tol_rot: float = 0.3  # rad (the residual policy corrects what is left)
    release_max_tilt_deg: float = 30.0  # release only if the final target is this close to the start's tilt
    seed: int = 0


@dataclass
class BaselinePlan:
    ee: np.ndarray  # (T, 7) planned EE pose per control step
    q: np.ndarray  # (T, 7) joint configuration of the plan (IK null-space rest pose)
    gripper: np.ndarray  # (T,) 1 = closed
    phase: np.ndarray  # (T,) phase index (PHASES)
    target: np.ndarray  # (T, 7) object target pose per step
    T_obj_grasp: np.ndarray  # (7,)
    pregrasp: np.ndarray  # (3,) world offset grasp -> pre-grasp
    grasp_width: float
    control_hz: float
    ok: bool
    failures: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)

    @property
    def horizon(self) -> int:
        return len(self.ee)

    def save(self, path: str | Path) -> None:
        arrays = {k: getattr(self, k) for k in ("ee", "q", "gripper", "phase", "target", "T_obj_grasp", "pregrasp")}
        with atomic_file(path, suffix=".npz") as tmp:
            np.savez(tmp, **arrays)
        meta = dict(
            grasp_width=self.grasp_width, control_hz=self.control_hz, ok=self.ok, failures=self.failures, info=self.info
        )
        atomic_write_json(Path(path).with_suffix(".json"), meta)

    @classmethod
    def load(cls, path: str | Path) -> BaselinePlan:
        path = Path(path)
        try:
            with np.load(path) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise ArtefactError(f"{path}: cannot read the baseline plan ({exc})") from exc
        meta = read_json(path.with_suffix(".json"))
        try:
            plan = cls(**arrays, **meta)
        except TypeError as exc:
            raise ArtefactError(f"{path}: malformed baseline plan ({exc})") from exc
        if not all(np.all(np.isfinite(getattr(plan, k))) for k in ("ee", "q", "target")):
            raise ArtefactError(f"{path}: baseline plan contains non-finite values")
        return plan


def track_segment(traj: np.ndarray, threshold: float) -> np.ndarray:
    """The part of the video's object track from the frame before the object starts moving."""
    d = np.linalg.norm(traj[:, :3] - traj[0, :3], axis=1)
    ang = geo.rotation_angle(traj[:, 3:], traj[0, 3:])
    moving = np.nonzero((d > threshold) | (ang > np.deg2rad(3.0)))[0]
    if len(moving) == 0:
        raise InputError("the target trajectory never moves the object: nothing to track")
    return traj[max(0, moving[0] - 1) :]


def ik_restarts(kin, pose: np.ndarray, home: np.ndarray, n_random: int = 3, seed: int = 0):
    """IK from the home configuration, then from wrist-turned and random seeds until one succeeds
    (null space pulled toward home)."""
    rng = np.random.default_rng(seed)
    seeds = [home]
    for turn in (np.pi / 2, -np.pi / 2):
        q = home.copy()
        q[6] = np.clip(q[6] + turn, kin.robot.lower[6], kin.robot.upper[6])
        seeds.append(q)
    seeds += [rng.uniform(kin.robot.lower, kin.robot.upper) for _ in range(n_random)]
    best = None
    for q0 in seeds:
        r = kin.ik(pose, q0, home, iterations=PLAN_IK_ITERATIONS)
        if r.ok:
            return r
        if best is None or r.pos_err < best.pos_err:
            best = r
    return best


def should_release(track: np.ndarray, max_tilt_deg: float) -> bool:
    """Let go at the end only when the object ends about as upright as it started (placing); a
    poured container ends tilted in the air and is held."""
    z0 = geo.pose_to_matrix(track[0])[:3, 2]
    z1 = geo.pose_to_matrix(track[-1])[:3, 2]
    return bool(np.degrees(np.arccos(np.clip(z0 @ z1, -1.0, 1.0))) <= max_tilt_deg)


def _check_proposal(world, kin, prop: GraspProposal, obj0, track, home, cfg: BaselineConfig):
    """(q_grasp, q_pregrasp, None) or (None, None, reason)."""
    T_wg = geo.compose(obj0, prop.T_obj_grasp)
    pre = T_wg.copy()
    pre[:3] += pregrasp_offset(T_wg, cfg.pregrasp_distance)
    g = ik_restarts(kin, T_wg, home, seed=cfg.seed)
    if not g.ok:
        return None, None, "ik_grasp"
    pg = kin.ik(pre, g.q, g.q, iterations=PLAN_IK_ITERATIONS)
    if not pg.ok:
        return None, None, "ik_pregrasp"
    with saved_state(world):
        if not config_free(world, g.q):
            return None, None, "collision_grasp"
        if not config_free(world, pg.q):
            return None, None, "collision_pregrasp"
    q = g.q
    idx = np.linspace(0, len(track) - 1, min(cfg.track_checks, len(track))).astype(int)
    for i in idx:
        r = kin.ik(geo.compose(track[i], prop.T_obj_grasp), q, q, iterations=PLAN_IK_ITERATIONS)
        if not (r.pos_err <= cfg.track_tol_pos and r.rot_err <= cfg.track_tol_rot):
            return None, None, "ik_track"
        q = r.q
    return g.q, pg.q, None


def _ik_path(kin, poses: np.ndarray, q0: np.ndarray, failures: list, phase: str):
    qs, q = [], q0
    n_fail = 0
    for pose in poses:
        r = kin.ik(pose, q, q, iterations=PLAN_IK_ITERATIONS)
        n_fail += not r.ok
        q = r.q
        qs.append(q)
    if n_fail:
        failures.append(f"{phase}: IK failed on {n_fail}/{len(poses)} planned EE poses")
    return np.asarray(qs)


def make_plan(world: ManipWorld, target_traj: np.ndarray, frame_dt: float, *args, **kw) -> BaselinePlan:
    """Grasp + motion plan for tracking ``target_traj`` ((T, 7) object poses at ``frame_dt``): the
    plan of the best-scored feasible grasp proposal (the RIGVid-style baseline). The further
    arguments are :func:`candidate_plans`' (``cfg``, ``control``, ``grasp_cfg``, ``plan_cfg``)."""
    return candidate_plans(world, target_traj, frame_dt, *args, limit=1, **kw)[0]


def candidate_plans(
    world: ManipWorld,
    target_traj: np.ndarray,
    frame_dt: float,
    cfg: BaselineConfig = BaselineConfig(),
    control: ControlConfig = ControlConfig(),
    grasp_cfg: GraspConfig = GraspConfig(),
    plan_cfg: PlanConfig = PlanConfig(),
    limit: int = 1,
) -> list[BaselinePlan]:
    """Plans of the first ``limit`` feasible grasp proposals, best score first (``info["candidate"]``:
    the proposal's rank among the checked ones); ``[failed plan]`` when none is feasible."""
    target_traj = np.asarray(target_traj, float)
    if target_traj.ndim != 2 or target_traj.shape[1] != 7 or len(target_traj) < 2:
        raise InputError(f"target trajectory must be (T >= 2, 7), got {target_traj.shape}")
    if not np.all(np.isfinite(target_traj)):
        raise InputError("target trajectory contains NaN/inf")
    if limit < 1:
        raise InputError(f"limit must be >= 1, got {limit}")
    dt = 1.0 / control.control_hz
    obj0 = world.object_pose(world.moved)
    track = geo.resample_trajectory(track_segment(target_traj, cfg.move_threshold), frame_dt * cfg.time_scale, dt)
    kin = Kinematics(world.robot, control)
    home = world.robot.home
    try:
        mesh = world.meshes.get(world.moved)
        if mesh is None:
            raise InputError(f"no mesh for the moved object {world.moved!r}: grasps cannot be proposed")
        props = propose_grasps(mesh, obj0, grasp_cfg, seed=cfg.seed, robot_base=world.robot.base_pose, track=track)
        clear, n_blocked = clear_grasps(mesh, props, grasp_cfg, cfg.max_proposals, seed=cfg.seed)
        counts: dict[str, int] = {"gripper_overlaps_object": n_blocked} if n_blocked else {}
        n = {
            k: max(1, int(round(getattr(cfg, f"{k}_s") * control.control_hz)))
            for k in ("approach", "descend", "close", "release", "retreat")
        }
        info = {"n_proposals": len(props), "track_steps": len(track), "steps": n}
        plans = []
        for rank, prop in enumerate(clear):
            qg, qpg, why = _check_proposal(world, kin, prop, obj0, track, home, cfg)
            if why is not None:
                counts[why] = counts.get(why, 0) + 1
                continue
            cand_info = dict(info, rejected=dict(counts), candidate=rank)  # rejections before this candidate
            plans.append(_grasp_plan(world, kin, prop, qg, qpg, obj0, track, n, cfg, control, plan_cfg, cand_info))
            if len(plans) >= limit:
                break
        if not plans:
            info["rejected"] = counts
            failures = [
                f"grasp: none of {len(props)} antipodal proposals is reachable and collision-free "
                f"({len(clear)} checked in the world model; rejections: {counts or 'no antipodal pairs found'})"
            ]
            return [_empty_plan(world, obj0, track, control, failures, info)]
        return plans
    finally:
        kin.close()


def _grasp_plan(world, kin, prop, q_grasp, q_pre, obj0, track, n, cfg, control, plan_cfg, info) -> BaselinePlan:
    """The per-step plan of one feasible grasp: approach path, descend, close, track, release/hold."""
    failures: list[str] = []
    T_wg = geo.compose(obj0, prop.T_obj_grasp)
    off = pregrasp_offset(T_wg, cfg.pregrasp_distance)
    path, how = plan_joint_path(world, world.robot.home, q_pre, plan_cfg, seed=cfg.seed)
    info["approach_planner"] = how
    if path is None:
        failures.append(f"approach: {how}; interpolating without a collision-free guarantee")
        path = [world.robot.home, q_pre]
    q_app = retime(path, n["approach"])
    ee_app = np.array([kin.fk(q) for q in q_app])
    pre = T_wg.copy()
    pre[:3] += off
    ee_desc = geo.interpolate_poses(pre, T_wg, n["descend"])
    q_desc = _ik_path(kin, ee_desc, q_pre, failures, "descend")
    ee_close = np.repeat(T_wg[None], n["close"], axis=0)
    ee_track = np.array([geo.compose(t, prop.T_obj_grasp) for t in track])
    q_track = _ik_path(kin, ee_track, q_grasp, failures, "track")
    end = ee_track[-1]
    release = should_release(track, cfg.release_max_tilt_deg)
    info["release"] = release
    back = end.copy()
    if release:
        back[:3] -= geo.pose_to_matrix(end)[:3, 2] * cfg.retreat_distance
    n_hold = max(1, n["retreat"] // 2)
    ee_ret = np.concatenate(
        [
            geo.interpolate_poses(end, back, n["retreat"] - n_hold) if n["retreat"] > n_hold else np.zeros((0, 7)),
            np.repeat(back[None], n_hold, axis=0),
        ]
    )
    q_ret = _ik_path(kin, ee_ret, q_track[-1], failures, "retreat")
    parts = [
        (ee_app, q_app, 0, APPROACH, np.repeat(obj0[None], len(ee_app), 0)),
        (ee_desc, q_desc, 0, DESCEND, np.repeat(obj0[None], len(ee_desc), 0)),
        (ee_close, np.repeat(q_grasp[None], len(ee_close), 0), 1, CLOSE, np.repeat(obj0[None], len(ee_close), 0)),
        (ee_track, q_track, 1, TRACK, track),
        (
            np.repeat(end[None], n["release"], 0),
            np.repeat(q_track[-1:], n["release"], 0),
            int(not release),
            RELEASE,
            np.repeat(track[-1:], n["release"], 0),
        ),
        (ee_ret, q_ret, int(not release), RETREAT, np.repeat(track[-1:], len(ee_ret), 0)),
    ]
    return BaselinePlan(
        ee=np.concatenate([p[0] for p in parts]),
        q=np.concatenate([p[1] for p in parts]),
        gripper=np.concatenate([np.full(len(p[0]), p[2], float) for p in parts]),
        phase=np.concatenate([np.full(len(p[0]), p[3], np.int64) for p in parts]),
        target=np.concatenate([p[4] for p in parts]),
        T_obj_grasp=prop.T_obj_grasp,
        pregrasp=off,
        grasp_width=prop.width,
        control_hz=control.control_hz,
        ok=True,
        failures=failures,
        info=dict(info, grasp_score=prop.score),
    )


def _empty_plan(world, obj0, track, control, failures, info) -> BaselinePlan:
    """A plan that holds the arm at home for the length of the task (recorded as a failed plan)."""
    from .control import Kinematics

    T = len(track) + 40
    home = world.robot.home
    kin = Kinematics(world.robot, control)
    try:
        ee_home = kin.fk(home)
    finally:
        kin.close()
    target = np.concatenate([np.repeat(obj0[None], 40, 0), track])
    return BaselinePlan(
        ee=np.repeat(ee_home[None], T, 0), q=np.repeat(home[None], T, 0), gripper=np.zeros(T),
        phase=np.concatenate([np.full(40, APPROACH), np.full(len(track), TRACK)]).astype(np.int64), target=target,
        T_obj_grasp=np.array([0, 0, 0, 0, 0, 0, 1.0]), pregrasp=np.zeros(3), grasp_width=0.0,
        control_hz=control.control_hz, ok=False, failures=failures, info=info,
    )  # fmt: skip


def config_dict(cfg) -> dict:
    return asdict(cfg)
