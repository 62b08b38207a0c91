"""Where the policy's world model comes from: a given bundle directory, the reconstruction of the
task's generated video (default), or the oracle (ground-truth) bundle for debugging."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..bundle import load_bundle
from ..errors import ArtefactError, BackendError, ConfigError
from .baseline import BaselineConfig, BaselinePlan, candidate_plans
from .env import EnvConfig
from .grasp_feedback import GraspSelectionConfig, select_grasp
from .world import WorldSource

WORLD_MODELS = ("reconstruction", "oracle")


def obtain_bundle(
    task: str,
    seed: int,
    out_dir: str | Path,
    world_model: str = "reconstruction",
    bundle: str | Path | None = None,
    progress: bool = True,
) -> Path:
    """The bundle directory to train on. ``bundle`` wins when given; otherwise the oracle bundle or the
    reconstruction (``physworld reconstruct --task --seed --out OUT_DIR``, bundle in ``OUT_DIR/scene``)
    is made under ``out_dir`` and reused when a valid one of the same kind is already there
    (``progress``: the reconstruction's progress bars)."""
    if bundle is not None:
        load_bundle(bundle)  # validates: clear errors for missing/corrupt bundles
        return Path(bundle)
    if world_model not in WORLD_MODELS:
        raise ConfigError(f"world model {world_model!r} unknown; use one of {WORLD_MODELS}")
    out_dir = Path(out_dir)
    scene = out_dir / "scene"
    if (scene / "scene.json").exists():
        try:
            b = load_bundle(scene)
            if b.task_name == task and b.source == ("ground_truth" if world_model == "oracle" else "reconstruction"):
                return scene
        except ArtefactError:
            pass  # rebuilt below
    if world_model == "oracle":
        from .oracle import build_oracle_bundle

        return build_oracle_bundle(task, seed, scene)
    return _reconstruct(task, seed, out_dir, progress)


def _reconstruct(task: str, seed: int, out_dir: Path, progress: bool = True) -> Path:
    if importlib.util.find_spec("physworld.cli_reconstruct") is None:
        raise BackendError(
            "the reconstruction command (physworld reconstruct) is not available in this installation; "
            "pass a bundle directory (--bundle DIR) or use the oracle world model (--oracle)"
        )
    from ..cli import main as cli_main

    argv = ["reconstruct", "--task", task, "--seed", str(seed), "--out", str(out_dir)]
    rc = cli_main(argv + ([] if progress else ["--no-progress"]))
    if rc != 0 or not (out_dir / "scene" / "scene.json").exists():
        raise BackendError(f"reconstruction of task {task!r} (seed {seed}) failed (exit code {rc}); see its output")
    return out_dir / "scene"


def _source(b, bundle_dir: str | Path, moved: str | None) -> WorldSource:
    return WorldSource("bundle", str(bundle_dir), moved=moved or b.meta.get("moved_object"))


def plans_for_bundle(
    bundle_dir: str | Path, cfg: BaselineConfig = BaselineConfig(), moved: str | None = None, limit: int = 1, **kw
) -> tuple[WorldSource, list[BaselinePlan]]:
    """The world source of a bundle and the plans of its first ``limit`` feasible grasps (best first)."""
    b = load_bundle(bundle_dir)
    source = _source(b, bundle_dir, moved)
    world = source.build()
    try:
        traj = b.target_trajectory(world.moved)
        plans = candidate_plans(world, traj, b.frame_dt, cfg, limit=limit, **kw)
    finally:
        world.close()
    return source, plans


def plan_for_bundle(
    bundle_dir: str | Path,
    cfg: BaselineConfig = BaselineConfig(),
    moved: str | None = None,
    selection: GraspSelectionConfig | None = None,
    progress=None,
    env_cfg: EnvConfig | None = None,
    **kw,
) -> tuple[WorldSource, BaselinePlan]:
    """The world source of a bundle and the plan computed in it: the baseline's (best-scored feasible
    grasp), or with ``selection`` the grasp chosen by executing candidates in the world model
    (:mod:`physworld.policy.grasp_feedback`, episodes perturbed as ``env_cfg``, default
    :class:`EnvConfig`; ``progress(i, n)`` after each candidate)."""
    source, plans = plans_for_bundle(bundle_dir, cfg, moved, selection.candidates if selection else 1, **kw)
    if not selection:
        return source, plans[0]
    return source, select_grasp(source, plans, env_cfg or EnvConfig(), cfg=selection, progress=progress)


def plan_for_training(
    bundle_dir: str | Path,
    out_dir: str | Path,
    resume: bool,
    moved: str | None = None,
    selection: GraspSelectionConfig | None = None,
    progress=None,
    env_cfg: EnvConfig | None = None,
) -> tuple[WorldSource, BaselinePlan]:
    """:func:`plan_for_bundle` for a training run in ``out_dir``; a resumed run gets the plan its
    checkpoint was trained on (``out_dir/plan.npz``, written when the run started) instead of
    planning and choosing the grasp again."""
    saved = Path(out_dir) / "plan.npz"
    if resume and saved.exists():
        return _source(load_bundle(bundle_dir), bundle_dir, moved), BaselinePlan.load(saved)
    return plan_for_bundle(bundle_dir, moved=moved, selection=selection, progress=progress, env_cfg=env_cfg)
