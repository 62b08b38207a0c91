"""ROS-free arm control: limits, watchdog, modes, backends, teleop mapping and the controller core."""
