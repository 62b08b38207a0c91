"""ROS 2 layer: rclpy nodes (glue only: parameters, topics, actions, conversions -> core calls)."""
