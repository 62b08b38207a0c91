"""Parameters of the arm_controller and teleop nodes (names are the ROS parameter names).

Kept next to the control core; ``physworld.configs`` may re-export them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import param
from .kinematics import PANDA_ARM_JOINTS, PANDA_EE_LINK, PANDA_FINGER_JOINTS


@dataclass
class ArmControllerConfig:
    backend: str = param(
        "ros2_control",
        "'ros2_control' (alias 'sim'): JointTrajectory to joint_trajectory_controller/joint_trajectory, gripper to "
        "gripper_controller/commands, state from joint_states_in (sim_world speaks the same topics); "
        "'pybullet_direct': own PyBullet Panda, publishes joint_states itself (tests, demos)",
        choices=("ros2_control", "sim", "pybullet_direct"),
        read_only=True,
    )
    urdf_path: str = param(
        "", "robot URDF for limits and kinematics; '' = Franka Panda from pybullet_data", read_only=True
    )
    joint_names: list[str] = param(list(PANDA_ARM_JOINTS), "arm joints, in command order", read_only=True)
    gripper_joints: list[str] = param(list(PANDA_FINGER_JOINTS), "finger joints (forward command)", read_only=True)
    ee_link: str = param(PANDA_EE_LINK, "end-effector link for the workspace check", read_only=True)
    control_rate_hz: float = param(100.0, "control loop rate", range=(5.0, 1000.0), read_only=True)
    joint_state_rate_hz: float = param(
        100.0, "joint_states rate (pybullet_direct backend)", range=(1.0, 1000.0), read_only=True
    )
    joint_states_in: str = param("joint_states", "arm state topic of the ros2_control backend", read_only=True)
    joint_state_timeout_s: float = param(0.5, "arm state older than this stops commanding", range=(0.01, 10.0))
    trajectory_lead_s: float = param(0.05, "time_from_start of streamed trajectory points", range=(0.0, 1.0))
    watchdog_timeout_s: float = param(0.1, "hold position once a command stream is silent this long", range=(0.01, 0.2))
    policy_failure_timeout_s: float = param(1.0, "policy silent this long = policy failure", range=(0.1, 60.0))
    fallback_to_teleop: bool = param(True, "on policy failure hand the arm to teleop (else hold)")
    initial_mode: str = param("policy", "mode at start-up", choices=("policy", "teleop", "hold"), read_only=True)
    limit_mode: str = param("clamp", "commands beyond limits are 'clamp'ed or 'reject'ed", choices=("clamp", "reject"))
    velocity_scale: float = param(0.5, "fraction of the URDF joint velocity limits allowed", range=(0.01, 1.0))
    position_margin: float = param(0.02, "margin (rad) kept from the URDF joint limits", range=(0.0, 0.5))
    workspace_min: list[float] = param([-0.9, -0.9, 0.02], "EE workspace box lower corner (m, base frame)")
    workspace_max: list[float] = param([0.9, 0.9, 1.2], "EE workspace box upper corner (m, base frame)")
    gripper_max: float = param(0.04, "max finger position (m)", range=(0.0, 0.2))


@dataclass
class TeleopConfig:
    rate_hz: float = param(30.0, "jog command rate", range=(1.0, 200.0), read_only=True)
    linear_speed: float = param(0.05, "EE speed at full stick / per key (m/s)", range=(0.0, 0.5))
    angular_speed: float = param(0.3, "EE angular speed at full stick / per key (rad/s)", range=(0.0, 2.0))
    deadzone: float = param(0.1, "Joy axis deadzone", range=(0.0, 0.9))
    joy_axes: list[int] = param([1, 0, 4, -1, -1, 3], "Joy axis per twist component vx vy vz wx wy wz (-1 unused)")
    joy_signs: list[float] = param([1.0, 1.0, 1.0, 1.0, 1.0, 1.0], "sign per twist component")
    deadman_button: int = param(4, "Joy button to hold while jogging (-1: none)", range=(-1, 63))
    gripper_close_button: int = param(0, "Joy button closing the gripper (-1: none)", range=(-1, 63))
    gripper_open_button: int = param(1, "Joy button opening the gripper (-1: none)", range=(-1, 63))
    takeover_button: int = param(7, "Joy button requesting teleop mode (-1: none)", range=(-1, 63))
    input_timeout_s: float = param(0.6, "stop jogging when no key / Joy input for this long", range=(0.05, 5.0))
    keyboard: bool = param(False, "read keys from the terminal (stdin must be a TTY)", read_only=True)
    urdf_path: str = param("", "robot URDF for IK; '' = Franka Panda from pybullet_data", read_only=True)
    joint_names: list[str] = param(list(PANDA_ARM_JOINTS), "arm joints", read_only=True)
    gripper_joints: list[str] = param(list(PANDA_FINGER_JOINTS), "finger joints", read_only=True)
    ee_link: str = param(PANDA_EE_LINK, "end-effector link that is jogged", read_only=True)
    gripper_max: float = param(0.04, "finger position when open (m)", range=(0.0, 0.2))
