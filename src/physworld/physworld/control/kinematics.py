"""Forward / inverse kinematics of an arm from its URDF, in a private PyBullet DIRECT client.

The model never touches a simulation or a real arm: FK/IK reset joints freely in their own client.
Poses are metres and quaternions [x, y, z, w] in the robot base frame.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError

PANDA_ARM_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
PANDA_FINGER_JOINTS = ("panda_finger_joint1", "panda_finger_joint2")
PANDA_EE_LINK = "panda_grasptarget"
PANDA_HOME = (0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785)
PANDA_MAX_FINGER = 0.04  # m per finger


def panda_urdf_path() -> str:
    import pybullet_data

    return os.path.join(pybullet_data.getDataPath(), "franka_panda", "panda.urdf")


def joint_and_link_indices(client: int, body: int) -> tuple[dict[str, int], dict[str, int]]:
    """Joint name -> index and link (child) name -> index of a PyBullet body."""
    import pybullet as p

    joints, links = {}, {}
    for j in range(p.getNumJoints(body, physicsClientId=client)):
        info = p.getJointInfo(body, j, physicsClientId=client)
        joints[info[1].decode()] = j
        links[info[12].decode()] = j
    return joints, links


class PyBulletKinematics:
    def __init__(
        self, urdf_path: str | None = None, joint_names: Sequence[str] = PANDA_ARM_JOINTS, ee_link: str = PANDA_EE_LINK
    ):
        import pybullet as p

        self._p = p
        self.urdf_path = urdf_path or panda_urdf_path()
        if not os.path.isfile(self.urdf_path):
            raise ConfigError(f"robot URDF {self.urdf_path} not found")
        self.client = p.connect(p.DIRECT)
        self.body = p.loadURDF(self.urdf_path, useFixedBase=True, physicsClientId=self.client)
        joints, links = joint_and_link_indices(self.client, self.body)
        missing = [n for n in joint_names if n not in joints]
        if missing or ee_link not in links:
            p.disconnect(self.client)
            raise ConfigError(
                f"{self.urdf_path}: joints {missing} / link {ee_link!r} not found (links: {sorted(links)})"
            )
        self.joint_names = tuple(joint_names)
        self.joint_indices = [joints[n] for n in joint_names]
        self.ee_index = links[ee_link]
        # PyBullet's IK works on all movable joints, in index order
        self._movable = [
            j
            for j in range(p.getNumJoints(self.body, physicsClientId=self.client))
            if p.getJointInfo(self.body, j, physicsClientId=self.client)[2] != p.JOINT_FIXED
        ]
        info = [p.getJointInfo(self.body, j, physicsClientId=self.client) for j in self._movable]
        self._lower = [i[8] for i in info]
        self._upper = [i[9] for i in info]
        self._arm_in_movable = [self._movable.index(j) for j in self.joint_indices]

    def _set(self, q: np.ndarray) -> None:
        for j, v in zip(self.joint_indices, np.asarray(q, dtype=float), strict=True):
            self._p.resetJointState(self.body, j, float(v), physicsClientId=self.client)

    def fk(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """End-effector position (3,) and quaternion [x, y, z, w] for joint positions ``q``."""
        self._set(q)
        state = self._p.getLinkState(
            self.body, self.ee_index, computeForwardKinematics=True, physicsClientId=self.client
        )
        return np.array(state[4]), np.array(state[5])

    def position(self, q: np.ndarray) -> np.ndarray:
        return self.fk(q)[0]

    def ik(self, pos, quat, q_seed: np.ndarray, iterations: int = 100, threshold: float = 1e-5) -> np.ndarray:
        """Joint positions reaching ``pos``/``quat``, starting from (and staying close to) ``q_seed``."""
        self._set(q_seed)
        rest = [self._p.getJointState(self.body, j, physicsClientId=self.client)[0] for j in self._movable]
        sol = self._p.calculateInverseKinematics(
            self.body,
            self.ee_index,
            list(map(float, pos)),
            list(map(float, quat)),
            lowerLimits=self._lower,
            upperLimits=self._upper,
            jointRanges=[u - lo for lo, u in zip(self._lower, self._upper, strict=True)],
            restPoses=rest,
            maxNumIterations=iterations,
            residualThreshold=threshold,
            physicsClientId=self.client,
        )
        return np.array([sol[i] for i in self._arm_in_movable])

    def close(self) -> None:
        if self.client is not None and self._p.isConnected(self.client):
            self._p.disconnect(self.client)
        self.client = None
