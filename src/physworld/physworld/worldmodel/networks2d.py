"""2D networks around the world model: PatchGAN discriminator, the real-only 2D video baseline
(no 3D path: 2D encoder, 2D ConvGRU, 2D decoder) and the small depth estimator used as Geo-C's depth
source when no external depth model is given."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .config import ModelConfig
from .model import _conv2d, check_images


class PatchDiscriminator(nn.Module):
    """PatchGAN (Isola et al.): one real/fake logit per receptive-field patch, (B, 1, H/4, W/4)."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            nn.GroupNorm(8, 2 * width),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 2 * width, 3, 1, 1),
            nn.GroupNorm(8, 2 * width),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 1, 3, 1, 1),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images * 2.0 - 1.0)


class ConvGRU2DCell(nn.Module):
    def __init__(self, in_ch: int, hidden: int):
        super().__init__()
        self.gates = nn.Conv2d(in_ch + hidden, 2 * hidden, 3, 1, 1)
        self.candidate = nn.Conv2d(in_ch + hidden, hidden, 3, 1, 1)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        r, u = torch.sigmoid(self.gates(torch.cat([x, h], 1))).chunk(2, dim=1)
        c = torch.tanh(self.candidate(torch.cat([x, r * h], 1)))
        return (1.0 - u) * h + u * c


class VideoModel2D(nn.Module):
    """Real-only baseline without the 3D path: image -> 2D latent (stride 4) -> ConvGRU -> decoder."""

    kind = "video_2d"

    def __init__(self, cfg: ModelConfig, latent_channels: int = 64):
        super().__init__()
        self.cfg = cfg
        w = cfg.encoder_width
        self.encoder = nn.Sequential(
            _conv2d(3, w, 2), _conv2d(w, w, 2), nn.Conv2d(w, latent_channels, 3, 1, 1), nn.Tanh()
        )
        self.cell = ConvGRU2DCell(cfg.action_dim + 2, latent_channels)
        self.decoder = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            _conv2d(latent_channels, w),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            _conv2d(w, w),
            nn.Conv2d(w, 3, 3, 1, 1),
            nn.Sigmoid(),
        )

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        check_images(images, self.cfg)
        if images.shape[-1] % 4 or images.shape[-2] % 4:
            raise InputError(f"the 2D baseline needs image sizes divisible by 4, got {tuple(images.shape[-2:])}")
        return self.encoder(images * 2.0 - 1.0)

    def step(self, h: torch.Tensor, action: torch.Tensor | None) -> torch.Tensor:
        b, _, hh, ww = h.shape
        ys, xs = torch.meshgrid(
            torch.linspace(-1, 1, hh, device=h.device), torch.linspace(-1, 1, ww, device=h.device), indexing="ij"
        )
        parts = [torch.stack([xs, ys]).unsqueeze(0).expand(b, -1, -1, -1)]
        if self.cfg.action_dim:
            a = h.new_zeros(b, self.cfg.action_dim) if action is None else action
            parts.insert(0, (a * self.cfg.action_scale).view(b, -1, 1, 1).expand(-1, -1, hh, ww))
        return self.cell(torch.cat(parts, 1), h)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        return self.decoder(h)

    def rollout_latents(self, first: torch.Tensor, actions: torch.Tensor | None, n_frames: int) -> list[torch.Tensor]:
        h = self.encode(first)
        hs = [h]
        for t in range(n_frames - 1):
            h = self.step(h, None if actions is None else actions[:, t])
            hs.append(h)
        return hs

    def rollout(self, first: torch.Tensor, actions: torch.Tensor | None, n_frames: int) -> dict[str, torch.Tensor]:
        hs = self.rollout_latents(first, actions, n_frames)
        rgb = self.decode(torch.cat(hs, 0))
        return {"rgb": rgb.view(len(hs), first.shape[0], *rgb.shape[1:]).transpose(0, 1)}


class DepthEstimator(nn.Module):
    """Small monocular depth network (U-Net-like) -> metric depth (B, H, W) in [near, far]."""

    kind = "depth_estimator"

    def __init__(self, near: float, far: float, width: int = 32):
        super().__init__()
        self.near, self.far = float(near), float(far)
        w = width
        self.e1, self.e2, self.e3 = _conv2d(3, w), _conv2d(w, 2 * w, 2), _conv2d(2 * w, 2 * w, 2)
        self.d2, self.d1 = _conv2d(4 * w, w), _conv2d(2 * w, w)
        self.out = nn.Conv2d(w, 1, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x1 = self.e1(images * 2.0 - 1.0)
        x2 = self.e2(x1)
        x3 = self.e3(x2)
        y = F.interpolate(x3, size=x2.shape[-2:], mode="bilinear", align_corners=False)
        y = self.d2(torch.cat([y, x2], 1))
        y = F.interpolate(y, size=x1.shape[-2:], mode="bilinear", align_corners=False)
        y = self.d1(torch.cat([y, x1], 1))
        return self.near + (self.far - self.near) * torch.sigmoid(self.out(y)[:, 0])
