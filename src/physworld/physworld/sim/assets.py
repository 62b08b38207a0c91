"""Object geometry for the task suite, built from primitives.

A :class:`Shape` is a tuple of primitive :class:`Part` s (boxes, cylinders, spheres) in a *build
frame* whose origin is the centre of the object's footprint on its support (z = 0 at the bottom),
plus named *anchors* (points in the build frame, e.g. a pot's rim centre) and named scalar
dimensions. From one Shape we derive, consistently:

- the PyBullet body (compound collision shape of the same primitives, visual mesh = true mesh),
- the TRUE triangle mesh (``trimesh.Trimesh``) used only for evaluation.

The object frame of a body is its centre of mass (volume-weighted over the parts, uniform density):
PyBullet's ``getBasePositionAndOrientation`` reports the inertial frame, so making the object frame
equal to it keeps poses, meshes and physics consistent. ``Shape.com`` is the offset of that frame
in the build frame.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

from ..errors import ConfigError

_CYL_SECTIONS = 24


@dataclass(frozen=True)
class Part:
    """One primitive. ``dims``: box (x, y, z) full extents; cylinder (radius, height) along its z;
    sphere (radius,). ``pos``/``rpy`` place the primitive's centre in the build frame."""

    kind: str
    dims: tuple[float, ...]
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rpy: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self):
        need = {"box": 3, "cylinder": 2, "sphere": 1}
        if self.kind not in need:
            raise ConfigError(f"part kind {self.kind!r} unknown; use one of {sorted(need)}")
        if len(self.dims) != need[self.kind] or min(self.dims) <= 0:
            raise ConfigError(f"{self.kind} part needs {need[self.kind]} positive dims, got {self.dims}")

    @property
    def volume(self) -> float:
        if self.kind == "box":
            return float(np.prod(self.dims))
        if self.kind == "cylinder":
            return math.pi * self.dims[0] ** 2 * self.dims[1]
        return 4.0 / 3.0 * math.pi * self.dims[0] ** 3

    def mesh(self) -> trimesh.Trimesh:
        if self.kind == "box":
            m = trimesh.creation.box(extents=self.dims)
        elif self.kind == "cylinder":
            m = trimesh.creation.cylinder(radius=self.dims[0], height=self.dims[1], sections=_CYL_SECTIONS)
        else:
            m = trimesh.creation.icosphere(subdivisions=2, radius=self.dims[0])
        T = np.eye(4)
        T[:3, :3] = Rotation.from_euler("xyz", self.rpy).as_matrix()
        T[:3, 3] = self.pos
        m.apply_transform(T)
        return m


@dataclass(frozen=True)
class Shape:
    parts: tuple[Part, ...]
    anchors: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    dims: dict[str, float] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash(self.parts)

    @property
    def com(self) -> np.ndarray:
        """Centre of mass in the build frame (uniform density over the parts)."""
        vols = np.array([p.volume for p in self.parts])
        centres = np.array([p.pos for p in self.parts], dtype=float)
        return (vols[:, None] * centres).sum(0) / vols.sum()

    def scaled(self, s: float) -> Shape:
        parts = tuple(
            replace(p, dims=tuple(d * s for d in p.dims), pos=tuple(c * s for c in p.pos)) for p in self.parts
        )
        anchors = {k: tuple(c * s for c in v) for k, v in self.anchors.items()}
        return Shape(parts, anchors, {k: v * s for k, v in self.dims.items()})

    def anchor(self, name: str) -> np.ndarray:
        """An anchor in the OBJECT frame (relative to the centre of mass)."""
        return np.asarray(self.anchors[name], dtype=float) - self.com

    def mesh(self) -> trimesh.Trimesh:
        """True mesh in the object frame (centre of mass at the origin)."""
        m = trimesh.util.concatenate([p.mesh() for p in self.parts])
        m.apply_translation(-self.com)
        return m

    @property
    def height(self) -> float:
        return float(trimesh.util.concatenate([p.mesh() for p in self.parts]).bounds[1, 2])


# ---------------------------------------------------------------------------------------------
# shape builders (build frame: footprint centre at z = 0, +x "forward", +z up)


def box(x: float, y: float, z: float) -> Shape:
    return Shape((Part("box", (x, y, z), (0, 0, z / 2)),), {"top": (0, 0, z)}, {"x": x, "y": y, "z": z})


def cylinder(radius: float, height: float) -> Shape:
    return Shape(
        (Part("cylinder", (radius, height), (0, 0, height / 2)),),
        {"top": (0, 0, height)},
        {"radius": radius, "height": height},
    )


def sphere(radius: float) -> Shape:
    return Shape((Part("sphere", (radius,), (0, 0, radius)),), {"top": (0, 0, 2 * radius)}, {"radius": radius})


def _ring(radius: float, wall: float, z0: float, height: float, n: int) -> list[Part]:
    """A ring of ``n`` boxes approximating a cylindrical wall of outer radius ``radius``."""
    rc = radius - wall / 2
    chord = 2 * radius * math.tan(math.pi / n) * 1.02
    return [
        Part("box", (wall, chord, height), (rc * math.cos(a), rc * math.sin(a), z0 + height / 2), (0, 0, a))
        for a in (2 * math.pi * i / n for i in range(n))
    ]


def container(radius: float, height: float, wall: float, floor: float, n: int = 16) -> Shape:
    """Open round container (pot, cup, flower pot): floor disc + ring wall."""
    parts = [Part("cylinder", (radius, floor), (0, 0, floor / 2)), *_ring(radius, wall, floor, height - floor, n)]
    return Shape(
        tuple(parts),
        {"rim": (0, 0, height), "floor": (0, 0, floor)},
        {"radius": radius, "inner_radius": radius - wall, "height": height, "floor": floor},
    )


def pan(radius: float, height: float, wall: float, floor: float, handle_len: float, handle_w: float) -> Shape:
    """Frying pan: shallow container with a handle along -x."""
    c = container(radius, height, wall, floor, n=20)
    handle = Part("box", (handle_len, handle_w, 0.012), (-(radius + handle_len / 2 - wall), 0, height - 0.006))
    anchors = dict(c.anchors, handle=(-(radius + handle_len * 0.6), 0, height))
    return Shape((*c.parts, handle), anchors, dict(c.dims, handle_len=handle_len))


def plate(radius: float, thickness: float, rim_h: float) -> Shape:
    """Flat plate with a low rim (ring) so that poured food stays on it."""
    parts = [Part("cylinder", (radius, thickness), (0, 0, thickness / 2)), *_ring(radius, 0.006, thickness, rim_h, 20)]
    return Shape(
        tuple(parts),
        {"surface": (0, 0, thickness)},
        {"radius": radius, "inner_radius": radius - 0.006, "thickness": thickness, "rim_h": rim_h},
    )


def lid(radius: float, thickness: float, knob_r: float, knob_h: float) -> Shape:
    parts = (
        Part("cylinder", (radius, thickness), (0, 0, thickness / 2)),
        Part("cylinder", (knob_r, knob_h), (0, 0, thickness + knob_h / 2)),
    )
    return Shape(parts, {"top": (0, 0, thickness + knob_h)}, {"radius": radius, "thickness": thickness})


def open_box(x: float, y: float, z: float, wall: float) -> Shape:
    """Box without a lid (shoebox): floor + four walls."""
    parts = (
        Part("box", (x, y, wall), (0, 0, wall / 2)),
        Part("box", (wall, y, z - wall), (x / 2 - wall / 2, 0, wall + (z - wall) / 2)),
        Part("box", (wall, y, z - wall), (-x / 2 + wall / 2, 0, wall + (z - wall) / 2)),
        Part("box", (x - 2 * wall, wall, z - wall), (0, y / 2 - wall / 2, wall + (z - wall) / 2)),
        Part("box", (x - 2 * wall, wall, z - wall), (0, -y / 2 + wall / 2, wall + (z - wall) / 2)),
    )
    return Shape(
        parts,
        {"rim": (0, 0, z), "floor": (0, 0, wall)},
        {"inner_x": x - 2 * wall, "inner_y": y - 2 * wall, "height": z, "floor": wall},
    )


def bookshelf(width: float, depth: float, height: float, board: float, slot_w: float) -> Shape:
    """Open-top book rack: floor, back, two sides, two fixed 'books' leaving one slot (along y) at
    the centre. Front (opening) faces -x."""
    half_w = width / 2
    bh = height - board
    books_w = (width - 2 * board - slot_w) / 2
    parts = (
        Part("box", (depth, width, board), (0, 0, board / 2)),
        Part("box", (board, width, bh), (depth / 2 - board / 2, 0, board + bh / 2)),
        Part("box", (depth, board, bh), (0, half_w - board / 2, board + bh / 2)),
        Part("box", (depth, board, bh), (0, -half_w + board / 2, board + bh / 2)),
        Part("box", (depth - board, books_w, bh * 0.8), (-board / 2, slot_w / 2 + books_w / 2, board + bh * 0.4)),
        Part("box", (depth - board, books_w, bh * 0.8), (-board / 2, -slot_w / 2 - books_w / 2, board + bh * 0.4)),
    )
    return Shape(
        parts,
        {"slot": (-board / 2, 0, board)},
        {"slot_w": slot_w, "slot_depth": depth - board, "floor": board, "height": height},
    )


def book(thickness: float, width: float, height: float) -> Shape:
    """A book standing upright: thickness along x, width along y, height along z."""
    return box(thickness, width, height)


def spoon(length: float, bowl_len: float, bowl_w: float) -> Shape:
    handle_len = length - bowl_len
    parts = (
        Part("box", (handle_len, 0.018, 0.008), (-bowl_len / 2, 0, 0.004)),
        Part("box", (bowl_len, bowl_w, 0.014), (handle_len / 2, 0, 0.007)),
    )
    return Shape(parts, {"top": (0, 0, 0.014)}, {"length": length})


def shoe(length: float, width: float) -> Shape:
    sole_h = 0.02
    parts = (
        Part("box", (length, width, sole_h), (0, 0, sole_h / 2)),
        Part("box", (length * 0.45, width * 0.95, 0.06), (-length * 0.25, 0, sole_h + 0.03)),
        Part("box", (length * 0.45, width * 0.9, 0.03), (length * 0.2, 0, sole_h + 0.015)),
    )
    return Shape(parts, {"top": (0, 0, sole_h + 0.06)}, {"length": length, "width": width})


def dustpan(width: float, depth: float, wall_h: float) -> Shape:
    """Dustpan fixed to the table, opening toward -y. Its floor is 2 mm thick and sunk into the
    table (the body is static) with 0.3 mm showing, so pushed scraps slide onto it."""
    w = 0.008
    parts = (
        Part("box", (width, depth, 0.002), (0, 0, -0.0007)),
        Part("box", (width, w, wall_h), (0, depth / 2 - w / 2, wall_h / 2)),
        Part("box", (w, depth, wall_h), (width / 2 - w / 2, 0, wall_h / 2)),
        Part("box", (w, depth, wall_h), (-width / 2 + w / 2, 0, wall_h / 2)),
    )
    return Shape(
        parts,
        {"floor": (0, 0, 0.0003), "back": (0, depth / 2 - w, 0.0003)},
        {"inner_x": width - 2 * w, "depth": depth - w},
    )


def brush(head_x: float, head_y: float, head_z: float) -> Shape:
    """Hand brush: head (long along x, pushes along +y) with a handle block on top."""
    parts = (
        Part("box", (head_x, head_y, head_z), (0, 0, head_z / 2)),
        Part("box", (head_x * 0.5, head_y * 0.6, 0.035), (0, 0, head_z + 0.0175)),
    )
    return Shape(parts, {"front": (0, head_y / 2, 0)}, {"head_x": head_x, "head_y": head_y})


def watering_can(radius: float, height: float) -> Shape:
    """Open can with a spout pointing +x (the spout does not carry water here; the opening does)."""
    c = container(radius, height, 0.005, 0.006, n=14)
    spout = Part("cylinder", (0.007, 0.08), (radius + 0.025, 0, height * 0.55), (0, math.radians(50), 0))
    return Shape((*c.parts, spout), c.anchors, c.dims)


def flower_pot(radius: float, height: float, soil: float) -> Shape:
    """Flower pot with soil and a small plant (stem + foliage) at the +x (far) side of the pot."""
    c = container(radius, height, 0.007, 0.008, n=16)
    sx = radius * 0.5
    parts = (
        *c.parts,
        Part("cylinder", (radius - 0.007, soil), (0, 0, 0.008 + soil / 2)),
        Part("cylinder", (0.005, 0.10), (sx, 0, 0.008 + soil + 0.05)),
        Part("sphere", (0.025,), (sx, 0, 0.008 + soil + 0.11)),
    )
    return Shape(parts, dict(c.anchors, soil=(0, 0, 0.008 + soil)), dict(c.dims, soil=soil))


def board(x: float, y: float, z: float) -> Shape:
    return box(x, y, z)


# ---------------------------------------------------------------------------------------------
# PyBullet


# PyBullet's MAX_COMPOUND_COLLISION_SHAPES (SharedMemoryPublic.h): createCollisionShapeArray keeps
# the first 16 children of a compound and silently drops the rest.
MAX_COMPOUND_SHAPES = 16
# mass of each fixed-joint carrier link, as a fraction of the body's mass (see create_compound_body)
CARRIER_MASS_FRACTION = 1e-4


def create_compound_body(
    client: int,
    children: list[dict],
    *,
    mass: float,
    pos,
    quat,
    visual: int = -1,
    max_shapes: int = MAX_COMPOUND_SHAPES,
) -> int:
    """A body whose collision shape is the compound of ``children``, however many there are.

    ``children``: one dict per collision shape with the keyword arguments of
    ``createCollisionShapeArray`` in singular form (``shapeType``, ``halfExtents``, ``radius``,
    ``length``, ``fileName``, ``collisionFramePosition``, ``collisionFrameOrientation``), every dict
    with the same keys, frames relative to the body's inertial frame (its reported pose ``pos``,
    ``quat``).

    Up to ``max_shapes`` (PyBullet's limit of 16) children: one compound on the base, as PyBullet
    builds any compound. More: the base carries the first ``max_shapes`` and fixed-joint links the
    rest, ``max_shapes`` each, so that every child collides. The links' frames and inertial frames
    are the base's inertial frame and they carry ``CARRIER_MASS_FRACTION`` of the mass each, the base
    the rest, so the total mass is ``mass``, the centre of mass stays at the reported base pose, and
    the base's inertia is set to PyBullet's own rule for a compound (a solid box of the whole
    compound's axis-aligned bounds): the split body has the mass properties the single compound would
    have. Use :func:`body_mass` / :func:`set_body_dynamics` to read or change mass and friction of
    such a body (the base alone holds neither the whole friction nor exactly the whole mass)."""
    import pybullet as p

    if not children:
        raise ConfigError("a compound body needs at least one collision shape")
    keys = set(children[0])
    if any(set(c) != keys for c in children):
        raise ConfigError("every collision child of a compound body needs the same keys")
    plural = {"shapeType": "shapeTypes", "halfExtents": "halfExtents", "radius": "radii", "length": "lengths",
              "fileName": "fileNames", "meshScale": "meshScales", "collisionFramePosition": "collisionFramePositions",
              "collisionFrameOrientation": "collisionFrameOrientations"}  # fmt: skip

    def compound(group: list[dict]) -> int:
        kwargs = {plural[k]: [c[k] for c in group] for k in keys if k != "shapeType"}
        return p.createCollisionShapeArray([c["shapeType"] for c in group], physicsClientId=client, **kwargs)

    cols = [compound(children[i : i + max_shapes]) for i in range(0, len(children), max_shapes)]
    if len(cols) == 1:
        return p.createMultiBody(
            baseMass=mass,
            baseCollisionShapeIndex=cols[0],
            baseVisualShapeIndex=visual,
            basePosition=list(pos),
            baseOrientation=list(quat),
            physicsClientId=client,
        )
    n = len(cols) - 1
    link_mass = mass * CARRIER_MASS_FRACTION
    # a link without a visual shape is drawn with its collision shapes (grey boxes over the true
    # mesh); a 1 micrometre transparent sphere at the centre of mass draws nothing instead
    hidden = p.createVisualShape(p.GEOM_SPHERE, radius=1e-6, rgbaColor=[0, 0, 0, 0], physicsClientId=client)
    zero, ident = [0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]
    body = p.createMultiBody(
        baseMass=mass - n * link_mass,
        baseCollisionShapeIndex=cols[0],
        baseVisualShapeIndex=visual,
        basePosition=list(pos),
        baseOrientation=ident,  # axis-aligned while the compound's bounds are measured
        linkMasses=[link_mass] * n,
        linkCollisionShapeIndices=cols[1:],
        linkVisualShapeIndices=[hidden] * n,
        linkPositions=[zero] * n,
        linkOrientations=[ident] * n,
        linkInertialFramePositions=[zero] * n,
        linkInertialFrameOrientations=[ident] * n,
        linkParentIndices=[0] * n,
        linkJointTypes=[p.JOINT_FIXED] * n,
        linkJointAxis=[zero] * n,
        physicsClientId=client,
    )
    if mass > 0:
        lo, hi = body_aabb(client, body)
        lx, ly, lz = hi - lo
        m = mass - n * link_mass
        inertia = [m / 12 * (ly**2 + lz**2), m / 12 * (lx**2 + lz**2), m / 12 * (lx**2 + ly**2)]
        p.changeDynamics(body, -1, localInertiaDiagonal=inertia, physicsClientId=client)
    p.resetBasePositionAndOrientation(body, list(pos), list(quat), physicsClientId=client)
    return body


def body_links(client: int, body: int) -> list[int]:
    """The base (-1) and every link of ``body``."""
    import pybullet as p

    return [-1, *range(p.getNumJoints(body, physicsClientId=client))]


def body_aabb(client: int, body: int) -> tuple[np.ndarray, np.ndarray]:
    """World axis-aligned bounds of every collision shape of ``body`` (base and links)."""
    import pybullet as p

    boxes = np.array([p.getAABB(body, link, physicsClientId=client) for link in body_links(client, body)])
    return boxes[:, 0].min(0), boxes[:, 1].max(0)


def body_mass(client: int, body: int) -> float:
    """Total mass of ``body`` (base and links)."""
    import pybullet as p

    return float(sum(p.getDynamicsInfo(body, link, physicsClientId=client)[0] for link in body_links(client, body)))


def set_body_dynamics(
    client: int, body: int, *, mass: float | None = None, friction: float | None = None, **friction_kwargs
) -> None:
    """Set the total ``mass`` (every part scaled alike, inertia with it) and the lateral ``friction``
    (plus e.g. ``rollingFriction``) on every part of ``body``. A body of one part gets exactly the
    single ``changeDynamics`` call it always got."""
    import pybullet as p

    links = body_links(client, body)
    kw = dict(friction_kwargs)
    if friction is not None:
        kw["lateralFriction"] = friction
    if len(links) == 1:
        if mass is not None:
            kw["mass"] = mass
        if kw:
            p.changeDynamics(body, -1, physicsClientId=client, **kw)
        return
    if mass is not None:
        total = body_mass(client, body)
        scale = mass / total if total > 0 else 0.0
        for link in links:
            info = p.getDynamicsInfo(body, link, physicsClientId=client)
            # changeDynamics(mass=) recomputes the inertia from this part's shapes alone: keep ours, scaled
            p.changeDynamics(body, link, mass=info[0] * scale, physicsClientId=client)
            p.changeDynamics(body, link, localInertiaDiagonal=[v * scale for v in info[2]], physicsClientId=client)
    if kw:
        for link in links:
            p.changeDynamics(body, link, physicsClientId=client, **kw)


def mesh_visual_shape(client: int, mesh, rgba) -> int:
    """A PyBullet visual shape of a trimesh ``mesh`` (its own frame), with vertex normals."""
    import pybullet as p

    return p.createVisualShape(
        p.GEOM_MESH,
        vertices=mesh.vertices.tolist(),
        indices=mesh.faces.reshape(-1).astype(int).tolist(),
        normals=mesh.vertex_normals.tolist(),
        rgbaColor=list(rgba),
        physicsClientId=client,
    )


def create_body(
    client: int,
    shape: Shape,
    *,
    mass: float,
    friction: float,
    rgba: tuple[float, float, float, float],
    pos,
    quat,
    rolling_friction: float = 0.0,
) -> int:
    """A PyBullet body of ``shape`` with its base (inertial) frame at the shape's centre of mass;
    every part collides (:func:`create_compound_body`), the visual is the true mesh on the base."""
    import pybullet as p

    com = shape.com
    kinds = {"box": p.GEOM_BOX, "cylinder": p.GEOM_CYLINDER, "sphere": p.GEOM_SPHERE}
    children = [
        {
            "shapeType": kinds[part.kind],
            "halfExtents": [d / 2 for d in part.dims] if part.kind == "box" else [0, 0, 0],
            "radius": part.dims[0] if part.kind != "box" else 0.0,
            "length": part.dims[1] if part.kind == "cylinder" else 0.0,
            "collisionFramePosition": list(np.asarray(part.pos) - com),
            "collisionFrameOrientation": list(p.getQuaternionFromEuler(part.rpy)),
        }
        for part in shape.parts
    ]
    vis = mesh_visual_shape(client, shape.mesh(), rgba)
    body = create_compound_body(client, children, mass=mass, pos=pos, quat=quat, visual=vis)
    set_body_dynamics(
        client, body, friction=friction, rollingFriction=rolling_friction, spinningFriction=rolling_friction
    )
    return body


def panda_urdf_path() -> Path:
    """The Franka Panda URDF: ``$PHYSWORLD_URDF_DIR/panda.urdf``, else the repository's ``urdf/``,
    else the original in ``pybullet_data``."""
    candidates = []
    if os.environ.get("PHYSWORLD_URDF_DIR"):
        candidates.append(Path(os.environ["PHYSWORLD_URDF_DIR"]) / "panda.urdf")
    root = os.environ.get("PHYSWORLD_ROOT")
    if root:
        candidates.append(Path(root) / "urdf" / "panda.urdf")
    candidates.append(Path(__file__).resolve().parents[4] / "urdf" / "panda.urdf")
    for c in candidates:
        if c.is_file():
            return c
    import pybullet_data

    return Path(pybullet_data.getDataPath()) / "franka_panda" / "panda.urdf"


# the gear that couples the two finger joints (the real Panda hand drives both fingers through one
# mechanism); without it each finger is position-controlled on its own, both push with the full
# force, and a held object slides to and fro along the closing axis with the pair of fingers (+-1.8 cm
# in 1 s on stack_block) while the hand stays still. Values as in bullet3's pybullet_robots/panda
FINGER_GEAR_ERP = 0.1
FINGER_GEAR_MAX_FORCE = 50.0  # N


def couple_fingers(client: int, body: int, fingers: list[int]) -> int:
    """Couple the two finger joints of ``body`` by a gear (ratio -1: they open and close symmetrically
    about the hand's centre; see ``FINGER_GEAR_ERP``); returns the constraint id. Called once per
    loaded Panda, by its loader (``sim.world`` for the task scene, ``policy.world.load_panda``)."""
    import pybullet as p

    a, b = fingers
    zero = [0, 0, 0]
    cid = p.createConstraint(body, a, body, b, p.JOINT_GEAR, [1, 0, 0], zero, zero, physicsClientId=client)
    p.changeConstraint(cid, gearRatio=-1, erp=FINGER_GEAR_ERP, maxForce=FINGER_GEAR_MAX_FORCE, physicsClientId=client)
    return cid
