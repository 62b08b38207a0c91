"""First-frame segmentation into support plane, objects and background (PhysWorld III-A).

Geometry only, no learned weights. With the support plane ``n . x + d = 0`` (normal towards the
camera, see ``recon.gravity``), every valid pixel of the first frame's organised point map gets a
height above the plane. Pixels within ``plane_threshold`` of it form the support plane; pixels
higher than ``min_height`` (and lower than ``max_height``) whose foot point lies on the plane's
visible footprint (the convex hull of the plane pixels) are object candidates, grouped by DBSCAN
(open3d ``cluster_dbscan``), optionally split by colour; clusters smaller than
``max(min_cluster_points, min_cluster_fraction * valid pixels)`` are dropped. Pixels a cluster
encloses in the image that stand above the plane (a pan's floor, lower than ``min_height``) join
it. Everything else is background.

Labelling (:func:`label_objects`) maps clusters to the task's object names by size: with expected
sizes, a minimum-cost assignment (Hungarian) on log-ratios of height and footprint; without them,
names are taken to be listed largest first and matched to clusters by decreasing box volume.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, InputError
from ..sim.camera import CameraIntrinsics


@dataclass
class Cluster:
    index: int
    mask: np.ndarray  # (H, W) bool
    points: np.ndarray  # (N, 3) camera frame
    centroid: np.ndarray  # (3,) camera frame
    height: float  # top of the cluster above the support plane, metres
    footprint: tuple[float, float]  # visible extents in the plane (PCA), larger first, metres

    @property
    def n_points(self) -> int:
        return len(self.points)

    @property
    def box_volume(self) -> float:
        return float(self.height * self.footprint[0] * self.footprint[1])


@dataclass
class Segmentation:
    plane_normal: np.ndarray  # (3,) camera frame, towards the camera
    plane_d: float
    height: np.ndarray  # (H, W) height above the plane, NaN where invalid
    plane_mask: np.ndarray  # (H, W) bool
    objects: list[Cluster]  # largest first
    background_mask: np.ndarray  # (H, W) bool: valid pixels that are not object or ignored pixels (plane included)
    ignored_mask: np.ndarray | None = None  # (H, W) bool: pixels left out (ignore_mask, flying pixels)

    @property
    def object_mask(self) -> np.ndarray:
        m = np.zeros_like(self.plane_mask)
        for c in self.objects:
            m |= c.mask
        return m


@dataclass
class Labelling:
    names: dict[int, str]  # cluster index -> object name
    complete: bool  # every expected name got exactly one cluster and no cluster is left over
    missing: list[str] = field(default_factory=list)  # names without a cluster
    unlabelled: list[int] = field(default_factory=list)  # clusters without a name
    notes: list[str] = field(default_factory=list)


def point_map(depth: np.ndarray, intr: CameraIntrinsics) -> np.ndarray:
    """Organised point map ``(H, W, 3)`` in the optical frame; NaN where depth is invalid."""
    depth = np.asarray(depth, dtype=np.float64)
    if depth.shape != (intr.height, intr.width):
        raise InputError(f"depth shape {depth.shape} does not match the camera ({intr.height}, {intr.width})")
    v, u = np.mgrid[0 : intr.height, 0 : intr.width]
    z = np.where(np.isfinite(depth) & (depth > 0), depth, np.nan)
    return np.stack([(u - intr.cx) / intr.fx * z, (v - intr.cy) / intr.fy * z, z], axis=-1)


def plane_basis(normal: np.ndarray) -> np.ndarray:
    """(2, 3) orthonormal in-plane axes for a unit normal."""
    n = np.asarray(normal, dtype=float)
    a = np.cross(n, [1.0, 0.0, 0.0] if abs(n[0]) < 0.9 else [0.0, 1.0, 0.0])
    a /= np.linalg.norm(a)
    return np.stack([a, np.cross(n, a)])


def _footprint(points: np.ndarray, normal: np.ndarray) -> tuple[float, float]:
    q = points @ plane_basis(normal).T
    q = q - q.mean(axis=0)
    if len(q) < 3:
        return 0.0, 0.0
    _, _, vt = np.linalg.svd(q, full_matrices=False)
    ext = np.ptp(q @ vt.T, axis=0)
    return float(max(ext)), float(min(ext))


def segment_first_frame(
    points: np.ndarray,
    plane_normal: np.ndarray,
    plane_d: float,
    plane_threshold: float = 0.01,
    min_height: float = 0.006,
    max_height: float = 1.0,
    eps: float = 0.04,
    min_points: int = 10,
    min_cluster_points: int = 30,
    min_cluster_fraction: float = 0.0004,
    on_footprint: bool = True,
    footprint_margin: float = 0.02,
    min_region_fraction: float = 0.1,
    ignore_mask: np.ndarray | None = None,
    noise_k: float = 3.0,
    colors: np.ndarray | None = None,
    color_threshold: float = 0.35,
    flying_jump: float | None = 0.05,
    enclosed_min_height: float = 0.002,
    split_gap: float | None = 0.015,
) -> Segmentation:
    """Support plane, object clusters and background of an organised point map ``(H, W, 3)``.

    Plane pixels are the image-connected regions of on-plane pixels at least
    ``min_region_fraction`` the size of the largest one, so that a distant surface which happens to
    cross the plane's height (a wall, another table) is not taken for the support plane.
    ``ignore_mask`` marks pixels that belong to nothing of the scene model, e.g. the robot (its
    mask comes from its known kinematics); they are neither plane, object nor background.
    Object candidates must be higher than ``max(min_height, noise_k * sigma)``, with ``sigma`` the
    robust spread of the plane pixels' heights (the depth noise). With ``colors`` (the RGB frame,
    ``(H, W, 3)`` uint8) each geometric cluster is split further into parts connected by
    neighbours (within ``eps``) whose colours differ by less than ``color_threshold`` (RGB in [0, 1],
    Euclidean): objects of different colour that touch (a tomato in a pan) come apart. Only for
    objects of roughly uniform colour, as in the sim; textured objects would be over-split.
    Unless ``flying_jump`` is None, flying pixels (:func:`flying_pixel_mask`) are left out as well
    (in ``ignored_mask``): their depth lies between a foreground edge and the background behind it.
    Unless ``split_gap`` is None, a cluster whose parts are apart in the image and more than
    ``split_gap`` apart in space is split (:func:`split_separated`): DBSCAN's ``eps`` joins small
    objects a few centimetres apart (ink marks on a board).
    Pixels enclosed by a cluster in the image and higher than ``enclosed_min_height`` (and the depth
    noise) above the plane join it (:func:`absorb_enclosed`): a pan's floor, lower than
    ``min_height``, seen inside its rim.
    """
    import open3d as o3d

    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 3 or pts.shape[2] != 3:
        raise InputError(f"points must be an organised (H, W, 3) point map, got shape {pts.shape}")
    if not 0 < min_height < max_height:
        raise ConfigError(f"need 0 < min_height < max_height, got {min_height}, {max_height}")
    if plane_threshold <= 0 or eps <= 0:
        raise ConfigError("plane_threshold and eps must be > 0 metres")
    n = np.asarray(plane_normal, dtype=float)
    n = n / np.linalg.norm(n)
    valid = np.all(np.isfinite(pts), axis=2)
    ignored = np.zeros_like(valid)
    if ignore_mask is not None:
        ignored = np.asarray(ignore_mask, dtype=bool).copy()
        if ignored.shape != valid.shape:
            raise InputError(f"ignore_mask {ignored.shape} must have the point map's size {valid.shape}")
    if flying_jump is not None:
        ignored |= flying_pixel_mask(pts[..., 2], flying_jump)
    valid = valid & ~ignored
    if not valid.any():
        raise InputError("the point map has no valid point")
    h = np.where(valid, pts @ n + plane_d, np.nan)
    if colors is not None and np.shape(colors) != (*valid.shape, 3):
        raise InputError(f"colors must be the (H, W, 3) frame of the point map, got shape {np.shape(colors)}")
    with np.errstate(invalid="ignore"):
        plane_mask = _support_region(valid & (np.abs(h) <= plane_threshold), min_region_fraction)
        hp = h[plane_mask]
        sigma = float(1.4826 * np.median(np.abs(hp - np.median(hp)))) if hp.size else 0.0
        min_height = max(min_height, noise_k * sigma)
        cand = valid & (h > min_height) & (h < max_height)
    if on_footprint and plane_mask.sum() >= 3:
        cand &= _on_footprint(pts, h, n, plane_mask, footprint_margin)
    masks: list[np.ndarray] = []
    if cand.sum() >= min_cluster_points:
        cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts[cand]))
        lab = np.asarray(cloud.cluster_dbscan(eps=float(eps), min_points=int(min_points)))
        labels = np.full(pts.shape[:2], -1, dtype=int)
        labels[cand] = lab
        for k in np.unique(lab[lab >= 0]):
            m = labels == k
            for part in _split_by_colour(m, pts, colors, eps, color_threshold) if colors is not None else [m]:
                masks.extend(split_separated(part, pts, split_gap) if split_gap else [part])
    min_size = max(int(min_cluster_points), int(min_cluster_fraction * valid.sum()))
    masks = sorted((m for m in masks if m.sum() >= min_size), key=lambda m: -int(m.sum()))
    with np.errstate(invalid="ignore"):
        masks = absorb_enclosed(masks, valid & (h > max(noise_k * sigma, enclosed_min_height)))
    plane_mask &= ~np.any(masks, axis=0) if masks else True
    objects = []
    for m in masks:
        p = pts[m]
        objects.append(Cluster(len(objects), m, p, p.mean(axis=0), float(np.nanmax(h[m])), _footprint(p, n)))
    if not objects:
        raise InputError(
            f"no object found above the support plane (candidates: {int(cand.sum())} pixels higher than "
            f"{min_height:.3f} m on the plane's footprint; clusters need >= {min_size} points): "
            "is an object visible on the table, and are the plane and depth scale right?"
        )
    seg = Segmentation(n, float(plane_d), h, plane_mask, objects, np.zeros_like(valid), ignored)
    seg.background_mask = valid & ~seg.object_mask
    return seg


def split_separated(mask: np.ndarray, pts: np.ndarray, gap: float) -> list[np.ndarray]:
    """The parts of ``mask`` that are apart in the image (8-connected components), grouped again
    where two come closer than ``gap`` metres in space (one object cut in two by a thin occluder)."""
    from scipy.ndimage import label
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    lab, n = label(mask, structure=np.ones((3, 3), int))
    if n < 2:
        return [mask]
    trees = [cKDTree(pts[lab == i]) for i in range(1, n + 1)]
    near = np.zeros((n, n), bool)
    for i in range(n):
        for j in range(i + 1, n):
            near[i, j] = np.isfinite(trees[i].query(trees[j].data, k=1, distance_upper_bound=gap)[0]).any()
    k, comp = connected_components(near, directed=False)
    return [np.isin(lab, np.flatnonzero(comp == g) + 1) for g in range(k)]


def support_height(
    mask: np.ndarray,
    others: np.ndarray,
    points_world: np.ndarray,
    plane_height: float,
    ring: int = 3,
    margin: float = 0.02,
    tol: float = 0.005,
) -> float:
    """Height of the surface an object stands on: the support plane, or another object it sits on.

    ``mask``: the object's pixels; ``others``: the other objects' pixels; ``points_world``: the
    organised (H, W, 3) point map in a gravity-aligned frame (z up). The ring of pixels within
    ``ring`` of the mask supports the object when most of it belongs to other objects and lies
    under it: within ``margin`` of its footprint and no higher than its lowest point + ``tol`` (ink
    marks on a board, a tomato in a pan). Then the ring's median height, else ``plane_height``."""
    from scipy.ndimage import binary_dilation
    from scipy.spatial import cKDTree

    grown = binary_dilation(mask, np.ones((2 * ring + 1,) * 2, bool)) & ~mask
    around = grown & np.all(np.isfinite(points_world), axis=2)
    if not around.any():
        return float(plane_height)
    obj = points_world[mask & np.all(np.isfinite(points_world), axis=2)]
    cand = points_world[around & others]
    if len(obj) == 0 or len(cand) == 0:
        return float(plane_height)
    d, _ = cKDTree(obj[:, :2]).query(cand[:, :2], k=1)
    under = cand[(d <= margin) & (cand[:, 2] <= obj[:, 2].min() + tol)]
    if len(under) < 0.5 * around.sum():
        return float(plane_height)
    return float(max(plane_height, np.median(under[:, 2])))


def absorb_enclosed(masks: list[np.ndarray], eligible: np.ndarray) -> list[np.ndarray]:
    """Each mask plus the ``eligible`` pixels it encloses in the image (holes of the mask that belong
    to no other mask): the low floor of a container seen through its rim is part of it, not
    background under it."""
    from scipy.ndimage import binary_fill_holes

    out = []
    for i, m in enumerate(masks):
        others = np.zeros_like(m)
        for j, o in enumerate(masks):
            if j != i:
                others |= o
        out.append(m | (binary_fill_holes(m) & ~m & eligible & ~others))
    return out


def flying_pixel_mask(depth: np.ndarray, jump: float = 0.05, margin: float = 0.15) -> np.ndarray:
    """Pixels at a depth edge (3x3 depth range > ``jump`` metres) whose depth lies strictly inside
    the local range (more than ``margin`` of it away from both the near and the far side): mixed
    foreground/background depth, as depth networks and sensors produce at silhouettes. Genuine
    edge pixels sit near one side of the range and are kept."""
    from scipy.ndimage import maximum_filter, minimum_filter

    d = np.where(np.isfinite(depth), depth, np.nan)
    filled = np.where(np.isfinite(d), d, np.nanmax(d) if np.isfinite(d).any() else 0.0)
    lo = minimum_filter(filled, size=3, mode="nearest")
    hi = maximum_filter(filled, size=3, mode="nearest")
    rng = hi - lo
    with np.errstate(invalid="ignore"):
        return np.isfinite(d) & (rng > jump) & (d - lo > margin * rng) & (hi - d > margin * rng)


def _split_by_colour(mask, pts, colors, eps, threshold) -> list[np.ndarray]:
    """Connected parts of a cluster over neighbour pairs (within ``eps``) of similar colour."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    idx = np.flatnonzero(mask)
    p = pts.reshape(-1, 3)[idx]
    c = np.asarray(colors, dtype=float).reshape(-1, 3)[idx] / 255.0
    pairs = cKDTree(p).query_pairs(r=float(eps), output_type="ndarray")
    if len(pairs):
        pairs = pairs[np.linalg.norm(c[pairs[:, 0]] - c[pairs[:, 1]], axis=1) < threshold]
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(idx), len(idx)))
    k, comp = connected_components(graph, directed=False)
    out = []
    for j in range(k):
        m = np.zeros(mask.size, dtype=bool)
        m[idx[comp == j]] = True
        out.append(m.reshape(mask.shape))
    return out


def _support_region(mask: np.ndarray, min_fraction: float) -> np.ndarray:
    from scipy.ndimage import label

    lab, k = label(mask)
    if k <= 1:
        return mask
    sizes = np.bincount(lab.ravel())[1:]
    keep = np.flatnonzero(sizes >= min_fraction * sizes.max()) + 1
    return np.isin(lab, keep)


def _on_footprint(pts, h, n, plane_mask, margin) -> np.ndarray:
    """Pixels whose foot point on the plane lies inside the convex hull of the plane pixels."""
    from scipy.spatial import ConvexHull, Delaunay, QhullError

    B = plane_basis(n)
    q_plane = pts[plane_mask] @ B.T
    try:
        hull = ConvexHull(q_plane)
    except QhullError:
        return np.ones(h.shape, dtype=bool)
    verts = q_plane[hull.vertices]
    c = verts.mean(axis=0)
    r = np.linalg.norm(verts - c, axis=1, keepdims=True)
    grown = c + (verts - c) * (1.0 + margin / np.maximum(r, 1e-9))
    tri = Delaunay(grown)
    out = np.zeros(h.shape, dtype=bool)
    valid = np.isfinite(h)
    out[valid] = tri.find_simplex(pts[valid] @ B.T) >= 0
    return out


def label_objects(
    clusters: list[Cluster],
    task_object_names: list[str],
    expected_sizes: dict[str, tuple[float, ...]] | None = None,
    strict: bool = False,
) -> Labelling:
    """Map clusters to task object names by size (see module docstring).

    ``expected_sizes[name]`` is ``(height,)`` or ``(dx, dy, height)`` in metres. With a different
    number of clusters and names, ``strict`` raises InputError; otherwise the best assignment of
    the smaller set is returned with ``complete=False`` and the leftovers listed.
    """
    from scipy.optimize import linear_sum_assignment

    names = list(task_object_names)
    if not names:
        raise InputError("the task lists no object names to label")
    if len(set(names)) != len(names):
        raise InputError(f"task object names must be unique, got {names}")
    if not clusters:
        raise InputError("no object found above the support plane: nothing to label")
    notes = []
    if len(clusters) != len(names):
        msg = f"{len(clusters)} object cluster(s) found but the task expects {len(names)} ({', '.join(names)})"
        if strict:
            raise InputError(msg + ": objects may touch (merged) or be hidden; adjust the segmentation")
        notes.append(msg + "; best-effort mapping")
    if expected_sizes is not None:
        missing_sizes = [nm for nm in names if nm not in expected_sizes]
        if missing_sizes:
            raise InputError(f"expected_sizes lacks {missing_sizes}")
        cost = np.array([[_size_cost(c, expected_sizes[nm]) for nm in names] for c in clusters])
        rows, cols = linear_sum_assignment(cost)
        mapping = {clusters[r].index: names[c] for r, c in zip(rows, cols)}
        notes.append("assigned by expected sizes (Hungarian on log size ratios)")
    else:
        order = sorted(clusters, key=lambda c: -c.box_volume)
        mapping = {c.index: nm for c, nm in zip(order, names)}
        notes.append("no expected sizes: names taken as listed largest first, matched by visible box volume")
    missing = [nm for nm in names if nm not in mapping.values()]
    unlabelled = [c.index for c in clusters if c.index not in mapping]
    return Labelling(mapping, not missing and not unlabelled, missing, unlabelled, notes)


def _size_cost(c: Cluster, size: tuple[float, ...]) -> float:
    size = tuple(float(s) for s in size)
    if len(size) not in (1, 3) or min(size) <= 0:
        raise InputError(f"an expected size is (height,) or (dx, dy, height) in metres > 0, got {size}")
    cost = abs(np.log(max(c.height, 1e-3) / size[-1]))
    if len(size) == 3:
        big = max(size[0], size[1])
        cost += abs(np.log(max(c.footprint[0], 1e-3) / big))
    return float(cost)
