"""A small client for ``run_task`` that shows per-stage progress in the terminal."""

from __future__ import annotations

from pathlib import Path

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from physworld_interfaces.action import RunTask

from ..errors import BackendError
from .action_client import ActionClient


def send_run_task(
    task_text: str,
    seed: int,
    run_dir: Path,
    timeout_s: float = 3600.0,
    context: Context | None = None,
    server_wait_s: float = 15.0,
) -> RunTask.Result:
    from tqdm import tqdm

    own = context is None
    if own:
        context = Context()
        rclpy.init(context=context)
    node = Node("run_task_client", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    client = ActionClient(node, RunTask, "run_task")
    bar = tqdm(total=100, unit="%", bar_format="{desc:<48} {bar} {percentage:3.0f}%")
    try:
        if not client.wait_for_server(timeout_sec=server_wait_s):
            raise BackendError(
                f"no run_task action server after {server_wait_s:.0f} s: start the graph "
                "(ros2 launch physworld sim.launch.py, or use --sim)"
            )

        def on_feedback(msg) -> None:
            s = msg.feedback.status
            bar.set_description_str(f"[{s.index + 1}/{s.count}] {s.stage}: {s.detail[:30]}")
            bar.n = round(100 * (s.index + s.progress) / max(s.count, 1))
            bar.refresh()

        goal = RunTask.Goal(task_text=task_text, seed=seed, run_dir=str(run_dir))
        send = client.send_goal_async(goal, feedback_callback=on_feedback)
        executor.spin_until_future_complete(send, timeout_sec=server_wait_s)
        handle = send.result()
        if handle is None:
            raise BackendError(f"run_task did not answer the goal within {server_wait_s:.0f} s")
        if not handle.accepted:
            raise BackendError(
                "run_task goal was rejected: task_orchestrator runs one goal at a time and another is running "
                "(its log says since when); wait for it or cancel it"
            )
        result_future = handle.get_result_async()
        executor.spin_until_future_complete(result_future, timeout_sec=timeout_s)
        if not result_future.done():
            handle.cancel_goal_async()
            raise BackendError(f"run_task did not finish within {timeout_s:.0f} s (goal cancelled)")
        return result_future.result().result
    finally:
        bar.close()
        executor.remove_node(node)
        node.destroy_node()
        if own:
            rclpy.try_shutdown(context=context)
            context.destroy()
