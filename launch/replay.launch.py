"""Replay bringup: bag_player publishes a recorded rosbag2 bag (camera, joint states) with its
original timing (times ``rate``) in place of the drivers, and the stack runs on it unchanged:
camera_capture serves capture_rgbd from the replayed frames, run_task works as on the robot.

    ros2 launch physworld replay.launch.py bag_path:=/path/to/bag [rate:=1.0] [loop:=true]
        [namespace:=robot1] [params_file:=/path/to.yaml] [video_backend:=sim_rollout|http|world_model]
        [autostart:=false]   (the managed nodes then wait for ``ros2 lifecycle set /<node> configure|activate``)

Score a bag offline (no graph) with ``physworld bag evaluate BAG --out DIR``.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from physworld.ros.launch_common import common_arguments, stack_nodes


def generate_launch_description() -> LaunchDescription:
    player = Node(
        package="physworld",
        executable="bag_player",
        name="bag_player",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "bag_path": ParameterValue(LaunchConfiguration("bag_path"), value_type=str),
                "rate": ParameterValue(LaunchConfiguration("rate"), value_type=float),
                "loop": ParameterValue(LaunchConfiguration("loop"), value_type=bool),
            },
        ],
    )
    return LaunchDescription(
        common_arguments(use_sim="false", video_backend="sim_rollout")
        + [
            DeclareLaunchArgument("bag_path", description="rosbag2 directory to replay (holds metadata.yaml)"),
            DeclareLaunchArgument("rate", default_value="1.0", description="replay speed factor (1.0 = original)"),
            DeclareLaunchArgument("loop", default_value="true", description="start over at the end of the bag"),
            player,
        ]
        + stack_nodes(["camera_capture", "video_generation_client", "world_model", "task_orchestrator"])
    )
