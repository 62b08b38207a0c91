"""Read rosbag2 bags and replay them with their original timing.

``BagReader`` yields ``BagMessage(t_ns, topic, msgtype, data)`` (CDR bytes, publishable as they
are) and deserialises on request. ``Player`` schedules messages against a wall clock with a rate
factor; it never sleeps: a ROS timer asks it what is due (``pop_due``) and when the next message
is (``next_due``). A missing or corrupt bag raises ArtefactError naming the path.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ArtefactError, InputError
from .convert import typestore


@dataclass(frozen=True)
class BagMessage:
    t_ns: int  # receive time stored in the bag
    topic: str
    msgtype: str
    data: bytes  # CDR


def _corrupt(path: Path, exc: BaseException) -> ArtefactError:
    return ArtefactError(f"{path}: not a readable rosbag2 bag ({type(exc).__name__}: {exc})")


class BagReader:
    """``with BagReader(path) as bag: for m in bag.messages(): ...``"""

    def __init__(self, path: str | os.PathLike):
        from rosbags.rosbag2 import Reader

        self.path = Path(path)
        if not self.path.exists():
            raise ArtefactError(f"{self.path}: bag not found (give the bag directory that holds metadata.yaml)")
        if self.path.is_dir() and not (self.path / "metadata.yaml").is_file():
            raise ArtefactError(f"{self.path}: no metadata.yaml, so this is not a rosbag2 bag directory")
        try:
            self._reader = Reader(self.path)
            self._reader.open()
        except Exception as exc:  # rosbags raises ReaderError, yaml, sqlite3 and KeyError for broken bags
            raise _corrupt(self.path, exc) from exc
        self._register_custom_types()

    def _register_custom_types(self) -> None:
        from rosbags.typesys import get_types_from_idl, get_types_from_msg

        store, new = typestore(), {}
        for conn in self._reader.connections:
            if conn.msgtype in store.types or conn.msgtype in new or not conn.msgdef.data:
                continue
            try:
                if conn.msgdef.format.name == "IDL":
                    new.update(get_types_from_idl(conn.msgdef.data))
                else:
                    new.update(get_types_from_msg(conn.msgdef.data, conn.msgtype))
            except Exception as exc:
                raise _corrupt(self.path, exc) from exc
        if new:
            store.register(new)

    def __enter__(self) -> BagReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    @property
    def topics(self) -> dict[str, tuple[str, int]]:
        """topic -> (msgtype, message count)."""
        return {name: (info.msgtype, info.msgcount) for name, info in self._reader.topics.items()}

    @property
    def custom_data(self) -> dict[str, str]:
        """metadata.yaml ``custom_data`` (key/value strings the recorder stored; {} if none)."""
        return dict(self._reader.storage.metadata.custom or {})

    @property
    def message_count(self) -> int:
        return int(self._reader.message_count)

    @property
    def start_ns(self) -> int:
        return int(self._reader.start_time)

    @property
    def duration_s(self) -> float:
        return self._reader.duration * 1e-9 if self.message_count else 0.0

    def messages(self, topics: Sequence[str] | None = None) -> Iterator[BagMessage]:
        """Messages in time order, optionally only ``topics`` (unknown topics are an error)."""
        conns = self._reader.connections
        if topics:
            unknown = sorted(set(topics) - {c.topic for c in conns})
            if unknown:
                raise InputError(f"{self.path} has no topics {unknown}; it has {sorted(self.topics)}")
            conns = [c for c in conns if c.topic in topics]
        try:
            for conn, t_ns, data in self._reader.messages(connections=conns):
                yield BagMessage(int(t_ns), conn.topic, conn.msgtype, bytes(data))
        except Exception as exc:
            raise _corrupt(self.path, exc) from exc

    @staticmethod
    def deserialize(msg: BagMessage):
        try:
            return typestore().deserialize_cdr(msg.data, msg.msgtype)
        except Exception as exc:
            raise ArtefactError(f"message on {msg.topic} at {msg.t_ns} ns is not a valid {msg.msgtype}: {exc}") from exc


def read_messages(
    path: str | os.PathLike, topics: Sequence[str] | None = None
) -> Iterator[tuple[int, str, str, object]]:
    """``(t_ns, topic, msgtype, message)`` of a whole bag, deserialised (for scripts and tests)."""
    with BagReader(path) as bag:
        for m in bag.messages(topics):
            yield m.t_ns, m.topic, m.msgtype, bag.deserialize(m)


@dataclass
class Player:
    """Schedules bag messages on a wall clock: message i is due at ``start + (t_i - t_0) / rate``."""

    messages: Iterable[BagMessage]
    rate: float = 1.0
    clock: Callable[[], float] = time.monotonic
    lateness: list[float] = field(default_factory=list)  # publish time - due time, per message (s)

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise InputError(f"replay rate {self.rate} must be positive (1.0 = original speed)")
        self._it = iter(self.messages)
        self._next: BagMessage | None = next(self._it, None)
        self._t0_ns = self._next.t_ns if self._next is not None else 0
        self._start: float | None = None
        self.published = 0

    def start(self, now: float | None = None) -> None:
        self._start = self.clock() if now is None else now

    @property
    def started(self) -> bool:
        return self._start is not None

    @property
    def done(self) -> bool:
        return self._next is None

    def due_time(self, msg: BagMessage) -> float:
        if self._start is None:
            raise InputError("Player.start() was not called")
        return self._start + (msg.t_ns - self._t0_ns) * 1e-9 / self.rate

    def next_due(self) -> float | None:
        """Wall-clock time at which the next message is due; None when the bag is exhausted."""
        return None if self._next is None else self.due_time(self._next)

    def pop_due(self, now: float | None = None) -> list[BagMessage]:
        """All messages due at ``now`` (in bag order), recording how late each one is."""
        now = self.clock() if now is None else now
        out = []
        while self._next is not None and self.due_time(self._next) <= now:
            self.lateness.append(now - self.due_time(self._next))
            out.append(self._next)
            self._next = next(self._it, None)
        self.published += len(out)
        return out
