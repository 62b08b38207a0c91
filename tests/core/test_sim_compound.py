"""Bodies of more than 16 collision shapes (PyBullet keeps only the first 16 of a compound made with
createCollisionShapeArray): every shape collides, mass properties and visuals are those of the
single compound, in the ground-truth sim (sim/assets.py) and the world model (policy/world.py)."""

import numpy as np
import pytest

from physworld.sim import assets
from physworld.sim.assets import Part, Shape

N_BOXES = 20  # a row of 20 boxes along x, 4 cm apart: shapes 17..20 are the last four
PITCH, HALF = 0.04, (0.018, 0.02, 0.01)


def _row_shape(n: int = N_BOXES) -> Shape:
    return Shape(tuple(Part("box", tuple(2 * h for h in HALF), (PITCH * i, 0.0, HALF[2])) for i in range(n)))


@pytest.fixture
def client():
    import pybullet as p

    c = p.connect(p.DIRECT)
    p.setGravity(0, 0, -9.81, physicsClientId=c)
    p.setTimeStep(1 / 240, physicsClientId=c)
    yield c
    p.disconnect(c)


def _ground(client):
    import pybullet as p

    col = p.createCollisionShape(p.GEOM_BOX, halfExtents=[2, 2, 0.05], physicsClientId=client)
    return p.createMultiBody(0, col, basePosition=[0, 0, -0.05], physicsClientId=client)


def _drop_sphere(client, xyz, radius=0.008, steps=480) -> np.ndarray:
    import pybullet as p

    col = p.createCollisionShape(p.GEOM_SPHERE, radius=radius, physicsClientId=client)
    s = p.createMultiBody(0.01, col, basePosition=list(xyz), physicsClientId=client)
    for _ in range(steps):
        p.stepSimulation(physicsClientId=client)
    return np.array(p.getBasePositionAndOrientation(s, physicsClientId=client)[0])


@pytest.mark.parametrize("mass", [0.0, 0.5])
@pytest.mark.parametrize("index", [3, 16, 19])  # 17th and 20th shape were dropped before
def test_every_shape_of_a_20_box_body_collides(client, mass, index):
    import pybullet as p

    _ground(client)
    shape = _row_shape()
    com = shape.com
    body = assets.create_body(client, shape, mass=mass, friction=0.8, rgba=(1, 0, 0, 1), pos=com, quat=(0, 0, 0, 1))
    for _ in range(60):
        p.stepSimulation(physicsClientId=client)
    top = 2 * HALF[2]
    rest = _drop_sphere(client, (PITCH * index, 0.0, top + 0.05))
    assert rest[2] == pytest.approx(top + 0.008, abs=2e-3), f"sphere fell through shape {index + 1}"
    # the body itself rests flat on its 20 boxes (a body missing its far end would not tip, but
    # one whose links were massless or misplaced would drift)
    pos, quat = p.getBasePositionAndOrientation(body, physicsClientId=client)
    np.testing.assert_allclose(pos, com, atol=2e-3)
    assert abs(quat[3]) > 0.9999


def test_split_body_has_the_mass_properties_of_one_compound(client):
    """16 boxes as one compound vs the same boxes split 5 + 5 + 5 + 1 over a base and three links."""
    import pybullet as p

    shape = _row_shape(16)
    pos, quat = [0.3, 0.2, 0.5], p.getQuaternionFromEuler([0.3, -0.2, 0.7])
    kids = [
        {
            "shapeType": p.GEOM_BOX,
            "halfExtents": list(HALF),
            "collisionFramePosition": list(np.asarray(q.pos) - shape.com),
        }
        for q in shape.parts
    ]
    one = assets.create_compound_body(client, kids, mass=0.7, pos=pos, quat=quat)
    away = np.array([0.0, 3.0, 0.0])  # apart, so that the two do not touch
    split = assets.create_compound_body(client, kids, mass=0.7, pos=pos + away, quat=quat, max_shapes=5)
    assert p.getNumJoints(one, physicsClientId=client) == 0
    assert p.getNumJoints(split, physicsClientId=client) == 3
    assert assets.body_mass(client, split) == pytest.approx(0.7, rel=1e-9)

    def pose(x, shift=0):
        q, r = p.getBasePositionAndOrientation(x, physicsClientId=client)
        return np.asarray(q) - shift, np.asarray(r)

    (pa, qa), (pb, qb) = pose(one), pose(split, away)
    np.testing.assert_allclose(pb, pa, atol=1e-9)
    np.testing.assert_allclose(qb, qa, atol=1e-9)
    ia = np.array(p.getDynamicsInfo(one, -1, physicsClientId=client)[2])
    ib = sum(np.array(p.getDynamicsInfo(split, link, physicsClientId=client)[2]) for link in (-1, 0, 1, 2))
    np.testing.assert_allclose(ib, ia, rtol=1e-3)
    lo_a, hi_a = assets.body_aabb(client, one)
    lo_b, hi_b = assets.body_aabb(client, split)
    np.testing.assert_allclose(lo_b - away, lo_a, atol=1e-9)
    np.testing.assert_allclose(hi_b - away, hi_a, atol=1e-9)
    # the same push gives the same motion (free fall with spin, no contacts)
    for x in (one, split):
        p.resetBaseVelocity(x, [0.1, 0, 0], [0.5, 1.0, 2.0], physicsClientId=client)
    for _ in range(120):
        p.stepSimulation(physicsClientId=client)
    (pa, qa), (pb, qb) = pose(one), pose(split, away)
    np.testing.assert_allclose(pb, pa, atol=1e-4)
    assert abs(np.dot(qa, qb)) > 1 - 1e-5


def test_set_body_dynamics_reaches_every_part(client):
    import pybullet as p

    body = assets.create_body(
        client, _row_shape(), mass=0.5, friction=0.3, rgba=(1, 0, 0, 1), pos=(0, 0, 1), quat=(0, 0, 0, 1)
    )
    links = assets.body_links(client, body)
    assert len(links) == 2
    assert [p.getDynamicsInfo(body, lk, physicsClientId=client)[1] for lk in links] == [0.3, 0.3]
    inertia = np.array(p.getDynamicsInfo(body, -1, physicsClientId=client)[2])
    assets.set_body_dynamics(client, body, mass=0.6, friction=0.9)
    assert assets.body_mass(client, body) == pytest.approx(0.6, rel=1e-9)
    assert [p.getDynamicsInfo(body, lk, physicsClientId=client)[1] for lk in links] == [0.9, 0.9]
    np.testing.assert_allclose(p.getDynamicsInfo(body, -1, physicsClientId=client)[2], inertia * 1.2, rtol=1e-9)


def test_split_body_renders_exactly_its_visual_mesh(client):
    """The links carry no visible shape: the body renders as its true mesh alone (a link without a
    visual would be drawn with its collision boxes)."""
    import pybullet as p

    shape = _row_shape()
    vis = assets.mesh_visual_shape(client, shape.mesh(), [0.2, 0.6, 0.3, 1])
    view = p.computeViewMatrix([0.38, -0.5, 0.35], [0.38, 0, 0], [0, 0, 1])
    proj = p.computeProjectionMatrixFOV(60, 4 / 3, 0.05, 3)

    def render():
        return p.getCameraImage(160, 120, view, proj, renderer=p.ER_TINY_RENDERER, physicsClientId=client)[2:5]

    ref = p.createMultiBody(0, -1, vis, basePosition=list(shape.com), physicsClientId=client)
    want = render()
    p.removeBody(ref, physicsClientId=client)
    body = assets.create_body(
        client, shape, mass=0.5, friction=0.8, rgba=(0.2, 0.6, 0.3, 1), pos=shape.com, quat=(0, 0, 0, 1)
    )
    assert p.getNumJoints(body, physicsClientId=client) == 1
    got = render()
    np.testing.assert_array_equal(np.asarray(got[0]), np.asarray(want[0]))  # rgb
    np.testing.assert_array_equal(np.asarray(got[1]), np.asarray(want[1]))  # depth
    assert (np.asarray(want[0])[..., 1] > 120).sum() > 500  # the row is in view


def test_pan_handle_collides_in_the_ground_truth_scene():
    """pour_fish's pan has 22 shapes (floor, 20 wall boxes, handle); the handle is the 22nd."""
    from scipy.spatial.transform import Rotation

    from physworld.sim.world import build_task_scene

    scene = build_task_scene("pour_fish", 0, with_robot=False, image_size=(64, 48))
    try:
        pan = scene.objects["pan"]
        assert len(pan.shape.parts) > 16
        pos, quat = scene.object_pose("pan")
        handle = pos + Rotation.from_quat(quat).apply(pan.shape.anchor("handle"))
        rest = _drop_sphere(scene.client, handle + [0, 0, 0.04], radius=0.006, steps=240)
        assert rest[2] == pytest.approx(handle[2] + 0.006, abs=3e-3), "the pan's handle has no collision"
    finally:
        scene.close()


def test_world_model_object_of_20_parts_collides_on_every_part(tmp_path):
    """policy/world.py loads a movable mesh as one convex hull per connected part: 20 parts collide."""
    import pybullet as p
    import trimesh

    from physworld.bundle import load_bundle
    from physworld.policy.demo import make_demo_bundle
    from physworld.policy.world import load_bundle_world

    path = make_demo_bundle(tmp_path / "bundle", box_xy=(0.6, 0.3))  # its box: 5 cm, centre 2.5 cm up
    row = trimesh.util.concatenate([q.mesh() for q in _row_shape().parts])
    row.apply_translation([-PITCH * (N_BOXES - 1) / 2, 0, -0.025])  # the row in the box's place, on the table
    row.export(path / "meshes" / "box.obj")
    mass = load_bundle(path).objects[0].mass
    world = load_bundle_world(path)
    try:
        for _ in range(60):
            p.stepSimulation(physicsClientId=world.client)
        end = world.object_pose("box")[:3] + [PITCH * (N_BOXES - 1) / 2, 0, 0]  # above the 20th box
        end[2] = 0.06
        rest = _drop_sphere(world.client, end)
        assert rest[2] == pytest.approx(2 * HALF[2] + 0.008, abs=2e-3), "the 20th part does not collide"
        assert len(assets.body_links(world.client, world.moved_id)) == 2
        assert world.dynamics("box")[0] == pytest.approx(mass, rel=1e-9)
    finally:
        world.close()
