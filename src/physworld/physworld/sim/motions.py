"""Scripted object motions that carry out a task: the 'demonstration' behind the embedded video
generator. Three templates cover the suite: :class:`Place` (lift, carry, lower onto a support),
:class:`Pour` (lift, carry, tilt about the container's lip over a target) and :class:`Stroke`
(lower a tool onto a surface and push items along it: sweeping, wiping).

A motion is a list of :class:`Keyframe` s (phase in [0, 1], position, quaternion xyzw) of the moved
object's frame, computed from the scene's actual (randomised) poses and sizes; :func:`sample`
interpolates them (minimum-jerk or linear in position, slerp in rotation).

The functions only read from ``scene``: ``scene.task``, ``scene.object_pose(name)`` and
``scene.objects[name].shape`` (scaled :class:`physworld.sim.assets.Shape`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation


@dataclass(frozen=True)
class Keyframe:
    t: float  # phase in [0, 1]
    pos: np.ndarray
    quat: np.ndarray  # xyzw
    ease: str = "minjerk"  # easing of the segment that ENDS at this key: "minjerk" | "linear"


def minimum_jerk(tau: np.ndarray) -> np.ndarray:
    tau = np.clip(tau, 0.0, 1.0)
    return np.clip(tau**3 * (10 - 15 * tau + 6 * tau**2), 0.0, 1.0)


def slerp(q0, q1, s: float) -> np.ndarray:
    """Spherical linear interpolation of unit quaternions (xyzw), shortest arc, s in [0, 1]."""
    q0, q1 = np.asarray(q0, float), np.asarray(q1, float)
    dot = float(q0 @ q1)
    if dot < 0.0:
        q1, dot = -q1, -dot
    if dot > 0.9995:
        q = q0 + s * (q1 - q0)
    else:
        theta = math.acos(dot)
        q = (math.sin((1 - s) * theta) * q0 + math.sin(s * theta) * q1) / math.sin(theta)
    return q / np.linalg.norm(q)


def sample(keys: list[Keyframe], phases: np.ndarray) -> np.ndarray:
    """Poses (T, 7) ``[x, y, z, qx, qy, qz, qw]`` at the given phases."""
    keys = sorted(keys, key=lambda k: k.t)
    ts = np.array([k.t for k in keys])
    out = np.empty((len(phases), 7))
    for j, t in enumerate(np.clip(np.asarray(phases, float), ts[0], ts[-1])):
        i = int(np.clip(np.searchsorted(ts, t, side="right") - 1, 0, len(keys) - 2))
        a, b = keys[i], keys[i + 1]
        dt = b.t - a.t
        tau = 1.0 if dt <= 0 else (t - a.t) / dt
        s = float(minimum_jerk(np.array(tau))) if b.ease == "minjerk" else float(np.clip(tau, 0, 1))
        out[j, :3] = (1 - s) * a.pos + s * b.pos
        out[j, 3:] = slerp(a.quat, b.quat, s)
    return out


# ---------------------------------------------------------------------------------------------
# scene geometry helpers


def world_anchor(scene, name: str, anchor: str) -> np.ndarray:
    p, q = scene.object_pose(name)
    return p + Rotation.from_quat(q).apply(scene.objects[name].shape.anchor(anchor))


def yaw_of(quat) -> float:
    x = Rotation.from_quat(quat).apply([1.0, 0.0, 0.0])
    return math.atan2(x[1], x[0])


def rot_z(yaw: float) -> Rotation:
    return Rotation.from_euler("z", yaw)


def min_z(scene, name: str, rot: Rotation) -> float:
    """Lowest point of the object's true mesh, relative to its centre of mass, under ``rot``."""
    return float(rot.apply(scene.objects[name].mesh.vertices)[:, 2].min())


def top_z(scene, name: str) -> float:
    p, q = scene.object_pose(name)
    return float(p[2] + Rotation.from_quat(q).apply(scene.objects[name].mesh.vertices)[:, 2].max())


def clear_height(scene, margin: float = 0.04) -> float:
    """World z above which the moved object's bottom clears every other object."""
    moved = scene.task.moved_object
    others = [o.name for o in scene.task.objects if o.name != moved and o.parent != moved]
    return max(top_z(scene, n) for n in others) + margin


def _start(scene) -> tuple[np.ndarray, np.ndarray, Rotation]:
    p0, q0 = scene.object_pose(scene.task.moved_object)
    return p0, q0, Rotation.from_quat(q0)


def _lift(scene, p0, rots: list[Rotation], z_bottom: float) -> float:
    """COM height that puts the object's bottom at ``z_bottom`` for all orientations in ``rots``."""
    mv = scene.task.moved_object
    return max(max(z_bottom - min_z(scene, mv, r) for r in rots), p0[2] + 0.05)


# ---------------------------------------------------------------------------------------------
# templates


@dataclass(frozen=True)
class Place:
    """Put the moved object on ``anchor`` of ``target`` (upright, yaw = target yaw + rel_yaw)."""

    target: str
    anchor: str
    rel_yaw: float = 0.0
    clearance: float = 0.003

    def keyframes(self, scene) -> list[Keyframe]:
        mv = scene.task.moved_object
        p0, q0, r0 = _start(scene)
        rf = rot_z(yaw_of(scene.object_pose(self.target)[1]) + self.rel_yaw)
        a = world_anchor(scene, self.target, self.anchor)
        pf = np.array([a[0], a[1], a[2] - min_z(scene, mv, rf) + self.clearance])
        zc = _lift(scene, p0, [r0, rf], clear_height(scene))
        qf = rf.as_quat()
        return [
            Keyframe(0.0, p0, q0),
            Keyframe(0.08, p0, q0),
            Keyframe(0.3, np.array([p0[0], p0[1], zc]), q0),
            Keyframe(0.6, np.array([pf[0], pf[1], zc]), qf),
            Keyframe(0.85, pf, qf),
            Keyframe(1.0, pf, qf),
        ]


@dataclass(frozen=True)
class Pour:
    """Tilt the moved container by ``tilt_deg`` about its lip, the lip ending ``height`` above
    ``anchor`` of ``target`` and ``back`` metres short of it along the approach direction."""

    target: str
    anchor: str
    tilt_deg: float
    height: float
    back: float = 0.0
    n_tilt_keys: int = 9

    def keyframes(self, scene) -> list[Keyframe]:
        mv = scene.task.moved_object
        shape = scene.objects[mv].shape
        p0, q0, r0 = _start(scene)
        a = world_anchor(scene, self.target, self.anchor)
        d = np.array([a[0] - p0[0], a[1] - p0[1], 0.0])
        d /= np.linalg.norm(d)
        spill = a - self.back * d + np.array([0.0, 0.0, self.height])
        lip_local = shape.anchor("rim") + r0.inv().apply(shape.dims["radius"] * d)
        axis = np.cross([0.0, 0.0, 1.0], d)
        z_clear = clear_height(scene)
        zc = _lift(scene, p0, [r0], z_clear)
        rim_above_bottom = shape.dims["height"]
        lip_z0 = max(spill[2], z_clear + rim_above_bottom)
        keys = [Keyframe(0.0, p0, q0), Keyframe(0.06, p0, q0), Keyframe(0.22, np.array([p0[0], p0[1], zc]), q0)]
        t0, t1 = 0.45, 0.72
        for k in range(self.n_tilt_keys):
            s = float(minimum_jerk(np.array(k / (self.n_tilt_keys - 1))))
            rk = Rotation.from_rotvec(axis * math.radians(self.tilt_deg) * s) * r0
            lip = np.array([spill[0], spill[1], lip_z0 + (spill[2] - lip_z0) * s])
            t = t0 + (t1 - t0) * k / (self.n_tilt_keys - 1)
            keys.append(Keyframe(t, lip - rk.apply(lip_local), rk.as_quat(), "minjerk" if k == 0 else "linear"))
        keys.append(Keyframe(1.0, keys[-1].pos, keys[-1].quat))
        return keys


@dataclass(frozen=True)
class Stroke:
    """Lower the tool onto the items' support behind ``items`` (in ``surface``'s frame, pushing
    along its +y) and push them to the end anchor (``end_anchor``) or past the surface's +y edge
    by ``overshoot``."""

    surface: str
    items: tuple[str, ...]
    clearance: float = 0.002
    end_anchor: str | None = None
    overshoot: float = 0.0

    def keyframes(self, scene) -> list[Keyframe]:
        mv = scene.task.moved_object
        p0, q0, r0 = _start(scene)
        ps, qs = scene.object_pose(self.surface)
        rs = rot_z(yaw_of(qs))
        com_s = scene.objects[self.surface].shape.com

        def to_world(v):  # surface build frame -> world
            return ps + rs.apply(np.asarray(v, float) - com_s)

        local = np.array([rs.inv().apply(scene.object_pose(n)[0] - ps) + com_s for n in self.items])
        tool_half_y = float(np.ptp(scene.objects[mv].mesh.vertices[:, 1])) / 2
        item_half_y = max(float(np.ptp(scene.objects[n].mesh.vertices[:, 1])) / 2 for n in self.items)
        bottom = min(scene.object_pose(n)[0][2] + min_z(scene, n, Rotation.identity()) for n in self.items)
        x = float(local[:, 0].mean())
        y_start = float(local[:, 1].min()) - item_half_y - tool_half_y - 0.015
        shape_s = scene.objects[self.surface].shape
        if self.end_anchor is not None:
            y_end = shape_s.anchors[self.end_anchor][1] - tool_half_y - 0.02  # room for the items: no squeezing
        else:
            y_end = float(np.ptp(scene.objects[self.surface].mesh.vertices[:, 1])) / 2 + self.overshoot - tool_half_y
        rf = rs
        zb = bottom + self.clearance - min_z(scene, mv, rf)
        start, end = to_world([x, y_start, 0.0]), to_world([x, y_end, 0.0])
        start[2] = end[2] = zb
        zc = _lift(scene, p0, [r0, rf], clear_height(scene))
        qf = rf.as_quat()
        return [
            Keyframe(0.0, p0, q0),
            Keyframe(0.06, p0, q0),
            Keyframe(0.2, np.array([p0[0], p0[1], zc]), q0),
            Keyframe(0.38, np.array([start[0], start[1], zc]), qf),
            Keyframe(0.5, start, qf),
            Keyframe(0.85, end, qf),
            Keyframe(0.93, end + np.array([0.0, 0.0, 0.03]), qf),
            Keyframe(1.0, end + np.array([0.0, 0.0, 0.03]), qf),
        ]


Motion = Place | Pour | Stroke
