"""Real-robot bringup: the stack's nodes without sim_world. A camera driver (e.g.
realsense2_camera) must publish camera/color/image_raw, camera/depth/image_raw (aligned to colour)
and camera/color/camera_info in the same namespace; ros2_control provides the arm's controllers.

    ros2 launch physworld real.launch.py [namespace:=robot1] [params_file:=/path/to.yaml] [autostart:=false]

Instead of a camera driver, camera_capture can open a camera itself (``backend: opencv`` in the
parameter file, README). The managed nodes are lifecycle nodes; with autostart:=false they wait
unconfigured for ``ros2 lifecycle set /<node> configure`` and ``activate`` (e.g. to bring the arm
up last).
"""

from launch import LaunchDescription

from physworld.ros.launch_common import common_arguments, stack_nodes


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        common_arguments(use_sim="false", video_backend="http")
        + stack_nodes(
            [
                "arm_controller",
                "camera_capture",
                "video_generation_client",
                "world_model",
                "residual_policy",
                "task_orchestrator",
            ]
        )
    )
