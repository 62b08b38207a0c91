"""Write rosbag2 bags (sqlite3 or MCAP) with ``rosbags.rosbag2.Writer``.

A bag is staged under a hidden sibling directory and moved into place on ``close()``, so a path
holds either a complete bag or nothing. ``metadata.yaml`` is written by the Writer (rosbag2
format version 9, Kilted message definitions and type hashes), which ``ros2 bag info/play`` read.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

from ..errors import ArtefactError, InputError
from .convert import typestore

STORAGES = ("sqlite3", "mcap")
BAG_VERSION = 9

# What the recorder stores by default: camera, arm state and arm commands.
DEFAULT_TOPICS = {
    "camera/color/image_raw": "sensor_msgs/msg/Image",
    "camera/depth/image_raw": "sensor_msgs/msg/Image",
    "camera/color/camera_info": "sensor_msgs/msg/CameraInfo",
    "joint_states": "sensor_msgs/msg/JointState",
    "arm_controller/joint_command": "trajectory_msgs/msg/JointTrajectory",
    "teleop/joint_command": "trajectory_msgs/msg/JointTrajectory",
    "joint_trajectory_controller/joint_trajectory": "trajectory_msgs/msg/JointTrajectory",
}


def trim_cdr(data: bytes, msgtype: str) -> bytes:
    """Check that ``data`` is a CDR ``msgtype`` and cut trailing bytes after the message.

    rclpy/Fast DDS serialised buffers can end with a few bytes of slack after the last field;
    rosbag2 keeps them, but ``rosbags`` refuses to read messages with more than 3 trailing bytes.
    """
    store = typestore()
    if len(data) < 4 or bytes(data[:2]) not in (b"\x00\x00", b"\x00\x01"):
        raise InputError(f"{msgtype}: data is not CDR (bad encapsulation header)")
    msgdef = store.get_msgdef(msgtype)
    func = msgdef.deserialize_cdr_le if data[1] else msgdef.deserialize_cdr_be
    try:
        _, pos = func(memoryview(data)[4:], 0, msgdef.cls, store)
    except Exception as exc:
        raise InputError(f"{msgtype}: data is not a valid serialised message ({exc})") from exc
    return bytes(data[: 4 + pos])


class BagWriter:
    """``with BagWriter(path) as bag: bag.add_topic(...); bag.write(topic, t_ns, msg)``."""

    def __init__(self, path: str | os.PathLike, storage: str = "sqlite3", overwrite: bool = False):
        from rosbags.rosbag2 import StoragePlugin

        if storage not in STORAGES:
            raise InputError(f"bag storage {storage!r} must be one of {STORAGES}")
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise ArtefactError(f"{self.path}: a bag (or file) already exists there; choose a new output path")
        self.storage, self.overwrite = storage, overwrite
        self._plugin = StoragePlugin.SQLITE3 if storage == "sqlite3" else StoragePlugin.MCAP
        self._stage = self.path.parent / f".{self.path.name}.partial-{os.getpid()}"
        self._writer = None
        self._connections: dict[str, object] = {}
        self.counts: dict[str, int] = {}

    def open(self) -> BagWriter:
        from rosbags.rosbag2 import Writer

        if self._stage.exists():
            shutil.rmtree(self._stage)
        self._stage.mkdir(parents=True)
        self._writer = Writer(self._stage / self.path.name, version=BAG_VERSION, storage_plugin=self._plugin)
        self._writer.open()
        return self

    def __enter__(self) -> BagWriter:
        return self.open()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    @property
    def topics(self) -> dict[str, str]:
        return {t: c.msgtype for t, c in self._connections.items()}

    def add_topic(self, topic: str, msgtype: str, msgdef: str | None = None, rihs01: str | None = None) -> None:
        """Register a topic; ``msgdef``/``rihs01`` only for types the Kilted typestore lacks."""
        if self._writer is None:
            raise ArtefactError(f"{self.path}: bag is not open")
        if topic in self._connections:
            if self._connections[topic].msgtype != msgtype:
                raise InputError(f"topic {topic} already recorded as {self._connections[topic].msgtype}, not {msgtype}")
            return
        if msgdef is None and msgtype not in typestore().types:
            raise InputError(
                f"message type {msgtype!r} of {topic} is unknown to the Kilted typestore; pass its msgdef and hash"
            )
        self._connections[topic] = self._writer.add_connection(
            topic, msgtype, typestore=typestore(), msgdef=msgdef, rihs01=rihs01
        )
        self.counts[topic] = 0

    def set_custom_data(self, key: str, value: str) -> None:
        """A ``key: value`` string pair for ``custom_data`` in metadata.yaml (``ros2 bag record --custom-data``)."""
        if self._writer is None:
            raise ArtefactError(f"{self.path}: bag is not open")
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise InputError(f"bag custom_data needs a non-empty string key and a string value, got {key!r}: {value!r}")
        self._writer.set_custom_data(key, value)

    def write_cdr(self, topic: str, t_ns: int, data: bytes, check: bool = True) -> None:
        """Store an already serialised (CDR, as received from DDS) message.

        ``check`` validates it against the topic's type and trims slack bytes (``trim_cdr``).
        """
        conn = self._connections.get(topic)
        if conn is None:
            raise InputError(f"topic {topic} was not added to bag {self.path} (add_topic first)")
        if check:
            data = trim_cdr(data, conn.msgtype)
        self._writer.write(conn, int(t_ns), data)
        self.counts[topic] += 1

    def write(self, topic: str, t_ns: int, msg) -> None:
        """Serialise a rosbags message object and store it."""
        conn = self._connections.get(topic)
        if conn is None:
            raise InputError(f"topic {topic} was not added to bag {self.path} (add_topic first)")
        self.write_cdr(topic, t_ns, typestore().serialize_cdr(msg, conn.msgtype), check=False)

    def close(self) -> Path:
        """Finish metadata.yaml and move the bag into place."""
        if self._writer is None:
            raise ArtefactError(f"{self.path}: bag is not open")
        self._writer.close()
        self._writer = None
        if self.path.exists():
            if not self.overwrite:
                self.abort()
                raise ArtefactError(f"{self.path}: appeared while recording; the new bag was discarded")
            shutil.rmtree(self.path) if self.path.is_dir() else self.path.unlink()
        os.replace(self._stage / self.path.name, self.path)
        shutil.rmtree(self._stage, ignore_errors=True)
        return self.path

    def abort(self) -> None:
        """Discard the bag being written."""
        if self._writer is not None:
            try:
                self._writer.abort()
            except Exception:
                pass
            self._writer = None
        shutil.rmtree(self._stage, ignore_errors=True)


class BackgroundBagWriter:
    """A BagWriter driven from any thread: every storage call runs in one worker thread.

    sqlite3 connections may only be used by the thread that opened them, and a ROS executor calls
    back from several threads; writes are queued (disk time stays off the caller's thread).
    ``write_cdr`` validates in the caller's thread and never blocks; beyond ``max_pending``
    queued messages new ones are dropped and counted in ``dropped``.
    """

    def __init__(self, path: str | os.PathLike, storage: str = "sqlite3", max_pending: int = 500):
        from concurrent.futures import ThreadPoolExecutor

        self._bag = BagWriter(path, storage=storage)
        self.path, self.max_pending = self._bag.path, max_pending
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bag-writer")
        self._lock = threading.Lock()
        self._pending, self.dropped = 0, 0
        self.errors: list[str] = []
        try:
            self._pool.submit(self._bag.open).result()
        except BaseException:
            self._pool.shutdown()
            raise

    @property
    def counts(self) -> dict[str, int]:
        return dict(self._bag.counts)

    def add_topic(self, topic: str, msgtype: str) -> None:
        self._pool.submit(self._bag.add_topic, topic, msgtype).result()

    def set_custom_data(self, key: str, value: str) -> None:
        self._pool.submit(self._bag.set_custom_data, key, value).result()

    def _done(self, future) -> None:
        with self._lock:
            self._pending -= 1
            if future.exception() is not None:
                self.errors.append(str(future.exception()))

    def write_cdr(self, topic: str, t_ns: int, data: bytes) -> None:
        msgtype = self._bag.topics.get(topic)
        if msgtype is None:
            raise InputError(f"topic {topic} was not added to bag {self.path} (add_topic first)")
        data = trim_cdr(data, msgtype)
        with self._lock:
            if self._pending >= self.max_pending:
                self.dropped += 1
                return
            self._pending += 1
        self._pool.submit(self._bag.write_cdr, topic, t_ns, data, False).add_done_callback(self._done)

    def close(self) -> Path:
        """Write everything queued, finish the bag and stop the worker."""
        try:
            return self._pool.submit(self._bag.close).result()
        finally:
            self._pool.shutdown()

    def abort(self) -> None:
        try:
            self._pool.submit(self._bag.abort).result()
        finally:
            self._pool.shutdown()
