"""Managed (lifecycle) nodes: the nodes that hold models or hardware load them in configure, do
their work only while active, and free them in cleanup / shutdown (REP 2000's managed nodes).

``ManagedNode`` is a ``rclpy.lifecycle.LifecycleNode`` with what every such node of the stack
shares:

- a read-only bool parameter ``autostart`` (default true, robot_localization / nav2 semantics):
  true = the node configures and activates itself at the end of its constructor
  (``self.autostart()``), so ``physworld bringup``, the launch files and plain ``ros2 run`` work as
  before; false = it waits in ``unconfigured`` for ``ros2 lifecycle set <node> configure`` and
  ``activate`` (``lifecycle_msgs/srv/ChangeState`` on ``<node>/change_state``);
- transitions that cannot leave a half-built node: ``configure_resources()`` raising makes
  configure return FAILURE with the reason logged (error level, so it reaches ``/rosout``),
  whatever it built is released again and the node stays ``unconfigured`` and reachable;
- a gate: ``inactive_reason()`` is '' while active, else a sentence naming the state (and the
  last configure failure); action goals (``single_goal_server(..., available=...)``) and services
  are refused with it; lifecycle publishers publish only while active;
- deactivation that stops work: ``guarded(fn)`` wraps the work of a goal so that it does not start
  while inactive, and ``on_deactivate`` waits (up to ``deactivate_wait_s``) until running work has
  returned; the work itself checks ``active`` (or calls ``check_active()``) at its progress points.

Subclasses override ``configure_resources`` / ``release_resources`` / ``activate_work`` /
``deactivate_work``; each must be safe to call on a partially configured node.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn

from ..errors import PhysWorldError

AUTOSTART_DESCRIPTION = (
    "configure and activate this managed node right after start (true), or wait in 'unconfigured' for "
    "`ros2 lifecycle set <node> configure` and `activate` (false)"
)

_TRANSITIONS = {"configuring": "being configured", "activating": "being activated",
                "deactivating": "being deactivated", "cleaningup": "being cleaned up",
                "shuttingdown": "shutting down", "errorprocessing": "recovering from an error"}  # fmt: skip


class NodeInactive(PhysWorldError):
    """Work refused or stopped because the node is not active (the message says which state)."""


class ManagedNode(LifecycleNode):
    deactivate_wait_s = 10.0

    def __init__(self, node_name: str, **kwargs):
        super().__init__(node_name, **kwargs)
        desc = ParameterDescriptor(name="autostart", type=ParameterType.PARAMETER_BOOL,
                                   description=AUTOSTART_DESCRIPTION, read_only=True)  # fmt: skip
        self.declare_parameter("autostart", True, desc)
        self._active = False
        self._configure_failure = ""
        self._work_cond = threading.Condition()
        self._working = 0

    # --- hooks for subclasses -----------------------------------------------------------------
    def configure_resources(self) -> None:
        """Load models / open hardware; raise (an error naming the problem) to fail configure."""

    def release_resources(self) -> None:
        """Free what ``configure_resources`` built (also after it failed half-way)."""

    def activate_work(self) -> None:
        """Start timers / streams; raise to fail activate."""

    def deactivate_work(self) -> None:
        """Stop timers / streams (called before lifecycle publishers are disabled)."""

    # --- state --------------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self._active

    @property
    def state_label(self) -> str:
        return self._state_machine.current_state[1]

    def inactive_reason(self) -> str:
        """'' while active; otherwise why the node does no work and what to do about it."""
        if self._active:
            return ""
        state, name = self.state_label, self.get_fully_qualified_name()
        why = f"{name} is {_TRANSITIONS.get(state, state)} (a managed node)"
        if state == "unconfigured" and self._configure_failure:
            return f"{why}: configure failed: {self._configure_failure}"
        if state == "unconfigured":
            return f"{why}: `ros2 lifecycle set {name} configure`, then `activate`"
        return f"{why}: `ros2 lifecycle set {name} activate`" if state == "inactive" else why

    def check_active(self) -> None:
        why = self.inactive_reason()
        if why:
            raise NodeInactive(why)

    def autostart(self) -> None:
        """Call at the end of the subclass constructor: configure + activate when ``autostart``."""
        if not self.get_parameter("autostart").value:
            self.get_logger().info("autostart is false: unconfigured until `ros2 lifecycle set ... configure`")
            return
        if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    def guarded(self, fn: Callable[[], object]) -> Callable[[], object]:
        """``fn`` refused unless active, and counted as running work that deactivation waits for."""

        def run():
            with self._work_cond:
                self.check_active()
                self._working += 1
            try:
                return fn()
            finally:
                with self._work_cond:
                    self._working -= 1
                    self._work_cond.notify_all()

        return run

    # --- transitions --------------------------------------------------------------------------
    def _release(self, what: str) -> None:
        try:
            self.release_resources()
        except Exception as exc:  # never let a release error turn a transition into an exception
            self.get_logger().error(f"{what}: releasing resources failed: {type(exc).__name__}: {exc}")

    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            self.configure_resources()
        except Exception as exc:
            self._configure_failure = f"{exc}" if isinstance(exc, PhysWorldError | ValueError) else \
                f"{type(exc).__name__}: {exc}"  # fmt: skip
            self.get_logger().error(
                f"configure failed: {self._configure_failure}; the node stays unconfigured "
                "(fix the cause, then configure again)"
            )
            self._release("configure failed")
            return TransitionCallbackReturn.FAILURE
        self._configure_failure = ""
        self.get_logger().info("configured")
        return super().on_configure(state)

    def on_activate(self, state) -> TransitionCallbackReturn:
        try:
            self.activate_work()
        except Exception as exc:
            self.get_logger().error(f"activate failed: {type(exc).__name__}: {exc}; the node stays inactive")
            self._safe_deactivate_work()
            return TransitionCallbackReturn.FAILURE
        ret = super().on_activate(state)  # lifecycle publishers on
        self._active = ret == TransitionCallbackReturn.SUCCESS
        if self._active:
            self.get_logger().info("active")
        return ret

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self._stop_work()
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self._release("cleanup")
        self.get_logger().info("cleaned up: unconfigured")
        return super().on_cleanup(state)

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        if self._active:
            self._stop_work()
        self._release("shutdown")
        return super().on_shutdown(state)

    def on_error(self, state) -> TransitionCallbackReturn:
        self._active = False
        self._release("error processing")
        return TransitionCallbackReturn.SUCCESS  # back to unconfigured, still reachable

    def _safe_deactivate_work(self) -> None:
        try:
            self.deactivate_work()
        except Exception as exc:
            self.get_logger().error(f"deactivate: {type(exc).__name__}: {exc}")

    def _stop_work(self) -> None:
        """Refuse new work, stop streams, wait for running work to return."""
        with self._work_cond:  # no job passes guarded() after this
            self._active = False
        self._safe_deactivate_work()
        end = time.monotonic() + self.deactivate_wait_s
        with self._work_cond:
            while self._working and time.monotonic() < end:
                self._work_cond.wait(0.05)
            if self._working:
                self.get_logger().warning(
                    f"deactivate: {self._working} running job(s) did not stop within {self.deactivate_wait_s:.0f} s; "
                    "they end at their next progress check"
                )
        self.get_logger().info("inactive")

    def destroy_node(self):
        """Stop and free everything (as shutdown would) before the node goes away."""
        if self.state_label in ("inactive", "active"):
            if self._active:
                self._stop_work()
            self._release("destroy")
        return super().destroy_node()
