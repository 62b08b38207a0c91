"""Collision optimisation (eq. 3): SDF grid, differentiable lookup, vertical offsets."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from physworld.errors import InputError
from physworld.recon.collision import (
    CollisionConfig,
    build_sdf_grid,
    optimise_clearance,
    signed_distance,
)


def height_map_mesh(fn, half=0.4, n=41):
    """Open height-map surface z = fn(x, y) over a square, faces pointing up."""
    xs = np.linspace(-half, half, n)
    X, Y = np.meshgrid(xs, xs, indexing="xy")
    V = np.stack([X.ravel(), Y.ravel(), fn(X, Y).ravel()], axis=1)
    faces = []
    for j in range(n - 1):
        for i in range(n - 1):
            a, b, c, d = j * n + i, j * n + i + 1, (j + 1) * n + i, (j + 1) * n + i + 1
            faces += [[a, b, d], [a, d, c]]
    return trimesh.Trimesh(V, np.array(faces), process=False)


def flat(X, Y):
    return np.zeros_like(X)


def bumpy(X, Y):
    return 0.03 * np.exp(-((X - 0.1) ** 2 + Y**2) / (2 * 0.05**2))


def box_at(center, extents=(0.06, 0.06, 0.06)):
    m = trimesh.creation.box(extents=extents)
    m.apply_translation(center)
    return m


CFG = CollisionConfig(voxel_size=0.004, clearance=0.002, max_shift=0.1, device="cpu")


def test_signed_distance_sign_of_open_height_map():
    bg = height_map_mesh(flat)
    pts = np.array([[0.0, 0.0, 0.05], [0.0, 0.0, -0.03], [0.1, 0.1, 0.01]])
    sd = signed_distance(bg, pts)
    np.testing.assert_allclose(sd, [0.05, -0.03, 0.01], atol=1e-5)


def test_signed_distance_of_closed_mesh_is_negative_inside():
    bg = trimesh.creation.box(extents=(1.0, 1.0, 0.2))  # table slab, top at z = 0.1
    sd = signed_distance(bg, np.array([[0.0, 0.0, 0.15], [0.0, 0.0, 0.05]]))
    np.testing.assert_allclose(sd, [0.05, -0.05], atol=1e-5)


def test_grid_sample_matches_direct_sdf():
    bg = height_map_mesh(bumpy)
    grid = build_sdf_grid(bg, np.array([-0.1, -0.1, -0.05]), np.array([0.2, 0.1, 0.1]), 0.004)
    rng = np.random.default_rng(0)
    pts = rng.uniform([-0.08, -0.08, -0.03], [0.18, 0.08, 0.08], size=(200, 3))
    np.testing.assert_allclose(grid.sample(pts), signed_distance(bg, pts), atol=0.003)


@pytest.mark.parametrize("surface", [flat, bumpy])
def test_penetrating_objects_are_lifted_to_clearance(surface):
    bg = height_map_mesh(surface)
    objects = {"deep": box_at([0.1, 0.0, 0.0]), "shallow": box_at([-0.2, 0.1, 0.025])}
    res = optimise_clearance(bg, objects, CFG)
    assert res.converged
    for name, mesh in objects.items():
        assert res.initial_min_clearance[name] < 0.0
        moved = mesh.copy()
        moved.apply_translation([0.0, 0.0, res.offsets[name]])
        pts = np.concatenate([moved.vertices, moved.sample(2000)])
        true_min = signed_distance(bg, pts).min()
        assert true_min >= CFG.clearance - 1.5e-3, (name, true_min)
        # lifted just enough, not thrown into the air
        assert true_min <= CFG.clearance + 0.006, (name, true_min)
        assert res.offsets[name] > 0.0


def test_clear_objects_barely_move():
    bg = height_map_mesh(bumpy)
    objects = {"resting": box_at([-0.2, -0.2, 0.034]), "floating": box_at([0.1, 0.0, 0.12])}
    res = optimise_clearance(bg, objects, CFG)
    assert res.converged
    for name in objects:
        assert abs(res.offsets[name]) < 1e-4, (name, res.offsets[name])
    assert res.iterations <= 2


def test_unreachable_clearance_stops_early_and_reports_not_converged():
    bg = height_map_mesh(flat)
    cfg = CollisionConfig(voxel_size=0.004, max_shift=0.01, patience=10, max_iters=400, device="cpu")
    res = optimise_clearance(bg, {"sunk": box_at([0.0, 0.0, -0.1])}, cfg)
    assert not res.converged
    assert res.iterations < 400
    assert res.min_clearance["sunk"] < 0.0


def test_empty_background_is_rejected():
    empty = trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=int))
    with pytest.raises(InputError, match="no faces"):
        optimise_clearance(empty, {"a": box_at([0, 0, 0])}, CFG)
