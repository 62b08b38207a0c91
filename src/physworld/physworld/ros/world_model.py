"""world_model: action ``reconstruct_scene`` (physworld_interfaces/action/ReconstructScene).

Captured RGB-D + the generated video -> the physical world model (a scene bundle on disk, PhysWorld
III-A, all algorithms in ``physworld.recon.pipeline``). Publishes the reconstructed scene as
``world_model/scene_markers`` (visualization_msgs/MarkerArray) and the moved object's target
trajectory as ``world_model/target_trajectory`` (nav_msgs/Path), both latched, and writes the reconstruction
report (``<run_dir>/reconstruction/report.png|md``, ``metrics.json``) next to the bundle. Reconstruction
parameters are this node's parameters (``physworld.recon.pipeline.ReconstructionConfig``).

Robot self-filter: the node keeps the latest ``joint_states``; when a goal carries the camera pose,
the robot model posed at those joints is rendered from the camera and its pixels are left out of
the reconstruction (``physworld.recon.self_filter``), so the arm never becomes part of the scene.

4D world model (paper 000): with ``world_model_checkpoint`` set, the node serves ``predict_video``
(GenerateVideo: first frame in, predicted frames on disk out, per-frame feedback), the same rollout
as the ``world_model`` backend of ``video_generation_client``.

A managed node (``physworld.ros.lifecycle``): the checkpoint is loaded in configure (a missing or
corrupt one makes configure fail with an error naming the file, logged, and the node stays
unconfigured and reachable), goals are served only while active (rejected, with the state logged,
otherwise; deactivation stops a running job at its next progress point), and the model is
released in cleanup.
"""

from __future__ import annotations

import time
from pathlib import Path

from nav_msgs.msg import Path as PathMsg
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.qos import DurabilityPolicy, QoSProfile
from sensor_msgs.msg import JointState
from visualization_msgs.msg import MarkerArray

from physworld_interfaces.action import GenerateVideo, ReconstructScene
from physworld_interfaces.msg import SceneObject, StageStatus

from ..configs import WorldModelNodeConfig
from ..errors import ConfigError
from ..recon.pipeline import ReconstructionConfig, overall_progress, reconstruct
from ..recon.report import write_report
from ..recon.self_filter import robot_pixel_mask
from ..sim.tasks import resolve_task
from ..video import load_video
from .conversions import depth_image_to_metres, image_to_numpy, intrinsics_from_camera_info, matrix_from_pose
from .goal_gate import single_goal_server
from .lifecycle import ManagedNode
from .params import declare_config
from .runner import GoalCancelled, destroy_actions, goal_failure, run_off_executor, spin_node
from .scene_markers import bundle_markers, trajectory_path
from .video_action import execute_generate_video


class WorldModelNode(ManagedNode):
    def __init__(self, **kwargs):
        super().__init__("world_model", **kwargs)
        self.cfg = declare_config(self, WorldModelNodeConfig)
        self.recon_cfg = declare_config(self, ReconstructionConfig)
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.pub_markers = self.create_publisher(MarkerArray, "world_model/scene_markers", latched)
        self.pub_target = self.create_publisher(PathMsg, "world_model/target_trajectory", latched)
        self._joints: tuple[float, dict[str, float]] | None = None  # (receive time, name -> position)
        self.create_subscription(JointState, "joint_states", self._on_joint_states, 10)
        ready = self.inactive_reason
        self._server = single_goal_server(self, ReconstructScene, "reconstruct_scene", self._execute,
                                          ReentrantCallbackGroup(), available=ready)  # fmt: skip
        self._predictor = None
        if self.cfg.world_model_checkpoint:  # read-only: the server exists from the start, served once loaded
            self._predict_server = single_goal_server(self, GenerateVideo, "predict_video", self._predict,
                                                      ReentrantCallbackGroup(), available=ready)  # fmt: skip
        else:
            self.get_logger().info("no world_model_checkpoint: predict_video is not served")
        self.autostart()

    def configure_resources(self) -> None:
        if self.cfg.world_model_checkpoint:
            from ..video.world_model_backend import WorldModelGenerator

            self._predictor = WorldModelGenerator(self.cfg.world_model_checkpoint, device=self.recon_cfg.device)
            self.get_logger().info(
                f"4D world model {self.cfg.world_model_checkpoint} ({self._predictor.kind}) on "
                f"{self._predictor.device}: serving predict_video"
            )

    def release_resources(self) -> None:
        self._predictor = None  # a goal still holding it keeps it until it returns

    async def _execute(self, goal_handle):
        goal = goal_handle.request
        result = ReconstructScene.Result()
        out_dir = Path(goal.run_dir or self.cfg.run_root) / "scene"

        def progress(stage: str, done: int, total: int) -> None:
            if goal_handle.is_cancel_requested:
                raise GoalCancelled()
            self.check_active()  # deactivation stops the job here
            fraction = overall_progress(stage, done, total)  # of the whole reconstruction: one bar, never back
            status = StageStatus(stage=stage, progress=fraction, detail=f"{stage} {done}/{total}")
            goal_handle.publish_feedback(ReconstructScene.Feedback(status=status))

        def work():
            task = resolve_task(goal.task_name or goal.task_text)
            rgb = image_to_numpy(goal.color, desired_encoding="rgb8")
            depth = depth_image_to_metres(goal.depth)
            intr = intrinsics_from_camera_info(goal.camera_info)
            T_wc = matrix_from_pose(goal.camera_pose.pose) if goal.camera_pose.header.frame_id else None
            video = load_video(goal.video_path)
            mask = self._robot_mask(intr, T_wc)
            res = reconstruct(rgb, depth, intr, T_wc, video, task, self.recon_cfg, progress, ignore_mask=mask)
            bundle_dir = res.save(out_dir)
            # pictures for people (no ground truth here: the node runs the real path)
            write_report(out_dir.parent / "reconstruction", res, bundle_dir, rgb, video)
            return res, bundle_dir

        try:
            res, bundle_dir = await run_off_executor(self.guarded(work))
        except GoalCancelled:
            goal_handle.canceled()
            result.message = "cancelled"
            return result
        except Exception as exc:  # answer every goal; the node keeps running
            result.message = goal_failure(exc, "reconstruct_scene", self.get_logger())
            goal_handle.abort()
            return result
        self._publish(res.bundle, bundle_dir)
        result.success, result.bundle_path = True, str(bundle_dir)
        result.objects = [self._object_msg(o, bundle_dir) for o in res.bundle.objects]
        total = sum(res.timings.values())
        result.message = f"{len(res.bundle.objects)} objects reconstructed in {total:.1f} s -> {bundle_dir}"
        goal_handle.succeed()
        return result

    async def _predict(self, goal_handle):
        def generator_for(backend: str):
            if backend not in ("", "world_model"):
                raise ConfigError(f"predict_video serves the loaded 4D world model only, not backend {backend!r}")
            return self._predictor

        return await execute_generate_video(
            goal_handle, generator_for, "world_model", self.cfg.run_root, 10, self.get_logger(), node=self
        )

    def _on_joint_states(self, msg: JointState) -> None:
        self._joints = (time.monotonic(), dict(zip(msg.name, (float(q) for q in msg.position))))

    def _robot_mask(self, intr, T_wc):
        """Pixels of the robot's own body, or None (filter off, no camera pose, no recent joint_states)."""
        cfg = self.cfg
        if not cfg.self_filter:
            return None
        joints = self._joints
        why = None
        if T_wc is None:
            why = "the goal has no camera_pose"
        elif joints is None:
            why = "no joint_states received"
        elif time.monotonic() - joints[0] > cfg.joint_states_max_age_s:
            why = f"joint_states are {time.monotonic() - joints[0]:.1f} s old"
        if why:
            self.get_logger().warning(f"robot self-filter off for this goal: {why}")
            return None
        from ..sim.assets import panda_urdf_path

        urdf = cfg.robot_urdf_path or str(panda_urdf_path())
        return robot_pixel_mask(urdf, cfg.robot_base_position, joints[1], intr, T_wc)

    def _publish(self, bundle, bundle_dir: Path) -> None:
        stamp = self.get_clock().now().to_msg()
        frame = self.cfg.world_frame
        self.pub_markers.publish(bundle_markers(bundle, bundle_dir, frame, stamp, self.cfg.max_marker_faces))
        moved = bundle.meta.get("moved_object")
        traj = bundle.target_trajectory(moved) if moved else None
        if traj is not None:
            self.pub_target.publish(trajectory_path(traj, frame, stamp))

    @staticmethod
    def _object_msg(o, bundle_dir: Path) -> SceneObject:
        msg = SceneObject(name=o.name, category=o.category, mass=float(o.mass), friction=float(o.friction),
                          mesh_path=str(Path(bundle_dir) / o.mesh))  # fmt: skip
        p, q = msg.pose.position, msg.pose.orientation
        p.x, p.y, p.z = (float(v) for v in o.position)
        q.x, q.y, q.z, q.w = (float(v) for v in o.orientation)
        msg.extent.x, msg.extent.y, msg.extent.z = (float(v) for v in o.extent)
        return msg

    def destroy_node(self):
        destroy_actions(self)
        return super().destroy_node()


def main(args=None) -> None:
    spin_node(WorldModelNode, args)
