import numpy as np
import pytest

from physworld.errors import InputError
from physworld.recon.gravity import find_support_plane
from physworld.recon.segment import (
    Cluster,
    absorb_enclosed,
    flying_pixel_mask,
    label_objects,
    point_map,
    segment_first_frame,
    split_separated,
    support_height,
)
from physworld.sim.camera import CameraIntrinsics, PyBulletCamera, look_at

INTR = CameraIntrinsics.from_fov(160, 120, 60.0)
EYE, TARGET = (0.0, -0.5, 0.6), (0.0, 0.0, 0.0)

BOX = ("box", [0.08, 0.06, 0.10], [-0.15, 0.0])  # name, size (dx, dy, h), xy
CYL = ("can", [0.07, 0.07, 0.12], [0.12, 0.05])  # cylinder: diameter, diameter, height
PLATE = ("plate", [0.16, 0.16, 0.02], [0.0, -0.15])


def render_tabletop(objects, extra_boxes=(), with_rgb=False):
    """PyBullet render of a table (top at z=0) over a floor (z=-0.7), a wall off the table, and
    the objects: returns depth, body segmentation, {name: body id}, camera pose (and the RGB
    image first if ``with_rgb``). ``extra_boxes``: (half extents, position, rgba) of more boxes."""
    import pybullet as p

    cid = p.connect(p.DIRECT)
    try:

        def box(half, pos, rgba=(0.8, 0.8, 0.8, 1.0)):
            s = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=cid)
            v = p.createVisualShape(p.GEOM_BOX, halfExtents=half, rgbaColor=rgba, physicsClientId=cid)
            return p.createMultiBody(0, s, v, basePosition=pos, physicsClientId=cid)

        box([0.5, 0.35, 0.01], [0, 0, -0.01], (0.55, 0.4, 0.25, 1.0))  # table top
        box([3, 3, 0.01], [0, 0, -0.71])  # floor
        box([1.5, 0.01, 0.8], [0, 0.8, 0.1])  # wall behind, off the table's footprint
        ids = {}
        for name, size, xy in objects:
            if name in ("can", "plate"):
                r, hgt = size[0] / 2, size[2]
                s = p.createCollisionShape(p.GEOM_CYLINDER, radius=r, height=hgt, physicsClientId=cid)
                v = p.createVisualShape(p.GEOM_CYLINDER, radius=r, length=hgt, physicsClientId=cid)
                ids[name] = p.createMultiBody(0, s, v, basePosition=[*xy, hgt / 2], physicsClientId=cid)
            else:
                ids[name] = box([size[0] / 2, size[1] / 2, size[2] / 2], [*xy, size[2] / 2])
        for k, (half, pos, rgba) in enumerate(extra_boxes):
            ids[f"extra_{k}"] = box(half, pos, rgba)
        T = look_at(EYE, TARGET)
        rgb, depth, body = PyBulletCamera(INTR, T).render(cid)
    finally:
        p.disconnect(cid)
    return (rgb, depth, body, ids, T) if with_rgb else (depth, body, ids, T)


@pytest.fixture(scope="module")
def scene():
    depth, body, ids, T = render_tabletop([BOX, CYL, PLATE])
    pts = point_map(depth, INTR)
    up_cam = T[:3, :3].T @ [0.0, 0.0, 1.0]
    plane = find_support_plane(pts.reshape(-1, 3), threshold=0.005, up_hint=up_cam)
    return pts, body, ids, plane


def _iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


def test_point_map_matches_depth():
    depth = np.full((120, 160), 2.0, np.float32)
    depth[0, 0] = np.nan
    pts = point_map(depth, INTR)
    assert pts.shape == (120, 160, 3)
    assert np.all(np.isnan(pts[0, 0]))
    np.testing.assert_allclose(pts[60, 80], [(80 - INTR.cx) / INTR.fx * 2, (60 - INTR.cy) / INTR.fy * 2, 2.0])
    with pytest.raises(InputError, match="does not match"):
        point_map(depth[:-1], INTR)


def test_segments_objects_plane_and_background(scene):
    pts, body, ids, plane = scene
    seg = segment_first_frame(pts, plane.normal, plane.d)
    assert len(seg.objects) == 3
    for name, bid in ids.items():
        best = max(_iou(c.mask, body == bid) for c in seg.objects)
        # thin plate: its lowest centimetre counts as plane
        assert best > (0.4 if name == "plate" else 0.8), name
    # the support plane is the table top: mostly table pixels, no floor/wall
    table = body == 0
    assert (seg.plane_mask & table).sum() / seg.plane_mask.sum() > 0.97
    assert (seg.plane_mask & table).sum() / table.sum() > 0.8
    # the wall (above the plane, off its footprint) and the floor (below) are background
    for bid in (1, 2):
        assert not (seg.object_mask & (body == bid)).any()
    valid = np.all(np.isfinite(pts), axis=2)
    assert np.array_equal(seg.background_mask, valid & ~seg.object_mask & ~seg.ignored_mask)
    assert seg.ignored_mask.mean() < 0.01  # a clean render has (almost) no flying pixels
    assert not (seg.background_mask & seg.object_mask).any()
    # cluster geometry: heights above the plane
    heights = sorted(c.height for c in seg.objects)
    np.testing.assert_allclose(heights, [0.02, 0.10, 0.12], atol=0.01)


def test_wall_becomes_object_without_footprint_check(scene):
    pts, body, _, plane = scene
    seg = segment_first_frame(pts, plane.normal, plane.d, on_footprint=False, max_height=2.0)
    assert any((c.mask & (body == 2)).sum() > 50 for c in seg.objects)


def test_label_objects_by_expected_size(scene):
    pts, body, ids, plane = scene
    seg = segment_first_frame(pts, plane.normal, plane.d)
    sizes = {BOX[0]: tuple(BOX[1]), CYL[0]: tuple(CYL[1]), PLATE[0]: tuple(PLATE[1])}
    lab = label_objects(seg.objects, ["can", "plate", "box"], expected_sizes=sizes)
    assert lab.complete and not lab.missing and not lab.unlabelled
    for c in seg.objects:
        name = lab.names[c.index]
        assert _iou(c.mask, body == ids[name]) > 0.4, name


def _cluster(i, height, footprint):
    m = np.zeros((4, 4), bool)
    return Cluster(i, m, np.zeros((5, 3)), np.zeros(3), height, footprint)


def test_label_objects_without_sizes_uses_listed_order_as_size_order():
    clusters = [_cluster(0, 0.05, (0.05, 0.05)), _cluster(1, 0.3, (0.3, 0.2)), _cluster(2, 0.1, (0.1, 0.1))]
    lab = label_objects(clusters, ["shelf", "box", "cup"])
    assert lab.names == {1: "shelf", 2: "box", 0: "cup"} and lab.complete
    # expected sizes override the order
    sizes = {"shelf": (0.3, 0.2, 0.3), "box": (0.1, 0.1, 0.1), "cup": (0.05,)}
    lab = label_objects(clusters, ["cup", "box", "shelf"], expected_sizes=sizes)
    assert lab.names == {1: "shelf", 2: "box", 0: "cup"}
    with pytest.raises(InputError, match="unique"):
        label_objects(clusters, ["cup", "cup", "box"])
    with pytest.raises(InputError, match="no object found"):
        label_objects([], ["cup"])


def test_label_count_mismatch(scene):
    pts, _, _, plane = scene
    seg = segment_first_frame(pts, plane.normal, plane.d)
    with pytest.raises(InputError, match="3 object cluster"):
        label_objects(seg.objects, ["box", "can"], strict=True)
    lab = label_objects(seg.objects, ["box", "can"], expected_sizes={"box": (0.08, 0.06, 0.1), "can": (0.12,)})
    assert not lab.complete and len(lab.unlabelled) == 1 and not lab.missing
    assert any("best-effort" in n for n in lab.notes)
    lab = label_objects(seg.objects, ["box", "can", "plate", "cup"])
    assert not lab.complete and lab.missing == ["cup"]
    with pytest.raises(InputError, match="lacks"):
        label_objects(seg.objects, ["box"], expected_sizes={})


def test_no_object_on_the_plane():
    depth, _, _, T = render_tabletop([])
    pts = point_map(depth, INTR)
    plane = find_support_plane(pts.reshape(-1, 3), 0.005, up_hint=T[:3, :3].T @ [0, 0, 1.0])
    with pytest.raises(InputError, match="no object found above the support plane"):
        segment_first_frame(pts, plane.normal, plane.d)
    with pytest.raises(InputError, match=r"\(H, W, 3\)"):
        segment_first_frame(pts.reshape(-1, 3), plane.normal, plane.d)


def test_touching_objects_of_different_colour_split_by_colour():
    red, blue = (0.85, 0.1, 0.1, 1.0), (0.1, 0.2, 0.85, 1.0)
    extra = [([0.04, 0.04, 0.04], [-0.04, 0.0, 0.04], red), ([0.04, 0.04, 0.06], [0.04, 0.0, 0.06], blue)]
    rgb, depth, body, ids, T = render_tabletop([], extra_boxes=extra, with_rgb=True)
    pts = point_map(depth, INTR)
    plane = find_support_plane(pts.reshape(-1, 3), 0.005, up_hint=T[:3, :3].T @ [0, 0, 1.0])
    merged = segment_first_frame(pts, plane.normal, plane.d)
    assert len(merged.objects) == 1  # geometry alone: one blob
    split = segment_first_frame(pts, plane.normal, plane.d, colors=rgb)
    assert len(split.objects) == 2
    for bid in (ids["extra_0"], ids["extra_1"]):
        assert max(_iou(c.mask, body == bid) for c in split.objects) > 0.85
    with pytest.raises(InputError, match="colors"):
        segment_first_frame(pts, plane.normal, plane.d, colors=rgb[:-1])


def test_ignore_mask_removes_the_robot_and_noise_raises_the_height_floor(scene):
    pts, body, ids, plane = scene
    robot = body == ids["box"]  # pretend the box is the robot
    seg = segment_first_frame(pts, plane.normal, plane.d, ignore_mask=robot)
    assert len(seg.objects) == 2
    assert not (seg.object_mask & robot).any() and not (seg.background_mask & robot).any()
    assert not (robot & ~seg.ignored_mask).any()
    with pytest.raises(InputError, match="ignore_mask"):
        segment_first_frame(pts, plane.normal, plane.d, ignore_mask=robot[:-1])
    # 4 mm depth noise: with the adaptive height floor the table does not turn into objects
    rng = np.random.default_rng(0)
    noisy = pts + pts / np.linalg.norm(pts, axis=2, keepdims=True) * rng.normal(0, 0.004, pts.shape[:2])[..., None]
    seg = segment_first_frame(noisy, plane.normal, plane.d, min_height=0.004, plane_threshold=0.015)
    assert 2 <= len(seg.objects) <= 3  # the thin plate may sink into the noise
    assert (seg.object_mask & (body == 0)).sum() < 0.02 * (body == 0).sum()
    flood = segment_first_frame(noisy, plane.normal, plane.d, min_height=0.004, plane_threshold=0.015, noise_k=0.0)
    assert (flood.object_mask & (body == 0)).sum() > 5 * max((seg.object_mask & (body == 0)).sum(), 1)


def test_flying_pixels_are_found_between_foreground_and_background():
    depth = np.full((10, 12), 1.5)
    depth[:, :5] = 0.8  # foreground on the left
    depth[:, 5] = 1.1  # smeared column between them
    depth[0, 0] = np.nan
    fly = flying_pixel_mask(depth, jump=0.05)
    assert fly[:, 5].all()
    assert not fly[:, :5].any() and not fly[:, 6:].any()  # true edge pixels are kept
    assert not flying_pixel_mask(np.full((5, 5), 1.0)).any()


def test_absorb_enclosed_takes_the_eligible_holes_of_each_mask_only():
    ring = np.zeros((9, 9), bool)
    ring[1:8, 1:8] = True
    ring[3:6, 3:6] = False  # a 3 x 3 hole
    other = np.zeros_like(ring)
    other[4, 4] = True  # another object inside the hole
    eligible = np.ones_like(ring)
    eligible[3, 3] = False  # e.g. on the table
    grown, same = absorb_enclosed([ring, other], eligible)
    assert grown.sum() == ring.sum() + 7 and not grown[4, 4] and not grown[3, 3]
    assert np.array_equal(same, other)  # nothing enclosed by the small one


def test_a_low_floor_inside_a_container_joins_it_but_the_table_inside_a_frame_does_not():
    grey = (0.6, 0.6, 0.65, 1.0)
    walls = []
    for cx, floor in ((-0.12, True), (0.12, False)):
        for dx, dy, hx, hy in ((-0.055, 0, 0.005, 0.06), (0.055, 0, 0.005, 0.06), (0, -0.055, 0.06, 0.005),
                               (0, 0.055, 0.06, 0.005)):  # fmt: skip
            walls.append(([hx, hy, 0.025], [cx + dx, dy, 0.025], grey))
        if floor:  # 4 mm: lower than the segmentation's min_height, seen inside the walls
            walls.append(([0.05, 0.05, 0.002], [cx, 0.0, 0.002], grey))
    rgb, depth, body, ids, T = render_tabletop([], extra_boxes=walls, with_rgb=True)
    pts = point_map(depth, INTR)
    plane = find_support_plane(pts.reshape(-1, 3), 0.005, up_hint=T[:3, :3].T @ [0, 0, 1.0])
    seg = segment_first_frame(pts, plane.normal, plane.d)
    assert len(seg.objects) == 2, [c.n_points for c in seg.objects]
    floor = body == ids["extra_4"]
    assert floor.sum() > 50
    box = max(seg.objects, key=lambda c: (c.mask & floor).sum())
    assert box.mask[floor].mean() > 0.9  # the floor is part of the container, not background
    assert not seg.background_mask[floor].any()
    frame = min(seg.objects, key=lambda c: (c.mask & floor).sum())
    inside = (body == 1) & ~frame.mask  # table pixels, some of them inside the frame
    assert not (frame.mask & (body == 1)).any() and inside.any()


def test_split_separated_splits_image_parts_apart_in_space_only():
    mask = np.zeros((10, 30), bool)
    mask[2:6, 2:6] = mask[2:6, 12:16] = mask[2:6, 20:24] = True
    pts = np.zeros((10, 30, 3))
    pts[..., 0] = np.arange(30)[None, :] * 0.005  # 5 mm per pixel: the first two parts 3 cm apart
    pts[:, 20:, 0] -= 0.035  # the third part 5 mm from the second in space (cut by an occluder)
    parts = split_separated(mask, pts, 0.015)
    assert sorted(int(p.sum()) for p in parts) == [16, 32]
    assert split_separated(mask[:, :10], pts[:, :10], 0.015)[0] is not None


def test_small_objects_a_few_centimetres_apart_are_separate_clusters():
    ink = (0.1, 0.15, 0.6, 1.0)
    board = ([0.12, 0.1, 0.005], [0.0, 0.0, 0.005], (0.95, 0.95, 0.95, 1.0))
    marks = [([0.015, 0.015, 0.0015], [x, 0.0, 0.0115], ink) for x in (-0.05, 0.0, 0.05)]  # 2 cm gaps
    rgb, depth, body, ids, T = render_tabletop([], extra_boxes=[board, *marks], with_rgb=True)
    pts = point_map(depth, INTR)
    plane = find_support_plane(pts.reshape(-1, 3), 0.005, up_hint=T[:3, :3].T @ [0, 0, 1.0])
    seg = segment_first_frame(pts, plane.normal, plane.d, colors=rgb, min_cluster_points=5)
    found = [k for k in (1, 2, 3) if max(_iou(c.mask, body == ids[f"extra_{k}"]) for c in seg.objects) > 0.5]
    assert found == [1, 2, 3]  # each mark its own cluster (DBSCAN's 4 cm eps joins them)
    joined = segment_first_frame(pts, plane.normal, plane.d, colors=rgb, min_cluster_points=5, split_gap=None)
    assert len(joined.objects) == len(seg.objects) - 2


def test_support_height_is_the_object_under_it_or_the_plane():
    h, w = 40, 40
    P = np.zeros((h, w, 3))
    P[..., 0], P[..., 1] = np.meshgrid(np.arange(w) * 0.005, np.arange(h) * 0.005)
    board = np.zeros((h, w), bool)
    board[5:35, 5:35] = True
    mark = np.zeros((h, w), bool)
    mark[18:22, 18:22] = True
    P[board, 2], P[mark, 2] = 0.01, 0.013
    assert support_height(mark, board & ~mark, P, 0.0) == pytest.approx(0.01)  # an ink mark on a board
    lone = np.zeros((h, w), bool)
    lone[36:39, 36:39] = True
    P[lone, 2] = 0.02
    assert support_height(lone, board, P, 0.0) == 0.0  # on the table
    tall = board.copy()
    P[tall & ~mark, 2] = 0.3  # a tall object behind it in the image, higher than the object: no support
    assert support_height(mark, tall & ~mark, P, 0.0) == 0.0
