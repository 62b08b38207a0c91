"""Pieces shared by the launch files (imported only by launch/*.launch.py on a ROS 2 install)."""

from __future__ import annotations

from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from physworld.ros.bringup import MANAGED_NODES


def common_arguments(use_sim: str, video_backend: str) -> list[DeclareLaunchArgument]:
    default_params = PathJoinSubstitution([FindPackageShare("physworld"), "config", "physworld.yaml"])
    return [
        DeclareLaunchArgument("namespace", default_value="", description="namespace of every node and topic"),
        DeclareLaunchArgument(
            "params_file",
            default_value=default_params,
            description="parameter YAML keyed by node name (config/physworld.yaml)",
        ),
        DeclareLaunchArgument(
            "use_sim", default_value=use_sim, description="true: sim_world owns a PyBullet world; false: real drivers"
        ),
        DeclareLaunchArgument(
            "video_backend",
            default_value=video_backend,
            description="video generation backend: sim_rollout, http or world_model",
        ),
        DeclareLaunchArgument(
            "autostart",
            default_value="true",
            description="managed nodes configure and activate themselves (true), or wait unconfigured for "
            "`ros2 lifecycle set <node> configure|activate` (false)",
        ),
    ]


def stack_nodes(names: list[str]) -> list[Node]:
    """One Node action per executable, all reading params_file, in the launch namespace; the managed
    nodes as LifecycleNode actions whose own ``autostart`` parameter follows the launch argument.
    launch_ros's LifecycleNode(autostart=...) is left False: in Kilted it takes a plain bool (a
    LaunchConfiguration would always count as true), and the nodes drive their own transitions."""
    overrides = {"video_generation_client": [{"backend": LaunchConfiguration("video_backend")}]}
    autostart = {"autostart": ParameterValue(LaunchConfiguration("autostart"), value_type=bool)}
    return [
        (LifecycleNode if name in MANAGED_NODES else Node)(
            package="physworld",
            executable=name,
            name=name,
            namespace=LaunchConfiguration("namespace"),
            output="screen",
            parameters=[
                LaunchConfiguration("params_file"),
                *overrides.get(name, []),
                *([autostart] if name in MANAGED_NODES else []),
            ],
        )
        for name in names
    ]
