"""One goal at a time per action server (physworld.ros.goal_gate): the claim logic on its own, and
a server built with ``single_goal_server`` on real DDS: a goal sent while one runs is rejected,
the claim is released when the execute callback returns or raises, and the next goal is accepted."""

from __future__ import annotations

import threading

import pytest
from rclpy.node import Node
from ros_graph_utils import wait_future

from physworld.ros.action_client import ActionClient
from physworld.ros.goal_gate import SingleGoal, single_goal_server
from physworld.ros.runner import run_off_executor
from physworld_interfaces.action import GenerateVideo

pytestmark = pytest.mark.ros


def test_claim_is_exclusive_until_released_and_a_stale_unconfirmed_claim_is_taken_over():
    now = [100.0]
    gate = SingleGoal(confirm_timeout_s=5.0, clock=lambda: now[0])
    assert gate.try_claim() == "" and gate.busy
    gate.confirm()
    now[0] += 60.0
    assert "accepted 60.0 s ago is still active" in gate.try_claim()  # a long goal keeps its claim
    gate.release()
    assert not gate.busy and gate.try_claim() == ""
    # accepted but never confirmed (the accept never reached the client): stale after the timeout
    now[0] += 1.0
    assert gate.try_claim() != ""
    now[0] += 5.0
    assert gate.try_claim() == ""


def test_single_goal_server_rejects_while_busy_and_frees_on_return_or_raise(graph):
    release = threading.Event()
    started: list[str] = []

    async def execute(goal_handle):
        started.append(goal_handle.request.task_text)
        if goal_handle.request.task_text == "raise":
            raise RuntimeError("execute callback failed")
        await run_off_executor(lambda: release.wait(10.0))
        goal_handle.succeed()
        return GenerateVideo.Result(success=True, message="done")

    server_node = graph.add(Node("gate_server", context=graph.context))
    single_goal_server(server_node, GenerateVideo, "gated", execute)
    client_node = graph.add(Node("gate_client", context=graph.context))
    client = ActionClient(client_node, GenerateVideo, "gated")
    assert client.wait_for_server(timeout_sec=10.0)

    first = wait_future(client.send_goal_async(GenerateVideo.Goal(task_text="first")), 10, "first goal")
    assert first.accepted
    second = wait_future(client.send_goal_async(GenerateVideo.Goal(task_text="second")), 10, "second goal")
    assert not second.accepted and started == ["first"]
    release.set()
    assert wait_future(first.get_result_async(), 10, "first result").result.success
    # the claim is released before the result is sent: the next goal is accepted at once
    failing = wait_future(client.send_goal_async(GenerateVideo.Goal(task_text="raise")), 10, "raising goal")
    assert failing.accepted
    wait_future(failing.get_result_async(), 10, "raising result")  # rclpy aborts it
    third = wait_future(client.send_goal_async(GenerateVideo.Goal(task_text="third")), 10, "third goal")
    assert third.accepted  # a raising execute callback freed the claim as well
    assert wait_future(third.get_result_async(), 10, "third result").result.success
