"""Loss terms of paper 000: rendering consistency (eq. 1), physics regularisation (eq. 2),
adversarial (eq. 3), plus the stage-1 geometry supervision (rendered depth, opacity).

LPIPS needs ImageNet backbone weights, which cannot be downloaded here. ``make_perceptual`` loads a
TorchScript LPIPS module from a local path when one is given; otherwise it returns a *stand-in*,
1 - SSIM, whose ``name`` says so, and every output that reports training settings carries that name.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ArtefactError

SSIM_STANDIN_NAME = "stand-in: 1 - SSIM (no LPIPS weights given; NOT LPIPS)"


class SSIMStandIn(nn.Module):
    """(1 - SSIM) / 2 with a Gaussian window (Wang et al. 2004), averaged over pixels and channels."""

    name = SSIM_STANDIN_NAME
    is_lpips = False

    def __init__(self, window: int = 5, sigma: float = 1.0):
        super().__init__()
        x = torch.arange(window, dtype=torch.float32) - (window - 1) / 2
        g = torch.exp(-(x**2) / (2 * sigma**2))
        g = g / g.sum()
        self.register_buffer("kernel", (g[:, None] * g[None, :]).expand(3, 1, window, window).clone(), persistent=False)
        self.pad = window // 2

    def _blur(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, [self.pad] * 4, mode="replicate"), self.kernel, groups=3)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        c1, c2 = 0.01**2, 0.03**2
        mu_x, mu_y = self._blur(pred), self._blur(target)
        sxx = self._blur(pred * pred) - mu_x**2
        syy = self._blur(target * target) - mu_y**2
        sxy = self._blur(pred * target) - mu_x * mu_y
        ssim = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2))
        return ((1.0 - ssim) / 2.0).mean()


class TorchScriptLPIPS(nn.Module):
    """LPIPS from a local TorchScript file: ``module(x, y)`` with images in [-1, 1] -> distances."""

    is_lpips = True

    def __init__(self, path: str | Path):
        super().__init__()
        path = Path(path)
        if not path.is_file():
            raise ArtefactError(f"{path}: LPIPS TorchScript file not found (perceptual_weights)")
        try:
            self.net = torch.jit.load(str(path), map_location="cpu").eval()
        except Exception as exc:
            raise ArtefactError(f"{path}: not a loadable TorchScript module ({exc})") from exc
        for prm in self.net.parameters():
            prm.requires_grad_(False)
        self.name = f"LPIPS (TorchScript {path.name})"

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.net(pred * 2.0 - 1.0, target * 2.0 - 1.0).mean()


def make_perceptual(weights_path: str = "") -> nn.Module:
    return TorchScriptLPIPS(weights_path) if weights_path else SSIMStandIn()


def weighted_l1(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean |pred - target| over (B, T, C, H, W); ``weight`` (B, T, H, W) is normalised to mean 1."""
    err = (pred - target).abs().mean(dim=2)
    if weight is None:
        return err.mean()
    return (err * weight).sum() / weight.sum().clamp_min(1e-8)


def motion_weights(flow: torch.Tensor, n_frames: int, w_motion: float, ref_px: float = 1.0) -> torch.Tensor:
    """Per-pixel weights (B, T, H, W) = 1 + w_motion * min(|flow| / ref_px, 1), from flow (B, T-1, H, W, 2);
    a frame takes the larger motion of its outgoing and incoming flow (unknown flow counts as still)."""
    mag = torch.nan_to_num(flow.norm(dim=-1), nan=0.0)
    moving = (mag / ref_px).clamp(max=1.0)
    zeros = torch.zeros_like(moving[:, :1])
    out_f = torch.cat([moving, zeros], 1)
    in_f = torch.cat([zeros, moving], 1)
    return 1.0 + w_motion * torch.maximum(out_f, in_f)[:, :n_frames]


def depth_terms(
    pred_depth: torch.Tensor, opacity: torch.Tensor, gt_depth: torch.Tensor, near: float, far: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """L1 of rendered depth on valid pixels and BCE of opacity against 'surface inside the grid'."""
    inside = torch.isfinite(gt_depth) & (gt_depth >= near) & (gt_depth <= far)
    gt = torch.where(inside, gt_depth, torch.zeros_like(gt_depth))
    l1 = ((pred_depth - gt).abs() * inside).sum() / inside.sum().clamp_min(1)
    bce = F.binary_cross_entropy(opacity.clamp(1e-5, 1 - 1e-5), inside.float())
    return l1, bce


def phys_loss(z_next: torch.Tensor, z_next_syn: torch.Tensor) -> torch.Tensor:
    """Eq. 2: ||D_theta(z_t) - StopGrad(D_theta_syn(z_t))||^2, mean over elements."""
    return F.mse_loss(z_next, z_next_syn.detach())


def gan_generator_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    """Generator side of eq. 3 in the usual non-saturating form: -log Disc(I_hat)."""
    return F.binary_cross_entropy_with_logits(logits_fake, torch.ones_like(logits_fake))


def gan_discriminator_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """Discriminator side of eq. 3: -log Disc(I_real) - log(1 - Disc(I_hat))."""
    return F.binary_cross_entropy_with_logits(
        logits_real, torch.ones_like(logits_real)
    ) + F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake))
