"""sim_world: owns the ground-truth PyBullet world, the way Gazebo does.

Publishes what a real robot cell publishes (``camera/color/image_raw``, ``camera/depth/image_raw``
(32FC1 metres), ``camera/color/camera_info``, ``joint_states``) and accepts the arm commands on
the topics a ros2_control setup listens to (``joint_trajectory_controller/joint_trajectory``,
``gripper_controller/commands``), so camera_capture and arm_controller run the same code against
the simulator as against real drivers. All physics lives in ``physworld.sim``; this file is glue.

Sim-only: ``object_pose`` (geometry_msgs/PoseStamped, frame ``world``, at ``object_pose_rate_hz``) is the
GROUND-TRUTH pose of the task's moved object -- a perfect object-pose tracker stand-in for the
policy's closed loop (on a real robot a pose tracker publishes the same topic); the service
``sim_world/task_success`` (std_srvs/Trigger) answers the task's ground-truth success predicate
(``success``) with a message, for evaluation and reports.
"""

from __future__ import annotations

import threading

from geometry_msgs.msg import PoseStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from ..configs import SimWorldConfig
from ..errors import PhysWorldError
from ..sim.robot_io import SimRobotIO
from .conversions import camera_info_from_intrinsics, metres_to_depth_image, numpy_to_image, pose_from_matrix
from .params import declare_config
from .runner import spin_node


class SimWorldNode(Node):
    def __init__(self, **kwargs):
        super().__init__("sim_world", **kwargs)
        self.cfg = declare_config(self, SimWorldConfig)
        self._lock = threading.Lock()  # PyBullet clients are not thread-safe
        size = (self.cfg.image_width, self.cfg.image_height)
        self.sim = SimRobotIO.create(self.cfg.task, self.cfg.seed, size, render_process=self.cfg.render_process)
        self.get_logger().info(
            f"ground-truth scene '{self.sim.task_name}' (seed {self.cfg.seed}) with {len(self.sim.joint_names)} "
            f"joints; camera rendered {'in a child process' if self.cfg.render_process else 'in this process'}"
        )
        self.pub_color = self.create_publisher(Image, "camera/color/image_raw", 5)
        self.pub_depth = self.create_publisher(Image, "camera/depth/image_raw", 5)
        self.pub_info = self.create_publisher(CameraInfo, "camera/color/camera_info", 5)
        self.pub_depth_info = self.create_publisher(CameraInfo, "camera/depth/camera_info", 5)
        self.pub_joints = self.create_publisher(JointState, "joint_states", 20)
        self.pub_object = self.create_publisher(PoseStamped, "object_pose", 10)
        # the sim's camera is calibrated by construction: its extrinsics stand in for a hand-eye
        # calibration, latched like a static transform
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.pub_camera_pose = self.create_publisher(PoseStamped, "camera/pose", latched)
        self._publish_camera_pose()
        self.create_subscription(JointTrajectory, "joint_trajectory_controller/joint_trajectory", self._on_traj, 10)
        self.create_subscription(Float64MultiArray, "gripper_controller/commands", self._on_gripper, 10)
        self.create_service(Trigger, "~/reset", self._on_reset)
        self.create_service(Trigger, "~/task_success", self._on_task_success)
        physics_dt = 1.0 / self.cfg.physics_rate_hz
        js_dt = 1.0 / self.cfg.joint_state_rate_hz
        self._substeps = max(1, round(js_dt / physics_dt))
        # Physics + joint_states and camera rendering run in separate groups: a slow render does
        # not stall joint_states (both take the sim lock only while touching PyBullet).
        self.create_timer(js_dt, self._on_physics, MutuallyExclusiveCallbackGroup())
        self.create_timer(1.0 / self.cfg.camera_rate_hz, self._on_camera, MutuallyExclusiveCallbackGroup())
        # the tracker stand-in has its own timer: a slow render does not delay the object pose
        self.create_timer(1.0 / self.cfg.object_pose_rate_hz, self._on_object_pose, MutuallyExclusiveCallbackGroup())

    def _publish_camera_pose(self) -> None:
        msg = PoseStamped(pose=pose_from_matrix(self.sim.scene.camera.T_world_optical))
        msg.header.frame_id = "world"
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub_camera_pose.publish(msg)

    def _on_physics(self) -> None:
        with self._lock:
            self.sim.step(self._substeps)
            names, q, dq, tau = self.sim.joint_state()
        msg = JointState(name=names, position=q.tolist(), velocity=dq.tolist(), effort=tau.tolist())
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub_joints.publish(msg)

    def _on_camera(self) -> None:
        with self._lock:  # with a render process only the state snapshot needs the sim
            stamp = self.get_clock().now().to_msg()  # the time the frame shows, not when it is done
            state = self.sim.render_state()
            frame = self.sim.render_rgbd() if state is None else None
        try:
            rgb, depth = frame if frame is not None else self.sim.render_rgbd(state)
        except PhysWorldError as exc:
            self.get_logger().error(f"camera frame not rendered: {exc}", throttle_duration_sec=5.0)
            return
        frame_id = self.cfg.camera_frame
        color_msg = numpy_to_image(rgb, "rgb8", frame_id=frame_id, stamp=stamp)
        depth_msg = metres_to_depth_image(depth, self.cfg.depth_encoding, frame_id=frame_id, stamp=stamp)
        info = camera_info_from_intrinsics(self.sim.intrinsics, frame_id=frame_id, stamp=stamp)
        self.pub_color.publish(color_msg)
        self.pub_depth.publish(depth_msg)
        self.pub_info.publish(info)
        self.pub_depth_info.publish(info)

    def _on_object_pose(self) -> None:
        with self._lock:
            _name, pose = self.sim.moved_object_pose()
        msg = PoseStamped()
        msg.header.frame_id = "world"
        msg.header.stamp = self.get_clock().now().to_msg()
        p, q = msg.pose.position, msg.pose.orientation
        p.x, p.y, p.z = (float(v) for v in pose[:3])
        q.x, q.y, q.z, q.w = (float(v) for v in pose[3:])
        self.pub_object.publish(msg)

    def _on_task_success(self, request, response):
        with self._lock:
            response.success, response.message = self.sim.task_success()
        return response

    def _on_traj(self, msg: JointTrajectory) -> None:
        if not msg.points:
            self.get_logger().warning("joint_trajectory with no points ignored")
            return
        try:
            with self._lock:
                self.sim.command_arm(list(msg.joint_names), list(msg.points[-1].positions))
        except ValueError as exc:
            self.get_logger().error(f"joint_trajectory rejected: {exc}")

    def _on_gripper(self, msg: Float64MultiArray) -> None:
        try:
            with self._lock:
                self.sim.command_gripper(list(msg.data))
        except ValueError as exc:
            self.get_logger().error(f"gripper command rejected: {exc}")

    def _on_reset(self, request, response):
        with self._lock:
            self.sim.reset()
        self._publish_camera_pose()
        response.success, response.message = True, f"scene '{self.sim.task_name}' reset (seed {self.cfg.seed})"
        return response

    def destroy_node(self):
        with self._lock:
            self.sim.close()
        return super().destroy_node()


def main(args=None) -> None:
    spin_node(SimWorldNode, args)
