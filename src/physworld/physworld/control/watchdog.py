"""A clock-injected watchdog: a command stream is stale once it has been silent for ``timeout_s``."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from ..errors import ConfigError


class Watchdog:
    """``feed()`` on every command; ``stale()`` is True before the first feed and after a silence.

    ``extend_until`` keeps it fresh while a timed trajectory is still running (a multi-point
    trajectory is one message followed by seconds of intended silence).
    """

    def __init__(self, timeout_s: float, clock: Callable[[], float] = time.monotonic):
        if not timeout_s > 0:
            raise ConfigError(f"watchdog timeout_s={timeout_s} must be positive")
        self.timeout_s = float(timeout_s)
        self._clock = clock
        self._last: float | None = None
        self._busy_until = -math.inf

    def feed(self, now: float | None = None, busy_until: float | None = None) -> None:
        self._last = self._clock() if now is None else now
        self._busy_until = self._last if busy_until is None else max(self._last, busy_until)

    def reset(self) -> None:
        self._last, self._busy_until = None, -math.inf

    @property
    def last_feed(self) -> float | None:
        return self._last

    @property
    def fed(self) -> bool:
        return self._last is not None

    def age(self, now: float | None = None) -> float:
        """Seconds since the stream went quiet (since the last feed or the end of a trajectory)."""
        if self._last is None:
            return math.inf
        now = self._clock() if now is None else now
        return max(0.0, now - self._busy_until)

    def stale(self, now: float | None = None) -> bool:
        return self.age(now) > self.timeout_s
