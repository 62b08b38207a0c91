"""Per-batch objectives of each training stage. Each returns a dict of scalar loss tensors with a
``total``; the GAN objectives also give the discriminator's loss on the fakes of the last call.

Batches (``clips.to_batch``): rgb (B, T, 3, H, W) in [0, 1], actions (B, T-1, A), optionally depth
(B, T, H, W) and flow (B, T-1, H, W, 2).
"""

from __future__ import annotations

import torch
from torch import nn

from .config import StageConfig
from .losses import (
    depth_terms,
    gan_discriminator_loss,
    gan_generator_loss,
    motion_weights,
    phys_loss,
    weighted_l1,
)


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(0, 1)


def _unflat(x: torch.Tensor, b: int) -> torch.Tensor:
    return x.view(b, -1, *x.shape[1:])


def render_clip_4d(model, batch: dict) -> tuple[dict, list[torch.Tensor]]:
    """The clip as the model generates it from its first frame: z_0 = E(I_0), z_{k+1} = D(z_k, a_k),
    rendered at every step -> ({rgb, depth, opacity} each (B, T, ...), [z_0 .. z_{T-1}])."""
    rgb, actions = batch["rgb"], batch["actions"]
    zs = [model.encode(rgb[:, 0])]
    for k in range(rgb.shape[1] - 1):
        zs.append(model.step(zs[-1], actions[:, k]))
    b = rgb.shape[0]
    return {k: _unflat(v, b) for k, v in model.render(torch.stack(zs, 1).flatten(0, 1)).items()}, zs


def rendering_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    perceptual: nn.Module,
    stage: StageConfig,
    weight: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 1 terms on (B, T, 3, H, W) clips: (L1, perceptual)."""
    return weighted_l1(pred, target, weight), perceptual(_flat(pred), _flat(target))


class Stage1Objective:
    """Synthetic pre-training: RGB + perceptual + rendered depth + opacity on the rendered rollout
    (frame 0 is the reconstruction R(E(I_0)), later frames R(D^k(E(I_0))))."""

    def __init__(self, model, stage: StageConfig, perceptual: nn.Module):
        self.model, self.stage, self.perceptual, self.disc = model, stage, perceptual, None
        self.near, self.far = model.cfg.grid_bounds[4], model.cfg.grid_bounds[5]

    def generator_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        s = self.stage
        rgb, depth = batch["rgb"], batch["depth"]
        t = rgb.shape[1]
        w = motion_weights(batch["flow"], t, s.w_motion) if "flow" in batch and s.w_motion > 0 else None
        ren, _ = render_clip_4d(self.model, batch)
        l1, perc = rendering_loss(ren["rgb"], rgb, self.perceptual, s, w)
        d_l1, o_bce = depth_terms(ren["depth"], ren["opacity"], depth, self.near, self.far)
        out = {"rgb_l1": l1, "perceptual": perc, "depth_l1": d_l1, "opacity_bce": o_bce}
        out["total"] = (
            s.w_rgb * out["rgb_l1"]
            + s.w_perceptual * out["perceptual"]
            + s.w_depth * out["depth_l1"]
            + s.w_opacity * out["opacity_bce"]
        )
        return out


class _GanMixin:
    disc: nn.Module | None
    _fakes: torch.Tensor | None = None

    def adversarial(self, fakes: torch.Tensor) -> torch.Tensor:
        self._fakes = fakes.detach()
        return gan_generator_loss(self.disc(fakes))

    def discriminator_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        real = _flat(batch["rgb"])
        loss = gan_discriminator_loss(self.disc(real), self.disc(self._fakes))
        return {"disc": loss, "total": loss}


class AdaptObjective(_GanMixin):
    """Stage 2 (eq. 4): L_render + lambda_p L_phys + lambda_a L_adv on unlabelled 'real' clips."""

    def __init__(
        self, model, syn_dynamics: nn.Module, disc: nn.Module | None, stage: StageConfig, perceptual: nn.Module
    ):
        self.model, self.syn_dynamics, self.stage, self.perceptual = model, syn_dynamics, stage, perceptual
        self.disc = disc if stage.lambda_a > 0 else None
        for p in self.syn_dynamics.parameters():
            p.requires_grad_(False)
        self.syn_dynamics.eval()

    def generator_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        s = self.stage
        rgb, actions = batch["rgb"], batch["actions"]
        ren, zs = render_clip_4d(self.model, batch)
        l1, perc = rendering_loss(ren["rgb"], rgb, self.perceptual, s)
        out = {"rgb_l1": l1, "perceptual": perc}
        out["render"] = s.w_rgb * l1 + s.w_perceptual * perc
        # eq. 2 along the model's own states: D_theta(z_t) is z_{t+1} of the rollout; the frozen
        # synthetic dynamics sees the same z_t and a_t and is not differentiated
        with torch.no_grad():
            z_next_syn = torch.stack([self.syn_dynamics(z, actions[:, k]) for k, z in enumerate(zs[:-1])], 1)
        z_next = torch.stack(zs[1:], 1)
        out["phys"] = phys_loss(z_next if s.lambda_p > 0 else z_next.detach(), z_next_syn)
        total = out["render"] + (s.lambda_p * out["phys"] if s.lambda_p > 0 else 0.0)
        if self.disc is not None:
            out["adv"] = self.adversarial(_flat(ren["rgb"]))
            total = total + s.lambda_a * out["adv"]
        out["total"] = total
        return out


class RealOnly2DObjective(_GanMixin):
    """Real-only baseline without the 3D path: L1 + perceptual + lambda_a adversarial on its frames."""

    def __init__(self, model, disc: nn.Module | None, stage: StageConfig, perceptual: nn.Module):
        self.model, self.stage, self.perceptual = model, stage, perceptual
        self.disc = disc if stage.lambda_a > 0 else None

    def generator_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        s = self.stage
        rgb, actions = batch["rgb"], batch["actions"]
        t = rgb.shape[1]
        gen = self.model.rollout(rgb[:, 0], actions, t)["rgb"]
        l1, perc = rendering_loss(gen, rgb, self.perceptual, s)
        out = {"rgb_l1": l1, "perceptual": perc}
        total = s.w_rgb * l1 + s.w_perceptual * perc
        if self.disc is not None:
            out["adv"] = self.adversarial(_flat(gen))
            total = total + s.lambda_a * out["adv"]
        out["total"] = total
        return out


class DepthObjective:
    """Supervised monocular depth (L1 on valid pixels) for the Geo-C depth estimator."""

    def __init__(self, model, stage: StageConfig):
        self.model, self.stage, self.disc = model, stage, None

    def generator_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        pred = self.model(_flat(batch["rgb"]))
        gt = _flat(batch["depth"])
        valid = torch.isfinite(gt)
        l1 = ((pred - torch.nan_to_num(gt)).abs() * valid).sum() / valid.sum().clamp_min(1)
        return {"depth_l1": l1, "total": l1}
