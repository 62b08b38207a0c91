"""Collision optimisation (PhysWorld III-A, eq. 3).

The background mesh is voxelised into a signed distance field (SDF) grid; each object ``i`` gets a
vertical offset ``delta_i`` along the gravity-opposing axis ``z`` and we minimise

    L(delta) = sum_i mean_v relu(clearance - SDF(v + delta_i * z))^2

over the object's vertices ``v`` (plus, optionally, points sampled on its surface: a coarse mesh
whose vertices clear the background can still have faces cutting through a bump). The SDF is
sampled trilinearly with ``torch.nn.functional.grid_sample`` so gradients flow to ``delta``; the
minimisation is Adam with gradient clipping and early stopping (an object stops as soon as it is
clear, or when its loss has not improved by ``tolerance`` for ``patience`` iterations). The objects
are independent in eq. 3, so each is solved on its own grid around its footprint.

Sign convention: SDF > 0 outside / above the background, < 0 inside / below it. A watertight
background uses open3d's ray-parity sign; an open surface (the height-map background of III-A)
counts crossings of a vertical ray instead: a point is inside when it lies below the surface.
Object-object contacts are not part of eq. 3 and are not handled here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..config import param
from ..errors import InputError

SIGN_MODES = ("auto", "parity", "up_ray")
_UP_RAY_TILTS = ((0.0123, 0.0071), (-0.0093, 0.0157), (0.0041, -0.0137))


@dataclass
class CollisionConfig:
    voxel_size: float = param(0.004, "SDF grid spacing (m)", range=(0.0005, 0.1))
    grid_padding: float = param(0.03, "grid margin around each object's footprint (m)", range=(0.0, 1.0))
    max_shift: float = param(
        0.05, "largest vertical offset (m); the grid covers +- this around an object's bottom", range=(0.001, 2.0)
    )
    clearance: float = param(0.002, "required clearance between objects and background (m)", range=(0.0, 0.1))
    lr: float = param(0.002, "Adam learning rate (m per step, roughly)", range=(1e-6, 0.1))
    max_iters: int = param(500, "iteration cap of the optimisation", range=(1, 100000))
    grad_clip: float = param(1.0, "gradient-norm clip", range=(1e-6, 1e6))
    patience: int = param(30, "stop after this many iterations without improvement", range=(1, 100000))
    tolerance: float = param(
        1e-12, "loss improvements smaller than this do not reset the patience counter", range=(0.0, 1.0)
    )
    clearance_tolerance: float = param(
        2e-4, "an object is clear when min SDF >= clearance - this (m)", range=(0.0, 0.01)
    )
    surface_samples: int = param(
        256, "extra points sampled on each object's surface (0: vertices only)", range=(0, 100000)
    )
    sign_mode: str = param("auto", "SDF sign: parity (watertight), up_ray (open height map), auto", choices=SIGN_MODES)
    device: str = param("auto", "torch device: auto, cpu or cuda")


@dataclass
class SdfGrid:
    """SDF samples ``values[k, j, i]`` at ``origin + (i, j, k) * spacing`` (z-major, torch's D,H,W)."""

    values: np.ndarray
    origin: np.ndarray
    spacing: float

    @property
    def upper(self) -> np.ndarray:
        nz, ny, nx = self.values.shape
        return self.origin + self.spacing * (np.array([nx, ny, nz]) - 1)

    def sample(self, points: np.ndarray) -> np.ndarray:
        """Trilinear SDF at ``points`` (N, 3) (clamped to the grid), as numpy."""
        import torch

        with torch.no_grad():
            vol = torch.as_tensor(self.values, dtype=torch.float32)[None, None]
            return sample_sdf(vol, self.origin, self.upper, torch.as_tensor(points, dtype=torch.float32)).numpy()


@dataclass
class CollisionResult:
    offsets: dict[str, float]
    min_clearance: dict[str, float]  # min SDF over each object's points after the offset (grid-sampled)
    initial_min_clearance: dict[str, float]
    iterations: int
    converged: bool  # every object reached the requested clearance (within clearance_tolerance)
    loss_history: list[float] = field(default_factory=list)


def signed_distance(mesh, points: np.ndarray, sign_mode: str = "auto") -> np.ndarray:
    """Signed distance of ``points`` (N, 3) to ``mesh`` (trimesh), positive outside/above."""
    import open3d as o3d

    if sign_mode not in SIGN_MODES:
        raise InputError(f"sign_mode must be one of {SIGN_MODES}, got {sign_mode!r}")
    if len(mesh.faces) == 0:
        raise InputError("background mesh has no faces: cannot build an SDF")
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(
        o3d.core.Tensor(np.asarray(mesh.vertices, dtype=np.float32)),
        o3d.core.Tensor(np.asarray(mesh.faces, dtype=np.uint32)),
    )
    q = o3d.core.Tensor(np.ascontiguousarray(points, dtype=np.float32))
    mode = sign_mode if sign_mode != "auto" else ("parity" if mesh.is_watertight else "up_ray")
    if mode == "parity":
        return scene.compute_signed_distance(q, nsamples=3).numpy().astype(np.float64)
    dist = scene.compute_distance(q).numpy().astype(np.float64)
    # Majority vote of three slightly tilted upward rays: a ray exactly through a mesh edge or vertex
    # (common when grid points line up with a regular height map) can be counted twice or missed.
    inside_votes = np.zeros(len(points), dtype=int)
    for tilt in _UP_RAY_TILTS:
        d = np.array([tilt[0], tilt[1], 1.0]) / np.linalg.norm([tilt[0], tilt[1], 1.0])
        rays = np.concatenate([points, np.tile(d, (len(points), 1))], axis=1).astype(np.float32)
        inside_votes += scene.count_intersections(o3d.core.Tensor(rays)).numpy() % 2
    return np.where(inside_votes >= 2, -dist, dist)


def build_sdf_grid(mesh, lower: np.ndarray, upper: np.ndarray, voxel_size: float, sign_mode: str = "auto") -> SdfGrid:
    """Voxelise ``mesh`` into an SDF grid covering the box ``[lower, upper]``."""
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    if np.any(upper <= lower):
        raise InputError(f"SDF grid box is empty: lower {lower} upper {upper}")
    n = np.maximum(np.ceil((upper - lower) / voxel_size).astype(int) + 1, 2)
    if int(np.prod(n)) > 30_000_000:
        raise InputError(f"SDF grid of {n.tolist()} voxels is too large: raise voxel_size ({voxel_size} m)")
    xs, ys, zs = (lower[a] + voxel_size * np.arange(n[a]) for a in range(3))
    Z, Y, X = np.meshgrid(zs, ys, xs, indexing="ij")
    pts = np.stack([X, Y, Z], axis=-1).reshape(-1, 3)
    values = signed_distance(mesh, pts, sign_mode).reshape(n[2], n[1], n[0]).astype(np.float32)
    return SdfGrid(values=values, origin=lower, spacing=float(voxel_size))


def sample_sdf(volume, lower: np.ndarray, upper: np.ndarray, points):
    """Differentiable trilinear lookup: ``volume`` (1, 1, D, H, W) torch, ``points`` (N, 3) torch."""
    import torch
    import torch.nn.functional as F

    lo = torch.as_tensor(lower, dtype=points.dtype, device=points.device)
    hi = torch.as_tensor(upper, dtype=points.dtype, device=points.device)
    g = 2.0 * (points - lo) / (hi - lo) - 1.0  # grid_sample wants (x, y, z) in [-1, 1] -> (W, H, D)
    out = F.grid_sample(volume, g.view(1, 1, 1, -1, 3), mode="bilinear", padding_mode="border", align_corners=True)
    return out.view(-1)


def object_points(mesh, surface_samples: int, seed: int = 0) -> np.ndarray:
    """The vertices of ``mesh`` plus ``surface_samples`` points sampled on its faces."""
    import trimesh

    pts = np.asarray(mesh.vertices, dtype=np.float64)
    if surface_samples > 0 and len(mesh.faces):
        sampled, _ = trimesh.sample.sample_surface(mesh, surface_samples, seed=seed)
        pts = np.concatenate([pts, sampled], axis=0)
    return pts


def optimise_clearance(background, objects: dict, config: CollisionConfig | None = None) -> CollisionResult:
    """Solve eq. 3 for ``objects`` (name -> trimesh in the world frame) against ``background``.

    Returns the vertical offsets (m, along +z) to add to each object's position. The objects do not
    interact in eq. 3, so each gets its own optimiser and stops on its own."""
    cfg = config or CollisionConfig()
    out = CollisionResult({}, {}, {}, 0, True)
    for name, mesh in objects.items():
        pts = object_points(mesh, cfg.surface_samples)
        if len(pts) == 0 or not np.all(np.isfinite(pts)):
            raise InputError(f"object {name!r}: mesh has no finite vertices; cannot place it")
        lo, hi = _grid_box(pts, cfg)
        grid = build_sdf_grid(_crop_xy(background, lo, hi, cfg.grid_padding), lo, hi, cfg.voxel_size, cfg.sign_mode)
        delta, min0, min1, iters, ok, hist = _optimise_one(grid, pts, cfg)
        out.offsets[name], out.initial_min_clearance[name], out.min_clearance[name] = delta, min0, min1
        out.iterations = max(out.iterations, iters)
        out.converged &= ok
        out.loss_history.extend(hist)
    return out


def _crop_xy(mesh, lo: np.ndarray, hi: np.ndarray, margin: float):
    """The faces of ``mesh`` with a vertex within ``margin`` of the box's footprint: a large
    background need not be ray-cast as a whole for one object's grid. The crop is an open surface;
    with sign_mode 'auto' it gets the vertical-ray sign (below the surface = inside)."""
    v = np.asarray(mesh.vertices)[np.asarray(mesh.faces)]  # (F, 3, 3)
    inside = np.all((v[..., :2] >= lo[:2] - margin) & (v[..., :2] <= hi[:2] + margin), axis=2).any(axis=1)
    if inside.all() or not inside.any():
        return mesh
    return mesh.submesh([np.flatnonzero(inside)], append=True)


def _grid_box(pts: np.ndarray, cfg: CollisionConfig) -> tuple[np.ndarray, np.ndarray]:
    """The SDF box of one object: its footprint plus ``grid_padding``; in z only the band its lowest
    point can sweep (+-``max_shift``). Points above the band read the top layer's SDF (border
    clamping), which is positive unless the background rises above the band under the object."""
    lo, hi = pts.min(0), pts.max(0)
    pad = cfg.grid_padding
    zpad = cfg.max_shift + cfg.clearance + 2 * cfg.voxel_size
    return np.array([lo[0] - pad, lo[1] - pad, lo[2] - zpad]), np.array([hi[0] + pad, hi[1] + pad, lo[2] + zpad])


def _optimise_one(grid: SdfGrid, pts: np.ndarray, cfg: CollisionConfig):
    """Adam on one vertical offset; returns (delta, initial min SDF, final min SDF, iterations,
    converged, loss history). Converged means min SDF >= clearance - clearance_tolerance."""
    import torch

    from ..device import resolve_device

    device = resolve_device(cfg.device)
    vol = torch.as_tensor(grid.values, device=device)[None, None]
    p = torch.as_tensor(pts, dtype=torch.float32, device=device)
    ez = torch.tensor([0.0, 0.0, 1.0], device=device)
    delta = torch.zeros(1, device=device, requires_grad=True)
    # beta2 = 0.9: the penalty's gradient shrinks by orders of magnitude near the optimum; a long
    # second-moment memory (0.999, even 0.99) would then make the last steps vanishingly small.
    opt = torch.optim.Adam([delta], lr=cfg.lr, betas=(0.9, 0.9))

    def evaluate(d):
        sdf = sample_sdf(vol, grid.origin, grid.upper, p + d * ez)
        return torch.relu(cfg.clearance - sdf).pow(2).mean(), sdf.min()

    def clear(min_sdf: float) -> bool:
        return min_sdf >= cfg.clearance - cfg.clearance_tolerance

    history: list[float] = []
    best_loss, best_delta, since_best = np.inf, 0.0, 0
    with torch.no_grad():
        _, m0 = evaluate(delta)
    min0 = float(m0)
    for _ in range(cfg.max_iters):
        opt.zero_grad()
        loss, min_sdf = evaluate(delta)
        lv, dv = float(loss.detach()), float(delta.detach()[0])
        history.append(lv)
        if lv < best_loss - cfg.tolerance:
            best_loss, best_delta, since_best = lv, dv, 0
        else:
            since_best += 1
        if clear(float(min_sdf.detach())):
            best_delta = dv
            break
        if since_best >= cfg.patience:
            break
        loss.backward()
        torch.nn.utils.clip_grad_norm_([delta], cfg.grad_clip)
        opt.step()
        with torch.no_grad():
            delta.clamp_(-cfg.max_shift, cfg.max_shift)
    with torch.no_grad():
        _, m1 = evaluate(torch.tensor([best_delta], device=device))
    return best_delta, min0, float(m1), len(history), clear(float(m1)), history
