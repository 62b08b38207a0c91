"""``ActionClient`` that can be created on a node an executor is already spinning.

rclpy 9.1.2 (the pinned Kilted wheel) registers a new ``ActionClient`` with its node
(``add_waitable``) before it creates the client's lock; an executor spinning that node in another
thread can then call ``get_num_entities`` on the half-built client, fail with
``AttributeError: 'ActionClient' object has no attribute '_lock'`` and stop spinning (seen in CI: the
goals of the other clients of that executor were never answered). Creating the lock first closes the
window; rclpy replaces it with its own a moment later, before the client is used. Drop this once
the wheel creates its lock before ``add_waitable``.
"""

from __future__ import annotations

import threading

from rclpy.action import ActionClient as _RclpyActionClient


class ActionClient(_RclpyActionClient):
    def __init__(self, *args, **kwargs) -> None:
        self._lock = threading.Lock()
        super().__init__(*args, **kwargs)
