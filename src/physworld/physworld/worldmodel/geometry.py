"""Camera/voxel geometry in torch: pixel rays, voxel centres, normalised ``grid_sample`` coordinates.

Conventions: optical frame (x right, y down, z forward), pixel centres at integer (u, v) with the
``CameraIntrinsics.from_fov`` principal point, ``grid_sample(..., align_corners=False)`` everywhere.
A grid tensor is (B, C, D, H, W) with D along z, H along y, W along x.
"""

from __future__ import annotations

import torch

from ..sim.camera import CameraIntrinsics
from .config import ModelConfig


def model_intrinsics(cfg: ModelConfig) -> CameraIntrinsics:
    lo, hi = cfg.grid_bounds[4], cfg.grid_bounds[5]
    return CameraIntrinsics.from_fov(cfg.width, cfg.height, cfg.fov_y_deg, near=lo, far=hi)


def voxel_centres(cfg: ModelConfig) -> torch.Tensor:
    """(D, H, W, 3) voxel centre coordinates [x, y, z] in metres."""
    x0, x1, y0, y1, z0, z1 = cfg.grid_bounds
    d, h, w = cfg.grid_size

    def centres(lo, hi, n):
        return lo + (torch.arange(n, dtype=torch.float32) + 0.5) * (hi - lo) / n

    z, y, x = torch.meshgrid(centres(z0, z1, d), centres(y0, y1, h), centres(x0, x1, w), indexing="ij")
    return torch.stack([x, y, z], dim=-1)


def points_to_grid_coords(points: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """Metric points [..., 3] -> normalised [-1, 1] coordinates (x, y, z order) for 3D ``grid_sample``."""
    x0, x1, y0, y1, z0, z1 = cfg.grid_bounds
    lo = points.new_tensor([x0, y0, z0])
    hi = points.new_tensor([x1, y1, z1])
    return 2.0 * (points - lo) / (hi - lo) - 1.0


def project_to_image_coords(points: torch.Tensor, intr: CameraIntrinsics) -> tuple[torch.Tensor, torch.Tensor]:
    """Points [..., 3] -> (normalised image coords [..., 2] for 2D ``grid_sample``, z [...])."""
    z = points[..., 2].clamp_min(1e-6)
    u = intr.fx * points[..., 0] / z + intr.cx
    v = intr.fy * points[..., 1] / z + intr.cy
    nu = 2.0 * (u + 0.5) / intr.width - 1.0
    nv = 2.0 * (v + 0.5) / intr.height - 1.0
    return torch.stack([nu, nv], dim=-1), points[..., 2]


def pixel_ray_directions(intr: CameraIntrinsics) -> torch.Tensor:
    """(H, W, 3) ray directions scaled so that their z component is 1 (point = dir * depth)."""
    v, u = torch.meshgrid(
        torch.arange(intr.height, dtype=torch.float32), torch.arange(intr.width, dtype=torch.float32), indexing="ij"
    )
    return torch.stack([(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, torch.ones_like(u)], dim=-1)


def ray_sample_depths(cfg: ModelConfig) -> torch.Tensor:
    """(S,) sample depths (optical z, metres) at the centres of S equal intervals of [zmin, zmax]."""
    z0, z1 = cfg.grid_bounds[4], cfg.grid_bounds[5]
    s = cfg.render_samples
    return z0 + (torch.arange(s, dtype=torch.float32) + 0.5) * (z1 - z0) / s


def composite(
    density: torch.Tensor,
    colour: torch.Tensor,
    depths: torch.Tensor,
    deltas: torch.Tensor,
    background: torch.Tensor,
    far: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Alpha compositing along rays (NeRF quadrature).

    density (B, S, H, W) >= 0, colour (B, 3, S, H, W), depths (S,), deltas (S, H, W) ray-length steps,
    background (3,). Returns rgb (B, 3, H, W), expected depth (B, H, W) (``far`` where empty) and
    opacity (B, H, W).
    """
    alpha = 1.0 - torch.exp(-density * deltas.unsqueeze(0))
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1.0 - alpha[:, :-1] + 1e-10], dim=1), dim=1)
    weights = alpha * trans
    opacity = weights.sum(dim=1)
    rgb = (weights.unsqueeze(1) * colour).sum(dim=2) + (1.0 - opacity).unsqueeze(1) * background.view(1, 3, 1, 1)
    depth = (weights * depths.view(1, -1, 1, 1)).sum(dim=1) + (1.0 - opacity) * far
    return rgb, depth, opacity
