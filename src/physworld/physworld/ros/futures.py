"""Await rclpy futures with a timeout from async callbacks, without blocking an executor thread."""

from __future__ import annotations

import threading

from rclpy.task import Future

from .runner import run_off_executor


class StageTimeout(Exception):
    pass


async def wait_done(future: Future, timeout_s: float) -> bool:
    """True once ``future`` is done, False after ``timeout_s`` (the future is left running)."""
    done = threading.Event()
    future.add_done_callback(lambda _f: done.set())
    return bool(await run_off_executor(lambda: done.wait(timeout_s)))


async def await_with_timeout(future: Future, timeout_s: float, what: str):
    """The future's result; on timeout the future is cancelled and StageTimeout raised."""
    if not await wait_done(future, timeout_s):
        future.cancel()
        raise StageTimeout(f"{what}: no answer within {timeout_s:.1f} s")
    return future.result()


async def wait_for_server(client, timeout_s: float, what: str) -> None:
    """Wait for a service client or action client's server, off the executor."""
    wait = client.wait_for_service if hasattr(client, "wait_for_service") else client.wait_for_server
    if not await run_off_executor(lambda: wait(timeout_sec=timeout_s)):
        raise StageTimeout(f"{what} is not available (waited {timeout_s:.1f} s): is its node running?")
