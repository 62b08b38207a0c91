"""Collision checks and joint-space motion planning in a :class:`~physworld.policy.world.ManipWorld`.

Configurations are checked in the world's own client: its state is saved, the arm is put at the
configuration, ``getClosestPoints`` against every obstacle decides, and the state is restored, so
planning never changes the scene. Paths: straight joint-space interpolation checked at a fixed
resolution; where that collides, RRT-Connect (Kuffner & LaValle 2000) with shortcut smoothing.
Failures come back as ``None`` with a reason, never silently.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from .world import FINGER_OPEN, ManipWorld


@dataclass(frozen=True)
class PlanConfig:
    resolution: float = 0.04  # rad between collision-checked configurations
    margin: float = 0.002  # m: closer than -margin (penetration) counts as collision
    rrt_iterations: int = 1500
    rrt_step: float = 0.15  # rad
    shortcut_iterations: int = 60


@contextlib.contextmanager
def saved_state(world: ManipWorld):
    """Restore the world's full physics state after the block."""
    import pybullet as p

    sid = p.saveState(physicsClientId=world.client)
    try:
        yield
    finally:
        p.restoreState(sid, physicsClientId=world.client)
        p.removeState(sid, physicsClientId=world.client)


def set_arm(world: ManipWorld, q: np.ndarray, finger: float = FINGER_OPEN) -> None:
    import pybullet as p

    r = world.robot
    for j, v in zip(r.arm_joints, q):
        p.resetJointState(r.body, j, float(v), physicsClientId=world.client)
    for j in r.finger_joints:
        p.resetJointState(r.body, j, finger, physicsClientId=world.client)


def collisions(world: ManipWorld, ignore: tuple[int, ...] = (), margin: float = 0.002) -> list[tuple[int, int]]:
    """(obstacle body, robot link) pairs in penetration deeper than ``margin`` at the current state.
    The robot's base link (-1, 0) is not checked: it stands on the table."""
    import pybullet as p

    hits = []
    for obs in world.obstacle_ids(exclude=tuple(ignore)):
        for cp in p.getClosestPoints(world.robot.body, obs, distance=0.0, physicsClientId=world.client):
            if cp[3] > 0 and cp[8] < -margin:
                hits.append((obs, cp[3]))
    return hits


def config_free(
    world: ManipWorld, q: np.ndarray, ignore: tuple[int, ...] = (), margin: float = 0.002, finger: float = FINGER_OPEN
) -> bool:
    """True when the arm at ``q`` touches nothing but ``ignore`` (call inside :func:`saved_state`)."""
    set_arm(world, q, finger)
    return not collisions(world, ignore, margin)


def segment_free(world, q0, q1, cfg: PlanConfig, ignore=(), finger: float = FINGER_OPEN) -> bool:
    n = max(2, int(np.ceil(np.max(np.abs(np.asarray(q1) - q0)) / cfg.resolution)) + 1)
    return all(config_free(world, q, ignore, cfg.margin, finger) for q in np.linspace(q0, q1, n)[1:])


def rrt_connect(world, q_start, q_goal, cfg: PlanConfig, rng: np.random.Generator, ignore=()) -> list | None:
    """Bidirectional RRT in joint space; returns a list of waypoints or None."""
    lo, hi = world.robot.lower, world.robot.upper
    trees = [[np.asarray(q_start, float)], [np.asarray(q_goal, float)]]
    parents = [[-1], [-1]]

    def extend(k, target):
        nodes = np.asarray(trees[k])
        i = int(np.argmin(np.linalg.norm(nodes - target, axis=1)))
        d = target - nodes[i]
        dist = np.linalg.norm(d)
        new = target if dist <= cfg.rrt_step else nodes[i] + d / dist * cfg.rrt_step
        if not segment_free(world, nodes[i], new, cfg, ignore):
            return None
        trees[k].append(new)
        parents[k].append(i)
        return new

    def path_to(k, i):
        out = []
        while i != -1:
            out.append(trees[k][i])
            i = parents[k][i]
        return out

    for it in range(cfg.rrt_iterations):
        a = it % 2
        sample = rng.uniform(lo, hi) if rng.random() > 0.1 else trees[1 - a][0]
        new = extend(a, sample)
        if new is None:
            continue
        while True:  # connect the other tree greedily
            got = extend(1 - a, new)
            if got is None:
                break
            if np.allclose(got, new):
                pa = path_to(a, len(trees[a]) - 1)
                pb = path_to(1 - a, len(trees[1 - a]) - 1)
                path = pa[::-1] + pb[1:] if a == 0 else pb[::-1] + pa[1:]
                return path
    return None


def shortcut(world, path: list, cfg: PlanConfig, rng: np.random.Generator, ignore=()) -> list:
    path = list(path)
    for _ in range(cfg.shortcut_iterations):
        if len(path) <= 2:
            break
        i, j = sorted(rng.choice(len(path), 2, replace=False))
        if j - i < 2:
            continue
        if segment_free(world, path[i], path[j], cfg, ignore):
            path = path[: i + 1] + path[j:]
    return path


def plan_joint_path(world, q_start, q_goal, cfg: PlanConfig = PlanConfig(), seed: int = 0, ignore=()):
    """Collision-free joint path ``q_start -> q_goal`` as (waypoints, method) or (None, reason)."""
    rng = np.random.default_rng(seed)
    with saved_state(world):
        if not config_free(world, q_start, ignore, cfg.margin):
            return None, "start configuration in collision"
        if not config_free(world, q_goal, ignore, cfg.margin):
            return None, "goal configuration in collision"
        if segment_free(world, q_start, q_goal, cfg, ignore):
            return [np.asarray(q_start, float), np.asarray(q_goal, float)], "interpolation"
        path = rrt_connect(world, q_start, q_goal, cfg, rng, ignore)
        if path is None:
            return None, f"RRT-Connect found no path in {cfg.rrt_iterations} iterations"
        return shortcut(world, path, cfg, rng, ignore), "rrt_connect"


def retime(path: list, n: int) -> np.ndarray:
    """``n`` configurations along ``path`` evenly spaced in joint-space arc length (start excluded)."""
    P = np.asarray(path, float)
    seg = np.linalg.norm(np.diff(P, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] <= 1e-9:
        return np.repeat(P[-1:], n, axis=0)
    # smooth start/stop (cosine profile) so the arm does not jerk
    u = 0.5 - 0.5 * np.cos(np.pi * np.linspace(0, 1, n + 1)[1:])
    t = u * s[-1]
    return np.stack([np.interp(t, s, P[:, k]) for k in range(P.shape[1])], axis=1)
