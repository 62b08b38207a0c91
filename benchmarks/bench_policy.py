"""Policy-stack performance, measured in one run:

1. env steps/s of the residual env against the raw PyBullet limit for the same physics substeps (the
   same episode's joint targets replayed with only ``setJointMotorControlArray`` + ``stepSimulation``);
2. wall time of PhysWorld's grasp choice (the first 8 feasible grasps planned and executed in the world
   model, 3 episodes each; :mod:`physworld.policy.grasp_feedback`);
3. wall time to train one task's residual policy (PPO, SubprocVecEnv on 2 envs, the given budget);
4. policy inference time per step (``model.predict`` on one observation, CPU).

Usage: python benchmarks/bench_policy.py [--task stack_block] [--train-steps 20000] [--out DIR]
The world model is the task's oracle bundle (the timing does not depend on where the meshes came from).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def env_vs_raw(bundle_dir: Path, episodes: int = 5) -> dict:
    import pybullet as p

    from physworld.policy.bundles import plan_for_bundle
    from physworld.policy.env import EnvConfig, PhysWorldEnv

    source, plan = plan_for_bundle(bundle_dir)
    env = PhysWorldEnv(source, plan, EnvConfig(randomize=False))
    targets = []
    orig = env.ctrl.command_joints

    def record(q, closed):
        targets.append((np.array(q), closed))
        orig(q, closed)

    env.ctrl.command_joints = record
    zero = np.zeros(6, np.float32)
    n_env, t_env = 0, 0.0
    for ep in range(episodes):
        env.reset(seed=ep)
        targets.clear()
        t0 = time.perf_counter()
        done = False
        while not done:
            _, _, done, _, _ = env.step(zero)
            n_env += 1
        t_env += time.perf_counter() - t0
    # raw: the last episode's joint targets, physics only
    env.ctrl.command_joints = orig
    replay = targets[1:]  # [0] is reset's home command
    n_raw, t_raw = 0, 0.0
    for ep in range(episodes):
        env.reset(seed=ep)
        t0 = time.perf_counter()
        for q, closed in replay:
            orig(q, closed)
            for _ in range(env.cfg.control.substeps):
                p.stepSimulation(physicsClientId=env.world.client)
            n_raw += 1
        t_raw += time.perf_counter() - t0
    sub = env.cfg.control.substeps
    env.close()
    env_sps, raw_sps = n_env / t_env, n_raw / t_raw
    return {"substeps_per_env_step": sub, "env_steps_per_s": env_sps, "raw_steps_per_s": raw_sps,
            "fraction_of_raw": env_sps / raw_sps}  # fmt: skip


def selection_time(bundle_dir: Path) -> dict:
    from physworld.policy.bundles import plans_for_bundle
    from physworld.policy.grasp_feedback import GraspSelectionConfig, select_grasp

    cfg = GraspSelectionConfig()
    t0 = time.perf_counter()
    source, plans = plans_for_bundle(bundle_dir, limit=cfg.candidates)
    t1 = time.perf_counter()
    select_grasp(source, plans, cfg=cfg)
    return {"grasp_candidates": len(plans), "grasp_plans_s": t1 - t0, "grasp_selection_s": time.perf_counter() - t1,
            "grasp_episodes": cfg.episodes}  # fmt: skip


def train_time(bundle_dir: Path, task: str, steps: int, out: Path) -> dict:
    from physworld.policy.bundles import plan_for_bundle
    from physworld.policy.env import EnvConfig
    from physworld.policy.train import TrainConfig, train_policy

    source, plan = plan_for_bundle(bundle_dir)
    t0 = time.perf_counter()
    res = train_policy(source, plan, out, task, str(bundle_dir), TrainConfig(total_steps=steps, vec="subproc",
                       n_envs=2, progress_bar=False), EnvConfig(mode="residual"), overwrite=True)  # fmt: skip
    wall = time.perf_counter() - t0
    return {"train_env_steps": res.steps, "train_wall_s": wall, "train_steps_per_s": res.steps / wall,
            "final_tracking": res.curve[-1]["tracking"] if res.curve else None}  # fmt: skip


def inference_time(policy_dir: Path, n: int = 2000) -> dict:
    import torch

    from physworld.policy.train import load_policy

    torch.set_num_threads(1)
    model, meta, _ = load_policy(policy_dir)
    obs = np.zeros(meta["observation"]["size"], np.float32)
    for _ in range(50):
        model.predict(obs, deterministic=True)
    t0 = time.perf_counter()
    for _ in range(n):
        model.predict(obs, deterministic=True)
    return {"inference_ms_per_step": 1e3 * (time.perf_counter() - t0) / n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="stack_block")
    ap.add_argument("--train-steps", type=int, default=20_000)
    ap.add_argument("--out", default=None, help="directory for bench_policy.json and the trained policy")
    args = ap.parse_args()
    from physworld.policy.oracle import build_oracle_bundle

    out = Path(args.out or tempfile.mkdtemp(prefix="bench_policy_"))
    bundle = build_oracle_bundle(args.task, 0, out / "bundle")
    res = {"task": args.task, "cpus": os.cpu_count(), "load_avg_1min_at_start": os.getloadavg()[0]}
    res.update(env_vs_raw(bundle))
    res.update(selection_time(bundle))
    res.update(train_time(bundle, args.task, args.train_steps, out / "policy"))
    res.update(inference_time(out / "policy"))
    res["load_avg_1min_at_end"] = os.getloadavg()[0]
    (out / "bench_policy.json").write_text(json.dumps(res, indent=2))
    rows = [
        ("env steps/s (residual env, 1 process)", f"{res['env_steps_per_s']:.1f}"),
        (f"raw PyBullet limit, same {res['substeps_per_env_step']} substeps/step", f"{res['raw_steps_per_s']:.1f}"),
        ("env / raw (goal >= 70%)", f"{100 * res['fraction_of_raw']:.0f}%"),
        (f"grasp choice: plan {res['grasp_candidates']} candidates / execute {res['grasp_episodes']} episodes each",
         f"{res['grasp_plans_s']:.1f} s / {res['grasp_selection_s']:.1f} s"),
        (f"train residual policy, {res['train_env_steps']} steps, 2 subproc envs (goal <= 120 s)",
         f"{res['train_wall_s']:.1f} s"),
        ("policy inference per step (goal < 2 ms)", f"{res['inference_ms_per_step']:.3f} ms"),
        ("1-min load average at start / end (2 cores)",
         f"{res['load_avg_1min_at_start']:.1f} / {res['load_avg_1min_at_end']:.1f}"),
    ]  # fmt: skip
    w = max(len(a) for a, _ in rows)
    print(f"bench_policy ({args.task}, {res['cpus']} CPUs)")
    for a, b in rows:
        print(f"  {a:<{w}}  {b}")
    print(f"written: {out / 'bench_policy.json'}")


if __name__ == "__main__":
    main()
