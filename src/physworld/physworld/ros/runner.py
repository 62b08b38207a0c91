"""Shared ``main()`` body of every node: init, spin on a multi-threaded executor, clean shutdown."""

from __future__ import annotations

from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from physworld.ros.executor import MultiThreadedExecutor


def spin_node(make_node: Callable[[], Node], args=None, num_threads: int | None = None) -> None:
    """Ctrl-C at any moment, also while the node is still being built or torn down, is a normal exit
    (code 0, no traceback): rclpy's signal handler shuts the context down and Python raises
    KeyboardInterrupt wherever the main thread happens to be."""
    rclpy.init(args=args)
    node = None
    try:
        node = make_node()
        executor = MultiThreadedExecutor(num_threads=num_threads)
        executor.add_node(node)
        executor.spin()
    except (ExternalShutdownException, KeyboardInterrupt):
        pass
    except Exception:
        if rclpy.ok():
            raise
        # the constructor failed on the context a Ctrl-C had just shut down ("context is invalid")
    finally:
        try:
            if node is not None:
                node.destroy_node()
            rclpy.try_shutdown()
        except KeyboardInterrupt:  # a second Ctrl-C while shutting down
            pass


def destroy_actions(node: Node) -> None:
    """Destroy the node's action servers and clients. ``Node.destroy_node`` leaves them, and their
    DDS endpoints, to the garbage collector: in one process (bringup, graph tests) a destroyed
    node's action could still be discovered. Call it in ``destroy_node`` before the base class."""
    from rclpy.action import ActionClient, ActionServer

    for waitable in list(node.waitables):
        if isinstance(waitable, (ActionServer, ActionClient)):
            waitable.destroy()


class GoalCancelled(Exception):
    """Raised inside long work when the action client cancelled the goal."""


def goal_failure(exc: BaseException, what: str, logger) -> str:
    """The result message of a goal whose work raised ``exc``, logged. An expected error (a
    PhysWorldError or ValueError names the problem) is the message as it is; anything else is a
    bug or a crashed backend: the message names its type, the log has the traceback."""
    from ..errors import PhysWorldError

    if isinstance(exc, (PhysWorldError, ValueError)):
        logger.warning(f"{what}: {exc}")
        return str(exc)
    import traceback

    trace = "".join(traceback.format_exception(exc)).rstrip()
    logger.error(f"{what}: unexpected {type(exc).__name__}: {exc}\n{trace}")
    return f"unexpected {type(exc).__name__}: {exc}"


async def run_off_executor(fn: Callable[[], object]) -> object:
    """Run ``fn`` in a worker thread and await it without holding an executor thread.

    Use from an ``async def`` action execute callback: the executor keeps serving other callbacks
    (feedback, cancel requests, other goals) while the long work runs.
    """
    import threading

    from rclpy.task import Future

    future: Future = Future()

    def work() -> None:
        try:
            future.set_result(fn())
        except BaseException as exc:  # handed to the awaiting coroutine
            future.set_exception(exc)

    threading.Thread(target=work, daemon=True, name="physworld-work").start()
    return await future
