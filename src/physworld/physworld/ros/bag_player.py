"""bag_player: replay a rosbag2 bag with its original timing (times ``rate``).

A timer asks ``physworld.bag.play.Player`` which messages are due and publishes their CDR bytes
as they are (no deserialisation), on the topic names stored in the bag. Services: ``~/play``
(re-reads ``bag_path``, ``rate``, ``loop``, ``topics``) and ``~/stop`` (std_srvs/Trigger).
A missing or corrupt bag is answered and logged with the path; the node keeps running.
"""

from __future__ import annotations

import threading

import numpy as np
from rclpy.node import Node
from std_srvs.srv import Trigger

from ..bag.configs import BagPlayerConfig
from ..bag.play import BagReader, Player
from ..errors import PhysWorldError
from .bag_recorder import message_class
from .params import declare_config
from .runner import spin_node


class BagPlayerNode(Node):
    def __init__(self, **kwargs):
        super().__init__("bag_player", **kwargs)
        self.cfg = declare_config(self, BagPlayerConfig)
        self._lock = threading.Lock()
        self._reader: BagReader | None = None
        self._player: Player | None = None
        self._pubs: dict[str, object] = {}
        self.last_lateness_ms: np.ndarray | None = None  # per message of the last finished playback
        self.create_service(Trigger, "~/play", self._on_play)
        self.create_service(Trigger, "~/stop", self._on_stop)
        self.create_timer(1.0 / self.cfg.tick_hz, self._on_tick)
        if self.cfg.start_on_launch and self.cfg.bag_path:
            self.play()

    def _param(self, name: str):
        return self.get_parameter(name).value

    def play(self) -> tuple[bool, str]:
        path, rate, topics = self._param("bag_path"), self._param("rate"), list(self._param("topics"))
        with self._lock:
            self._close()
            try:
                reader = BagReader(path)
                messages = reader.messages(topics or None)
                for topic, (msgtype, _) in reader.topics.items():
                    if (not topics or topic in topics) and topic not in self._pubs:
                        self._pubs[topic] = self.create_publisher(message_class(msgtype), topic, 10)
                self._reader, self._player = reader, Player(messages, rate=rate)
            except (PhysWorldError, OSError) as exc:
                self.get_logger().error(f"cannot play '{path}': {exc}")
                return False, str(exc)
            # the replay clock starts at the first tick, not here: a node built before the executor
            # spins (start_on_launch in a composed bringup) would otherwise start seconds late
            msg = f"playing {reader.message_count} messages ({reader.duration_s:.2f} s) from {path} at {rate}x"
        self.get_logger().info(msg)
        return True, msg

    def _close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self._reader, self._player = None, None

    def _on_tick(self) -> None:
        with self._lock:
            player = self._player
            if player is None:
                return
            if not player.started:
                player.start()
            try:
                due = player.pop_due()
            except PhysWorldError as exc:
                self.get_logger().error(f"playback stopped: {exc}")
                self._close()
                return
            for m in due:
                self._pubs[m.topic].publish(m.data)
            if not player.done:
                return
            late = np.array(player.lateness) * 1e3 if player.lateness else np.zeros(1)
            self.get_logger().info(
                f"finished: {player.published} messages, lateness p50 {np.percentile(late, 50):.1f} ms, "
                f"p99 {np.percentile(late, 99):.1f} ms, max {late.max():.1f} ms"
            )
            self.last_lateness_ms = late
            self._close()
        if self._param("loop"):
            self.play()

    def _on_play(self, request, response):
        response.success, response.message = self.play()
        return response

    def _on_stop(self, request, response):
        with self._lock:
            playing = self._player is not None
            self._close()
        response.success = playing
        response.message = "stopped" if playing else "not playing"
        return response

    def destroy_node(self):
        with self._lock:
            self._close()
        return super().destroy_node()


def main(args=None) -> None:
    spin_node(BagPlayerNode, args)
