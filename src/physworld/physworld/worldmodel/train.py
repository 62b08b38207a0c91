"""Training stages of paper 000 and the loop they share.

The loop shows a tqdm bar, writes checkpoints atomically every ``checkpoint_every`` steps and at the
end, resumes from its checkpoint (same deterministic batches), and stops with ``NonFiniteLossError``
on a NaN/inf loss or gradient *before* the optimiser step, leaving the last good checkpoint as it was.
"""

from __future__ import annotations

import copy
import dataclasses
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from ..device import resolve_device
from ..errors import ArtefactError, PhysWorldError
from .checkpoint import load_model, load_state_checked, read_checkpoint, save_checkpoint
from .clips import ClipSet, batch_indices, check_compatible, to_batch
from .config import ModelConfig, StageConfig, WorldModelSettings
from .losses import make_perceptual
from .model import WorldModel4D
from .networks2d import DepthEstimator, PatchDiscriminator, VideoModel2D
from .objectives import AdaptObjective, DepthObjective, RealOnly2DObjective, Stage1Objective


class NonFiniteLossError(PhysWorldError):
    """A loss or gradient became NaN/inf; training stopped and the last good checkpoint was kept."""


@dataclass
class TrainResult:
    checkpoint: Path
    steps: int
    seconds: float
    samples_per_s: float
    peak_memory_mb: float
    history: list[dict] = field(default_factory=list)
    perceptual: str = ""


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB -> MiB (process peak RSS)


def _check_finite(values: dict[str, torch.Tensor], step: int, ckpt: Path, last_saved: int | None, what: str) -> None:
    bad = {k: float(v.detach()) for k, v in values.items() if not torch.isfinite(v).all()}
    if bad:
        kept = (
            f"the last good checkpoint {ckpt} (step {last_saved}) was kept"
            if last_saved is not None
            else ("no checkpoint had been written yet")
        )
        raise NonFiniteLossError(
            f"step {step + 1}: non-finite {what} {bad}; training stopped and {kept}. "
            "Lower the learning rate or check the data for NaN/inf."
        )


def train_loop(
    *,
    objective,
    kind: str,
    model_cfg: ModelConfig,
    stage: StageConfig,
    sample_batch: Callable[[int], dict],
    ckpt_path: str | Path,
    meta: dict,
    resume: bool = False,
    desc: str = "train",
    progress: bool = True,
) -> TrainResult:
    ckpt_path = Path(ckpt_path)
    model, disc = objective.model, objective.disc
    device = next(model.parameters()).device
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=stage.lr)
    disc_opt = torch.optim.Adam(disc.parameters(), lr=stage.disc_lr, betas=(0.5, 0.999)) if disc else None
    start, history, last_saved, prior = 0, [], None, {"seconds": 0.0, "samples": 0}
    if resume and ckpt_path.exists():
        payload = read_checkpoint(ckpt_path)
        if payload["kind"] != kind or payload["meta"].get("stage") != meta.get("stage"):
            raise ArtefactError(
                f"{ckpt_path}: cannot resume stage {meta.get('stage')!r} from a "
                f"{payload['kind']}/{payload['meta'].get('stage')!r} checkpoint"
            )
        load_state_checked(model, payload["state"]["model"], ckpt_path)
        if "opt" in payload["state"]:
            opt.load_state_dict(payload["state"]["opt"])
        if disc is not None and "disc" in payload["state"]:
            load_state_checked(disc, payload["state"]["disc"], ckpt_path, "discriminator")
            disc_opt.load_state_dict(payload["state"]["disc_opt"])
        start, last_saved = payload["step"], payload["step"]
        history = list(payload["meta"].get("history", []))
        prior = {k: payload["meta"].get(f"train_{k}", 0) for k in prior}

    def save(step: int) -> None:
        state = {"model": model.state_dict(), "opt": opt.state_dict()}
        if disc is not None:
            state.update(disc=disc.state_dict(), disc_opt=disc_opt.state_dict())
        save_checkpoint(
            ckpt_path,
            kind=kind,
            model_cfg=model_cfg,
            state=state,
            step=step,
            meta={
                **meta,
                "history": history,
                "stage_config": dataclasses.asdict(stage),
                "train_seconds": prior["seconds"] + time.perf_counter() - t0,  # over all (resumed) sessions
                "train_samples": prior["samples"] + samples,
            },
        )

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model.train()
    t0, samples = time.perf_counter(), 0
    bar = tqdm(range(start, stage.steps), desc=desc, disable=not progress, initial=start, total=stage.steps)
    for step in bar:
        batch = sample_batch(step)
        losses = objective.generator_losses(batch)
        _check_finite(losses, step, ckpt_path, last_saved, "loss")
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        params = [p for g in opt.param_groups for p in g["params"]]
        norm = torch.nn.utils.clip_grad_norm_(params, stage.grad_clip if stage.grad_clip > 0 else float("inf"))
        _check_finite({"grad_norm": norm}, step, ckpt_path, last_saved, "gradient")
        opt.step()
        row = {k: float(v.detach()) for k, v in losses.items()}
        if disc is not None:
            d = objective.discriminator_losses(batch)
            _check_finite(d, step, ckpt_path, last_saved, "discriminator loss")
            disc_opt.zero_grad(set_to_none=True)
            d["total"].backward()
            disc_opt.step()
            row["disc"] = float(d["disc"].detach())
        history.append(row)
        samples += batch["rgb"].shape[0]
        bar.set_postfix(loss=f"{row['total']:.4f}")
        if (step + 1) % stage.checkpoint_every == 0 or step + 1 == stage.steps:
            save(step + 1)
            last_saved = step + 1
    if start >= stage.steps and not ckpt_path.exists():
        save(stage.steps)
    seconds = prior["seconds"] + time.perf_counter() - t0  # a finished checkpoint reports its own training time
    samples += prior["samples"]
    return TrainResult(
        ckpt_path,
        stage.steps,
        seconds,
        samples / seconds if seconds > 0 else 0.0,
        peak_memory_mb(device),
        history,
        meta.get("perceptual", ""),
    )


def _sampler(clips: ClipSet, stage: StageConfig, device) -> Callable[[int], dict]:
    return lambda step: to_batch(clips, batch_indices(len(clips), stage.batch_size, stage.seed, step), device)


def pretrain(
    settings: WorldModelSettings, syn: ClipSet, ckpt: str | Path, resume: bool = False, progress: bool = True
) -> TrainResult:
    """Stage 1: theta_syn from synthetic clips with depth (and flow) labels."""
    st, cfg = settings.pretrain, settings.model
    if syn.depth is None:
        raise PhysWorldError("pretrain needs clips with ground-truth depth (the synthetic set)")
    check_compatible(syn, cfg.image_size, cfg.action_dim, "pretrain data")
    device = resolve_device(st.device)
    torch.manual_seed(st.seed)
    model = WorldModel4D(cfg).to(device)
    perceptual = make_perceptual(st.perceptual_weights).to(device)
    meta = {"stage": "pretrain", "perceptual": perceptual.name, "data": syn.source}
    return train_loop(
        objective=Stage1Objective(model, st, perceptual),
        kind="world_model_4d",
        model_cfg=cfg,
        stage=st,
        sample_batch=_sampler(syn, st, device),
        ckpt_path=ckpt,
        meta=meta,
        resume=resume,
        desc="stage 1 (synthetic)",
        progress=progress,
    )


def adapt(
    settings: WorldModelSettings,
    syn_ckpt: str | Path,
    real: ClipSet,
    ckpt: str | Path,
    resume: bool = False,
    progress: bool = True,
    desc: str = "stage 2 (adapt)",
) -> TrainResult:
    """Stage 2 (eq. 4): start from theta_syn; L_render + lambda_p L_phys + lambda_a L_adv on 'real' clips."""
    st = settings.adapt
    device = resolve_device(st.device)
    torch.manual_seed(st.seed)
    model, payload = load_model(syn_ckpt, expect_kind="world_model_4d", device=device)
    cfg = model.cfg
    check_compatible(real, cfg.image_size, cfg.action_dim, "adaptation data")
    syn_dynamics = copy.deepcopy(model.dynamics)
    disc = PatchDiscriminator().to(device) if st.lambda_a > 0 else None
    perceptual = make_perceptual(st.perceptual_weights).to(device)
    meta = {
        "stage": "adapt",
        "perceptual": perceptual.name,
        "data": real.source,
        "init": str(syn_ckpt),
        "lambda_p": st.lambda_p,
        "lambda_a": st.lambda_a,
    }
    objective = AdaptObjective(model, syn_dynamics, disc, st, perceptual)
    return train_loop(
        objective=objective,
        kind="world_model_4d",
        model_cfg=cfg,
        stage=st,
        sample_batch=_sampler(real, st, device),
        ckpt_path=ckpt,
        meta=meta,
        resume=resume,
        desc=desc,
        progress=progress,
    )


def train_real_only(
    settings: WorldModelSettings, real: ClipSet, ckpt: str | Path, resume: bool = False, progress: bool = True
) -> TrainResult:
    """Baseline 'real only, no 3D path': the 2D video model on the 'real' clips."""
    st, cfg = settings.real_only, settings.model
    check_compatible(real, cfg.image_size, cfg.action_dim, "real-only data")
    device = resolve_device(st.device)
    torch.manual_seed(st.seed)
    model = VideoModel2D(cfg).to(device)
    disc = PatchDiscriminator().to(device) if st.lambda_a > 0 else None
    perceptual = make_perceptual(st.perceptual_weights).to(device)
    meta = {"stage": "real_only", "perceptual": perceptual.name, "data": real.source}
    return train_loop(
        objective=RealOnly2DObjective(model, disc, st, perceptual),
        kind="video_2d",
        model_cfg=cfg,
        stage=st,
        sample_batch=_sampler(real, st, device),
        ckpt_path=ckpt,
        meta=meta,
        resume=resume,
        desc="real-only 2D baseline",
        progress=progress,
    )


def train_depth_estimator(
    settings: WorldModelSettings, clipsets: list[ClipSet], ckpt: str | Path, progress: bool = True
) -> TrainResult:
    """Geo-C's default depth source: a small monocular depth CNN trained on labelled sim clips of both
    domains (a stand-in for an off-the-shelf estimator, which cannot be downloaded here)."""
    st, cfg = settings.depth_estimator, settings.model
    for c in clipsets:
        if c.depth is None:
            raise PhysWorldError(f"depth estimator training needs depth labels; {c.source!r} has none")
    device = resolve_device(st.device)
    torch.manual_seed(st.seed)
    near, far = cfg.grid_bounds[4], cfg.grid_bounds[5]
    model = DepthEstimator(near, far).to(device)
    n = [len(c) for c in clipsets]

    def sample(step: int) -> dict:
        parts = [
            to_batch(c, batch_indices(len(c), max(1, st.batch_size // len(clipsets)), st.seed + i, step), device)
            for i, c in enumerate(clipsets)
        ]
        return {k: torch.cat([p[k] for p in parts], 0) for k in ("rgb", "depth")}

    meta = {"stage": "depth_estimator", "near": near, "far": far, "data": [c.source for c in clipsets], "clips": n}
    return train_loop(
        objective=DepthObjective(model, st),
        kind="depth_estimator",
        model_cfg=cfg,
        stage=st,
        sample_batch=sample,
        ckpt_path=ckpt,
        meta=meta,
        desc="Geo-C depth estimator",
        progress=progress,
    )
