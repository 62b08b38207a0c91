"""Parameters of the bag_recorder and bag_player nodes (names are the ROS parameter names)."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import param
from .record import DEFAULT_TOPICS


@dataclass
class BagRecorderConfig:
    output: str = param("", "bag directory to create; '' = <run_root>/bag_<date>_<time>")
    run_root: str = param("runs", "where bags go when output is ''")
    storage: str = param("sqlite3", "rosbag2 storage plugin", choices=("sqlite3", "mcap"))
    topics: list[str] = param(list(DEFAULT_TOPICS), "topics to record (relative names resolve in the namespace)")
    start_on_launch: bool = param(True, "start recording when the node starts (else call ~/start)")
    discovery_period_s: float = param(
        0.5, "how often to look for publishers of topics not yet subscribed", range=(0.05, 10.0)
    )
    custom_data: list[str] = param(
        [], "'key=value' strings stored in metadata.yaml custom_data (as ros2 bag record --custom-data)"
    )


@dataclass
class BagPlayerConfig:
    bag_path: str = param("", "rosbag2 directory to replay")
    rate: float = param(1.0, "replay speed factor (1.0 = original timing)", range=(0.01, 100.0))
    loop: bool = param(False, "start over at the end")
    topics: list[str] = param([], "topics to replay ([] = all)")
    start_on_launch: bool = param(True, "play when the node starts (else call ~/play)")
    tick_hz: float = param(
        500.0, "scheduler tick (timing resolution of the replay)", range=(10.0, 2000.0), read_only=True
    )
