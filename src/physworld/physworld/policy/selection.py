"""Model selection of a training run in the world model (never the ground truth).

The policy at the start of training (for the residual: near-zero actions, i.e. the baseline plan) is
the incumbent; a later policy replaces it only when it places the object CLEARLY better on the same
fixed-seed episodes (:func:`clearly_better`). The return is recorded but does not decide: it sums
tracking along the whole episode, and a higher return came with a worse final placement in the
measurements of docs/policy.md. So the delivered policy is never one that merely looked better by
chance.

The selection episodes run in the vectorised env's worker processes (:class:`SelectionEpisodes`, one
second env of the same world model per worker, built on first use), split over the workers: PPO's
workers would otherwise wait while the main process runs them one after the other.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from .env import run_episode

SELECT_SEED = 20_000
SELECT_ROT_WEIGHT = 0.05  # m per rad in the placement error: 10 deg counts like 0.9 cm


@dataclass(frozen=True)
class WorldModelScore:
    """Deterministic episodes of a policy in the world model on fixed seeds: per-episode placement
    error (m: final object-to-target distance + ``SELECT_ROT_WEIGHT`` x angle) and return."""

    errors: list[float]
    returns: list[float]

    @property
    def error(self) -> float:
        return float(np.mean(self.errors))


def clearly_better(candidate: WorldModelScore, incumbent: WorldModelScore, z: float = 2.0) -> bool:
    """Paired test on the same seeds: the candidate's placement error is lower by more than ``z``
    standard errors of the per-seed differences (a lucky draw of a few episodes is not enough)."""
    d = np.asarray(incumbent.errors) - np.asarray(candidate.errors)  # > 0: candidate better
    if d.size == 0 or d.mean() <= 0:
        return False
    se = d.std(ddof=1) / np.sqrt(d.size) if d.size > 1 else np.inf
    return bool(d.mean() > z * se)


def score_episode(env, policy, seed: int) -> tuple[float, float]:
    """(placement error, return) of one deterministic episode of ``policy`` (an SB3 policy or model:
    anything with ``predict(obs, deterministic=True)``) from ``env.reset(seed=seed)``."""
    total, info = run_episode(env, lambda obs: policy.predict(obs, deterministic=True)[0], seed)
    return float(info["final_pos_err"] + SELECT_ROT_WEIGHT * info["final_rot_err"]), float(total)


class SelectionEpisodes(gym.Wrapper):
    """Hosts the selection episodes in a (vec-env) worker: ``selection_episodes(policy, seeds)`` runs
    this worker's share of ``seeds`` (every ``n_slots``-th from ``slot``) on a second env made by
    ``make_env`` on first use, so the training episode in progress is not disturbed. Episodes are
    bit-identical per seed (:class:`~physworld.policy.env.PhysWorldEnv` restores a saved state), so
    the result does not depend on which worker runs which seed."""

    def __init__(self, env: gym.Env, make_env, slot: int = 0, n_slots: int = 1):
        super().__init__(env)
        self._make, self._slot, self._n_slots, self._eval = make_env, slot, n_slots, None

    def selection_episodes(self, policy: bytes, seeds: list[int]) -> list[tuple[int, float, float]]:
        """``policy``: the pickled SB3 policy (plain bytes: a tensor sent through the worker's pipe
        would go through torch's shared-memory reductions)."""
        import pickle

        import torch

        torch.set_num_threads(1)  # one core per worker
        policy = pickle.loads(policy)
        if self._eval is None:
            self._eval = self._make()
        return [(s, *score_episode(self._eval, policy, s)) for s in seeds[self._slot :: self._n_slots]]

    def close(self) -> None:
        if self._eval is not None:
            self._eval.close()
            self._eval = None
        super().close()


def world_model_score(model, venv, episodes: int) -> WorldModelScore:
    """Score ``model``'s deterministic policy on seeds ``SELECT_SEED + 0..episodes-1``, the episodes
    spread over the workers of ``venv`` (whose envs are wrapped in :class:`SelectionEpisodes`)."""
    import pickle

    seeds = [SELECT_SEED + i for i in range(episodes)]
    blob = pickle.dumps(model.policy)
    rows = sorted(r for part in venv.env_method("selection_episodes", blob, seeds) for r in part)
    if [r[0] for r in rows] != seeds:
        raise RuntimeError(f"selection episodes incomplete: got seeds {[r[0] for r in rows]}, expected {seeds}")
    return WorldModelScore([r[1] for r in rows], [r[2] for r in rows])


class Selector:
    """Keeps the incumbent policy's weights and replaces them only on a clear improvement (see the
    module doc). ``venv`` None switches the selection off."""

    def __init__(self, venv, episodes: int):
        self.venv, self.episodes = venv, episodes
        self.best: WorldModelScore | None = None
        self.best_state, self.best_steps, self.history = None, 0, []

    @property
    def active(self) -> bool:
        return self.venv is not None

    def update(self, model) -> None:
        if self.venv is None:
            return
        score = world_model_score(model, self.venv, self.episodes)
        take = self.best is None or clearly_better(score, self.best)
        self.history.append({"steps": int(model.num_timesteps), "error_m": score.error,
                             "return": float(np.mean(score.returns)), "taken": take})  # fmt: skip
        if take:
            self.best, self.best_steps = score, int(model.num_timesteps)
            self.best_state = copy.deepcopy(model.policy.state_dict())

    def restore_best(self, model) -> dict:
        if self.best_state is not None:
            model.policy.load_state_dict(self.best_state)
        return {"steps": self.best_steps, "error_m": self.best.error if self.best else None,
                "episodes": self.episodes, "rule": "placement error lower by > 2 standard errors (paired seeds)",
                "history": self.history}  # fmt: skip
