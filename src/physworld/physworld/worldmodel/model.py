"""The 4D world model of paper 000 (Fig. 1): 3D encoder E, recurrent dynamics D, volume renderer R.

* E: a 2D CNN predicts per-pixel features and a depth distribution over ``depth_bins``; each voxel
  centre is projected into the image and receives ``feature(u, v) * p(z | u, v)`` (lifting along
  camera rays, sampled with ``grid_sample``), then a 3D conv refines the grid into z (B, C, D, H, W).
* D: stacked 3D ConvGRU cells, z_{t+1} = D(z_t, a_t); the action/ego-motion vector is broadcast
  over the grid together with the voxel coordinates.
* R: density and colour heads on z, trilinear sampling along the camera rays, alpha compositing ->
  RGB, depth (optical z) and opacity. Plain PyTorch, no custom kernels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .config import ModelConfig
from .geometry import (
    composite,
    model_intrinsics,
    pixel_ray_directions,
    points_to_grid_coords,
    project_to_image_coords,
    ray_sample_depths,
    voxel_centres,
)


def _conv2d(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(min(8, cout), cout), nn.SiLU())


def check_images(images: torch.Tensor, cfg: ModelConfig, what: str = "images") -> None:
    if images.dim() != 4 or images.shape[1] != 3:
        raise InputError(f"{what}: expected (B, 3, H, W) RGB in [0, 1], got shape {tuple(images.shape)}")
    if list(images.shape[-2:]) != list(cfg.image_size):
        raise InputError(
            f"{what}: resolution {tuple(images.shape[-2:])} does not match model.image_size {cfg.image_size} "
            "(resize the data or train a model with that image_size)"
        )


class Encoder3D(nn.Module):
    """E: image (B, 3, H, W) in [0, 1] -> latent voxel grid z (B, C, D, H, W) in [-1, 1]."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        w, c, bins = cfg.encoder_width, cfg.channels, cfg.depth_bins
        self.image_net = nn.Sequential(_conv2d(3, w), _conv2d(w, w, 2), _conv2d(w, w), nn.Conv2d(w, c + bins, 1))
        intr = model_intrinsics(cfg)
        centres = voxel_centres(cfg)  # (D, H, W, 3)
        img_xy, z = project_to_image_coords(centres, intr)
        z0, z1 = cfg.grid_bounds[4], cfg.grid_bounds[5]
        nz = 2.0 * (z - z0) / (z1 - z0) - 1.0
        d, h, w_ = cfg.grid_size
        self.register_buffer("img_coords", img_xy.reshape(1, d * h, w_, 2), persistent=False)
        self.register_buffer("bin_coords", torch.cat([img_xy, nz[..., None]], -1).unsqueeze(0), persistent=False)
        pos = points_to_grid_coords(centres, cfg).permute(3, 0, 1, 2).unsqueeze(0)
        self.register_buffer("pos", pos, persistent=False)
        self.refine = nn.Sequential(
            nn.Conv3d(c + 1 + 3, c, 3, 1, 1), nn.GroupNorm(min(8, c), c), nn.SiLU(), nn.Conv3d(c, c, 3, 1, 1), nn.Tanh()
        )

    def depth_distribution(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.image_net(images * 2.0 - 1.0)
        c = self.cfg.channels
        return out[:, :c], torch.softmax(out[:, c:], dim=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_images(images, self.cfg)
        b = images.shape[0]
        d, h, w = self.cfg.grid_size
        feat, prob = self.depth_distribution(images)
        fs = F.grid_sample(feat, self.img_coords.expand(b, -1, -1, -1), align_corners=False)
        fs = fs.view(b, -1, d, h, w)
        ps = F.grid_sample(prob.unsqueeze(1), self.bin_coords.expand(b, -1, -1, -1, -1), align_corners=False)
        ps = ps * self.cfg.depth_bins  # uniform distribution -> 1
        return self.refine(torch.cat([fs * ps, ps, self.pos.expand(b, -1, -1, -1, -1)], dim=1))


class ConvGRU3DCell(nn.Module):
    def __init__(self, in_ch: int, hidden: int):
        super().__init__()
        self.gates = nn.Conv3d(in_ch + hidden, 2 * hidden, 3, 1, 1)
        self.candidate = nn.Conv3d(in_ch + hidden, hidden, 3, 1, 1)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        r, u = torch.sigmoid(self.gates(torch.cat([x, h], 1))).chunk(2, dim=1)
        c = torch.tanh(self.candidate(torch.cat([x, r * h], 1)))
        return (1.0 - u) * h + u * c


class Dynamics3D(nn.Module):
    """D: z_{t+1} = D(z_t, a_t) with a_t (B, action_dim) or None (zeros)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        pos = points_to_grid_coords(voxel_centres(cfg), cfg).permute(3, 0, 1, 2).unsqueeze(0)
        self.register_buffer("pos", pos, persistent=False)
        in_ch = cfg.action_dim + 3
        self.cells = nn.ModuleList(ConvGRU3DCell(in_ch, cfg.channels) for _ in range(cfg.dynamics_layers))

    def forward(self, z: torch.Tensor, action: torch.Tensor | None = None) -> torch.Tensor:
        b = z.shape[0]
        parts = [self.pos.expand(b, -1, -1, -1, -1)]
        if self.cfg.action_dim:
            if action is None:
                action = z.new_zeros(b, self.cfg.action_dim)
            if action.shape != (b, self.cfg.action_dim):
                raise InputError(
                    f"action shape {tuple(action.shape)} != (batch, model.action_dim={self.cfg.action_dim})"
                )
            a = (action * self.cfg.action_scale).view(b, -1, 1, 1, 1).expand(-1, -1, *z.shape[2:])
            parts.insert(0, a)
        x = torch.cat(parts, 1)
        for cell in self.cells:
            z = cell(x, z)
        return z


class VolumeRenderer(nn.Module):
    """R: z -> {"rgb": (B, 3, H, W), "depth": (B, H, W) metres, "opacity": (B, H, W)}."""

    density_scale = 10.0

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.head = nn.Conv3d(cfg.channels, 4, 1)
        nn.init.constant_(self.head.bias[:1], -2.0)
        self.background = nn.Parameter(torch.zeros(3))
        intr = model_intrinsics(cfg)
        dirs = pixel_ray_directions(intr)  # (H, W, 3)
        depths = ray_sample_depths(cfg)  # (S,)
        pts = dirs.unsqueeze(0) * depths.view(-1, 1, 1, 1)  # (S, H, W, 3)
        step = (cfg.grid_bounds[5] - cfg.grid_bounds[4]) / cfg.render_samples
        self.register_buffer("coords", points_to_grid_coords(pts, cfg).unsqueeze(0), persistent=False)
        self.register_buffer("depths", depths, persistent=False)
        self.register_buffer("deltas", (step * dirs.norm(dim=-1)).expand(len(depths), -1, -1).clone(), persistent=False)

    def fields(self, z: torch.Tensor) -> torch.Tensor:
        """Activated fields on the grid: density (>= 0) and colour in [0, 1], (B, 4, D, H, W)."""
        out = self.head(z)
        return torch.cat([F.softplus(out[:, :1]) * self.density_scale, torch.sigmoid(out[:, 1:])], 1)

    def forward(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        b = z.shape[0]
        # sampling the activated fields: outside the box density is exactly 0 (zero padding)
        s = F.grid_sample(self.fields(z), self.coords.expand(b, -1, -1, -1, -1), align_corners=False)
        rgb, depth, opacity = composite(
            s[:, 0], s[:, 1:], self.depths, self.deltas, torch.sigmoid(self.background), self.cfg.grid_bounds[5]
        )
        return {"rgb": rgb, "depth": depth, "opacity": opacity}


class WorldModel4D(nn.Module):
    kind = "world_model_4d"

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder3D(cfg)
        self.dynamics = Dynamics3D(cfg)
        self.renderer = VolumeRenderer(cfg)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images)

    def step(self, z: torch.Tensor, action: torch.Tensor | None = None) -> torch.Tensor:
        return self.dynamics(z, action)

    def render(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.renderer(z)

    def rollout_latents(self, first: torch.Tensor, actions: torch.Tensor | None, n_frames: int) -> list[torch.Tensor]:
        """[z_0 = E(I_0), z_1 = D(z_0, a_0), ...] (n_frames latents); actions (B, >= n_frames-1, A) or None."""
        z = self.encode(first)
        zs = [z]
        for t in range(n_frames - 1):
            z = self.step(z, None if actions is None else actions[:, t])
            zs.append(z)
        return zs

    def rollout(self, first: torch.Tensor, actions: torch.Tensor | None, n_frames: int) -> dict[str, torch.Tensor]:
        """Generated clip from the first frame: rgb (B, T, 3, H, W), depth and opacity (B, T, H, W)."""
        zs = self.rollout_latents(first, actions, n_frames)
        b = first.shape[0]
        out = self.render(torch.cat(zs, 0))
        return {k: v.view(len(zs), b, *v.shape[1:]).transpose(0, 1) for k, v in out.items()}
