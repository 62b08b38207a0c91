"""Arm backends behind one interface: a PyBullet arm and a ros2_control bridge.

``PyBulletArm`` drives an arm in a given PyBullet client with position control (and optionally
steps the physics by ``dt`` per command). ``RosControlArm`` is pure: it turns targets into the
``trajectory_msgs/JointTrajectory`` a joint_trajectory_controller takes (as a dict) and the
gripper's forward-command array, and hands them to callables the ROS node supplies.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import BackendError, ConfigError, InputError
from .kinematics import PANDA_ARM_JOINTS, PANDA_FINGER_JOINTS, PANDA_HOME, joint_and_link_indices, panda_urdf_path


@dataclass
class JointStateSample:
    names: tuple[str, ...]
    position: np.ndarray
    velocity: np.ndarray
    effort: np.ndarray
    stamp: float  # seconds on the backend's clock


class ArmBackend(ABC):
    joint_names: tuple[str, ...]
    gripper_joints: tuple[str, ...]

    @abstractmethod
    def read_joint_state(self) -> JointStateSample:
        """Arm and gripper joints (arm first). BackendError if no recent state is available."""

    @abstractmethod
    def command_positions(self, q: np.ndarray, dt: float) -> None:
        """Drive the arm joints (``joint_names`` order) to ``q``, to be reached in ``dt`` seconds."""

    @abstractmethod
    def command_gripper(self, positions: Sequence[float]) -> None:
        """Finger joint positions (``gripper_joints`` order)."""

    def hold(self, dt: float = 0.0) -> np.ndarray:
        """Command the current measured arm position (reach it within ``dt``); returns it."""
        q = self.read_joint_state().position[: len(self.joint_names)]
        self.command_positions(q, dt)
        return q

    def close(self) -> None:
        return None


class PyBulletArm(ArmBackend):
    def __init__(
        self,
        client: int,
        body: int | None = None,
        joint_names: Sequence[str] = PANDA_ARM_JOINTS,
        gripper_joints: Sequence[str] = PANDA_FINGER_JOINTS,
        step_physics: bool = True,
        physics_dt: float = 1.0 / 240.0,
        initial_q: Sequence[float] = PANDA_HOME,
    ):
        import pybullet as p

        self._p, self.client = p, client
        loaded = body is None
        if loaded:
            body = p.loadURDF(panda_urdf_path(), useFixedBase=True, physicsClientId=client)
            p.setGravity(0, 0, -9.81, physicsClientId=client)
            p.setTimeStep(physics_dt, physicsClientId=client)
        self.body = body
        joints, _ = joint_and_link_indices(client, body)
        names = list(joint_names) + list(gripper_joints)
        missing = [n for n in names if n not in joints]
        if missing:
            raise ConfigError(f"PyBullet body {body} has no joints {missing} (has {sorted(joints)})")
        self.joint_names, self.gripper_joints = tuple(joint_names), tuple(gripper_joints)
        self._arm_idx = [joints[n] for n in joint_names]
        self._grip_idx = [joints[n] for n in gripper_joints]
        if loaded:
            for j, v in zip(self._arm_idx, initial_q, strict=True):
                p.resetJointState(body, j, float(v), physicsClientId=client)
        info = [p.getJointInfo(body, j, physicsClientId=client) for j in self._arm_idx + self._grip_idx]
        self._force = [i[10] if i[10] > 0 else 100.0 for i in info]
        self._max_vel = [i[11] if i[11] > 0 else 1.0 for i in info]
        self.step_physics, self.physics_dt = step_physics, physics_dt
        self.sim_time, self._pending = 0.0, 0.0
        self._grip_target = [p.getJointState(body, j, physicsClientId=client)[0] for j in self._grip_idx]

    def read_joint_state(self) -> JointStateSample:
        states = self._p.getJointStates(self.body, self._arm_idx + self._grip_idx, physicsClientId=self.client)
        q, dq, tau = (np.array([s[k] for s in states]) for k in (0, 1, 3))
        return JointStateSample(self.joint_names + self.gripper_joints, q, dq, tau, self.sim_time)

    def _motor(self, idx: Sequence[int], q: Sequence[float], offset: int) -> None:
        for k, (j, v) in enumerate(zip(idx, q, strict=True)):
            self._p.setJointMotorControl2(
                self.body,
                j,
                self._p.POSITION_CONTROL,
                targetPosition=float(v),
                force=self._force[offset + k],
                maxVelocity=self._max_vel[offset + k],
                physicsClientId=self.client,
            )

    def command_positions(self, q: np.ndarray, dt: float) -> None:
        q = np.asarray(q, dtype=float)
        if q.shape != (len(self._arm_idx),) or not np.isfinite(q).all():
            raise InputError(f"PyBulletArm expects {len(self._arm_idx)} finite joint positions, got {q}")
        self._motor(self._arm_idx, q, 0)
        self._motor(self._grip_idx, self._grip_target, len(self._arm_idx))
        if self.step_physics:  # advance by dt on average (the remainder carries over)
            self._pending += dt
            n = int(self._pending / self.physics_dt + 1e-9)
            self._pending -= n * self.physics_dt
            for _ in range(n):
                self._p.stepSimulation(physicsClientId=self.client)
                self.sim_time += self.physics_dt

    def command_gripper(self, positions: Sequence[float]) -> None:
        if len(positions) != len(self._grip_idx):
            raise InputError(f"gripper command needs {len(self._grip_idx)} positions, got {len(positions)}")
        self._grip_target = [float(v) for v in positions]


def trajectory_dict(joint_names: Sequence[str], q: np.ndarray, time_from_start_s: float) -> dict:
    """A single-point ``trajectory_msgs/JointTrajectory`` as a dict (empty header stamp = start now)."""
    sec = math.floor(time_from_start_s)
    return {
        "joint_names": list(joint_names),
        "points": [
            {
                "positions": [float(v) for v in q],
                "time_from_start": {"sec": int(sec), "nanosec": int(round((time_from_start_s - sec) * 1e9))},
            }
        ],
    }


class RosControlArm(ArmBackend):
    """Talks to ros2_control (or sim_world, which listens on the same topics) through callables."""

    def __init__(
        self,
        publish_trajectory: Callable[[dict], None],
        publish_gripper: Callable[[list[float]], None],
        joint_names: Sequence[str] = PANDA_ARM_JOINTS,
        gripper_joints: Sequence[str] = PANDA_FINGER_JOINTS,
        stale_after_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.joint_names, self.gripper_joints = tuple(joint_names), tuple(gripper_joints)
        self._publish_trajectory, self._publish_gripper = publish_trajectory, publish_gripper
        self.stale_after_s, self._clock = stale_after_s, clock
        self._state: JointStateSample | None = None

    def update_joint_state(self, names, position, velocity=(), effort=()) -> None:
        """Feed a received ``joint_states`` message (any joint order, extra joints ignored)."""
        index = {n: i for i, n in enumerate(names)}
        wanted = self.joint_names + self.gripper_joints
        arm_missing = [n for n in self.joint_names if n not in index]
        if arm_missing:
            raise InputError(f"joint_states lacks arm joints {arm_missing}")

        def pick(values) -> np.ndarray:
            values = list(values)
            return np.array([values[index[n]] if n in index and index[n] < len(values) else np.nan for n in wanted])

        self._state = JointStateSample(wanted, pick(position), pick(velocity), pick(effort), self._clock())

    def read_joint_state(self) -> JointStateSample:
        if self._state is None:
            raise BackendError("no joint_states received yet from the arm (is ros2_control / sim_world running?)")
        age = self._clock() - self._state.stamp
        if age > self.stale_after_s:
            raise BackendError(f"joint_states are {age:.2f} s old (> {self.stale_after_s:.2f} s): the arm went silent")
        return self._state

    def command_positions(self, q: np.ndarray, dt: float) -> None:
        self._publish_trajectory(trajectory_dict(self.joint_names, np.asarray(q, float), dt))

    def command_gripper(self, positions: Sequence[float]) -> None:
        if len(positions) != len(self.gripper_joints):
            raise InputError(f"gripper command needs {len(self.gripper_joints)} positions, got {len(positions)}")
        self._publish_gripper([float(v) for v in positions])
