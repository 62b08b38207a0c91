"""rosbag2 recording and replay without ROS (``rosbags`` library): bags written here are valid
rosbag2 (metadata.yaml + sqlite3 or MCAP storage) that ``ros2 bag info/play`` accept."""
