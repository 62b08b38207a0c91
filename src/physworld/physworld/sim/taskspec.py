"""Task specification types and the geometry used by success predicates.

Poses are ``(position (3,), quaternion xyzw (4,))`` of each object's frame, which is its centre of
mass (see :mod:`physworld.sim.assets`). Placements: ``xy``/``yaw`` are in the world (table) frame
for top-level objects; for objects with a ``parent`` they are in the parent's build frame
(footprint centre, z up), e.g. candies in a cup. ``z`` is the height of the object's bottom above
its support (table or parent's bottom).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

from ..errors import InputError
from . import assets as A
from .motions import Motion

TABLE_TOP_Z = 0.625  # world z of the table top (m)

Poses = dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class ObjectSpec:
    name: str
    category: str
    shape: A.Shape
    mass: float  # kg; 0 = fixed to the world
    friction: float
    rgba: tuple[float, float, float, float]
    xy: tuple[float, float]
    yaw: float = 0.0
    z: float = 0.0
    parent: str | None = None
    pos_jitter: float = 0.02  # uniform +- (m) on x and y
    yaw_jitter: float = math.radians(10)  # uniform +- (rad)
    scale_jitter: float = 0.03  # uniform +- fraction of the size
    rolling_friction: float = 0.0

    @property
    def movable(self) -> bool:
        return self.mass > 0


@dataclass(frozen=True)
class TaskSpec:
    name: str
    command: str
    aliases: tuple[str, ...]
    moved_object: str
    objects: tuple[ObjectSpec, ...]
    success: Callable[[Poses], bool] = field(compare=False)
    tolerance: str
    motion: Motion
    duration_s: float = 6.0

    def object(self, name: str) -> ObjectSpec:
        for o in self.objects:
            if o.name == name:
                return o
        raise InputError(f"task {self.name!r} has no object {name!r}; it has {[o.name for o in self.objects]}")

    @property
    def object_names(self) -> list[str]:
        return [o.name for o in self.objects]


# ---------------------------------------------------------------------------------------------
# geometry helpers for the predicates


def in_build_frame(poses: Poses, name: str, ref: str, ref_shape: A.Shape) -> np.ndarray:
    """Position of ``name``'s centre of mass in ``ref``'s build frame (footprint centre, z up)."""
    p, _ = poses[name]
    pr, qr = poses[ref]
    local = Rotation.from_quat(qr).inv().apply(np.asarray(p, float) - np.asarray(pr, float))
    return local + ref_shape.com


def tilt(quat) -> float:
    """Angle (rad) between the body's z axis and the world z axis."""
    z = Rotation.from_quat(quat).apply([0.0, 0.0, 1.0])
    return float(np.arccos(np.clip(z[2], -1.0, 1.0)))


def radial(v) -> float:
    return float(np.hypot(v[0], v[1]))


def small_items(prefix: str, category: str, shape, n: int, parent: str, offsets, colours, mass, friction, rolling):
    return tuple(
        ObjectSpec(
            f"{prefix}_{i}",
            category,
            shape,
            mass,
            friction,
            colours[i % len(colours)],
            offsets[i][:2],
            z=offsets[i][2],
            parent=parent,
            pos_jitter=0.002,
            yaw_jitter=math.pi,
            scale_jitter=0.0,
            rolling_friction=rolling,
        )
        for i in range(n)
    )


def count_in_container(poses: Poses, names, ref: str, ref_shape: A.Shape, radius: float, z_max: float) -> int:
    n = 0
    for name in names:
        v = in_build_frame(poses, name, ref, ref_shape)
        n += radial(v) <= radius and -0.01 <= v[2] <= z_max
    return n
