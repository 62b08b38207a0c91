"""Simulated bringup: sim_world (the ground-truth PyBullet world, in place of the robot cell's
drivers) and the stack's nodes.

    ros2 launch physworld sim.launch.py [namespace:=robot1] [params_file:=/path/to.yaml]
        [video_backend:=sim_rollout|http|world_model] [autostart:=false]

The managed nodes (arm_controller, camera_capture, video_generation_client, world_model,
residual_policy) are lifecycle nodes; with autostart:=false they wait unconfigured for
``ros2 lifecycle set /<node> configure`` and ``activate``.
"""

from launch import LaunchDescription

from physworld.ros.launch_common import common_arguments, stack_nodes


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        common_arguments(use_sim="true", video_backend="sim_rollout")
        + stack_nodes(
            [
                "sim_world",
                "arm_controller",
                "camera_capture",
                "video_generation_client",
                "world_model",
                "residual_policy",
                "task_orchestrator",
            ]
        )
    )
