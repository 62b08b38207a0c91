"""Benchmark in the ground-truth sim (PhysWorld IV): per task, the world model (reconstructed by
default) is planned in and trained in; then, for N rollout seeds, each method runs in the TRUE scene
(true meshes, masses, frictions), perturbed per seed within ``EvalConfig.rand`` (the ranges the grasp
choice and the training in the world model use too):

- ``baseline``: grasp + plan executed open loop (RIGVid-style; the zero residual),
- ``residual``: PhysWorld: the grasp chosen with world-model feedback (:mod:`.grasp_feedback`) and
  the residual RL policy trained on its plan (eq. 5-9),
- ``scratch``: RL from scratch with the same env-step budget,
- ``wm_grasp`` (ablation, not in the default list): PhysWorld's grasp choice executed open loop,
  without the residual -- what the world model's feedback on the grasp alone gives.

Writes ``results.json`` (per task and method: successes, rollouts, failure reasons, training env
steps and wall time, policy inference time), ``results.md`` and the figures (:mod:`.report`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..bundle import load_bundle
from ..errors import InputError
from ..io import atomic_write_json
from .bundles import obtain_bundle, plan_for_bundle, plans_for_bundle
from .env import EnvConfig, PhysWorldEnv, RandomizationConfig
from .grasp_feedback import GraspSelectionConfig, select_grasp
from .rollout import REASONS, FailureRule, classify, reconstruction_gap, run_rollout, start_box_centre
from .train import TrainConfig, env_config_from_meta, load_policy, train_policy
from .world import WorldSource

METHODS = ("baseline", "residual", "scratch")
ALL_METHODS = (*METHODS, "wm_grasp")
LEARNED_METHODS = ("residual", "scratch")  # the others run their plan open loop (the zero residual)
WM_GRASP_METHODS = ("residual", "wm_grasp")  # on the plan of the grasp chosen in the world model
SEED_OFFSET = 10_000  # default first rollout seed: never a training env seed


@dataclass(frozen=True)
class EvalConfig:
    seeds: int = 10
    first_seed: int = SEED_OFFSET  # rollout seeds first_seed .. first_seed + seeds - 1 (held-out sets: another start)
    scene_seed: int = 0
    methods: tuple[str, ...] = METHODS
    world_model: str = "reconstruction"  # or "oracle"
    train_steps: int = 30_000
    vec: str = "subproc"
    n_envs: int = 2
    n_steps: int = 512  # PPO rollout length per env
    batch_size: int = 256
    settle_s: float = 1.0
    retrain: bool = False
    progress: bool = True
    selection: GraspSelectionConfig = field(default_factory=GraspSelectionConfig)  # candidates=1: baseline's grasp
    rand: RandomizationConfig = field(default_factory=RandomizationConfig)
    rule: FailureRule = field(default_factory=FailureRule)


def parse_tasks(text: str) -> list[str]:
    from ..sim.tasks import TASKS, resolve_task

    if text.strip() == "all":
        return list(TASKS)
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise InputError("no task given: use 'all' or a comma-separated list of task names")
    return [resolve_task(n).name for n in names]  # unknown names -> UnknownTaskError


def parse_methods(text: str) -> tuple[str, ...]:
    methods = tuple(m.strip() for m in text.split(",") if m.strip())
    bad = [m for m in methods if m not in ALL_METHODS]
    if bad or not methods:
        raise InputError(f"unknown method(s) {bad or text!r}; choose from {','.join(ALL_METHODS)}")
    return methods


def evaluate(tasks: list[str], out_dir: str | Path, cfg: EvalConfig = EvalConfig()) -> dict:
    """Run the benchmark; ``results.json`` is rewritten after every task (a crash keeps the finished ones)."""
    from .report import write_report

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {"config": asdict(cfg), "tasks": {}}
    for task in tasks:
        results["tasks"][task] = evaluate_task(task, out_dir / task, cfg)
        results["summary"] = summarise(results["tasks"], cfg.methods)
        atomic_write_json(out_dir / "results.json", results)
        write_report(out_dir, results)  # after every task: a long run can be read while it goes on
    return results


def summarise(per_task: dict, methods) -> dict:
    out = {}
    for m in methods:
        rates = [t["methods"][m]["success_rate"] for t in per_task.values() if m in t["methods"]]
        fails: dict[str, int] = dict.fromkeys(REASONS, 0)
        n = 0
        for t in per_task.values():
            if m in t["methods"]:
                n += t["methods"][m]["rollouts"]
                for k, v in t["methods"][m]["failures"].items():
                    fails[k] = fails.get(k, 0) + v
        out[m] = {"mean_success_rate": float(np.mean(rates)) if rates else float("nan"), "rollouts": n,
                  "failure_fractions": {k: v / n if n else 0.0 for k, v in fails.items()}}  # fmt: skip
    return out


def _true_motion(task: str, scene_seed: int, n_frames: int):
    """(scripted true track (T, 7) of the moved object, its true mesh's vertices in its frame)."""
    from ..sim.world import build_task_scene, scripted_object_trajectory

    scene = build_task_scene(task, scene_seed, with_robot=False, image_size=(32, 24))
    try:
        moved = scene.task.moved_object
        mesh = scene.objects[moved].mesh
        return scripted_object_trajectory(scene, n_frames)[moved], np.asarray(mesh.vertices)
    finally:
        scene.close()


def _oracle_plan_ok(task: str, scene_seed: int) -> bool:
    import tempfile

    from .oracle import build_oracle_bundle

    with tempfile.TemporaryDirectory(prefix="physworld-oracle-") as tmp:
        _, plan = plan_for_bundle(build_oracle_bundle(task, scene_seed, Path(tmp) / "b"))
    return plan.ok


def evaluate_task(task: str, task_dir: Path, cfg: EvalConfig) -> dict:
    from ..sim.tasks import resolve_task

    spec = resolve_task(task)
    t0 = time.perf_counter()
    bundle_dir = obtain_bundle(spec.name, cfg.scene_seed, task_dir / "world_model", cfg.world_model,
                               progress=cfg.progress)  # fmt: skip
    bundle = load_bundle(bundle_dir)
    choose = bool(set(WM_GRASP_METHODS) & set(cfg.methods))  # only these need the other candidates
    source, plans = plans_for_bundle(bundle_dir, moved=spec.moved_object,
                                     limit=cfg.selection.candidates if choose else 1)  # fmt: skip
    plan = wm_plan = plans[0]  # the baseline's: best-scored feasible grasp
    plan.save(task_dir / "plan.npz")
    t_sel = time.perf_counter()
    if choose:
        wm_plan = select_grasp(source, plans, EnvConfig(rand=cfg.rand), cfg=cfg.selection)
        wm_plan.save(task_dir / "plan_wm_grasp.npz")
    selection_s = time.perf_counter() - t_sel
    traj = bundle.target_trajectory(spec.moved_object)
    true_traj, true_vertices = _true_motion(spec.name, cfg.scene_seed, len(traj))
    import trimesh

    model_mesh = trimesh.load(Path(bundle_dir) / bundle.object(spec.moved_object).mesh, force="mesh")
    gap = reconstruction_gap(traj, start_box_centre(model_mesh.vertices, traj[0]), true_traj,
                             start_box_centre(true_vertices, true_traj[0]), cfg.rule)  # fmt: skip
    if not plan.ok and bundle.source != "ground_truth":
        gap["oracle_plan_ok"] = _oracle_plan_ok(spec.name, cfg.scene_seed)
        gap["flagged"] = gap["flagged"] or gap["oracle_plan_ok"]
    out = {"bundle": str(bundle_dir), "world_model": bundle.source, "reconstruction_gap": gap,
           "plan": {"ok": plan.ok, "failures": plan.failures, "info": plan.info},
           "wm_grasp_plan": {"candidate": wm_plan.info.get("candidate"),
                             "selection": wm_plan.info.get("grasp_selection"),
                             "selection_s": selection_s},
           "prepare_s": time.perf_counter() - t0, "methods": {}}  # fmt: skip
    gt_source = WorldSource(
        "task", task=spec.name, seed=cfg.scene_seed, moved=spec.moved_object, frame_bundle=str(bundle_dir)
    )
    for method in cfg.methods:
        policy, meta, env_cfg = None, None, EnvConfig(mode="residual")
        train_info = {"train_env_steps": 0, "train_wall_s": 0.0}
        run_plan = wm_plan if method in WM_GRASP_METHODS else plan
        if method == "residual" and not plan.ok:
            # no baseline action to refine: the residual is not trained and acts as zero (the failure is
            # recorded as planning / reconstruction)
            train_info = {"train_env_steps": 0, "train_wall_s": 0.0, "note": "not trained: no baseline plan"}
        elif method in LEARNED_METHODS:
            model, meta, run_plan, train_info = _policy(method, source, run_plan, task_dir / method, spec.name,
                                                        bundle_dir, cfg)  # fmt: skip
            env_cfg = env_config_from_meta(meta)

            def policy(obs, model=model):
                return model.predict(obs, deterministic=True)[0]

        env_cfg = _with_randomization(env_cfg, cfg.rand)
        rollouts = _rollouts(gt_source, run_plan, env_cfg, policy, gap["flagged"], cfg, method)
        out["methods"][method] = rollouts | train_info
    curves = [out["methods"].get(m, {}).get("curve") for m in ("residual", "scratch")]
    if all(curves):
        from .report import learning_speed

        out["learning_speed"] = learning_speed(*curves)  # Fig. 7 as numbers (see report.learning_speed)
    return out


def _with_randomization(env_cfg: EnvConfig, rand: RandomizationConfig) -> EnvConfig:
    import dataclasses

    return dataclasses.replace(env_cfg, randomize=True, rand=rand)


def _policy(method, source, plan, pdir: Path, task, bundle_dir, cfg: EvalConfig):
    if cfg.retrain or not (pdir / "policy.json").exists():
        tcfg = TrainConfig(total_steps=cfg.train_steps, vec=cfg.vec, n_envs=cfg.n_envs, seed=cfg.scene_seed,
                           n_steps=cfg.n_steps, batch_size=cfg.batch_size, progress_bar=cfg.progress)  # fmt: skip
        # an interrupted run (checkpoint, no policy yet) continues from its last good checkpoint
        resume = not cfg.retrain and (pdir / "checkpoint.zip").exists()
        train_policy(source, plan, pdir, task, str(bundle_dir), tcfg, EnvConfig(mode=method, rand=cfg.rand),
                     resume=resume, overwrite=not resume)  # fmt: skip
    model, meta, plan = load_policy(pdir)  # the plan the policy was trained on
    if meta["mode"] != method:
        raise InputError(f"{pdir}: holds a {meta['mode']!r} policy, expected {method!r}")
    trained_in = env_config_from_meta(meta).rand
    if trained_in != cfg.rand:
        raise InputError(
            f"{pdir}: the policy was trained with perturbations {asdict(trained_in)}, this evaluation asks for "
            f"{asdict(cfg.rand)}; pass the same --perturb-* values, --retrain, or another --out"
        )
    curve = []
    import json

    if (pdir / "curve.json").exists():
        curve = json.loads((pdir / "curve.json").read_text())
    return model, meta, plan, {"train_env_steps": meta["steps"], "train_wall_s": meta["wall_s"], "curve": curve,
                         "policy_dir": str(pdir)}  # fmt: skip


def _rollouts(gt_source, plan, env_cfg, policy, recon_flagged: bool, cfg: EvalConfig, method: str) -> dict:
    from tqdm import tqdm

    env = PhysWorldEnv(gt_source, plan, env_cfg, record=True)
    details, failures = [], dict.fromkeys(REASONS, 0)
    try:
        for s in tqdm(range(cfg.seeds), desc=f"rollouts {method}",
                      disable=not cfg.progress, leave=False):  # fmt: skip
            r = run_rollout(env, policy, cfg.first_seed + s, cfg.settle_s)
            reason = classify(r["trace"], plan, r["success"], recon_flagged, cfg.rule)
            if reason:
                failures[reason] += 1
            r.pop("trace")
            details.append(dict(r, failure=reason))
    finally:
        env.close()
    succ = sum(d["success"] for d in details)
    ms = [d["policy_ms_per_step"] for d in details]
    return {"successes": succ, "rollouts": len(details), "success_rate": succ / max(1, len(details)),
            "failures": failures, "policy_ms_per_step": float(np.mean(ms)) if ms else 0.0,
            "rollout_details": details}  # fmt: skip
