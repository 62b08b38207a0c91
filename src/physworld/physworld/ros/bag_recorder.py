"""bag_recorder: record topics (camera, joint states, arm commands) to a rosbag2 bag.

Messages are stored as the CDR bytes DDS delivers (raw subscriptions, no deserialisation) with
the receive time, through ``physworld.bag.record.BagWriter`` (sqlite3 or MCAP, metadata.yaml
written at the end; the bag appears at its path only once complete). Topics are subscribed when a
publisher shows up, with its type and a QoS that matches it. Services: ``~/start``, ``~/stop``
(std_srvs/Trigger); a failure (output exists, unknown type) is logged and answered, the node runs on.
"""

from __future__ import annotations

import importlib
import threading
import time
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_srvs.srv import Trigger

from ..bag.configs import BagRecorderConfig
from ..bag.record import BackgroundBagWriter
from ..errors import PhysWorldError
from .params import declare_config
from .runner import spin_node


def message_class(msgtype: str):
    """The Python class of ``pkg/msg/Name``; PhysWorldError if the package is not installed."""
    try:
        pkg, kind, name = msgtype.split("/")
        return getattr(importlib.import_module(f"{pkg}.{kind}"), name)
    except (ValueError, ImportError, AttributeError) as exc:
        raise PhysWorldError(f"message type {msgtype!r} is not installed in this Python environment") from exc


def _parse_custom_data(entries: list[str]) -> dict[str, str]:
    out = {}
    for entry in entries:
        key, sep, value = entry.partition("=")
        if not sep or not key.strip():
            raise PhysWorldError(f"custom_data entry {entry!r} is not 'key=value'")
        out[key.strip()] = value
    return out


class BagRecorderNode(Node):
    def __init__(self, **kwargs):
        super().__init__("bag_recorder", **kwargs)
        self.cfg = declare_config(self, BagRecorderConfig)
        self._lock = threading.Lock()
        self._writer: BackgroundBagWriter | None = None
        self._subs: dict[str, object] = {}
        self._failed: set[str] = set()
        self.create_service(Trigger, "~/start", self._on_start)
        self.create_service(Trigger, "~/stop", self._on_stop)
        self.create_timer(self.cfg.discovery_period_s, self._discover)
        if self.cfg.start_on_launch:
            self.start()

    def _output_path(self) -> Path:
        if self.cfg.output:
            return Path(self.cfg.output)
        return Path(self.cfg.run_root) / time.strftime("bag_%Y%m%d_%H%M%S")

    def start(self) -> tuple[bool, str]:
        with self._lock:
            if self._writer is not None:
                return False, f"already recording to {self._writer.path}"
            try:
                custom = _parse_custom_data(self.cfg.custom_data)
                self._writer = BackgroundBagWriter(self._output_path(), storage=self.cfg.storage)
                for key, value in custom.items():
                    self._writer.set_custom_data(key, value)
            except (PhysWorldError, OSError) as exc:
                self.get_logger().error(f"cannot start recording: {exc}")
                return False, str(exc)
            self._failed.clear()
        self._discover()
        msg = f"recording {len(self.cfg.topics)} topic(s) to {self._writer.path} ({self.cfg.storage})"
        self.get_logger().info(msg)
        return True, msg

    def stop(self) -> tuple[bool, str]:
        with self._lock:
            writer, self._writer = self._writer, None
            for sub in self._subs.values():
                self.destroy_subscription(sub)
            self._subs.clear()
            if writer is None:
                return False, "not recording"
            try:
                path = writer.close()
            except (PhysWorldError, OSError) as exc:
                self.get_logger().error(f"finishing the bag failed: {exc}")
                return False, str(exc)
        counts = ", ".join(f"{t}: {n}" for t, n in sorted(writer.counts.items())) or "no messages"
        msg = f"{sum(writer.counts.values())} messages written to {path} ({counts})"
        if writer.dropped or writer.errors:
            msg += f"; {writer.dropped} dropped (queue full), {len(writer.errors)} write errors"
            for err in writer.errors[:3]:
                self.get_logger().error(f"bag write error: {err}")
        self.get_logger().info(msg)
        return True, msg

    def _discover(self) -> None:
        with self._lock:
            if self._writer is None:
                return
            for topic in self.cfg.topics:
                name = self.resolve_topic_name(topic)
                if name in self._subs or name in self._failed:
                    continue
                infos = self.get_publishers_info_by_topic(name)
                if not infos:
                    continue
                msgtype = infos[0].topic_type
                best_effort = any(i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for i in infos)
                qos = QoSProfile(
                    depth=50, reliability=ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE
                )
                try:
                    cls = message_class(msgtype)
                    self._writer.add_topic(name, msgtype)
                except PhysWorldError as exc:
                    self._failed.add(name)
                    self.get_logger().error(f"not recording {name}: {exc}")
                    continue
                self._subs[name] = self.create_subscription(
                    cls, name, lambda data, topic=name: self._on_message(topic, data), qos, raw=True
                )
                self.get_logger().info(f"recording {name} ({msgtype})")

    def _on_message(self, topic: str, data: bytes) -> None:
        t_ns = self.get_clock().now().nanoseconds
        with self._lock:
            if self._writer is None:
                return
            try:
                self._writer.write_cdr(topic, t_ns, data)
            except PhysWorldError as exc:
                self.get_logger().warning(f"dropped a message on {topic}: {exc}", throttle_duration_sec=2.0)

    def _on_start(self, request, response):
        response.success, response.message = self.start()
        return response

    def _on_stop(self, request, response):
        response.success, response.message = self.stop()
        return response

    def destroy_node(self):
        if getattr(self, "_writer", None) is not None:  # None also if __init__ failed early
            self.stop()
        return super().destroy_node()


def main(args=None) -> None:
    spin_node(BagRecorderNode, args)
