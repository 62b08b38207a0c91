"""One goal at a time per action server: a goal that arrives while another is active is rejected.

Every action server of the stack drives one thing (the arm, a PPO run, a reconstruction, a video
job) and queues nothing: a client whose goal is rejected retries after the running goal's result.
The reason is logged as a warning by the server; a client only sees ``accepted = False``.
Servers of a managed node also reject goals while the node is not active (``available``,
``physworld.ros.lifecycle``), with the node's state logged as the reason.

The claim is taken in the goal callback, when the goal is accepted, not in the execute callback:
rclpy starts the execute callback later, as an executor task, and a second goal request served by
another executor thread in between would otherwise be accepted too. The claim is released when the
execute callback returns or raises, before the result reaches the client, so a client that sends
its next goal on the result finds the server free. rclpy calls the handle-accepted callback right
after the goal callback, in the same call; it does not when the accept could not be sent (the
client went away) and the goal then never executes. A claim not confirmed by it within
``confirm_timeout_s`` is therefore stale and the next goal takes it over.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable

from rclpy.action import ActionServer, CancelResponse, GoalResponse


class SingleGoal:
    """The claim of one action server (thread-safe, no ROS)."""

    def __init__(self, confirm_timeout_s: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.confirm_timeout_s, self._clock = confirm_timeout_s, clock
        self._lock = threading.Lock()
        self._since: float | None = None  # when the active goal was accepted
        self._confirmed = False

    def try_claim(self) -> str:
        """'' when the caller now holds the claim, else why not (a goal is active)."""
        with self._lock:
            now = self._clock()
            if self._since is not None:
                age = now - self._since
                if self._confirmed or age < self.confirm_timeout_s:
                    return f"the goal accepted {age:.1f} s ago is still active (one goal at a time)"
            self._since, self._confirmed = now, False
            return ""

    def confirm(self) -> None:
        """The accepted goal reached its client and will execute."""
        with self._lock:
            self._confirmed = True

    def release(self) -> None:
        with self._lock:
            self._since, self._confirmed = None, False

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._since is not None


def single_goal_server(
    node,
    action_type,
    name: str,
    execute: Callable[[object], Awaitable[object]],
    callback_group=None,
    gate: SingleGoal | None = None,
    available: Callable[[], str] | None = None,
) -> ActionServer:
    """An ActionServer that rejects (and logs) a goal while its previous one is active, or while
    ``available()`` returns a reason (a managed node that is not active); cancel requests are
    always accepted. ``execute`` is the async execute callback."""
    gate = gate or SingleGoal()
    logger = node.get_logger()

    def on_goal(_goal) -> GoalResponse:
        why = available() if available is not None else ""
        if why:
            logger.warning(f"{name}: rejected a goal: {why}")
            return GoalResponse.REJECT
        why = gate.try_claim()
        if why:
            logger.warning(f"{name}: rejected a new goal: {why}; cancel it or wait for its result")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def on_accepted(goal_handle) -> None:
        gate.confirm()
        goal_handle.execute()

    async def run(goal_handle):
        try:
            return await execute(goal_handle)
        finally:
            gate.release()

    return ActionServer(
        node, action_type, name, execute_callback=run, goal_callback=on_goal, handle_accepted_callback=on_accepted,
        cancel_callback=lambda _h: CancelResponse.ACCEPT, callback_group=callback_group)  # fmt: skip
