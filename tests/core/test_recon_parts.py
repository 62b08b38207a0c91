"""Part-wise object completion (recon.parts): height levels, near-convex pieces, part hulls."""

import numpy as np
import pytest

from physworld.errors import ConfigError, InputError
from physworld.recon.parts import (
    PartsConfig,
    best_cut,
    column_bottoms,
    components,
    convex_enough,
    convex_pieces,
    height_field,
    height_levels,
    hull_area,
    level_regions,
    merge_smallest,
    part_clouds,
    parts_mesh,
    perimeter,
    piece_bottom,
    solidity,
)


def top_points(height_fn, xy_range, step=0.003):
    """Points of a top surface seen from above: z = height_fn(x, y) where > 0 (NaN/0 = nothing)."""
    (x0, x1), (y0, y1) = xy_range
    X, Y = np.meshgrid(np.arange(x0, x1, step), np.arange(y0, y1, step))
    Z = height_fn(X, Y)
    keep = np.isfinite(Z) & (Z > 0)
    return np.c_[X[keep], Y[keep], Z[keep]]


def lid(x, y, radius=0.09, thick=0.008, knob_r=0.014, knob_h=0.025):
    r = np.hypot(x, y)
    return np.where(r <= knob_r, thick + knob_h, np.where(r <= radius, thick, 0.0))


def pan(x, y, radius=0.1, height=0.04, handle=(0.13, 0.028)):
    r = np.hypot(x, y)
    body = np.where(r <= radius, height, 0.0)
    on_handle = (x < -radius + 0.005) & (x > -radius - handle[0]) & (np.abs(y) <= handle[1] / 2)
    return np.where(on_handle, height, body)


def cells(*rects):
    """Cell array (K, 2) of the union of integer rectangles (i0, i1, j0, j1), ends excluded."""
    return np.unique(np.concatenate([np.argwhere(np.ones((i1 - i0, j1 - j0), bool)) + [i0, j0]
                                     for i0, i1, j0, j1 in rects]), axis=0)  # fmt: skip


def width_at(mesh, z, direction):
    """Extent of the mesh's vertices near height ``z`` along the horizontal ``direction``."""
    v = np.asarray(mesh.vertices)
    near = v[np.abs(v[:, 2] - z) < 0.002]
    t = near[:, :2] @ np.asarray(direction, float)
    return float(np.ptp(t)) if len(t) else 0.0


def test_height_levels_split_at_gaps_and_ignore_sparse_tops_between():
    tops = np.r_[np.full(200, 0.008), [0.0165], np.full(30, 0.032)]
    np.testing.assert_allclose(height_levels(tops, 0.01, 4), [0.008, 0.032])
    # the single top at 1.65 cm would bridge the gaps (0.87 and 1.55 cm) if it counted
    np.testing.assert_allclose(height_levels(np.r_[np.full(200, 0.008), np.full(6, 0.0165)], 0.01, 4), [0.0165])
    ramp = np.linspace(0.0, 0.05, 100)  # a sloped top (a sphere, a wedge): one level
    np.testing.assert_allclose(height_levels(ramp, 0.01, 4), [0.05])
    with pytest.raises(InputError, match="no cell top"):
        height_levels(np.array([np.nan]), 0.01)


def test_height_levels_are_flat_faces_not_the_wall_between_them():
    # a pan seen from above: floor and rim tops, and a few inner-wall cells at every height between
    tops = np.r_[np.full(500, 0.006), np.linspace(0.008, 0.039, 40), np.full(300, 0.041)]
    np.testing.assert_allclose(height_levels(tops, 0.008, 4), [0.006, 0.041], atol=0.0025)


def test_hull_area_and_solidity_of_cell_sets():
    square = cells((0, 10, 0, 10))
    assert hull_area(square) == pytest.approx(100.0)
    assert solidity(square) == pytest.approx(1.0)
    assert hull_area(cells((0, 1, 0, 7))) == pytest.approx(7.0)  # one row: a rectangle
    ell = cells((0, 20, 0, 4), (0, 4, 0, 20))
    assert solidity(ell) < 0.6
    ii, jj = np.mgrid[0:41, 0:41]
    r = np.hypot(ii - 20, jj - 20)
    ring = np.argwhere((r <= 20) & (r > 18))
    assert solidity(ring) < 0.3
    assert len(components(np.r_[square, square + 30])) == 2


def test_convex_enough_tolerates_digitised_edges_only():
    ii, jj = np.mgrid[0:41, 0:41]
    r = np.hypot(ii - 20, jj - 20)
    assert perimeter(cells((0, 3, 0, 4))) == 14
    assert convex_enough(np.argwhere(r <= 20)) and convex_enough(np.argwhere(r <= 4))
    diagonal_bar = np.array([(i + k, i) for i in range(30) for k in range(5)])  # staircase edges
    assert solidity(diagonal_bar) < 0.9 and convex_enough(diagonal_bar)
    assert not convex_enough(cells((0, 20, 0, 4), (0, 4, 0, 20)))  # an L
    disc_and_handle = np.r_[np.argwhere(r <= 20), cells((18, 23, 41, 70))]
    assert solidity(disc_and_handle) > 0.75 and not convex_enough(disc_and_handle)


def test_convex_pieces_split_concave_regions_into_near_convex_ones():
    ell = cells((0, 20, 0, 4), (0, 4, 0, 20))
    pieces = convex_pieces(ell)
    assert len(pieces) == 2 and all(convex_enough(p) for p in pieces)
    assert sum(len(p) for p in pieces) == len(ell)  # a partition: no cell lost or doubled
    assert len(np.unique(np.concatenate(pieces), axis=0)) == len(ell)
    ii, jj = np.mgrid[0:41, 0:41]
    r = np.hypot(ii - 20, jj - 20)
    ring = np.argwhere((r <= 20) & (r > 17))  # a container's wall: angular sectors
    pieces = convex_pieces(ring, max_pieces=40)
    assert 8 <= len(pieces) <= 40 and all(convex_enough(p) for p in pieces)
    assert sum(hull_area(p) for p in pieces) < 0.5 * hull_area(ring)  # the inside stays empty
    # the piece budget holds, and a convex region stays whole
    assert len(convex_pieces(ring, max_pieces=5)) <= 5
    assert len(convex_pieces(cells((0, 10, 0, 10)))) == 1
    # a disc with a handle: the best cut separates the handle
    disc, handle = np.argwhere(r <= 20), cells((18, 23, 41, 70))
    cut = best_cut(np.r_[disc, handle], 3)
    assert len(cut) == 2
    small = min(cut, key=len)
    assert small[:, 1].min() >= 36 and len(small) >= len(handle)
    assert len(convex_pieces(np.r_[disc, handle])) == 2


def test_level_regions_fill_unseen_cavities_but_not_seen_floors():
    top = np.full((12, 12), np.nan)
    ii, jj = np.mgrid[0:12, 0:12]
    wall = np.maximum(abs(ii - 6), abs(jj - 6)) == 4
    top[wall] = 0.05
    (level,) = level_regions(top, np.array([0.05]))
    assert level[6, 6] and level.sum() == 81  # the unseen inside is filled (a closed box)
    top[np.maximum(abs(ii - 6), abs(jj - 6)) < 4] = 0.008  # the floor is seen: an open container
    low, high = level_regions(top, np.array([0.008, 0.05]))
    assert low.sum() == 81 and high.sum() == wall.sum() and not high[6, 6]


def test_height_field_bins_points_with_a_margin():
    pts = np.array([[0.0, 0.0, 0.01], [0.004, 0.001, 0.03], [0.012, 0.0, 0.02]])
    hf = height_field(pts, 0.005)
    assert hf.top.shape == (5, 3)  # 3 x 1 cells plus one empty cell on every side
    assert hf.top[1, 1] == pytest.approx(0.03) and hf.top[3, 1] == pytest.approx(0.02)
    assert np.isnan(hf.top[0, 0])
    with pytest.raises(ConfigError, match="cell size"):
        height_field(pts, 0.0)


def test_a_lid_keeps_its_knob():
    pts = top_points(lid, ((-0.1, 0.1), (-0.1, 0.1)))
    mesh = parts_mesh(pts, 0.0)
    parts = mesh.split(only_watertight=False)
    assert len(parts) == 2 and all(p.is_watertight for p in parts)
    knob = max(parts, key=lambda p: p.bounds[1, 2])
    assert knob.bounds[0, 2] == pytest.approx(0.008, abs=1e-5)  # parts shrink by SHRINK
    assert knob.bounds[1, 2] == pytest.approx(0.033, abs=1e-5)
    assert np.ptp(knob.vertices[:, 0]) == pytest.approx(0.028, abs=0.006)
    # one convex hull would fill a cone around the knob: at 2 cm its section is wider than 10 cm
    from physworld.recon.meshing import closed_convex_hull

    hull = closed_convex_hull(np.r_[pts, np.c_[pts[:, :2], np.zeros(len(pts))]])
    assert hull.section(plane_origin=[0, 0, 0.02], plane_normal=[0, 0, 1]).extents[0] > 0.1
    assert knob.section(plane_origin=[0, 0, 0.02], plane_normal=[0, 0, 1]).extents[0] < 0.035
    assert mesh.volume == pytest.approx(np.pi * (0.09**2 * 0.008 + 0.014**2 * 0.025), rel=0.1)


def test_a_pan_handle_is_its_own_part():
    pts = top_points(pan, ((-0.24, 0.11), (-0.11, 0.11)))
    clouds = part_clouds(pts, 0.0)
    assert 2 <= len(clouds) <= 3
    mesh = parts_mesh(pts, 0.0)
    # near the handle's tip the mesh is as wide as the handle (one hull: a wedge towards the body)
    tip = np.asarray(mesh.vertices)
    tip = tip[tip[:, 0] < -0.16]
    assert np.ptp(tip[:, 1]) == pytest.approx(0.028, abs=0.006)


def test_a_box_is_one_part_and_stray_points_add_none():
    pts = top_points(lambda x, y: np.where((abs(x) < 0.04) & (abs(y) < 0.03), 0.05, 0.0), ((-0.05, 0.05),) * 2)
    stray = np.array([[0.0, 0.0, 0.09]])  # one flying pixel above the box
    assert len(part_clouds(np.r_[pts, stray], 0.0)) == 1
    mesh = parts_mesh(pts, 0.0)
    np.testing.assert_allclose(mesh.extents, [0.08, 0.06, 0.05], atol=0.006)  # 3 mm sampling
    with pytest.raises(InputError, match="degenerate"):
        parts_mesh(np.c_[pts[:, :2], np.zeros(len(pts))], 0.0)


def test_parts_budget():
    pts = top_points(pan, ((-0.24, 0.11), (-0.11, 0.11)))
    assert len(part_clouds(pts, 0.0, PartsConfig(max_parts=1))) == 1


def test_parts_fit_the_compound_limit_and_survive_a_vertex_merging_loader(tmp_path):
    import trimesh

    def ring_pan(x, y):  # a pan with its floor seen: floor, wall ring and handle
        r = np.hypot(x, y)
        wall = (r <= 0.1) & (r > 0.092)
        handle = (x < -0.095) & (x > -0.23) & (np.abs(y) <= 0.014)
        return np.where(wall | handle, 0.04, np.where(r <= 0.1, 0.006, 0.0))

    pts = top_points(ring_pan, ((-0.24, 0.11), (-0.11, 0.11)))
    mesh = parts_mesh(pts, 0.0)
    n = len(mesh.split(only_watertight=False))
    assert 8 <= n <= 16  # hollow (floor, wall sectors, handle), within PyBullet's 16 shapes
    mesh.export(tmp_path / "pan.obj")
    loaded = trimesh.load(tmp_path / "pan.obj", force="mesh")  # merges equal vertices
    assert len(loaded.split(only_watertight=False)) == n
    few = parts_mesh(pts, 0.0, PartsConfig(max_parts=4))
    assert len(few.split(only_watertight=False)) == 4


def test_merge_smallest_joins_the_smallest_hull_into_its_nearest():
    import trimesh

    boxes = [trimesh.creation.box([s, s, s]) for s in (0.1, 0.02, 0.05)]
    for b, x in zip(boxes, (0.0, 0.08, -0.3)):
        b.apply_translation([x, 0, 0])
    merged = merge_smallest(boxes, 2)
    assert len(merged) == 2
    assert merged[0].bounds[1, 0] == pytest.approx(0.09)  # the 2 cm box joined the 10 cm one
    assert merged[1].volume == pytest.approx(0.05**3)


def test_column_bottoms_stop_above_the_free_space_seen_under_a_point():
    def free(p):  # the camera sees the table under x > 0 up to 2 cm (an overhang there)
        return (p[:, 0] > 0) & (p[:, 2] < 0.02)

    pts = np.array([[0.01, 0.0, 0.04], [-0.01, 0.0, 0.04], [0.01, 0.0, 0.004]])
    b = column_bottoms(pts, 0.0, free, 0.005)
    assert b[0] == pytest.approx(0.02, abs=0.005) and b[1] == 0.0
    assert b[2] == 0.0  # too close to the plane to sample below it
    # a piece seen floating under a quarter of its points floats as a whole, at its lowest seen point
    z, bottoms = np.r_[np.full(5, 0.04), np.full(5, 0.03)], np.r_[np.zeros(6), np.full(4, 0.025)]
    np.testing.assert_allclose(piece_bottom(z, bottoms, 0.0), 0.03)
    np.testing.assert_allclose(piece_bottom(z, np.r_[np.zeros(9), 0.025], 0.0), np.r_[np.zeros(9), 0.025])
