"""arm_controller: the only node that talks to the arm.

Commands come in as ``trajectory_msgs/JointTrajectory`` on ``arm_controller/joint_command``
(policy) and ``teleop/joint_command`` (teleop); a single point is a streaming target. The core
(``physworld.control.controller``) checks joint / velocity / workspace limits (clamp or reject,
with the reason logged), runs a watchdog per source (the arm holds position when a stream stalls)
and the mode / e-stop state machine. Services: ``e_stop`` (std_srvs/SetBool),
``set_mode`` (physworld_interfaces/srv/SetControlMode), ``report_policy_failure``
(std_srvs/Trigger: hands the arm to teleop). ``arm_controller/status`` (std_msgs/String, latched)
says who drives the arm: ``e_stop`` while the e-stop is engaged, else the mode (``policy``,
``teleop``, ``hold``); a policy runner stops streaming when it is not ``policy``.

Backends: ``ros2_control`` (alias ``sim``) publishes ``joint_trajectory_controller/joint_trajectory``
and ``gripper_controller/commands`` and reads ``joint_states`` (from ros2_control's
joint_state_broadcaster or sim_world); ``pybullet_direct`` owns a PyBullet Panda and publishes
``joint_states`` at ``joint_state_rate_hz`` itself.

A managed node (``physworld.ros.lifecycle``): configure builds the backend, the kinematics and the
controller core; activate starts the control loop; deactivate stops it and leaves the arm holding
(mode ``hold`` and one last hold command, which a joint_trajectory_controller keeps); cleanup
disconnects the backend. While not active, commands are ignored and ``set_mode`` is refused with
the node's state; ``e_stop`` works whenever a backend is configured; the status reads ``inactive``
or ``unconfigured``; the driver-side publishers are lifecycle publishers (nothing reaches the arm).
"""

from __future__ import annotations

import threading
import time

from builtin_interfaces.msg import Duration
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.qos import DurabilityPolicy, QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from physworld_interfaces.srv import SetControlMode

from ..control.arm_backend import PyBulletArm, RosControlArm
from ..control.configs import ArmControllerConfig
from ..control.controller import ArmController
from ..control.kinematics import PyBulletKinematics, panda_urdf_path
from ..control.limits import JointLimits, WorkspaceBox
from ..control.modes import ModeManager
from ..errors import BackendError, InputError
from .lifecycle import ManagedNode
from .params import declare_config
from .runner import spin_node


def trajectory_points(msg: JointTrajectory) -> list[tuple[float, list[float]]]:
    return [(p.time_from_start.sec + p.time_from_start.nanosec * 1e-9, list(p.positions)) for p in msg.points]


def trajectory_msg(d: dict) -> JointTrajectory:
    """The message of ``control.arm_backend.trajectory_dict``."""
    msg = JointTrajectory(joint_names=d["joint_names"])
    for p in d["points"]:
        tfs = p["time_from_start"]
        msg.points.append(
            JointTrajectoryPoint(
                positions=p["positions"], time_from_start=Duration(sec=tfs["sec"], nanosec=tfs["nanosec"])
            )
        )
    return msg


class ArmControllerNode(ManagedNode):
    def __init__(self, **kwargs):
        super().__init__("arm_controller", **kwargs)
        self.cfg = cfg = declare_config(self, ArmControllerConfig)
        self.period = 1.0 / cfg.control_rate_hz
        self._lock = threading.Lock()  # core + backend (PyBullet is not thread-safe)
        self.core: ArmController | None = None  # built in configure, with the backend
        self.arm = self.kinematics = self._client = None
        self._control_timer = self._joint_timer = None
        # PyBulletArm steps its physics by dt (one control period); ros2_control gets a lead time
        self._command_dt = self.period if cfg.backend == "pybullet_direct" else cfg.trajectory_lead_s or self.period
        group = ReentrantCallbackGroup()
        if cfg.backend == "pybullet_direct":  # the arm's state stays visible while inactive: a plain publisher
            self.pub_joints = self.create_publisher(JointState, "joint_states", 20)
        else:  # commands reach the driver only while active: lifecycle publishers
            lifecycle_pub = self.create_lifecycle_publisher
            self._pub_traj = lifecycle_pub(JointTrajectory, "joint_trajectory_controller/joint_trajectory", 10)
            self._pub_grip = lifecycle_pub(Float64MultiArray, "gripper_controller/commands", 10)
            self.create_subscription(JointState, cfg.joint_states_in, self._on_joint_states, 20, callback_group=group)
        self.create_subscription(
            JointTrajectory,
            "arm_controller/joint_command",
            lambda m: self._on_command("policy", m),
            10,
            callback_group=group,
        )
        self.create_subscription(
            JointTrajectory, "teleop/joint_command", lambda m: self._on_command("teleop", m), 10, callback_group=group
        )
        self.create_service(SetBool, "e_stop", self._on_e_stop, callback_group=group)
        self.create_service(SetControlMode, "set_mode", self._on_set_mode, callback_group=group)
        self.create_service(Trigger, "report_policy_failure", self._on_policy_failure, callback_group=group)
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.pub_status = self.create_publisher(String, "arm_controller/status", latched)
        self._status = ""
        self._publish_status()
        self.autostart()

    # --- lifecycle: the backend (arm connection) and the kinematics are the resources ------------

    def configure_resources(self) -> None:
        cfg = self.cfg
        urdf = cfg.urdf_path or panda_urdf_path()
        limits = JointLimits.from_urdf(urdf, cfg.joint_names).scaled(cfg.velocity_scale, cfg.position_margin)
        self.kinematics = PyBulletKinematics(urdf, cfg.joint_names, cfg.ee_link)
        self.core = ArmController(
            limits,
            self.period,
            watchdog_timeout_s=cfg.watchdog_timeout_s,
            policy_failure_timeout_s=cfg.policy_failure_timeout_s,
            limit_mode=cfg.limit_mode,
            workspace=WorkspaceBox(cfg.workspace_min, cfg.workspace_max),
            fk=self.kinematics.position,
            modes=ModeManager(cfg.initial_mode, cfg.fallback_to_teleop),
            gripper_joints=cfg.gripper_joints,
            gripper_range=(0.0, cfg.gripper_max),
        )
        if cfg.backend == "pybullet_direct":
            import pybullet as p

            self._client = p.connect(p.DIRECT)
            self.arm = PyBulletArm(self._client, joint_names=cfg.joint_names, gripper_joints=cfg.gripper_joints)
            self._joint_timer = self.create_timer(
                1.0 / cfg.joint_state_rate_hz, self._publish_joint_states, MutuallyExclusiveCallbackGroup()
            )
        else:
            self.arm = RosControlArm(
                lambda d: self._pub_traj.publish(trajectory_msg(d)),
                lambda q: self._pub_grip.publish(Float64MultiArray(data=q)),
                cfg.joint_names,
                cfg.gripper_joints,
                stale_after_s=cfg.joint_state_timeout_s,
            )
        self.get_logger().info(
            f"backend '{cfg.backend}', mode '{cfg.initial_mode}', limits: {cfg.limit_mode}, "
            f"watchdog {cfg.watchdog_timeout_s * 1e3:.0f} ms, control {cfg.control_rate_hz:.0f} Hz"
        )
        self._publish_status()

    def release_resources(self) -> None:
        with self._lock:
            if self._joint_timer is not None:
                self.destroy_timer(self._joint_timer)
            if self.kinematics is not None:
                self.kinematics.close()
            if self._client is not None:
                import pybullet as p

                p.disconnect(self._client)
            self.core = self.arm = self.kinematics = self._client = self._joint_timer = None
        self._publish_status()

    def activate_work(self) -> None:
        self._control_timer = self.create_timer(self.period, self._on_control, MutuallyExclusiveCallbackGroup())

    def deactivate_work(self) -> None:
        """Stop the control loop and leave the arm holding where it is: mode 'hold' (commands are
        not followed after a re-activation until someone asks set_mode) and one last hold command
        to the driver (a joint_trajectory_controller keeps its last point)."""
        if self._control_timer is not None:
            self.destroy_timer(self._control_timer)
            self._control_timer = None
        with self._lock:
            if self.core is None:
                return
            now, n = time.monotonic(), len(self.cfg.joint_names)
            self.core.set_mode("hold", now)  # refused under e-stop, which holds anyway
            try:
                q = self.arm.read_joint_state().position[:n]
                self.arm.command_positions(self.core.step(now, q).q, self._command_dt)
            except BackendError as exc:
                self.get_logger().warning(f"deactivate: no final hold command ({exc}); the driver keeps its last one")
        self._publish_status()

    # --- inputs -----------------------------------------------------------------------------

    def _on_joint_states(self, msg: JointState) -> None:
        arm = self.arm
        if arm is None:  # unconfigured: no backend yet
            return
        try:
            arm.update_joint_state(msg.name, msg.position, msg.velocity, msg.effort)
        except InputError as exc:
            self.get_logger().warning(f"{self.cfg.joint_states_in}: {exc}", throttle_duration_sec=2.0)

    def _on_command(self, source: str, msg: JointTrajectory) -> None:
        why = self.inactive_reason()
        if why:
            self.get_logger().warning(f"{source} command ignored: {why}", throttle_duration_sec=2.0)
            return
        with self._lock:
            decision = self.core.submit(source, list(msg.joint_names), trajectory_points(msg), time.monotonic())
        if not decision.accepted:
            self.get_logger().warning(f"{source} command rejected: {decision.reason}", throttle_duration_sec=1.0)
        elif decision.clamped:
            self.get_logger().warning(f"{source} command limited: {decision.reason}", throttle_duration_sec=1.0)

    def _on_e_stop(self, request: SetBool.Request, response: SetBool.Response):
        with self._lock:  # works while inactive too: the e-stop latches for the next activation
            if self.core is None:
                response.success, response.message = False, f"no arm to stop: {self.inactive_reason()}"
                return response
            response.message = self.core.e_stop(bool(request.data), time.monotonic())
        response.success = True
        self.get_logger().warning(response.message)
        return response

    def _on_set_mode(self, request: SetControlMode.Request, response: SetControlMode.Response):
        why = self.inactive_reason()
        if why:
            response.success, response.message = False, why
            self.get_logger().warning(f"set_mode '{request.mode}' refused: {why}")
            return response
        with self._lock:
            response.success, response.message = self.core.set_mode(request.mode, time.monotonic())
            response.active_mode = self.core.modes.mode.value
        if response.success:
            self.get_logger().info(f"set_mode '{request.mode}': {response.message}")
        else:
            self.get_logger().warning(f"set_mode '{request.mode}' refused: {response.message}")
        return response

    def _on_policy_failure(self, request: Trigger.Request, response: Trigger.Response):
        why = self.inactive_reason()
        if why:
            response.success, response.message = False, why
            return response
        with self._lock:
            mode = self.core.report_policy_failure("reported by a client", time.monotonic())
        response.success, response.message = True, f"active mode: {mode.value}"
        return response

    # --- loops -------------------------------------------------------------------------------

    def _on_control(self) -> None:
        n = len(self.cfg.joint_names)
        with self._lock:
            if self.core is None or not self.active:
                return
            try:
                q = self.arm.read_joint_state().position[:n]
            except BackendError as exc:
                self.get_logger().warning(f"not commanding: {exc}", throttle_duration_sec=2.0)
                return
            result = self.core.step(time.monotonic(), q)
            self.arm.command_positions(result.q, self._command_dt)
            if result.gripper is not None:
                self.arm.command_gripper(result.gripper)
        for event in result.events:
            self.get_logger().info(event)
        self._publish_status()

    def _publish_status(self) -> None:
        core = self.core
        if core is None or not self.active:
            status = "unconfigured" if core is None else "inactive"
        else:
            status = "e_stop" if core.modes.estopped else core.modes.mode.value
        if status != self._status:
            self._status = status
            self.pub_status.publish(String(data=status))

    def _publish_joint_states(self) -> None:
        with self._lock:
            if self.arm is None:
                return
            s = self.arm.read_joint_state()
        msg = JointState(name=list(s.names), position=s.position.tolist(), velocity=s.velocity.tolist())
        msg.effort = s.effort.tolist()
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub_joints.publish(msg)


def main(args=None) -> None:
    spin_node(ArmControllerNode, args)
