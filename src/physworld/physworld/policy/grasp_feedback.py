"""Grasp selection with physical feedback from the world model (PhysWorld III-B).

The RIGVid-style baseline takes the best-scored grasp proposal that is reachable and collision-free.
Whether the object then stays in the hand (a pan pinched at its rim turns in the fingers when it is
lifted; a deeper pinch of the same wall holds it) is a question of dynamics that the score cannot
answer, and the residual's bounded corrections (3 cm, 0.15 rad) cannot move the grasp far enough to
fix it. The physical world model can answer it: :func:`select_grasp` executes the plans of the first
``candidates`` feasible proposals in the world model (baseline actions, no residual, perturbed like the
training episodes) and keeps the one with the highest mean episode return (the RL reward of
:mod:`physworld.policy.env`: object tracking, grasp, planning penalty), but only when that return is
higher than the best-scored grasp's by more than ``min_gain`` per step (:func:`chosen_index`);
otherwise the baseline's grasp stays. The residual policy is then trained on that plan.
``candidates=1`` is the baseline's choice.

Why a margin: the world model is a reconstruction, accurate to a few millimetres (docs/policy.md),
and a 2.5 mm difference in how the object follows its track moves the tracking reward by about 0.05
per step. Among 8 grasps that all hold the object, the highest return is then as likely an error of
the world model as a better grasp (stack_block: 33.8 against 33.1 over ~100 steps for a grasp that
places the block worse); a grasp that holds where the baseline's drops the object wins by 0.1-0.4
per step (pour_fish, pour_tomato, water_flowers).

Every candidate's numbers are kept in ``plan.info["grasp_selection"]`` (saved with the plan and the
policy), so the choice can be audited.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .baseline import BaselinePlan
from .env import EnvConfig, PhysWorldEnv, run_episode
from .world import WorldSource

SELECTION_SEED = 30000  # episode seeds of the selection (training uses its own, evaluation 10000+)


@dataclass(frozen=True)
class GraspSelectionConfig:
    candidates: int = 8  # feasible grasp proposals planned and executed in the world model (1 = baseline's)
    episodes: int = 3  # world-model episodes per candidate, perturbed like training
    min_gain: float = 0.05  # mean return per step a grasp must gain over the baseline's to replace it

    def __post_init__(self):
        if self.candidates < 1 or self.episodes < 1 or not self.min_gain >= 0:
            raise InputError(f"grasp selection needs candidates >= 1, episodes >= 1 and min_gain >= 0, got {self}")


def world_model_return(source: WorldSource, plan: BaselinePlan, env_cfg: EnvConfig, episodes: int) -> dict:
    """Mean episode return, tracking reward and final object error of the plan's baseline actions."""
    env = PhysWorldEnv(source, plan, dataclasses.replace(env_cfg, mode="residual"))
    zero = np.zeros(env.action_space.shape, np.float32)
    rets, tracks, errs = [], [], []
    try:
        for ep in range(episodes):
            ret, info = run_episode(env, lambda obs: zero, SELECTION_SEED + ep)
            rets.append(ret)
            tracks.append(info["episode_tracking"])
            errs.append(info["final_pos_err"])
    finally:
        env.close()
    return {"return": float(np.mean(rets)), "tracking": float(np.mean(tracks)), "final_pos_err_m": float(np.mean(errs))}


def select_grasp(
    source: WorldSource,
    plans: list[BaselinePlan],
    env_cfg: EnvConfig = EnvConfig(),
    cfg: GraspSelectionConfig = GraspSelectionConfig(),
    progress=None,
) -> BaselinePlan:
    """The plan among ``plans`` (feasible ones, best score first) chosen by :func:`chosen_index` from
    their baseline actions' mean returns in the world model. A single or failed
    plan is returned as it is; otherwise a copy of the chosen one with the candidates' numbers in
    ``info["grasp_selection"]``. ``progress(i, n)`` is called after each candidate."""
    if not plans:
        raise InputError("grasp selection needs at least one plan")
    ok = [p for p in plans[: cfg.candidates] if p.ok]
    if len(ok) <= 1:
        return ok[0] if ok else plans[0]
    plans = ok
    rows = []
    for i, plan in enumerate(plans):
        row = {"candidate": plan.info.get("candidate", i), "grasp_score": plan.info.get("grasp_score")}
        row.update(world_model_return(source, plan, env_cfg, cfg.episodes))
        rows.append(row)
        if progress:
            progress(i + 1, len(plans))
    best = chosen_index([r["return"] for r in rows], [p.horizon for p in plans], cfg.min_gain)
    for i, row in enumerate(rows):
        row["chosen"] = i == best
    selection = {"episodes": cfg.episodes, "min_gain_per_step": cfg.min_gain, "candidates": rows}
    return dataclasses.replace(plans[best], info=dict(plans[best].info, grasp_selection=selection))


def chosen_index(returns: list[float], horizons: list[int], min_gain: float) -> int:
    """The candidate with the highest mean return (ties: the better-scored, i.e. earlier, one) if its
    return exceeds candidate 0's (the baseline's grasp) by more than ``min_gain`` per step of its
    episode, else 0."""
    best = max(range(len(returns)), key=lambda i: (returns[i], -i))
    gain = (returns[best] - returns[0]) / max(1, horizons[best])
    return best if gain > min_gain else 0
