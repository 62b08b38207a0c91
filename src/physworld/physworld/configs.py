"""Typed configuration of the stack's nodes (one dataclass per node, validated in the core).

Field names are the ROS parameter names; ``config/physworld.yaml`` holds the values keyed by node
name. Nodes declare their parameters from these classes (``physworld.ros.params``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import param


@dataclass
class SimWorldConfig:
    task: str = param("lid_on_pot", "task of the ground-truth scene (name or command text)", read_only=True)
    seed: int = param(0, "scene randomisation seed", range=(0, 2**31 - 1), read_only=True)
    image_width: int = param(320, "camera image width (pixels)", range=(16, 1920), read_only=True)
    image_height: int = param(240, "camera image height (pixels)", range=(16, 1080), read_only=True)
    camera_rate_hz: float = param(10.0, "RGB-D publishing rate", range=(0.1, 60.0))
    joint_state_rate_hz: float = param(100.0, "joint_states publishing rate", range=(1.0, 1000.0))
    physics_rate_hz: float = param(240.0, "physics step rate", range=(60.0, 2000.0), read_only=True)
    camera_frame: str = param("camera_color_optical_frame", "frame_id of the camera topics", read_only=True)
    object_pose_rate_hz: float = param(
        30.0, "rate of the ground-truth object_pose (tracker stand-in)", range=(1.0, 240.0)
    )
    render_process: bool = param(
        True,
        "render the camera in a child process (PyBullet's renderer holds the GIL and would stall joint_states)",
        read_only=True,
    )
    depth_encoding: str = param(
        "32FC1",
        "camera/depth/image_raw as 32FC1 metres (NaN = no reading) or 16UC1 millimetres (0 = none, half "
        "the bytes: lower DDS latency, docs/benchmarks.md)",
        choices=("32FC1", "16UC1"),
        read_only=True,
    )


@dataclass
class CameraCaptureConfig:
    backend: str = param(
        "topics",
        "where frames come from: 'topics' (a camera driver, sim_world or bag_player publishes "
        "camera/...; the same code in sim and on a real camera) or 'opencv' (this node opens "
        "opencv_source with cv2.VideoCapture and publishes camera/... itself)",
        choices=("topics", "opencv"),
        read_only=True,
    )
    # backend 'opencv' (physworld.capture.opencv_source)
    opencv_source: str = param(
        "",
        "backend opencv: device index (0), device path (/dev/video0), video file, image-sequence "
        "pattern (frames/%04d.png) or URL",
        read_only=True,
    )
    opencv_api: str = param(
        "auto",
        "backend opencv: OpenCV capture API; 'openni2' reads registered depth from the device",
        choices=("auto", "v4l2", "ffmpeg", "images", "openni2"),
        read_only=True,
    )
    opencv_width: int = param(0, "backend opencv: width to request from a live device (0 = its default)",
                              range=(0, 8192), read_only=True)  # fmt: skip
    opencv_height: int = param(0, "backend opencv: height to request from a live device (0 = its default)",
                               range=(0, 8192), read_only=True)  # fmt: skip
    opencv_rate_hz: float = param(10.0, "backend opencv: frames read and published per second",
                                  range=(0.1, 120.0), read_only=True)  # fmt: skip
    opencv_loop: bool = param(False, "backend opencv: start a recorded source over at its end", read_only=True)
    depth_source: str = param(
        "",
        "backend opencv: 16-bit PNG depth images in millimetres (directory, glob or %04d pattern), "
        "paired frame by frame with a recorded colour source; '' = no depth (or api openni2)",
        read_only=True,
    )
    calibration_file: str = param(
        "",
        "backend opencv: camera_info YAML (camera_calibration_parsers format) of the colour camera",
        read_only=True,
    )
    fallback_hfov_deg: float = param(
        0.0,
        "backend opencv without calibration_file: horizontal FOV (deg) of a pinhole with the principal "
        "point at the centre; 0 = configure fails without calibration_file",
        range=(0.0, 179.0),
        read_only=True,
    )
    frame_id: str = param("camera_color_optical_frame", "backend opencv: frame_id of the published images",
                          read_only=True)  # fmt: skip
    sync_tolerance_s: float = param(0.02, "max |stamp(color) - stamp(depth)| of a synchronised pair", range=(0.0, 1.0))
    default_timeout_s: float = param(2.0, "snapshot wait when the request gives timeout_s = 0", range=(0.01, 60.0))
    max_depth_m: float = param(10.0, "depth beyond this is treated as invalid (NaN)", range=(0.1, 100.0))
    camera_pose: list[float] = param(
        [],
        "calibrated pose of the optical frame in world_frame, x y z qx qy qz qw (hand-eye calibration); "
        "[] = use the latched camera/pose topic (sim_world publishes it)",
    )
    world_frame: str = param("world", "fixed frame of the cell that camera_pose refers to")


@dataclass
class VideoGenerationConfig:
    backend: str = param("sim_rollout", "video generator backend (see physworld.video.available_generators())")
    default_frames: int = param(50, "frames when a goal asks for 0", range=(2, 500))
    run_root: str = param("runs", "directory where videos are written when a goal gives no run_dir")
    http_url: str = param("", "base URL of a remote image-to-video server (backend 'http')")
    http_api_key_env: str = param("PHYSWORLD_VIDEO_API_KEY", "environment variable holding the API key")
    http_timeout_s: float = param(600.0, "overall timeout of one remote generation job", range=(1.0, 7200.0))
    world_model_checkpoint: str = param(
        "", "trained 4D world-model checkpoint (backend 'world_model'; physworld worldmodel pretrain|adapt writes one)"
    )
    device: str = param("auto", "torch device of model backends: auto, cpu or cuda")


@dataclass
class OrchestratorConfig:
    stages: list[str] = param(
        ["capture", "generate_video", "reconstruct_scene", "train_policy", "execute_task"],
        "stages run_task chains, in loop order: capture, generate_video, reconstruct_scene, train_policy, execute_task",
    )
    run_root: str = param("runs", "directory for run directories when a goal gives no run_dir")
    server_wait_s: float = param(10.0, "how long to wait for a stage's service/action server", range=(0.1, 600.0))
    capture_timeout_s: float = param(5.0, "timeout of the capture_rgbd call", range=(0.1, 120.0))
    stage_timeout_s: float = param(
        1800.0, "timeout of one long stage (video, reconstruction, training)", range=(1.0, 86400.0)
    )
    default_frames: int = param(30, "frames of the generated video", range=(2, 500))


@dataclass
class WorldModelNodeConfig:
    run_root: str = param("runs", "directory for scene bundles when a goal gives no run_dir")
    world_frame: str = param("world", "frame_id of the published scene markers and target trajectories")
    max_marker_faces: int = param(
        4000, "triangles per mesh marker at most (RViz stays responsive)", range=(100, 1000000)
    )
    # robot self-filter: the arm's own pixels (its model posed at the latest joint_states, rendered
    # from the capture's camera pose) are left out of the reconstruction, as MoveIt's self filter does
    self_filter: bool = param(True, "leave the robot's own pixels out (needs joint_states and a camera_pose)")
    robot_urdf_path: str = param("", "robot model for the self-filter ('' = the package's Panda URDF)")
    robot_base_position: list[float] = param(
        [0.0, 0.0, 0.625], "robot base position in world_frame (m; the sim's Panda stands at the table edge)"
    )
    joint_states_max_age_s: float = param(
        5.0, "joint_states older than this are not used for the self-filter", range=(0.0, 3600.0)
    )
    world_model_checkpoint: str = param(
        "",
        "trained 4D world model (`physworld worldmodel adapt`): loaded at start, served as predict_video",
        read_only=True,
    )


@dataclass
class ResidualPolicyConfig:
    run_root: str = param("runs", "directory for policy directories when a train_policy goal gives no out_dir")
    default_total_timesteps: int = param(
        4096, "PPO budget (env steps) when a train_policy goal asks for 0", range=(64, 100_000_000)
    )
    n_envs: int = param(2, "parallel training environments", range=(1, 64))
    vec: str = param(
        "subproc", "vectorised env: 'subproc' (one process per env) or 'dummy'", choices=("subproc", "dummy")
    )
    mode: str = param(
        "residual", "policy kind: residual (on the baseline plan) or scratch", choices=("residual", "scratch")
    )
    device: str = param("auto", "torch device for training: auto, cpu or cuda", choices=("auto", "cpu", "cuda"))
    exploration: str = param(
        "gsde", "PPO exploration noise: gsde (state-dependent, per rollout) or gaussian (per step)",
        choices=("gsde", "gaussian"),
    )  # fmt: skip
    grasp_candidates: int = param(
        8, "feasible grasps executed in the world model before training; the residual refines the plan of the "
        "one with the highest return (1 = the best-scored grasp, as the baseline)", range=(1, 60),
    )  # fmt: skip
    grasp_min_gain: float = param(
        0.05, "mean return per step another grasp must gain in the world model over the best-scored one to "
        "replace it (0 = the highest return wins)", range=(0.0, 2.0),
    )  # fmt: skip
    # the perturbations of the grasp choice's and PPO's episodes in the world model (policy.env.RandomizationConfig)
    perturb_xy: float = param(0.01, "+- shift of the moved object's start in x and y per episode (m)", range=(0.0, 0.1))
    perturb_yaw_deg: float = param(5.0, "+- turn of the moved object's start about z per episode (deg)",
                                   range=(0.0, 180.0))  # fmt: skip
    perturb_mass: float = param(0.2, "+- fraction of each movable object's mass per episode", range=(0.0, 0.95))
    perturb_friction: float = param(0.2, "+- fraction of each movable object's friction per episode",
                                    range=(0.0, 0.95))  # fmt: skip
    joint_names: list[str] = param(
        [f"panda_joint{i}" for i in range(1, 8)], "arm joints in joint_states / the command", read_only=True
    )
    gripper_joints: list[str] = param(["panda_finger_joint1", "panda_finger_joint2"], "finger joints", read_only=True)
    gripper_open: float = param(0.04, "finger position when open (m per finger)", range=(0.0, 0.2))
    stale_timeout_s: float = param(
        0.5, "joint_states / object_pose older than this aborts execution", range=(0.05, 10.0)
    )
    start_timeout_s: float = param(5.0, "wait this long for the first joint_states and object_pose", range=(0.1, 120.0))
    settle_s: float = param(1.0, "hold the last command this long after the plan before judging", range=(0.0, 30.0))
    max_ik_failures: int = param(5, "consecutive IK failures that abort execution (reason 'ik')", range=(1, 1000))
    success_pos_tol: float = param(
        0.03, "object within this of the plan's final target = success (m)", range=(0.001, 1.0)
    )
    success_rot_deg: float = param(20.0, "... and within this angle (deg)", range=(0.1, 180.0))
    task_success_service: str = param(
        "sim_world/task_success", "ground-truth success service to report (sim only; '' = none)"
    )
