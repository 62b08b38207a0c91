"""residual_policy's view of the arm: the latest ``joint_states``, ``object_pose`` and
``arm_controller/status``, and the command publisher (``arm_controller/joint_command``), behind the
interface ``physworld.policy.execution`` drives (``sample``, ``send``, ``status``)."""

from __future__ import annotations

import threading
import time

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from ..configs import ResidualPolicyConfig
from ..errors import InputError
from ..policy.execution import ArmSample


class RosArmLink:
    """Latest joint_states / object_pose / arm_controller status, and the command publisher."""

    def __init__(self, node: Node, cfg: ResidualPolicyConfig, group, create_publisher=None):
        self.cfg, self._lock = cfg, threading.Lock()
        self._joints: tuple[dict, float] | None = None
        self._obj: tuple[np.ndarray, float] | None = None
        self._status = ""
        self.period = 0.1
        make = create_publisher or node.create_publisher  # a managed node passes its lifecycle publisher
        self.pub = make(JointTrajectory, "arm_controller/joint_command", 10)
        node.create_subscription(JointState, "joint_states", self._on_joints, 20, callback_group=group)
        node.create_subscription(PoseStamped, "object_pose", self._on_object, 10, callback_group=group)
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        node.create_subscription(String, "arm_controller/status", self._on_status, latched, callback_group=group)

    def _on_joints(self, msg: JointState) -> None:
        with self._lock:
            self._joints = (dict(zip(msg.name, msg.position, strict=False)), time.monotonic())

    def _on_object(self, msg: PoseStamped) -> None:
        p, q = msg.pose.position, msg.pose.orientation
        with self._lock:
            self._obj = (np.array([p.x, p.y, p.z, q.x, q.y, q.z, q.w]), time.monotonic())

    def _on_status(self, msg: String) -> None:
        with self._lock:
            self._status = msg.data

    def sample(self) -> ArmSample | None:
        now = time.monotonic()
        with self._lock:
            joints, obj = self._joints, self._obj
        if joints is None:
            return None
        pos, stamp = joints
        missing = [n for n in self.cfg.joint_names if n not in pos]
        if missing:
            raise InputError(f"joint_states lacks arm joints {missing}")
        q = np.array([pos[n] for n in self.cfg.joint_names])
        width = float(sum(pos.get(n, 0.0) for n in self.cfg.gripper_joints))
        obj_pose, obj_age = (None, np.inf) if obj is None else (obj[0], now - obj[1])
        return ArmSample(q, width, now - stamp, obj_pose, obj_age)

    def send(self, q: np.ndarray, gripper_closed: bool) -> None:
        g = 0.0 if gripper_closed else self.cfg.gripper_open
        sec = int(self.period)
        point = JointTrajectoryPoint(
            positions=[float(v) for v in q] + [g] * len(self.cfg.gripper_joints),
            time_from_start=Duration(sec=sec, nanosec=int((self.period - sec) * 1e9)),
        )
        self.pub.publish(
            JointTrajectory(joint_names=list(self.cfg.joint_names) + list(self.cfg.gripper_joints), points=[point])
        )

    def status(self) -> str:
        with self._lock:
            status = self._status
        # a deactivated arm_controller holds the arm and an unconfigured one has none: to the loop
        # of physworld.policy.execution both mean what 'hold' means (stop streaming)
        return "hold" if status in ("inactive", "unconfigured") else status
