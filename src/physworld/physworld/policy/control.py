"""End-effector pose control of the Panda: IK (with null-space rest pose) -> joint position control.

:class:`Kinematics` owns a private DIRECT client with only the arm, so IK and forward kinematics can
reset joints freely without disturbing the dynamics of the scene. :class:`ArmController` turns an EE
pose command + gripper command into joint targets and advances the world by ``substeps`` physics
steps (one control period).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import geometry as geo
from .world import FINGER_OPEN, PHYSICS_HZ, ManipWorld, RobotHandle

ARM_FORCES = (87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0)  # Panda joint torque limits (N m)
ARM_MAX_VEL = 2.0  # rad/s, below the Panda's limits (2.175 .. 2.61)


@dataclass(frozen=True)
class ControlConfig:
    control_hz: float = 10.0
    physics_hz: float = PHYSICS_HZ
    finger_force: float = 40.0  # N per finger
    ik_iterations: int = 20  # per control step (seeded at the current joints); planning uses more
    ik_threshold: float = 1e-4
    ik_pos_tol: float = 0.01  # m: an IK solution farther than this from the command is a failure
    ik_rot_tol: float = 0.15  # rad
    position_gain: float = 0.3

    @property
    def substeps(self) -> int:
        return max(1, int(round(self.physics_hz / self.control_hz)))


@dataclass
class IKResult:
    q: np.ndarray
    pos_err: float
    rot_err: float
    ok: bool


class Kinematics:
    """IK / FK of the arm in its own DIRECT client (same URDF and base pose as the scene's robot)."""

    def __init__(self, robot: RobotHandle, cfg: ControlConfig = ControlConfig()):
        import pybullet as p

        from .world import load_panda

        self.cfg = cfg
        self.client = p.connect(p.DIRECT)
        self.robot = load_panda(self.client, robot.base_pose)
        r = self.robot
        self._dof = [
            j
            for j in range(p.getNumJoints(r.body, physicsClientId=self.client))
            if p.getJointInfo(r.body, j, physicsClientId=self.client)[2] != p.JOINT_FIXED
        ]
        self._arm_idx = [self._dof.index(j) for j in r.arm_joints]
        lo, hi = np.full(len(self._dof), -0.0), np.full(len(self._dof), 0.04)
        lo[self._arm_idx], hi[self._arm_idx] = r.lower, r.upper
        self._lo, self._hi, self._range = lo.tolist(), hi.tolist(), (hi - lo + 1e-3).tolist()

    def set_q(self, q: np.ndarray) -> None:
        import pybullet as p

        p.resetJointStatesMultiDof(
            self.robot.body, self.robot.arm_joints, [[float(v)] for v in q], physicsClientId=self.client
        )

    def fk(self, q: np.ndarray) -> np.ndarray:
        import pybullet as p

        self.set_q(q)
        s = p.getLinkState(self.robot.body, self.robot.ee_link, computeForwardKinematics=1, physicsClientId=self.client)
        return np.concatenate([s[4], geo.canonical_quat(np.asarray(s[5]))])

    def ik(
        self, pose: np.ndarray, seed_q: np.ndarray, rest_q: np.ndarray | None = None, iterations: int | None = None
    ) -> IKResult:
        """Joint solution for EE ``pose`` starting from ``seed_q``; null-space pulled toward ``rest_q``."""
        import pybullet as p

        rest = np.zeros(len(self._dof))
        rest[self._arm_idx] = self.robot.home if rest_q is None else rest_q
        self.set_q(seed_q)
        sol = p.calculateInverseKinematics(
            self.robot.body,
            self.robot.ee_link,
            list(pose[:3]),
            list(pose[3:7]),
            lowerLimits=self._lo,
            upperLimits=self._hi,
            jointRanges=self._range,
            restPoses=rest.tolist(),
            maxNumIterations=iterations or self.cfg.ik_iterations,
            residualThreshold=self.cfg.ik_threshold,
            physicsClientId=self.client,
        )
        q = np.clip(np.asarray(sol, float)[self._arm_idx], self.robot.lower, self.robot.upper)
        got = self.fk(q)
        pos_err = float(np.linalg.norm(got[:3] - pose[:3]))
        rot_err = float(geo.rotation_angle(got[3:], geo.canonical_quat(pose[3:7])))
        ok = bool(np.all(np.isfinite(q)) and pos_err <= self.cfg.ik_pos_tol and rot_err <= self.cfg.ik_rot_tol)
        return IKResult(q, pos_err, rot_err, ok)

    def close(self) -> None:
        import pybullet as p

        if p.isConnected(self.client):
            p.disconnect(self.client)


class ArmController:
    """Joint-position control of the world's Panda; one :meth:`step` = one control period."""

    def __init__(self, world: ManipWorld, cfg: ControlConfig = ControlConfig(), kin: Kinematics | None = None):
        self.world, self.cfg = world, cfg
        self.kin = kin or Kinematics(world.robot, cfg)
        r = world.robot
        self._joints = list(r.arm_joints) + list(r.finger_joints)
        self._forces = list(ARM_FORCES) + [cfg.finger_force] * 2
        self._gains = [cfg.position_gain] * 9

    def joint_positions(self) -> np.ndarray:
        import pybullet as p

        states = p.getJointStates(self.world.robot.body, self.world.robot.arm_joints, physicsClientId=self.world.client)
        return np.array([s[0] for s in states])

    def finger_width(self) -> float:
        import pybullet as p

        states = p.getJointStates(
            self.world.robot.body, self.world.robot.finger_joints, physicsClientId=self.world.client
        )
        return float(sum(s[0] for s in states))

    def ee_pose(self) -> np.ndarray:
        import pybullet as p

        s = p.getLinkState(
            self.world.robot.body,
            self.world.robot.ee_link,
            computeForwardKinematics=1,
            physicsClientId=self.world.client,
        )
        return np.concatenate([s[4], geo.canonical_quat(np.asarray(s[5]))])

    def command_joints(self, q: np.ndarray, gripper_closed: bool) -> None:
        import pybullet as p

        f = 0.0 if gripper_closed else FINGER_OPEN
        p.setJointMotorControlArray(
            self.world.robot.body,
            self._joints,
            p.POSITION_CONTROL,
            targetPositions=list(q) + [f, f],
            forces=self._forces,
            positionGains=self._gains,
            physicsClientId=self.world.client,
        )

    def command_pose(
        self, pose: np.ndarray, gripper_closed: bool, rest_q: np.ndarray | None = None, seed_q: np.ndarray | None = None
    ) -> IKResult:
        """IK for ``pose`` (seeded at ``seed_q``, default the current joints) and set the joint targets;
        on IK failure the best-effort solution is still commanded (clipped to the joint limits) and
        ``ok`` is False."""
        res = self.kin.ik(pose, self.joint_positions() if seed_q is None else seed_q, rest_q)
        self.command_joints(res.q, gripper_closed)
        return res

    def step(self) -> None:
        import pybullet as p

        for _ in range(self.cfg.substeps):
            p.stepSimulation(physicsClientId=self.world.client)

    def close(self) -> None:
        self.kin.close()
