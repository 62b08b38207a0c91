"""PhysWorld core library.

ROS-free: nothing under ``physworld`` except ``physworld.ros`` may import rclpy or ROS message
packages. Every algorithm is usable from plain Python and tested without ``rclpy.init``.
"""

__version__ = "0.1.0"
