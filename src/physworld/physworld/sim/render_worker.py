"""Render a task scene in a separate process.

PyBullet's TinyRenderer holds the Python GIL for the whole ``getCameraImage`` call (about 100 ms
for 320x240 on this project's 2-core machines), so every other thread of the process stops while
a frame renders: sim_world's 100 Hz physics/joint_states timer fell to about 78 Hz with the camera
at 5 Hz (docs/benchmarks.md). A :class:`RenderWorker` owns a render-only copy of the same scene in
a child process (``build_task_scene`` is deterministic for a task and seed, so body ids match),
receives the live scene's state (:func:`scene_state`: every body's base pose and joint positions)
per frame, applies it and renders there. The caller waits on a pipe, which releases the GIL.
"""

from __future__ import annotations

import multiprocessing as mp
from dataclasses import dataclass

import numpy as np

from ..errors import PhysWorldError


class RenderWorkerError(PhysWorldError):
    """The render process died, timed out or answered with an error."""


@dataclass
class SceneState:
    """What the renderer needs of a scene: base pose and joint positions of every body."""

    bases: list[tuple[tuple[float, ...], tuple[float, ...]]]
    joints: list[list[float]]
    T_world_optical: np.ndarray


def scene_state(scene) -> SceneState:
    import pybullet as p

    c = scene.client
    bases, joints = [], []
    for i in range(p.getNumBodies(physicsClientId=c)):
        body = p.getBodyUniqueId(i, physicsClientId=c)
        bases.append(p.getBasePositionAndOrientation(body, physicsClientId=c))
        n = p.getNumJoints(body, physicsClientId=c)
        joints.append([s[0] for s in p.getJointStates(body, range(n), physicsClientId=c)] if n else [])
    return SceneState(bases, joints, scene.camera.T_world_optical.copy())


def apply_state(scene, state: SceneState) -> None:
    import pybullet as p

    c = scene.client
    if p.getNumBodies(physicsClientId=c) != len(state.bases):
        raise RenderWorkerError(
            f"render copy has {p.getNumBodies(physicsClientId=c)} bodies, the live scene {len(state.bases)}"
        )
    for i, ((pos, quat), q) in enumerate(zip(state.bases, state.joints)):
        body = p.getBodyUniqueId(i, physicsClientId=c)
        p.resetBasePositionAndOrientation(body, pos, quat, physicsClientId=c)
        for j, qj in enumerate(q):
            p.resetJointState(body, j, qj, physicsClientId=c)
    if not np.array_equal(scene.camera.T_world_optical, state.T_world_optical):
        scene.camera.set_pose(state.T_world_optical)


def _serve(conn, task: str, seed: int, image_size: tuple[int, int]) -> None:
    from .world import build_task_scene

    def build():
        return build_task_scene(task, seed, image_size=image_size, settle_s=0.0)

    try:
        scene = build()
    except Exception as exc:  # reported to the parent, which raises it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    try:
        while True:
            try:
                msg = conn.recv()
            except EOFError:
                return
            if msg is None:
                return
            kind, payload = msg
            try:
                if kind == "render":
                    apply_state(scene, payload)
                    rgb, depth, _ = scene.render()
                    conn.send(("ok", (rgb, depth)))
                elif kind == "reset":
                    scene.close()
                    scene = build()
                    conn.send(("ok", None))
                else:
                    conn.send(("error", f"unknown request {kind!r}"))
            except Exception as exc:
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        scene.close()


class RenderWorker:
    """A child process rendering ``task``/``seed`` at ``image_size`` (spawned, not forked: the
    parent may run ROS threads). ``render(state)`` returns (rgb uint8 HxWx3, depth float32 m)."""

    def __init__(self, task: str, seed: int, image_size: tuple[int, int], timeout_s: float = 30.0):
        self.timeout_s = float(timeout_s)
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_serve, args=(child, task, int(seed), tuple(image_size)), daemon=True, name="physworld-render"
        )
        self._proc.start()
        child.close()
        self._call(None, startup=True)

    def _call(self, request, startup: bool = False):
        if not startup:
            if not self._proc.is_alive():
                raise RenderWorkerError(f"render process exited (code {self._proc.exitcode})")
            self._conn.send(request)
        # generous at start: the child imports pybullet/numpy and builds the scene
        if not self._conn.poll(self.timeout_s * (4 if startup else 1)):
            raise RenderWorkerError(f"render process gave no answer within {self.timeout_s:.0f} s")
        try:
            status, payload = self._conn.recv()
        except EOFError as exc:
            raise RenderWorkerError(f"render process exited (code {self._proc.exitcode})") from exc
        if status == "error":
            raise RenderWorkerError(f"render process: {payload}")
        return payload

    def render(self, state: SceneState) -> tuple[np.ndarray, np.ndarray]:
        return self._call(("render", state))

    def reset(self) -> None:
        self._call(("reset", None))

    @property
    def alive(self) -> bool:
        return self._proc.is_alive()

    def close(self) -> None:
        if self._proc.is_alive():
            try:
                self._conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            self._proc.join(timeout=5.0)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(timeout=5.0)
        self._conn.close()
