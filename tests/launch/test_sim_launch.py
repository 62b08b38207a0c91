"""launch_testing: sim.launch.py brings the nodes up and they exit cleanly on shutdown.

Runs where launch_testing is installed (a ROS 2 distro, the docker image: `launch_test
tests/launch/test_sim_launch.py` or colcon test). Skipped here: launch/launch_testing are not
installable on the pip-only machine.
"""

import os
import unittest

import pytest

pytest.importorskip("launch_testing", reason="launch_testing is not installed (needs a ROS 2 distro)")
import launch_testing.actions
import launch_testing.asserts
from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource

pytestmark = pytest.mark.launch


@pytest.mark.launch_test
def generate_test_description():
    share = get_package_share_directory("physworld")
    sim = IncludeLaunchDescription(PythonLaunchDescriptionSource(os.path.join(share, "launch", "sim.launch.py")))
    return LaunchDescription([sim, launch_testing.actions.ReadyToTest()])


class TestGraphComesUp(unittest.TestCase):
    def test_camera_topic_is_published(self, proc_output):
        import rclpy
        from sensor_msgs.msg import Image

        rclpy.init()
        node = rclpy.create_node("launch_probe")
        got = []
        node.create_subscription(Image, "camera/color/image_raw", got.append, 1)
        try:
            end = node.get_clock().now().nanoseconds + 20e9
            while not got and node.get_clock().now().nanoseconds < end:
                rclpy.spin_once(node, timeout_sec=0.1)
        finally:
            node.destroy_node()
            rclpy.shutdown()
        self.assertTrue(got, "no camera/color/image_raw within 20 s")


@launch_testing.post_shutdown_test()
class TestCleanExit(unittest.TestCase):
    def test_exit_codes(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0, -2, -15])
