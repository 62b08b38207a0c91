"""teleop: jog the end effector from a joystick (``sensor_msgs/Joy`` on ``joy``) or the keyboard.

Input -> EE twist (``physworld.control.teleop``) -> joint targets by IK from the current
``joint_states`` -> single-point ``JointTrajectory`` on ``teleop/joint_command`` at ``rate_hz``.
arm_controller only follows them in ``teleop`` mode; the takeover button / key ``t`` asks it for
that mode (``set_mode``), key ``p`` hands the arm back to the policy. When input stops, nothing
is sent and arm_controller's watchdog holds the arm.
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState, Joy
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from physworld_interfaces.srv import SetControlMode

from ..control.configs import TeleopConfig
from ..control.kinematics import PyBulletKinematics
from ..control.teleop import HELP, JoyMapping, TeleopCommand, gripper_positions, jog, joy_to_command, key_to_command
from ..errors import InputError
from .params import declare_config
from .runner import spin_node

RESEED_RAD = 0.2  # re-seed the integrated target from the measured joints when they drift apart


class TeleopNode(Node):
    def __init__(self, **kwargs):
        super().__init__("teleop", **kwargs)
        self.cfg = cfg = declare_config(self, TeleopConfig)
        if len(cfg.joy_axes) != 6 or len(cfg.joy_signs) != 6:
            raise InputError("joy_axes and joy_signs need 6 entries (vx vy vz wx wy wz)")
        self.mapping = JoyMapping(
            tuple(cfg.joy_axes),
            tuple(cfg.joy_signs),
            cfg.deadman_button,
            cfg.gripper_close_button,
            cfg.gripper_open_button,
        )
        self.kinematics = PyBulletKinematics(cfg.urdf_path or None, cfg.joint_names, cfg.ee_link)
        self._lock = threading.Lock()
        self._q_measured: np.ndarray | None = None
        self._q_target: np.ndarray | None = None
        self._command: TeleopCommand | None = None
        self._command_time = -np.inf
        self._gripper_sent: str | None = None
        self._takeover_pressed = False
        self._last_tick: float | None = None
        self._tty_restore = None
        group = ReentrantCallbackGroup()
        self.pub = self.create_publisher(JointTrajectory, "teleop/joint_command", 10)
        self.create_subscription(JointState, "joint_states", self._on_joint_states, 20, callback_group=group)
        self.create_subscription(Joy, "joy", self._on_joy, 10, callback_group=group)
        self.mode_client = self.create_client(SetControlMode, "set_mode", callback_group=group)
        self.create_timer(1.0 / cfg.rate_hz, self._on_tick, callback_group=MutuallyExclusiveCallbackGroup())
        self._stop = threading.Event()
        if cfg.keyboard:
            if sys.stdin.isatty():
                threading.Thread(target=self._keyboard_loop, daemon=True, name="teleop-keys").start()
                self.get_logger().info(HELP)
            else:
                self.get_logger().error("keyboard=true but stdin is not a terminal: keyboard teleop disabled")

    # --- inputs -------------------------------------------------------------------------------

    def _on_joint_states(self, msg: JointState) -> None:
        index = {n: i for i, n in enumerate(msg.name)}
        if all(n in index for n in self.cfg.joint_names):
            with self._lock:
                self._q_measured = np.array([msg.position[index[n]] for n in self.cfg.joint_names])

    def _set_command(self, command: TeleopCommand) -> None:
        with self._lock:
            self._command, self._command_time = command, time.monotonic()

    def _on_joy(self, msg: Joy) -> None:
        cfg = self.cfg
        try:
            cmd = joy_to_command(msg.axes, msg.buttons, self.mapping, cfg.deadzone, cfg.linear_speed, cfg.angular_speed)
        except InputError as exc:
            self.get_logger().warning(f"joy: {exc}", throttle_duration_sec=2.0)
            return
        self._set_command(cmd)
        b = cfg.takeover_button
        pressed = 0 <= b < len(msg.buttons) and bool(msg.buttons[b])
        if pressed and not self._takeover_pressed:
            self.request_mode("teleop")
        self._takeover_pressed = pressed

    def handle_key(self, key: str) -> None:
        """One key press (also used by tests): jog / gripper / stop, ``t`` take over, ``p`` policy."""
        if key in ("t", "p"):
            self.request_mode("teleop" if key == "t" else "policy")
            return
        cmd = key_to_command(key, self.cfg.linear_speed, self.cfg.angular_speed)
        if cmd is not None:
            self._set_command(cmd)

    def _keyboard_loop(self) -> None:
        import termios
        import tty

        fd = sys.stdin.fileno()
        old = termios.tcgetattr(fd)
        self._tty_restore = (fd, old)  # destroy_node restores it if Ctrl-C ends the process first
        try:
            tty.setcbreak(fd)
            while not self._stop.is_set():
                key = sys.stdin.read(1)
                if key in ("\x03", "\x04", ""):  # Ctrl-C / Ctrl-D / EOF
                    break
                self.handle_key(key)
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, old)

    def request_mode(self, mode: str) -> None:
        if not self.mode_client.service_is_ready():
            self.get_logger().warning(f"cannot request mode '{mode}': arm_controller's set_mode is not available")
            return
        future = self.mode_client.call_async(SetControlMode.Request(mode=mode))
        future.add_done_callback(lambda f: self.get_logger().info(f"set_mode {mode}: {f.result().message}"))

    # --- output -------------------------------------------------------------------------------

    def _on_tick(self) -> None:
        cfg, now = self.cfg, time.monotonic()
        # integrate over the real time since the last tick (a late tick must not slow the jog down)
        dt = min(now - self._last_tick, 3.0 / cfg.rate_hz) if self._last_tick is not None else 1.0 / cfg.rate_hz
        self._last_tick = now
        with self._lock:
            cmd, fresh = self._command, time.monotonic() - self._command_time <= cfg.input_timeout_s
            q_meas = self._q_measured
        if cmd is None or not fresh or cmd.stop:
            self._q_target = None
            return
        if cmd.gripper is not None and cmd.gripper != self._gripper_sent:
            q = gripper_positions(cmd.gripper, len(cfg.gripper_joints), cfg.gripper_max)
            self._publish(list(cfg.gripper_joints), q)
            self._gripper_sent = cmd.gripper
        if not cmd.moving:
            self._q_target = None
            return
        if q_meas is None:
            self.get_logger().warning("no joint_states yet: cannot jog", throttle_duration_sec=2.0)
            return
        if self._q_target is None or np.max(np.abs(self._q_target - q_meas)) > RESEED_RAD:
            self._q_target = q_meas.copy()
        self._q_target = jog(self.kinematics, self._q_target, cmd.twist, dt)
        self._publish(list(cfg.joint_names), self._q_target.tolist())

    def _publish(self, names: list[str], positions: list[float]) -> None:
        msg = JointTrajectory(joint_names=names, points=[JointTrajectoryPoint(positions=[float(v) for v in positions])])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub.publish(msg)

    def destroy_node(self):
        self._stop.set()
        if self._tty_restore is not None:
            import termios

            termios.tcsetattr(self._tty_restore[0], termios.TCSADRAIN, self._tty_restore[1])
        self.kinematics.close()
        return super().destroy_node()


def main(args=None) -> None:
    spin_node(TeleopNode, args)
