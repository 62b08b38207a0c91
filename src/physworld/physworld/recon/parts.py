"""Part-wise (non-convex) object completion from one view (PhysWorld III-A, object-on-ground).

One convex hull of an object extruded to the table fills every concavity: a lid's knob sinks into a
cone, a pan's handle into a wedge, a container's cavity is filled. Here the same observed points
are split into parts, each closed by its own convex hull, in three steps (gravity-aligned frame,
z up, support plane at ``plane_height``):

1. Height field: the points are binned into square cells (``cell`` metres, or 1.5 point spacings
   where the points are sparser); a cell's top is its highest point.
2. Height levels: the cell tops are grouped into levels separated by gaps of at least ``min_gap``
   (a lid's disc and knob, a pan's floor and rim); sparse tops in between do not count. Level k
   spans from the top of level k-1 (the plane for the first) to its own top (unbounded for the
   last). Its region is every cell whose top lies in level k or above; unobserved cells it encloses
   (hidden behind the object's own walls, or under another object) or closes a one-cell gap with
   are added, cells seen lower (a container's floor) are not.
3. Near-convex pieces: each connected region is cut until the convex hull of every piece adds
   little to it (:func:`convex_enough`: at most half a cell per boundary edge); a region around a
   hole (a container's wall) first into angular sectors about the hole; then best first (the piece
   whose hull adds the most area), the straight cut (8 directions, offsets a cell apart) that leaves
   the least hull area.

Each piece becomes the convex hull of its cells' points with z clamped to its level and their foot
points on the level's bottom (the object-on-ground extrusion, per level), or, given a free-space
test of the captured view, just above the free space the camera sees under a point (the table seen
under a pan's handle: the handle is not extruded down to it). The result is one mesh of
separate closed convex parts (what a physics engine takes for a dynamic body: one hull per
connected part). Without a concavity this gives one part, the plain extruded hull.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, InputError

N_DIRECTIONS = 8
DENSE_FRACTION = 0.01  # share of all cell tops that make a dense top (height_levels)
SHRINK = 1e-4  # relative shrink of each part about its centroid (parts_mesh)
MAX_OFFSETS = 40  # cut offsets per direction: one per cell across the piece, at most this many


@dataclass(frozen=True)
class PartsConfig:
    cell: float = 0.005  # m, smallest height-field cell (it grows with the point spacing, cell_size)
    min_gap: float = 0.008  # m, smallest height gap between two levels
    min_level_cells: int = 4  # tops with fewer cells around them define no level (stray points)
    excess_per_edge: float = 0.5  # a piece is convex enough when its hull adds at most this many
    min_excess: float = 8.0  # cells per boundary edge, or this many (convex_enough)
    min_piece_cells: int = 3  # no cut may leave a smaller piece
    max_parts: int = 16  # at most this many convex parts per object (the world model takes up to 64)
    overlap_cells: int = 1  # a part also takes its neighbours' points this many cells into them
    min_thickness: float = 0.001  # m, thinner parts are dropped
    float_fraction: float = 0.25  # a piece seen floating over this share of its points floats (piece_bottom)


@dataclass
class HeightField:
    ij: np.ndarray  # (N, 2) cell of each point, relative to the grid's corner
    top: np.ndarray  # (nx, ny) highest point per cell, NaN where no point falls
    cell: float


def cell_size(points: np.ndarray, smallest: float, spacings: float = 1.5) -> float:
    """Height-field cell size: ``spacings`` times the points' median nearest-neighbour distance
    (the pixel footprint), at least ``smallest``, so that a surface seen in a coarse image still
    covers connected cells."""
    from scipy.spatial import cKDTree

    p = np.asarray(points, float)
    if len(p) < 2:
        return float(smallest)
    d, _ = cKDTree(p).query(p, k=2)
    return float(max(smallest, spacings * np.median(d[:, 1])))


def height_field(points: np.ndarray, cell: float) -> HeightField:
    """Bin ``points`` (N, 3) into ``cell``-sized xy cells (one empty cell of margin on every side)."""
    if not cell > 0:
        raise ConfigError(f"cell size must be > 0 m, got {cell}")
    p = np.asarray(points, float)
    ij = np.floor((p[:, :2] - p[:, :2].min(axis=0)) / cell).astype(int) + 1
    n = ij.max(axis=0) + 2
    top = np.full(n, -np.inf)
    np.maximum.at(top, (ij[:, 0], ij[:, 1]), p[:, 2])
    top[~np.isfinite(top)] = np.nan
    return HeightField(ij, top, float(cell))


def height_levels(tops: np.ndarray, min_gap: float, min_cells: int = 1) -> np.ndarray:
    """Upper bounds of the height levels of the cell tops (ascending; the last is the highest top).

    Only dense tops (at least ``min_cells`` and ``DENSE_FRACTION`` of all tops within
    +-``min_gap``/4: a flat face) define levels, so that the cells in between (a container's inner
    wall, the side of a knob seen at an angle, stray points) neither bridge two levels nor raise the
    lower one; the dense tops split where consecutive ones differ by ``min_gap`` or
    more. A sparse top belongs to the level above it (it lies above the lower level's bound)."""
    t = np.sort(np.asarray(tops, float)[np.isfinite(tops)])
    if len(t) == 0:
        raise InputError("no cell top to group into height levels")
    w = min_gap / 4
    near = np.searchsorted(t, t + w, side="right") - np.searchsorted(t, t - w, side="left")
    d = t[near >= max(min_cells, DENSE_FRACTION * len(t))]
    if len(d) == 0:
        return t[-1:]
    bounds = [g.max() for g in np.split(d, np.flatnonzero(np.diff(d) >= min_gap) + 1)]
    bounds[-1] = t[-1]
    return np.array(bounds)


def level_regions(top: np.ndarray, bounds: np.ndarray) -> list[np.ndarray]:
    """Per level k, the (nx, ny) region of cells whose top is above level k-1, plus the unobserved
    cells it encloses or closes a one-cell gap with (see module docstring)."""
    from scipy.ndimage import binary_closing, binary_fill_holes, label

    observed = np.isfinite(top)
    out = []
    for k in range(len(bounds)):
        region = observed & (top > bounds[k - 1]) if k else observed.copy()
        region |= binary_closing(region, np.ones((3, 3), bool)) & ~observed  # one-cell gaps between seen cells
        holes, n = label(binary_fill_holes(region) & ~region)
        if n:
            seen = np.bincount(holes[observed], minlength=n + 1)
            region |= (holes > 0) & (seen[holes] == 0)  # enclosed and never seen
        out.append(region)
    return out


def hull_area(ij: np.ndarray) -> float:
    """Area (in cells) of the convex hull of the cells ``ij`` (K, 2): the hull of the corners of each
    row's first and last cell."""
    from scipy.spatial import ConvexHull, QhullError

    ij = np.asarray(ij, int)
    if len(ij) == 0:
        return 0.0
    rows, inv = np.unique(ij[:, 0], return_inverse=True)
    lo = np.full(len(rows), np.iinfo(int).max)
    hi = np.full(len(rows), np.iinfo(int).min)
    np.minimum.at(lo, inv, ij[:, 1])
    np.maximum.at(hi, inv, ij[:, 1])
    corners = np.concatenate(
        [np.c_[rows, lo], np.c_[rows + 1, lo], np.c_[rows, hi + 1], np.c_[rows + 1, hi + 1]]
    ).astype(float)
    try:
        return float(ConvexHull(corners).volume)
    except QhullError:  # a single row or column of cells: a rectangle
        return float(np.ptp(corners[:, 0]) * np.ptp(corners[:, 1]))


def solidity(ij: np.ndarray) -> float:
    """Cell count / convex hull area of the cells ``ij`` (1 for a rectangle, ~0.1 for a thin ring)."""
    h = hull_area(ij)
    return float(len(ij)) / h if h > 0 else 1.0


def components(ij: np.ndarray) -> list[np.ndarray]:
    """The 8-connected parts of the cells ``ij`` (K, 2), as cell arrays."""
    from scipy.ndimage import label

    ij = np.asarray(ij, int)
    grid, lo = _grid(ij)
    lab, n = label(grid, structure=np.ones((3, 3), int))
    k = lab[tuple((ij - lo).T)]
    return [ij[k == i] for i in range(1, n + 1)]


def _grid(ij: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo = ij.min(axis=0)
    grid = np.zeros(ij.max(axis=0) - lo + 1, bool)
    grid[tuple((ij - lo).T)] = True
    return grid, lo


def boundary(ij: np.ndarray) -> np.ndarray:
    """Which of the cells ``ij`` (K, 2) lack one of their four neighbours (bool (K,))."""
    from scipy.ndimage import binary_erosion

    grid, lo = _grid(np.asarray(ij, int))
    inner = binary_erosion(np.pad(grid, 1), structure=[[0, 1, 0], [1, 1, 1], [0, 1, 0]])[1:-1, 1:-1]
    return ~inner[tuple((ij - lo).T)]


def _points_hull_area(points: np.ndarray) -> float:
    from scipy.spatial import ConvexHull, QhullError

    if len(points) < 3:
        return 0.0
    try:
        return float(ConvexHull(points).volume)
    except QhullError:  # collinear
        return 0.0


def best_cut(ij: np.ndarray, min_cells: int) -> list[np.ndarray] | None:
    """The straight cut of the cells ``ij`` whose two sides have the least total hull area, split
    into connected pieces. Cuts: ``N_DIRECTIONS`` directions, offsets a cell apart (at most
    ``MAX_OFFSETS`` per direction); a side's hull is taken over the region's boundary cells on it
    (they span it: the cut line ends on the boundary). None when every cut leaves a side of fewer
    than ``min_cells`` cells."""
    ij = np.asarray(ij, int)
    centres = ij + 0.5
    edge = boundary(ij)
    best, best_area = None, np.inf
    for a in np.pi * np.arange(N_DIRECTIONS) / N_DIRECTIONS:
        t = centres @ [np.cos(a), np.sin(a)]
        te, pe = t[edge], centres[edge]
        lo, hi = t.min(), t.max()
        for thr in np.linspace(lo, hi, min(MAX_OFFSETS, int(hi - lo)) + 2)[1:-1]:
            n = int(np.count_nonzero(t <= thr))
            if n < min_cells or len(t) - n < min_cells:
                continue
            left = te <= thr
            area = _points_hull_area(pe[left]) + _points_hull_area(pe[~left])
            if area < best_area:
                best, best_area = t <= thr, area
    if best is None:
        return None
    return components(ij[best]) + components(ij[~best])


def perimeter(ij: np.ndarray) -> int:
    """Boundary edges of the cells ``ij`` (cell sides without a neighbour in the set)."""
    grid, _ = _grid(np.asarray(ij, int))
    g = np.pad(grid, 1)
    return int(sum(np.count_nonzero(g & ~np.roll(g, s, axis=a)) for a in (0, 1) for s in (1, -1)))


def convex_enough(ij: np.ndarray, per_edge: float = 0.5, min_excess: float = 8.0) -> bool:
    """Whether the convex hull of the cells ``ij`` adds at most ``max(min_excess, per_edge x
    perimeter)`` cells to them. The allowance per boundary edge absorbs the staircase of digitised
    edges (a disc, a diagonal bar), which a plain solidity threshold would keep cutting."""
    return hull_area(ij) - len(ij) <= max(min_excess, per_edge * perimeter(ij))


RING_SECTORS = (4, 6, 8, 12, 16, 24, 32)


def ring_sectors(ij: np.ndarray, per_edge: float, min_excess: float, max_pieces: int) -> list[np.ndarray] | None:
    """A region around a hole (a container's wall seen from above), its wall cut into equal angular
    sectors about the hole's centre: the fewest of ``RING_SECTORS`` (at most ``max_pieces``) whose
    pieces are all :func:`convex_enough` (else the most); what sticks out of the wall (a handle)
    stays whole, as its own pieces. None when the region encloses no hole. Straight cuts serve a
    ring badly: each side of a line through it holds two arcs."""
    from scipy.ndimage import binary_fill_holes

    grid, lo = _grid(np.asarray(ij, int))
    holes = np.argwhere(binary_fill_holes(grid) & ~grid)
    if len(holes) == 0:
        return None
    c = holes.mean(axis=0) + lo + 0.5
    d = ij + 0.5 - c
    ang, r = np.arctan2(d[:, 1], d[:, 0]) % (2 * np.pi), np.hypot(d[:, 0], d[:, 1])
    # the wall: out to the typical outer radius over 32 directions (a handle sticks out of it)
    b = np.minimum((ang / (2 * np.pi) * 32).astype(int), 31)
    outer = np.full(32, np.nan)
    np.fmax.at(outer, b, r)
    wall = r <= np.nanmedian(outer) + 1.0
    rest = components(ij[~wall]) if (~wall).any() else []
    best = None
    for n in (k for k in RING_SECTORS if k + len(rest) <= max_pieces):
        k = np.minimum((ang[wall] / (2 * np.pi) * n).astype(int), n - 1)
        best = [p for s in range(n) if np.any(k == s) for p in components(ij[wall][k == s])]
        if all(convex_enough(p, per_edge, min_excess) for p in best):
            break
    return None if best is None else best + rest


def convex_pieces(
    ij: np.ndarray, per_edge: float = 0.5, min_cells: int = 3, max_pieces: int = 40, min_excess: float = 8.0
) -> list:
    """Near-convex pieces (cell arrays) of the cells ``ij`` (see module docstring, step 3): a piece
    is final when it is :func:`convex_enough` (``per_edge``, ``min_excess``) or smaller than
    ``2 * min_cells``; the others are cut, the one whose hull adds the most area first."""
    todo: list = []  # heap of (-(hull area - area), tie-break, piece)
    done: list[np.ndarray] = []
    order = itertools.count()

    def push(piece):
        if len(piece) < 2 * min_cells or convex_enough(piece, per_edge, min_excess):
            done.append(piece)
        else:
            heapq.heappush(todo, (len(piece) - hull_area(piece), next(order), piece))

    for c in components(ij):
        ring = None if convex_enough(c, per_edge, min_excess) else ring_sectors(c, per_edge, min_excess, max_pieces)
        for piece in ring or [c]:
            push(piece)
    while todo and len(done) + len(todo) < max_pieces:
        *_, piece = heapq.heappop(todo)
        cut = best_cut(piece, min_cells)
        if cut is None or len(done) + len(todo) + len(cut) > max_pieces:
            done.append(piece)
            continue
        for p in cut:
            push(p)
    return done + [t[-1] for t in todo]


def column_bottoms(points: np.ndarray, lo: float, free, step: float = 0.005) -> np.ndarray:
    """Bottom of each point's extrusion column: ``lo``, or a ``step`` above the highest sample of
    the column (every ``step`` from ``lo``, at least a ``step`` under the point) that ``free``
    ((M, 3) world points -> bool (M,), e.g. :func:`physworld.recon.meshing.free_space_test`) finds
    seen through: the space under an overhang (a pan's handle) the camera sees the table through."""
    p = np.asarray(points, float)
    z = p[:, 2]
    k = int(np.ceil((z.max() - lo) / step)) if len(p) else 0
    if k < 2:
        return np.full(len(p), float(lo))
    h = lo + step * np.arange(k)
    rows, cols = np.nonzero(h[None, :] < z[:, None] - step)
    seen = np.zeros((len(p), k), bool)
    seen[rows, cols] = free(np.c_[p[rows, :2], h[cols]])
    highest = k - 1 - np.argmax(seen[:, ::-1], axis=1)
    return np.where(seen.any(axis=1), np.minimum(h[highest] + step, z), lo)


def piece_bottom(z: np.ndarray, bottoms: np.ndarray, lo: float, cfg: PartsConfig = PartsConfig()) -> np.ndarray:
    """Column bottoms of one piece's points (heights ``z``, bottoms from :func:`column_bottoms`).
    Where the camera sees free space under at least ``cfg.float_fraction`` of them, the piece floats
    (a handle): its hidden underside is taken level with the lowest point seen above free space
    (5th percentile), for every point; otherwise each point keeps its own bottom."""
    b = np.asarray(bottoms, float)
    raised = b > lo + cfg.cell
    if len(b) == 0 or raised.mean() < cfg.float_fraction:
        return b
    return np.full(len(b), max(float(np.percentile(np.asarray(z)[raised], 5)), float(lo)))


def part_clouds(
    points: np.ndarray, plane_height: float, cfg: PartsConfig = PartsConfig(), free=None
) -> list[np.ndarray]:
    """Point sets (observed points, clamped to their level, plus their foot points) whose convex hulls
    are the object's parts; see the module docstring. Each piece also takes the points of the
    region's cells within ``cfg.overlap_cells`` of it, so that neighbouring parts overlap instead of
    leaving slits between them. With ``free`` (see :func:`column_bottoms`) each point's column
    starts above the free space the camera sees under it instead of on the plane; a level takes the
    part of the column within it, and no point where the column does not reach into it."""
    from scipy.ndimage import binary_dilation

    p = np.asarray(points, float)
    bottom = np.full(len(p), float(plane_height)) if free is None else column_bottoms(p, plane_height, free, cfg.cell)
    hf = height_field(p, cell_size(p, cfg.cell))
    bounds = height_levels(hf.top[np.isfinite(hf.top)], cfg.min_gap, cfg.min_level_cells)
    cell_of = hf.ij[:, 0] * hf.top.shape[1] + hf.ij[:, 1]
    grow = np.ones((2 * cfg.overlap_cells + 1,) * 2, bool)
    clouds = []
    for k, region in enumerate(level_regions(hf.top, bounds)):
        lo = plane_height if k == 0 else bounds[k - 1]
        hi = bounds[k] if k < len(bounds) - 1 else np.inf
        budget = max(1, cfg.max_parts - len(clouds) - (len(bounds) - k - 1))
        pieces = convex_pieces(np.argwhere(region), cfg.excess_per_edge, cfg.min_piece_cells, budget, cfg.min_excess)
        for piece in pieces:
            if k and len(piece) < cfg.min_piece_cells:
                continue  # a few stray cells above a level: the level below covers them
            cells = np.zeros(region.shape, bool)
            cells[tuple(piece.T)] = True
            if cfg.overlap_cells:
                cells = binary_dilation(cells, grow) & region
            inside = cells.ravel()[cell_of] & (p[:, 2] > lo)
            top, foot = np.minimum(p[:, 2], hi), np.maximum(piece_bottom(p[inside, 2], bottom[inside], lo, cfg), lo)
            sel = inside.copy()
            sel[inside] = top[inside] > foot
            if sel.sum() < 4 or (k and top[sel].max() - lo < cfg.min_gap / 2):
                continue
            xy = p[sel, :2]
            clouds.append(np.concatenate([np.c_[xy, top[sel]], np.c_[xy, foot[sel[inside]]]]))
    return clouds


def parts_mesh(points: np.ndarray, plane_height: float, cfg: PartsConfig = PartsConfig(), free=None):
    """One trimesh of the object's separate closed convex parts (see module docstring and
    :func:`part_clouds` for ``free``); parts thinner than ``cfg.min_thickness`` are left out (their
    points lie in the neighbouring parts too). Each part is shrunk about its centroid by
    ``SHRINK`` so that no two parts share a vertex: a mesh file loader that merges equal vertices
    (trimesh, for the physics world) would join them into one part, and one hull. Raises
    InputError when no part closes."""
    import trimesh

    from .meshing import _thickness, closed_convex_hull

    hulls = []
    for cloud in part_clouds(points, plane_height, cfg, free):
        try:
            hull = closed_convex_hull(cloud)
        except InputError:
            continue
        if _thickness(np.asarray(hull.vertices)) < cfg.min_thickness:
            continue
        hulls.append(hull)
    if not hulls:
        raise InputError("object points are degenerate (flat): no part has a volume")
    hulls = merge_smallest(hulls, cfg.max_parts)
    for hull in hulls:
        c = hull.vertices.mean(axis=0)
        hull.vertices = c + (hull.vertices - c) * (1.0 - SHRINK)
    return hulls[0] if len(hulls) == 1 else trimesh.util.concatenate(hulls)


def merge_smallest(hulls: list, max_parts: int) -> list:
    """At most ``max_parts`` hulls: the smallest is merged into the hull nearest to it (one convex
    hull of both) until the count fits."""
    from .meshing import closed_convex_hull

    hulls = list(hulls)
    while len(hulls) > max(1, max_parts):
        i = int(np.argmin([h.volume for h in hulls]))
        small = hulls.pop(i)
        c = np.array([h.vertices.mean(axis=0) for h in hulls])
        j = int(np.argmin(np.linalg.norm(c - small.vertices.mean(axis=0), axis=1)))
        hulls[j] = closed_convex_hull(np.concatenate([hulls[j].vertices, small.vertices]))
    return hulls
