"""The ground-truth world as a robot cell: what sim_world exposes over ROS (joint states, RGB-D,
arm and gripper commands), on top of ``build_task_scene`` and the PyBullet arm backend.

Two sim-only extras: :meth:`SimRobotIO.moved_object_pose` is the ground-truth pose of the task's
moved object (a perfect object-pose tracker stand-in; on a real robot a tracker publishes the same
topic), and :meth:`SimRobotIO.task_success` evaluates the task's ground-truth success predicate.

With ``render_process=True`` frames are rendered by a :class:`~physworld.sim.render_worker.RenderWorker`
(a child process with a copy of the scene), so a render does not hold this process's GIL: take
:meth:`SimRobotIO.render_state` where the scene is guarded, then call :meth:`SimRobotIO.render_rgbd`
with it outside the guard."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..control.arm_backend import PyBulletArm
from ..errors import InputError
from .camera import CameraIntrinsics
from .render_worker import RenderWorker, SceneState, scene_state
from .tasks import resolve_task
from .world import TaskScene, build_task_scene


class SimRobotIO:
    def __init__(self, scene: TaskScene, image_size: tuple[int, int], renderer: RenderWorker | None = None):
        if scene.robot is None:
            raise InputError("sim_world needs a scene with the robot (with_robot=True)")
        self.scene, self.image_size, self.renderer = scene, image_size, renderer
        self.arm = PyBulletArm(scene.client, body=scene.robot.body_id, step_physics=False, physics_dt=scene.dt)
        self.joint_names = list(self.arm.joint_names + self.arm.gripper_joints)
        self.arm.command_positions(self.arm.read_joint_state().position[: len(self.arm.joint_names)], 0.0)

    @classmethod
    def create(cls, task: str, seed: int, image_size: tuple[int, int], render_process: bool = False) -> SimRobotIO:
        spec = resolve_task(task)
        scene = build_task_scene(spec, seed, image_size=image_size)
        try:
            renderer = RenderWorker(spec.name, seed, image_size) if render_process else None
        except BaseException:
            scene.close()
            raise
        return cls(scene, image_size, renderer)

    @property
    def task_name(self) -> str:
        return self.scene.task.name

    @property
    def intrinsics(self) -> CameraIntrinsics:
        return self.scene.camera.intrinsics

    def step(self, n: int) -> None:
        self.scene.step(n)

    def joint_state(self) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        s = self.arm.read_joint_state()
        return list(s.names), s.position, s.velocity, s.effort

    def moved_object_pose(self) -> tuple[str, np.ndarray]:
        """Name and ground-truth pose [x y z qx qy qz qw] (world frame, the body's inertial frame) of
        the object the task moves."""
        name = self.scene.task.moved_object
        pos, quat = self.scene.object_pose(name)
        return name, np.concatenate([np.asarray(pos, float), np.asarray(quat, float)])

    def task_success(self) -> tuple[bool, str]:
        """The task's ground-truth success predicate now, and a message naming it."""
        ok = self.scene.is_success()
        name, pose = self.moved_object_pose()
        spec = self.scene.task
        return ok, (
            f"task '{spec.name}' ({spec.tolerance}): {'success' if ok else 'not achieved'}; "
            f"{name} at [{pose[0]:.3f}, {pose[1]:.3f}, {pose[2]:.3f}]"
        )

    def render_state(self) -> SceneState | None:
        """What the render process needs of the scene now (None when rendering in this process)."""
        return scene_state(self.scene) if self.renderer is not None else None

    def render_rgbd(self, state: SceneState | None = None) -> tuple[np.ndarray, np.ndarray]:
        """RGB uint8 HxWx3 and depth float32 metres (NaN = no reading). With a render process,
        renders ``state`` (default: the scene now) there; otherwise renders in this process."""
        if self.renderer is not None:
            return self.renderer.render(state if state is not None else scene_state(self.scene))
        rgb, depth, _ = self.scene.render()
        return rgb, depth

    def command_arm(self, names: Sequence[str], positions: Sequence[float]) -> None:
        """Joint targets by name (a joint_trajectory_controller's joint order may differ)."""
        if len(names) != len(positions):
            raise InputError(f"{len(names)} joint names but {len(positions)} positions")
        target = dict(zip(names, positions))
        missing = [n for n in self.arm.joint_names if n not in target]
        if missing:
            raise InputError(f"command lacks arm joints {missing}")
        self.arm.command_positions(np.array([target[n] for n in self.arm.joint_names], float), 0.0)

    def command_gripper(self, positions: Sequence[float]) -> None:
        self.arm.command_gripper(list(positions))

    def reset(self) -> None:
        task, seed, client = self.scene.task, self.scene.seed, self.scene.client
        self.scene = build_task_scene(task, seed, client=client, image_size=self.image_size)
        self.scene.owns_client = True
        if self.renderer is not None:
            self.renderer.reset()
        self.__init__(self.scene, self.image_size, self.renderer)

    def close(self) -> None:
        if self.renderer is not None:
            self.renderer.close()
        self.scene.close()
