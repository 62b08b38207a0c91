"""Graph test (real DDS): arm_controller with its own PyBullet Panda, a probe node streaming
commands, e-stop and mode services, and teleop jogging the end effector from Joy messages."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from rclpy.node import Node
from rclpy.parameter import Parameter
from ros_graph_utils import call as call_client
from sensor_msgs.msg import JointState, Joy
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from physworld.control.kinematics import PANDA_ARM_JOINTS, PANDA_HOME, PyBulletKinematics
from physworld.ros.arm_controller import ArmControllerNode
from physworld.ros.teleop import TeleopNode
from physworld_interfaces.srv import SetControlMode

pytestmark = pytest.mark.ros

JOINTS = list(PANDA_ARM_JOINTS)


class Probe:
    """Streams commands and records joint_states with their arrival time."""

    def __init__(self, graph, name="probe"):
        self.graph = graph
        self.node = graph.add(Node(name, context=graph.context))
        self.states: list[tuple[float, JointState]] = []
        self._lock = threading.Lock()
        self.node.create_subscription(JointState, "joint_states", self._on_state, 100)
        self.pubs = {
            "policy": self.node.create_publisher(JointTrajectory, "arm_controller/joint_command", 10),
            "teleop": self.node.create_publisher(JointTrajectory, "teleop/joint_command", 10),
        }

    def _on_state(self, msg):
        with self._lock:
            self.states.append((time.monotonic(), msg))

    def q(self) -> np.ndarray:
        with self._lock:
            msg = self.states[-1][1]
        return np.array([msg.position[msg.name.index(n)] for n in JOINTS])

    def q_at(self, t: float) -> np.ndarray:
        with self._lock:
            msg = min(self.states, key=lambda s: abs(s[0] - t))[1]
        return np.array([msg.position[msg.name.index(n)] for n in JOINTS])

    def send(self, source: str, q, names=JOINTS):
        msg = JointTrajectory(joint_names=list(names), points=[JointTrajectoryPoint(positions=[float(v) for v in q])])
        self.pubs[source].publish(msg)

    def stream(self, source: str, target_fn, seconds: float, rate: float = 50.0, names=JOINTS) -> float:
        """Publish ``target_fn()`` at ``rate`` for ``seconds``; returns the time of the last message."""
        end, last = time.monotonic() + seconds, 0.0
        while time.monotonic() < end:
            self.send(source, target_fn(), names)
            last = time.monotonic()
            time.sleep(1.0 / rate)
        return last

    def stream_until(self, source, target_fn, condition, timeout=15.0, rate=50.0, names=JOINTS) -> bool:
        """Publish ``target_fn()`` until ``condition()`` holds (the sim may run slower than real time)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if condition():
                return True
            self.send(source, target_fn(), names)
            time.sleep(1.0 / rate)
        return False

    def call(self, srv_type, name, request, timeout=10.0):
        return call_client(self.node.create_client(srv_type, name), request, timeout)


def start_controller(graph, **params):
    params.setdefault("backend", "pybullet_direct")
    overrides = [Parameter(k, value=v) for k, v in params.items()]
    node = graph.add(ArmControllerNode(context=graph.context, parameter_overrides=overrides))
    probe = Probe(graph)
    graph.wait_for(lambda: len(probe.states) >= 20, 20.0, "joint_states from arm_controller")
    return node, probe


def test_joint_states_rate_limits_and_bad_commands(graph):
    node, probe = start_controller(graph)
    graph.wait_for(lambda: len(probe.states) >= 80, 10.0, "80 joint_states")
    stamps = np.array([m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for _, m in probe.states[-60:]])
    period = float(np.median(np.diff(stamps)))
    assert 0.008 <= period <= 0.015, f"joint_states median period {period * 1e3:.1f} ms, expected 10 ms"
    assert probe.states[-1][1].name[:7] == JOINTS and len(probe.states[-1][1].name) == 9

    home = np.array(PANDA_HOME)
    target = home + np.array([0.3, 0, 0, 0, 0, 0, 0])
    assert probe.stream_until("policy", lambda: target, lambda: np.abs(probe.q() - target).max() < 0.02)

    # joint 4's upper limit is 0.0 rad (minus a 0.02 rad margin): +0.5 must be clamped
    beyond = target.copy()
    beyond[3] = 0.5
    n0 = len(probe.states)
    assert probe.stream_until("policy", lambda: beyond, lambda: probe.q()[3] > -0.03), "joint 4 never got near"
    probe.stream("policy", lambda: beyond, 0.5)
    with probe._lock:
        j4 = [m.position[3] for _, m in probe.states[n0:]]
    assert max(j4) <= 0.0, f"joint 4 reached {max(j4):.4f} rad, beyond its limit"
    assert probe.q()[3] == pytest.approx(-0.02, abs=0.01)

    # NaN and missing joints are refused; the node keeps running and holds
    time.sleep(0.5)  # watchdog hold after the stream above
    before = probe.q()
    probe.stream("policy", lambda: [np.nan] * 7, 0.3)
    probe.stream("policy", lambda: [0.0] * 3, 0.3, rate=20.0)  # names do not match the positions
    np.testing.assert_allclose(probe.q(), before, atol=0.01)
    n = len(probe.states)
    graph.wait_for(lambda: len(probe.states) > n + 10, 5.0, "joint_states after bad commands")


def test_watchdog_holds_within_200_ms_when_the_stream_stalls(graph):
    node, probe = start_controller(graph)
    # keep the target 0.6 rad ahead of the arm so it moves at its velocity limit when the stream stops
    t_stop = probe.stream("policy", lambda: probe.q() + np.array([0.6, 0, 0, 0, 0, 0, 0]), 0.6)
    moved = probe.q_at(t_stop)[0] - PANDA_HOME[0]
    time.sleep(0.9)
    assert moved > 0.1, f"arm moved only {moved:.3f} rad while streaming"
    with node._lock:  # the controller's own clock: when it stopped following the stalled stream
        decision = node.core.hold_since - node.core.watchdogs["policy"].last_feed
    assert 0.1 <= decision <= 0.2, f"hold started {decision * 1e3:.0f} ms after the last command"
    q_300ms, q_900ms = probe.q_at(t_stop + 0.3), probe.q_at(t_stop + 0.9)
    # without the watchdog the arm would travel up to 0.6 rad more (about 0.5 s at the velocity limit)
    assert np.abs(q_900ms - q_300ms).max() < 0.01, f"arm still moved {q_900ms - q_300ms} after the stall"
    assert node.core.modes.mode.value == "policy"  # a short stall is not a policy failure


def test_e_stop_modes_and_policy_failure(graph):
    node, probe = start_controller(graph)
    home = np.array(PANDA_HOME)
    target = home + np.array([0.25, 0, 0, 0, 0, 0, 0])
    resp = probe.call(SetBool, "e_stop", SetBool.Request(data=True))
    assert resp.success and "e-stop engaged" in resp.message
    before = probe.q()
    probe.stream("policy", lambda: target, 0.6)
    np.testing.assert_allclose(probe.q(), before, atol=0.005)
    resp = probe.call(SetControlMode, "set_mode", SetControlMode.Request(mode="policy"))
    assert not resp.success and "e-stop is engaged" in resp.message and resp.active_mode == "hold"

    assert probe.call(SetBool, "e_stop", SetBool.Request(data=False)).success
    resp = probe.call(SetControlMode, "set_mode", SetControlMode.Request(mode="teleop"))
    assert resp.success and resp.active_mode == "teleop"
    probe.stream("policy", lambda: target, 0.5)  # ignored in teleop mode
    np.testing.assert_allclose(probe.q(), before, atol=0.005)
    assert probe.stream_until("teleop", lambda: target, lambda: np.abs(probe.q() - target).max() < 0.02)
    resp = probe.call(SetControlMode, "set_mode", SetControlMode.Request(mode="warp"))
    assert not resp.success and "unknown control mode" in resp.message

    assert probe.call(SetControlMode, "set_mode", SetControlMode.Request(mode="policy")).success
    resp = probe.call(Trigger, "report_policy_failure", Trigger.Request())
    assert resp.success and resp.message == "active mode: teleop"


def test_teleop_takes_over_and_jogs_the_end_effector_from_joy_and_keys(graph):
    node, probe = start_controller(graph)  # starts in policy mode
    teleop = graph.add(TeleopNode(context=graph.context, parameter_overrides=[Parameter("linear_speed", value=0.05)]))
    joy_pub = probe.node.create_publisher(Joy, "joy", 10)
    graph.wait_for(teleop.mode_client.service_is_ready, 10.0, "set_mode service seen by teleop")
    graph.wait_for(lambda: joy_pub.get_subscription_count() > 0, 10.0, "teleop subscribed to joy")
    takeover = [0] * 8
    takeover[7] = 1  # start button
    joy_pub.publish(Joy(axes=[0.0] * 6, buttons=takeover))
    graph.wait_for(lambda: node.core.modes.mode.value == "teleop", 10.0, "takeover button -> teleop mode")

    kin = PyBulletKinematics()
    try:
        p0 = kin.position(probe.q())
        axes = [0.0] * 6
        axes[1] = 1.0  # left stick forward = +x at full speed
        buttons = [0] * 8
        buttons[4] = 1  # deadman
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            joy_pub.publish(Joy(axes=axes, buttons=buttons))
            time.sleep(1 / 30)
        time.sleep(0.3)
        p1 = kin.position(probe.q())
        dx, dy, dz = p1 - p0
        assert 0.04 < dx < 0.1, f"EE moved {dx:.3f} m in x, expected about 0.075 m"
        assert abs(dy) < 0.01 and abs(dz) < 0.02, f"EE drifted off-axis: dy={dy:.3f} dz={dz:.3f}"

        end = time.monotonic() + 1.0  # keyboard: 'r' = +z, as a held key repeats
        while time.monotonic() < end:
            teleop.handle_key("r")
            time.sleep(1 / 30)
        time.sleep(0.3)
        p2 = kin.position(probe.q())
        assert 0.025 < p2[2] - p1[2] < 0.08 and abs(p2[0] - p1[0]) < 0.01
    finally:
        kin.close()
    teleop.handle_key("p")  # hand back to the policy
    graph.wait_for(lambda: node.core.modes.mode.value == "policy", 10.0, "key p -> policy mode")


class FakeRos2Control:
    """What a joint_trajectory_controller + forward command controller + joint_state_broadcaster
    look like from outside: takes trajectories, jumps to their last point, publishes joint_states."""

    def __init__(self, graph):
        from std_msgs.msg import Float64MultiArray

        self.node = graph.add(Node("fake_ros2_control", context=graph.context))
        self.q = dict(zip(JOINTS, PANDA_HOME, strict=True)) | {"panda_finger_joint1": 0.0, "panda_finger_joint2": 0.0}
        self.trajectories: list[JointTrajectory] = []
        self.gripper: list[list[float]] = []
        self.publishing = True
        self.pub = self.node.create_publisher(JointState, "joint_states", 20)
        topic = "joint_trajectory_controller/joint_trajectory"
        self.node.create_subscription(JointTrajectory, topic, self._on_traj, 10)
        self.node.create_subscription(Float64MultiArray, "gripper_controller/commands", self._on_grip, 10)
        self.node.create_timer(0.01, self._publish)

    def _on_traj(self, msg):
        self.trajectories.append(msg)
        self.q.update(zip(msg.joint_names, msg.points[-1].positions, strict=True))

    def _on_grip(self, msg):
        self.gripper.append(list(msg.data))

    def _publish(self):
        if self.publishing:
            self.pub.publish(JointState(name=list(self.q), position=list(self.q.values())))


def test_ros2_control_backend_speaks_the_controller_topics(graph):
    driver = FakeRos2Control(graph)
    graph.add(ArmControllerNode(context=graph.context, parameter_overrides=[Parameter("backend", value="sim")]))
    probe = Probe(graph)
    graph.wait_for(lambda: len(driver.trajectories) >= 5, 10.0, "hold trajectories from arm_controller")
    first = driver.trajectories[-1]
    assert list(first.joint_names) == JOINTS and len(first.points) == 1
    assert first.points[0].time_from_start.nanosec == 50_000_000  # trajectory_lead_s
    np.testing.assert_allclose(first.points[0].positions, PANDA_HOME, atol=1e-9)  # holds where the arm is

    target = np.array(PANDA_HOME) + np.array([0, 0.2, 0, 0, 0, 0, 0.3])
    fingers = ["panda_finger_joint1", "panda_finger_joint2"]
    assert probe.stream_until(
        "policy",
        lambda: list(target) + [0.03, 0.03],
        lambda: np.allclose([driver.q[n] for n in JOINTS], target, atol=1e-6),
        names=JOINTS + fingers,
    ), "the fake controller never received the target"
    assert driver.gripper and driver.gripper[-1] == [0.03, 0.03]

    # the arm's state goes silent: arm_controller stops commanding instead of replaying old targets
    driver.publishing = False
    time.sleep(0.8)  # joint_state_timeout_s = 0.5
    n = len(driver.trajectories)
    time.sleep(0.3)
    assert len(driver.trajectories) == n
    driver.publishing = True
    graph.wait_for(lambda: len(driver.trajectories) > n + 5, 5.0, "commanding again once joint_states return")


def test_managed_arm_controller_commands_nothing_until_active_and_holds_on_deactivate(graph):
    """autostart false: nothing reaches the driver and set_mode / e_stop answer with the state until
    configure + activate; deactivating it while the policy streams stops every command to the
    driver (the arm stays where it was) and, once active again, it holds until set_mode policy."""
    from rclpy.qos import DurabilityPolicy, QoSProfile
    from std_msgs.msg import String

    driver = FakeRos2Control(graph)
    graph.add(ArmControllerNode(context=graph.context, parameter_overrides=[
        Parameter("backend", value="sim"), Parameter("autostart", value=False)]))  # fmt: skip
    probe = Probe(graph)
    statuses = []
    latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    probe.node.create_subscription(String, "arm_controller/status", lambda m: statuses.append(m.data), latched)
    home = np.array(PANDA_HOME)
    target = home + np.array([0.4, 0, 0, 0, 0, 0, 0])
    assert graph.state("arm_controller") == "unconfigured"
    resp = probe.call(SetBool, "e_stop", SetBool.Request(data=True))
    assert not resp.success and "arm_controller is unconfigured" in resp.message, resp.message
    assert graph.change_state("arm_controller", "configure")
    resp = probe.call(SetControlMode, "set_mode", SetControlMode.Request(mode="policy"))
    assert not resp.success and "arm_controller is inactive" in resp.message, resp.message
    probe.stream("policy", lambda: target, 0.5)
    assert not driver.trajectories and statuses[-1] == "inactive"  # configured, but nothing commanded

    assert graph.change_state("arm_controller", "activate")
    graph.wait_for(lambda: len(driver.trajectories) >= 5, 10.0, "hold trajectories once active")
    graph.wait_for(lambda: statuses[-1] == "policy", 5.0, "status 'policy' once active")
    # the target is 0.4 rad away: at the velocity limit the arm needs about a second to get there
    streaming = threading.Thread(target=lambda: probe.stream("policy", lambda: target, 2.5), daemon=True)
    streaming.start()
    graph.wait_for(lambda: driver.q["panda_joint1"] > home[0] + 0.05, 10.0, "the arm moving toward the target")
    assert graph.change_state("arm_controller", "deactivate")
    n, q_stop = len(driver.trajectories), dict(driver.q)
    streaming.join()  # the policy kept streaming for the rest of the 2.5 s
    assert len(driver.trajectories) == n, "commands reached the driver after deactivate"
    assert driver.q == q_stop and driver.q["panda_joint1"] < target[0] - 0.05  # held short of the target
    assert statuses[-1] == "inactive"

    assert graph.change_state("arm_controller", "activate")
    graph.wait_for(lambda: statuses[-1] == "hold", 5.0, "status 'hold' after re-activation")
    probe.stream("policy", lambda: target, 0.5)  # ignored in 'hold'
    assert abs(driver.q["panda_joint1"] - q_stop["panda_joint1"]) < 1e-9
    assert probe.call(SetControlMode, "set_mode", SetControlMode.Request(mode="policy")).success
    assert probe.stream_until("policy", lambda: target, lambda: abs(driver.q["panda_joint1"] - target[0]) < 0.02)


def test_pybullet_direct_keeps_publishing_joint_states_while_inactive_and_cleanup_frees_it(graph):
    node, probe = start_controller(graph)
    assert graph.change_state("arm_controller", "deactivate")
    n = len(probe.states)
    before = probe.q()
    probe.stream("policy", lambda: before + 0.3, 0.5)
    assert len(probe.states) > n + 10  # the arm's state stays visible
    np.testing.assert_allclose(probe.q(), before, atol=1e-6)  # and the arm holds
    assert graph.change_state("arm_controller", "cleanup") and node.arm is None and node.kinematics is None
    assert graph.change_state("arm_controller", "configure") and graph.change_state("arm_controller", "activate")
    home = np.array(PANDA_HOME)
    assert probe.stream_until("policy", lambda: home + 0.1, lambda: np.abs(probe.q() - home - 0.1).max() < 0.02)
