"""Teleoperation: the teleop node (sensor_msgs/Joy and, with keyboard:=true, the terminal) jogging
the end effector through arm_controller. Start it next to sim.launch.py or real.launch.py.

    ros2 launch physworld teleop.launch.py [namespace:=robot1] [keyboard:=true]
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node

from physworld.ros.launch_common import common_arguments


def generate_launch_description() -> LaunchDescription:
    keyboard = LaunchConfiguration("keyboard")
    teleop = Node(
        package="physworld",
        executable="teleop",
        name="teleop",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        emulate_tty=True,
        parameters=[LaunchConfiguration("params_file"), {"keyboard": PythonExpression(["'", keyboard, "' == 'true'"])}],
    )
    return LaunchDescription(
        common_arguments(use_sim="true", video_backend="sim_rollout")
        + [DeclareLaunchArgument("keyboard", default_value="false", description="read keys from this terminal")]
        + [teleop]
    )
