"""A MultiThreadedExecutor without rclpy 9.1's busy re-queueing (ros2/rclpy#1452).

rclpy 9.1.2 (the pinned Kilted wheel) re-yields a task that sits in the thread pool's queue but
has not started, so the spinning thread submits it again and again without waiting, holds the GIL
and starves the workers: a 100 Hz timer next to a subscription in one process ran at 2-12 Hz
here. Upstream fixed it after 9.1.2 (ros2/rclpy#1547). Until the wheel has the fix, this subclass
submits a task once and, while it waits for a worker to pick it up, blocks for a moment on a
condition (which releases the GIL) instead of queueing it again. It also keeps the in-flight
tasks in a set: rclpy's list gained an entry per wake-up of a long-running coroutine and its scan
took half the GIL time during a 20-minute train_policy goal. It touches only
``_spin_once_impl``, the method the upstream class overrides for the same purpose, and
``shutdown``: rclpy's destroys the executor's guard condition before it joins the thread pool, so a
callback still queued then failed on that guard ("cannot use Destroyable"); this one joins the pool
first. Keep it small.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from rclpy import executors as _ex


class MultiThreadedExecutor(_ex.MultiThreadedExecutor):
    """Drop-in replacement for :class:`rclpy.executors.MultiThreadedExecutor`."""

    def __init__(self, num_threads: int | None = None, *, context=None) -> None:
        super().__init__(num_threads=num_threads, context=context)
        self._queued: set = set()  # tasks handed to the pool that no worker has started yet
        self._queued_cond = threading.Condition()
        self._in_flight: set = set()  # submitted tasks not yet done

    def shutdown(self, timeout_sec: float | None = None, *, wait_for_threads: bool = True) -> bool:
        if wait_for_threads:
            self._executor.shutdown(wait=True)  # queued callbacks still find the guard condition alive
        return super().shutdown(timeout_sec, wait_for_threads=wait_for_threads)

    def _run(self, handler) -> None:
        with self._queued_cond:
            self._queued.discard(handler)
            self._queued_cond.notify_all()
        handler()

    def _spin_once_impl(self, timeout_sec=None, wait_condition: Callable[[], bool] = lambda: False) -> None:
        try:
            handler, _entity, _node = self.wait_for_ready_callbacks(timeout_sec, None, wait_condition)
        except (
            _ex.ExternalShutdownException,
            _ex.ShutdownException,
            _ex.TimeoutException,
            _ex.ConditionReachedException,
        ):
            return
        with self._queued_cond:
            if handler in self._queued:
                # already waiting for a worker: let one pick it up instead of queueing it again
                self._queued_cond.wait(0.002)
                return
            self._queued.add(handler)
        self._executor.submit(self._run, handler)
        # a set, not rclpy's list: a coroutine (an action's execute awaiting long work) is submitted
        # again at every wake-up, and the list grew by one entry each time and was scanned per callback
        self._in_flight.add(handler)
        for future in [f for f in self._in_flight if f.done()]:
            self._in_flight.discard(future)
            future.result()  # raise any exceptions
