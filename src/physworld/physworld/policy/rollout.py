"""One evaluation rollout in the ground-truth sim, and the failure classification (Fig. 6).

The policy (or the zero residual = the open-loop grasp+plan baseline) runs in the ground-truth task
scene; the arm then holds its last command while the scene settles, and the task's own success
predicate decides. Failed rollouts get ONE reason, checked in this order:

``planning``        the baseline found no feasible grasp, or IK failed on > 20 % of the steps
                    while the object was still in the hand (IK misses after it was lost are
                    the grasp's consequence, not its cause: pour_fish lost its pan at the tilt,
                    then missed the unreachable poses of the pour it no longer held)
``reconstruction``  the world model is off: its moved object's box centre (the world-axis box of the
                    object at its start pose) starts > 2 cm from the true
                    one, or its target motion ends > 3 cm / 20 deg from the true (scripted) motion's
                    end; or the baseline found no grasp in the world model but does in the oracle
``grasp``           the object is not in the hand at the end of the track phase (never grasped,
                    dropped, or it fell off)
``tracking``        held, but at the end of the track phase the object is farther than 3 cm / 20 deg
                    from the world model's final target
``dynamics``        tracked to the target, yet the task failed afterwards (slid, tipped, the poured
                    items missed)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from . import geometry as geo
from .baseline import TRACK, BaselinePlan
from .env import PhysWorldEnv

REASONS = ("planning", "reconstruction", "grasp", "tracking", "dynamics")


@dataclass(frozen=True)
class FailureRule:
    hold_dist: float = 0.03  # m beyond the grasp offset: EE this close to the grasp point = held
    track_pos: float = 0.03  # m
    track_rot_deg: float = 20.0
    ik_fail_fraction: float = 0.2
    recon_start_pos: float = 0.02  # m
    recon_end_pos: float = 0.03  # m
    recon_end_rot_deg: float = 20.0


def start_box_centre(vertices: np.ndarray, start_pose: np.ndarray) -> np.ndarray:
    """The centre of the WORLD-axis bounding box of an object's mesh (``vertices`` in its own frame) at
    ``start_pose``, expressed in the object's frame. Unlike the box centre in the object's own axes, it
    is the same point of the object whatever its frame (a reconstructed pan's frame turned 25 deg from
    the true one moved its own-axis box centre by 2.6 cm)."""
    T = geo.pose_to_matrix(start_pose)
    world = np.asarray(vertices, float) @ T[:3, :3].T + T[:3, 3]
    centre = 0.5 * (world.min(axis=0) + world.max(axis=0))
    return geo.transform_point(geo.inverse(start_pose), centre)


def reconstruction_gap(
    model_traj: np.ndarray,
    model_centre: np.ndarray,
    true_traj: np.ndarray,
    true_centre: np.ndarray,
    rule: FailureRule = FailureRule(),
) -> dict:
    """How far the world model's moved object and its target motion are from the truth, independent
    of how each defines its object frame. ``*_traj``: (T, 7) poses (row 0 = start); ``*_centre``: a
    point of the object in its own frame, the same point for both (:func:`start_box_centre`). Start
    error = distance of the two world-frame centres; end error = the true start centre carried by the
    model's world-frame motion vs by the true motion (position), and the angle between the two
    motions' rotations."""

    def world_motion(traj):
        return geo.compose(traj[-1], geo.inverse(traj[0]))

    c_model = geo.transform_point(model_traj[0], model_centre)
    c_true = geo.transform_point(true_traj[0], true_centre)
    start = float(np.linalg.norm(c_model - c_true))
    m_model, m_true = world_motion(model_traj), world_motion(true_traj)
    end_pos = float(np.linalg.norm(geo.transform_point(m_model, c_true) - geo.transform_point(m_true, c_true)))
    end_rot = float(np.degrees(geo.rotation_angle(m_model[3:], m_true[3:])))
    flagged = start > rule.recon_start_pos or end_pos > rule.recon_end_pos or end_rot > rule.recon_end_rot_deg
    return {"start_pos_err_m": start, "end_pos_err_m": end_pos, "end_rot_err_deg": end_rot, "flagged": bool(flagged)}


def classify(
    trace: dict, plan: BaselinePlan, success: bool, recon_flagged: bool, rule: FailureRule = FailureRule()
) -> str | None:
    """The failure reason of a finished rollout (None on success); see the module doc."""
    if success:
        return None
    n = len(trace["obj"])
    if not plan.ok:
        return "reconstruction" if recon_flagged else "planning"
    track_idx = np.nonzero(plan.phase[:n] == TRACK)[0]
    lost = next((int(k) for k in track_idx if not _held(trace, plan, k, rule)), n)
    if n and np.count_nonzero(~np.asarray(trace["ik_ok"], bool)[:lost]) > rule.ik_fail_fraction * n:
        return "planning"
    if recon_flagged:
        return "reconstruction"
    if len(track_idx) == 0:
        return "grasp"  # the episode ended (object fell) before the track phase
    k = track_idx[-1]
    if not _held(trace, plan, k, rule) or n < plan.horizon:
        return "grasp"
    obj, target = np.asarray(trace["obj"][k]), plan.target[k]
    if (
        np.linalg.norm(obj[:3] - target[:3]) > rule.track_pos
        or np.degrees(geo.rotation_angle(obj[3:], target[3:])) > rule.track_rot_deg
    ):
        return "tracking"
    return "dynamics"


def _held(trace: dict, plan: BaselinePlan, k: int, rule: FailureRule) -> bool:
    """At step ``k`` the EE is within ``rule.hold_dist`` of the object's grasp point (it is in the hand)."""
    grasp_point = geo.transform_point(np.asarray(trace["obj"][k]), plan.T_obj_grasp[:3])
    return bool(np.linalg.norm(grasp_point - np.asarray(trace["ee"][k])[:3]) <= rule.hold_dist)


def run_rollout(env: PhysWorldEnv, policy, seed: int, settle_s: float = 1.0) -> dict:
    """Run one episode with ``policy(obs) -> action`` (None = zero residual, the baseline), let the
    scene settle, and return the trace, timings and success (``env.world.owner.is_success()``)."""
    obs, info = env.reset(seed=seed)
    perturbation = info["perturbation"]
    done, steps, t_policy = False, 0, 0.0
    zero = np.zeros(env.action_space.shape, np.float32)
    ep_info: dict = {}
    while not done:
        if policy is None:
            action = zero
        else:
            t0 = time.perf_counter()
            action = policy(obs)
            t_policy += time.perf_counter() - t0
        obs, _, done, _, ep_info = env.step(action)
        steps += 1
    for _ in range(max(0, int(round(settle_s * env.cfg.control.control_hz)))):
        env.ctrl.step()
    owner = env.world.owner
    success = bool(owner.is_success()) if owner is not None and hasattr(owner, "is_success") else False
    return {
        "seed": int(seed),
        "success": success,
        "steps": steps,
        "trace": env.trace,
        "policy_ms_per_step": 1e3 * t_policy / steps if policy is not None else 0.0,
        "tracking": float(ep_info.get("episode_tracking", np.nan)),
        "final_pos_err_m": float(ep_info.get("final_pos_err", np.nan)),
        "ik_failures": int(ep_info.get("ik_failures", 0)),
        "perturbation": perturbation,
    }
