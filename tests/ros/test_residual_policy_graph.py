"""Graph test (real DDS): sim_world + arm_controller + residual_policy. A tiny policy trained in the
test (oracle world model of the sim's scene, 128 PPO steps) drives the simulated arm through
arm_controller; execute_task answers with success or a failure reason, cancel stops the stream,
a second goal while one runs is rejected, a policy runtime raising mid-run aborts the goal with the
arm in 'hold', and a missing policy directory or a missing / corrupt scene bundle is answered with a
clear error while the node keeps serving. As a managed node it serves only while active,
deactivating it stops a running execution with the arm holding, and a policy retrained into the
same directory is loaded again."""

import threading
import time

import numpy as np
import pytest
from action_msgs.msg import GoalStatus
from lifecycle_msgs.srv import ChangeState
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile
from ros_graph_utils import change_state, service_client, wait_future
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory

from physworld.policy.execution import REASONS
from physworld.ros.action_client import ActionClient
from physworld.ros.bringup import Bringup
from physworld_interfaces.action import ExecuteTask

pytestmark = pytest.mark.ros

TINY = dict(total_steps=128, n_envs=1, vec="dummy", n_steps=64, batch_size=64, n_epochs=1, checkpoint_every=64,
            progress_bar=False, net_arch=(16, 16))  # fmt: skip


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory):
    from physworld.policy.bundles import plan_for_bundle
    from physworld.policy.env import EnvConfig
    from physworld.policy.oracle import build_oracle_bundle
    from physworld.policy.train import TrainConfig, train_policy

    root = tmp_path_factory.mktemp("residual")
    bundle = build_oracle_bundle("lid_on_pot", 1, root / "bundle")
    source, plan = plan_for_bundle(bundle, moved="lid")
    res = train_policy(source, plan, root / "policy", "lid_on_pot", str(bundle), TrainConfig(**TINY), EnvConfig())
    return res.out_dir


def _start_arm_graph(tmp_path, residual_extra: str = ""):
    params = tmp_path / "params.yaml"
    params.write_text(
        "sim_world:\n  ros__parameters:\n    task: lid_on_pot\n    seed: 1\n    image_width: 64\n"
        "    image_height: 48\n    camera_rate_hz: 10.0\n"
        "arm_controller:\n  ros__parameters:\n    backend: sim\n"
        "residual_policy:\n  ros__parameters:\n    settle_s: 0.3\n" + residual_extra
    )
    return Bringup(["sim_world", "arm_controller", "residual_policy"], params).start()


@pytest.fixture
def arm_graph(tmp_path):
    up = _start_arm_graph(tmp_path)
    yield up
    up.shutdown()


class Probe:
    """Counts arm commands and keeps the latest joint positions."""

    def __init__(self, node: Node):
        self.lock, self.commands, self.q = threading.Lock(), [], None
        node.create_subscription(JointTrajectory, "arm_controller/joint_command", self._on_cmd, 50)
        node.create_subscription(JointState, "joint_states", self._on_js, 50)

    def _on_cmd(self, msg):
        with self.lock:
            self.commands.append((time.monotonic(), list(msg.joint_names), list(msg.points[0].positions)))

    def _on_js(self, msg):
        with self.lock:
            self.q = np.array(msg.position[:7])


def _watch_arm(node: Node):
    """A command probe, the latched arm_controller/status history and a ready execute_task client."""
    probe = Probe(node)
    statuses: list[str] = []
    latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    node.create_subscription(String, "arm_controller/status", lambda m: statuses.append(m.data), latched)
    client = ActionClient(node, ExecuteTask, "execute_task")
    assert client.wait_for_server(timeout_sec=10.0)
    return probe, statuses, client


def test_execute_task_drives_the_arm_and_reports(arm_graph, policy_dir):
    node = arm_graph.add_node(Node("test_exec", context=arm_graph.context))
    probe = Probe(node)
    client = ActionClient(node, ExecuteTask, "execute_task")
    assert client.wait_for_server(timeout_sec=10.0)
    end = time.monotonic() + 10
    while probe.q is None:
        assert time.monotonic() < end, "no joint_states"
        time.sleep(0.05)
    q0 = probe.q.copy()
    feedback = []
    handle = wait_future(
        client.send_goal_async(ExecuteTask.Goal(policy_path=str(policy_dir)), feedback.append), 10, "goal"
    )
    assert handle.accepted
    res = wait_future(handle.get_result_async(), 90, "execute_task result").result
    assert res.steps > 0 and res.message, res
    assert res.success or res.failure_reason in REASONS, res
    assert "sim ground truth" in res.message  # sim_world's task_success was asked
    assert feedback and max(f.feedback.step for f in feedback) >= 20
    names = probe.commands[0][1]
    assert names[:7] == [f"panda_joint{i}" for i in range(1, 8)] and names[7:] == [
        "panda_finger_joint1",
        "panda_finger_joint2",
    ]
    assert len(probe.commands) >= 20  # streamed at the policy's control rate
    assert np.max(np.abs(probe.q - q0)) > 0.05  # the arm moved through arm_controller -> sim_world
    srv = node.create_client(Trigger, "sim_world/task_success")
    assert srv.wait_for_service(timeout_sec=5.0)
    ans = wait_future(srv.call_async(Trigger.Request()), 5, "task_success")
    assert "lid_on_pot" in ans.message
    # a second run right after: the node takes the arm back from 'hold' (set at the end of the first)
    handle = wait_future(
        client.send_goal_async(ExecuteTask.Goal(policy_path=str(policy_dir), timeout_s=2.0)), 10, "goal"
    )
    res = wait_future(handle.get_result_async(), 30, "second result").result
    assert res.failure_reason == "timeout" and "handed the arm" not in res.message, res


def test_cancel_e_stop_and_missing_policy_are_answered(arm_graph, policy_dir, tmp_path):
    node = arm_graph.add_node(Node("test_cancel", context=arm_graph.context))
    probe = Probe(node)
    client = ActionClient(node, ExecuteTask, "execute_task")
    assert client.wait_for_server(timeout_sec=10.0)
    bad = wait_future(client.send_goal_async(ExecuteTask.Goal(policy_path=str(tmp_path / "nope"))), 10, "goal")
    res = wait_future(bad.get_result_async(), 30, "result").result
    assert not res.success and "policy.json missing" in res.message
    feedback = []
    handle = wait_future(
        client.send_goal_async(ExecuteTask.Goal(policy_path=str(policy_dir)), feedback.append), 10, "goal"
    )
    end = time.monotonic() + 30
    while not any(f.feedback.step >= 5 for f in feedback):
        assert time.monotonic() < end, "no execute_task feedback"
        time.sleep(0.05)
    other = wait_future(client.send_goal_async(ExecuteTask.Goal(policy_path=str(policy_dir))), 10, "second goal")
    assert not other.accepted  # one goal drives the arm: a second one is rejected while it runs
    wait_future(handle.cancel_goal_async(), 10, "cancel")
    res = wait_future(handle.get_result_async(), 10, "result")
    assert res.result.failure_reason == "cancelled" and not res.result.success
    time.sleep(0.3)
    with probe.lock:
        n = len(probe.commands)
    time.sleep(0.5)
    with probe.lock:
        assert len(probe.commands) == n  # nothing sent after the cancel
    # e-stop on arm_controller: the runner sees arm_controller/status and stops with reason e_stop
    feedback.clear()
    handle = wait_future(
        client.send_goal_async(ExecuteTask.Goal(policy_path=str(policy_dir)), feedback.append), 10, "goal"
    )
    end = time.monotonic() + 30
    while not any(f.feedback.step >= 3 for f in feedback):
        assert time.monotonic() < end, "no execute_task feedback after the cancel"
        time.sleep(0.05)
    estop = node.create_client(SetBool, "e_stop")
    assert estop.wait_for_service(timeout_sec=5.0)
    wait_future(estop.call_async(SetBool.Request(data=True)), 5, "e_stop")
    res = wait_future(handle.get_result_async(), 10, "result").result
    assert res.failure_reason == "e_stop" and not res.success, res


def test_policy_runtime_raising_mid_run_aborts_the_goal_and_the_arm_holds(arm_graph, policy_dir, tmp_path):
    """The policy runtime fails at its 6th step (a bug, a corrupt observation): execute_task aborts
    with the error, nothing more is sent, arm_controller holds the arm in 'hold' mode (no wait for
    the watchdog's policy-failure hand-over to teleop) and the node takes the next goal."""
    residual = next(n for n in arm_graph.nodes if n.get_name() == "residual_policy")
    runner = residual._runner(str(policy_dir))  # the runner the goal will use (cached by path)
    act, calls = runner.act, [0]

    def failing_act(*args, **kwargs):
        calls[0] += 1
        if calls[0] > 5:
            raise RuntimeError("policy runtime failed mid-run (test)")
        return act(*args, **kwargs)

    runner.act = failing_act  # the core object, not rclpy: the node's loop sees a raising runtime
    node = arm_graph.add_node(Node("test_raise", context=arm_graph.context))
    probe, statuses, client = _watch_arm(node)
    handle = wait_future(client.send_goal_async(ExecuteTask.Goal(policy_path=str(policy_dir))), 10, "goal")
    wrapped = wait_future(handle.get_result_async(), 60, "execute_task result")
    assert wrapped.status == GoalStatus.STATUS_ABORTED and not wrapped.result.success
    msg = wrapped.result.message
    assert "RuntimeError: policy runtime failed mid-run" in msg and "holds the arm (mode 'hold')" in msg, msg
    assert calls[0] == 6 and "policy" in statuses  # it failed while it drove the arm
    end = time.monotonic() + 5
    while statuses[-1] != "hold":
        assert time.monotonic() < end, f"arm_controller status {statuses}"
        time.sleep(0.05)
    time.sleep(0.3)
    with probe.lock:
        n, q0 = len(probe.commands), probe.q.copy()
    time.sleep(1.5)  # longer than arm_controller's policy_failure_timeout_s (1 s)
    with probe.lock:
        assert len(probe.commands) == n  # nothing sent after the failure
        assert np.max(np.abs(probe.q - q0)) < 0.01  # the arm holds still
    assert statuses[-1] == "hold"  # not handed to teleop
    # the node keeps serving, with the runner loaded afresh
    bad = wait_future(client.send_goal_async(ExecuteTask.Goal(policy_path=str(tmp_path / "nope"))), 10, "goal")
    assert bad.accepted
    assert "policy.json missing" in wait_future(bad.get_result_async(), 30, "result").result.message
    assert residual._runner(str(policy_dir)) is not runner


def test_train_policy_answers_missing_and_corrupt_bundles_and_keeps_serving(graph, tmp_path):
    from physworld.ros.residual_policy import ResidualPolicyNode
    from physworld_interfaces.action import TrainPolicy

    graph.add(ResidualPolicyNode(context=graph.context))
    client = ActionClient(graph.add(Node("train_client", context=graph.context)), TrainPolicy, "train_policy")
    assert client.wait_for_server(timeout_sec=10.0)
    corrupt = tmp_path / "corrupt_bundle"
    corrupt.mkdir()
    (corrupt / "scene.json").write_text('{"objects": [')
    cases = [("", "no bundle_path"), (str(tmp_path / "missing"), "scene bundle directory not found"),
             (str(corrupt), "corrupt_bundle/scene.json: not valid JSON")]  # fmt: skip
    for bundle, expected in cases:
        goal = TrainPolicy.Goal(bundle_path=bundle, total_timesteps=64, out_dir=str(tmp_path / "policy"))
        handle = wait_future(client.send_goal_async(goal), 10, "goal")
        assert handle.accepted  # the previous bad goal freed the server
        wrapped = wait_future(handle.get_result_async(), 30, "result")
        assert wrapped.status == GoalStatus.STATUS_ABORTED and expected in wrapped.result.message, wrapped.result
    assert not (tmp_path / "policy").exists()


def test_managed_residual_policy_serves_once_active_and_deactivate_stops_the_arm(tmp_path, policy_dir):
    """autostart false: execute_task is rejected until configure + activate; deactivating the node
    mid-run stops the stream at once, the goal says why, and arm_controller holds the arm."""
    up = _start_arm_graph(tmp_path, "    autostart: false\n")
    try:
        node = up.add_node(Node("test_managed", context=up.context))
        probe, statuses, client = _watch_arm(node)
        for target in ("residual_policy", "arm_controller"):  # discovered while the first goals run
            service_client(node, ChangeState, f"{target}/change_state")
        goal = ExecuteTask.Goal(policy_path=str(policy_dir))
        assert not wait_future(client.send_goal_async(goal), 10, "goal").accepted  # unconfigured
        assert change_state(node, "residual_policy", "configure")
        assert not wait_future(client.send_goal_async(goal), 10, "goal").accepted  # inactive
        assert change_state(node, "residual_policy", "activate")
        feedback = []
        handle = wait_future(client.send_goal_async(goal, feedback.append), 10, "goal")
        assert handle.accepted
        end = time.monotonic() + 30
        while not any(f.feedback.step >= 3 for f in feedback):
            assert time.monotonic() < end, "no execute_task feedback"
            time.sleep(0.05)
        assert change_state(node, "residual_policy", "deactivate")  # returns once the loop has stopped
        with probe.lock:
            n = len(probe.commands)
        wrapped = wait_future(handle.get_result_async(), 10, "result")
        res = wrapped.result
        assert wrapped.status == GoalStatus.STATUS_ABORTED and res.failure_reason == "cancelled", res
        assert "stopped: /residual_policy was deactivated" in res.message, res.message
        time.sleep(0.5)
        with probe.lock:
            assert len(probe.commands) == n  # nothing sent after deactivate returned
        assert statuses[-1] == "hold"  # asked to hold, not left to the watchdog's hand-over
        assert not wait_future(client.send_goal_async(goal), 10, "goal").accepted
        assert change_state(node, "residual_policy", "activate")
        again = wait_future(
            client.send_goal_async(ExecuteTask.Goal(policy_path=str(policy_dir), timeout_s=1.0)), 10, "goal"
        )
        assert again.accepted and wait_future(again.get_result_async(), 30, "result").result.failure_reason == "timeout"
        # arm_controller deactivated (it holds the arm): execute_task says so instead of starting
        assert change_state(node, "arm_controller", "deactivate")
        refused = wait_future(client.send_goal_async(goal), 10, "goal")
        res = wait_future(refused.get_result_async(), 30, "result").result
        assert not res.success and "arm_controller refused mode 'policy': /arm_controller is inactive" in res.message
    finally:
        up.shutdown()


def test_a_policy_retrained_into_the_same_directory_is_loaded_again(arm_graph, policy_dir, tmp_path):
    """The node caches a loaded policy per directory; when the directory's policy changes (here:
    replaced the way train_policy replaces it, first by broken weights, then by a good policy
    again) the next execute_task loads it again instead of serving the cached one. Cleanup frees
    the cache."""
    import os
    import shutil

    residual = next(n for n in arm_graph.nodes if n.get_name() == "residual_policy")
    work = tmp_path / "policy"
    shutil.copytree(policy_dir, work)
    node = arm_graph.add_node(Node("test_retrain", context=arm_graph.context))
    client = ActionClient(node, ExecuteTask, "execute_task")
    assert client.wait_for_server(timeout_sec=10.0)

    def run(timeout_s=1.0):
        handle = wait_future(
            client.send_goal_async(ExecuteTask.Goal(policy_path=str(work), timeout_s=timeout_s)), 10, "g"
        )
        assert handle.accepted
        return wait_future(handle.get_result_async(), 60, "result").result

    assert run().failure_reason == "timeout"  # loaded, ran, cached
    first = residual._runner(str(work))
    assert residual._runner(str(work)) is first  # unchanged files: the cached policy
    broken = work / "policy.zip.tmp"
    broken.write_bytes(b"not a policy")
    os.replace(broken, work / "policy.zip")  # as training replaces it: atomically
    res = run()
    assert not res.success and "policy.zip: cannot load the policy" in res.message, res.message
    shutil.copy2(policy_dir / "policy.zip", work / "policy.zip.tmp")
    os.replace(work / "policy.zip.tmp", work / "policy.zip")
    assert run().failure_reason == "timeout"  # the good policy again
    assert residual._runner(str(work)) is not first
    assert change_state(node, "residual_policy", "deactivate") and change_state(node, "residual_policy", "cleanup")
    assert residual._runners == {}  # cleanup closed every cached policy
    assert change_state(node, "residual_policy", "configure") and change_state(node, "residual_policy", "activate")
    assert run().failure_reason == "timeout"
