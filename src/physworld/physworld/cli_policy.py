"""``physworld train`` and ``physworld evaluate``: residual RL in the world model, benchmark in the
ground-truth sim (PhysWorld III-B, IV)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("train", help="train a residual (or from-scratch) PPO policy in a task's world model")
    p.add_argument("--task", required=True, help="task name or command, e.g. lid_on_pot")
    p.add_argument("--seed", type=int, default=0, help="scene seed (the world model is of this scene); PPO seed too")
    p.add_argument("--out", required=True, help="policy directory (policy.zip + policy.json + checkpoints)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--bundle", help="train on this scene bundle directory instead of reconstructing one")
    src.add_argument("--oracle", action="store_true", help="debug: train on the ground-truth (oracle) bundle")
    p.add_argument("--mode", choices=("residual", "scratch"), default="residual")
    p.add_argument("--steps", type=int, default=30_000, help="PPO budget in env steps (default 30000)")
    p.add_argument("--n-envs", type=int, default=2, help="parallel environments (default 2)")
    p.add_argument("--vec", choices=("subproc", "dummy"), default="subproc", help="vectorised env type")
    p.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda")
    p.add_argument("--exploration", choices=("gsde", "gaussian"), default="gsde",  # policy.train.EXPLORATION
                   help="PPO exploration noise: gsde (state-dependent, drawn once per rollout; default) or "
                        "gaussian (independent per step, std 0.1)")  # fmt: skip
    _grasp_choice_args(p)
    _perturbation_args(p)
    run = p.add_mutually_exclusive_group()
    run.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.zip")
    run.add_argument("--overwrite", action="store_true", help="start over even if OUT holds a run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_train)

    e = sub.add_parser("evaluate", help="benchmark baseline / residual / scratch policies in the ground-truth sim")
    e.add_argument("--tasks", default="all", help="'all' or comma-separated task names")
    e.add_argument("--seeds", type=int, default=10, help="rollout seeds per task and method (default 10)")
    e.add_argument("--first-seed", type=int, default=10_000,
                   help="first rollout seed (default 10000); another start evaluates on held-out seeds")  # fmt: skip
    e.add_argument("--methods", default="baseline,residual,scratch",
                   help="comma-separated subset of baseline, residual, scratch, wm_grasp (ablation: the world "
                        "model's grasp choice executed without the residual)")  # fmt: skip
    e.add_argument("--out", required=True, help="output directory (results.json, results.md, PNGs, policies)")
    e.add_argument("--oracle", action="store_true", help="debug: plan and train in the oracle bundle")
    e.add_argument("--steps", type=int, default=30_000, help="training budget per learned policy (env steps)")
    e.add_argument("--scene-seed", type=int, default=0, help="seed of the task scene (default 0)")
    e.add_argument("--n-envs", type=int, default=2)
    e.add_argument("--vec", choices=("subproc", "dummy"), default="subproc")
    _grasp_choice_args(e)
    _perturbation_args(e)
    e.add_argument("--retrain", action="store_true", help="train again even if OUT/<task>/<method> has a policy")
    e.add_argument("--no-progress", action="store_true")
    e.set_defaults(func=run_evaluate)


def _grasp_choice_args(p) -> None:
    p.add_argument("--grasp-candidates", type=int, default=8,
                   help="feasible grasp proposals executed in the world model before training; the residual "
                        "refines the plan of the one with the highest return (1: the best-scored grasp, as the "
                        "baseline; default 8)")  # fmt: skip
    p.add_argument("--grasp-min-gain", type=float, default=0.05,
                   help="mean return per step another grasp must gain in the world model over the best-scored "
                        "one to replace it (default 0.05; 0: the highest return wins)")  # fmt: skip


def _perturbation_args(p) -> None:
    d = _default_randomization()
    p.add_argument(
        "--perturb-xy",
        type=float,
        default=d.pos_xy,
        metavar="M",
        help=f"+- shift of the moved object's start in x and y per episode, m (default {d.pos_xy})",
    )
    p.add_argument(
        "--perturb-yaw",
        type=float,
        default=d.yaw_deg,
        metavar="DEG",
        help=f"+- turn of the moved object's start about z per episode, deg (default {d.yaw_deg})",
    )
    p.add_argument(
        "--perturb-mass",
        type=float,
        default=d.mass,
        metavar="FRAC",
        help=f"+- fraction of each movable object's mass per episode (default {d.mass})",
    )
    p.add_argument(
        "--perturb-friction",
        type=float,
        default=d.friction,
        metavar="FRAC",
        help=f"+- fraction of each movable object's friction per episode (default {d.friction})",
    )


def _default_randomization():
    from .policy.env import RandomizationConfig

    return RandomizationConfig()


def randomization(args):
    """The :class:`RandomizationConfig` of the ``--perturb-*`` arguments (validated there): the ranges of
    the grasp choice's and training's episodes in the world model and of the ground-truth rollouts."""
    from .policy.env import RandomizationConfig

    return RandomizationConfig(mass=args.perturb_mass, friction=args.perturb_friction, pos_xy=args.perturb_xy,
                               yaw_deg=args.perturb_yaw)  # fmt: skip


def grasp_selection(args):
    """The :class:`GraspSelectionConfig` of ``--grasp-candidates`` and ``--grasp-min-gain``."""
    from .policy.grasp_feedback import GraspSelectionConfig

    return GraspSelectionConfig(candidates=args.grasp_candidates, min_gain=args.grasp_min_gain)


def _plan_with_progress(bundle, moved, selection, env_cfg, args):
    """The plan to train on (grasp chosen in the world model when ``selection``; the run's own plan when
    resuming), with a progress bar."""
    from tqdm import tqdm

    from .policy.bundles import plan_for_training

    show = not args.no_progress

    with tqdm(desc="grasp candidates in the world model", unit="grasp", disable=not show or selection is None) as bar:

        def tick(i: int, n: int) -> None:
            bar.total = n  # the feasible candidates can be fewer than asked for
            bar.update(i - bar.n)

        return plan_for_training(bundle, args.out, args.resume, moved=moved, selection=selection, progress=tick,
                                 env_cfg=env_cfg)  # fmt: skip


def train_config(args):
    """The :class:`TrainConfig` of ``physworld train``'s arguments."""
    from .policy.train import EXPLORATION, TrainConfig

    return TrainConfig(total_steps=args.steps, n_envs=args.n_envs, vec=args.vec, seed=args.seed, device=args.device,
                       progress_bar=not args.no_progress, **EXPLORATION[args.exploration])  # fmt: skip


def run_train(args) -> int:
    from pathlib import Path

    from .errors import InputError
    from .policy.bundles import obtain_bundle
    from .policy.env import EnvConfig
    from .policy.train import train_policy
    from .sim.tasks import resolve_task

    if args.steps <= 0 or args.n_envs <= 0:
        raise InputError("--steps and --n-envs must be positive")
    spec = resolve_task(args.task)
    selection = grasp_selection(args) if args.mode == "residual" else None  # validated before any work
    env_cfg = EnvConfig(mode=args.mode, rand=randomization(args))
    out = Path(args.out)
    world_model = "oracle" if args.oracle else "reconstruction"
    bundle = obtain_bundle(spec.name, args.seed, out / "world_model", world_model, bundle=args.bundle,
                           progress=not args.no_progress)  # fmt: skip
    source, plan = _plan_with_progress(bundle, spec.moved_object, selection, env_cfg, args)
    print(f"world model: {bundle} ({world_model if not args.bundle else 'given'}); plan ok={plan.ok}")
    for row in plan.info.get("grasp_selection", {}).get("candidates", []):
        print(
            f"  grasp candidate {row['candidate']}: world-model return {row['return']:.1f}, "
            f"object {100 * row['final_pos_err_m']:.1f} cm off at the end{'  <- chosen' if row['chosen'] else ''}"
        )
    for f in plan.failures:
        print(f"  plan: {f}")
    cfg = train_config(args)
    res = train_policy(source, plan, out, spec.name, str(bundle), cfg, env_cfg,
                       resume=args.resume, overwrite=args.overwrite)  # fmt: skip
    last = res.curve[-1]["tracking"] if res.curve else float("nan")
    print(f"trained {args.mode} policy for {spec.name}: {res.steps} env steps in {res.wall_s:.1f} s; "
          f"final mean tracking reward {last:.3f}; written to {out}")  # fmt: skip
    return 0


def run_evaluate(args) -> int:
    from .errors import InputError
    from .policy.evaluate import EvalConfig, evaluate, parse_methods, parse_tasks
    from .policy.report import write_report

    if args.seeds <= 0 or args.steps <= 0:
        raise InputError("--seeds and --steps must be positive")
    if args.first_seed < 0:
        raise InputError(f"--first-seed must be >= 0, got {args.first_seed}")
    tasks = parse_tasks(args.tasks)
    cfg = EvalConfig(seeds=args.seeds, first_seed=args.first_seed, scene_seed=args.scene_seed,
                     methods=parse_methods(args.methods),
                     world_model="oracle" if args.oracle else "reconstruction", train_steps=args.steps,
                     vec=args.vec, n_envs=args.n_envs, retrain=args.retrain, progress=not args.no_progress,
                     selection=grasp_selection(args), rand=randomization(args))  # fmt: skip
    results = evaluate(tasks, args.out, cfg)
    print(write_report(args.out, results))
    return 0
