"""task_orchestrator: action ``run_task`` (physworld_interfaces/action/RunTask).

Chains the stages of the loop by calling the other nodes (capture_rgbd service, generate_video,
reconstruct_scene, train_policy, execute_task actions) with feedback per stage; writes a run
directory with ``run.json`` and ``report.md``. Cancelling the goal cancels the running stage's
sub-goal and waits until it has stopped (the arm holds, the stage's server is free) before the
goal ends as cancelled.
One goal at a time: a goal sent while one runs is rejected (``goal_gate``).
Which stages run is a parameter (``stages``); the stage order and checks live in
``physworld.orchestration``.
"""

from __future__ import annotations

import time
from pathlib import Path

from action_msgs.msg import GoalStatus
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from physworld_interfaces.action import ExecuteTask, GenerateVideo, ReconstructScene, RunTask, TrainPolicy
from physworld_interfaces.msg import StageStatus
from physworld_interfaces.srv import CaptureRgbd

from ..configs import OrchestratorConfig
from ..errors import InputError, PhysWorldError
from ..orchestration import RunRecord, StageRecord, check_stages, check_task_text, save_capture, write_report
from .action_client import ActionClient
from .conversions import image_to_numpy, intrinsics_from_camera_info
from .futures import StageTimeout, await_with_timeout, wait_done, wait_for_server
from .goal_gate import single_goal_server
from .params import declare_config
from .runner import destroy_actions, goal_failure, spin_node

CANCEL_WAIT_S = 10.0  # how long a cancelled (or timed-out) stage's sub-goal gets to stop


class StageFailed(Exception):
    pass


class StageCancelled(StageFailed):
    pass


class TaskOrchestratorNode(Node):
    def __init__(self, **kwargs):
        super().__init__("task_orchestrator", **kwargs)
        self.cfg = declare_config(self, OrchestratorConfig)
        self.stages = check_stages(self.cfg.stages)
        group = ReentrantCallbackGroup()
        self.capture_client = self.create_client(CaptureRgbd, "capture_rgbd", callback_group=group)
        self.video_client = ActionClient(self, GenerateVideo, "generate_video", callback_group=group)
        self.recon_client = ActionClient(self, ReconstructScene, "reconstruct_scene", callback_group=group)
        self.train_client = ActionClient(self, TrainPolicy, "train_policy", callback_group=group)
        self.exec_client = ActionClient(self, ExecuteTask, "execute_task", callback_group=group)
        self._server = single_goal_server(self, RunTask, "run_task", self._execute, group)

    def _feedback(self, goal_handle, index: int, stage: str, progress: float, detail: str) -> None:
        status = StageStatus(stage=stage, index=index, count=len(self.stages), progress=progress, detail=detail)
        goal_handle.publish_feedback(RunTask.Feedback(status=status))

    async def _execute(self, goal_handle):
        goal = goal_handle.request
        result = RunTask.Result()
        try:
            text = check_task_text(goal.task_text)
        except InputError as exc:
            goal_handle.abort()
            result.message = str(exc)
            return result
        run_dir = Path(goal.run_dir or Path(self.cfg.run_root) / time.strftime("run_%Y%m%d_%H%M%S")).resolve()
        record = RunRecord(text, run_dir)
        ctx: dict = {"task_text": text, "task_name": goal.task_name, "seed": goal.seed, "run_dir": run_dir}
        cancelled = False
        for index, stage in enumerate(self.stages):
            if goal_handle.is_cancel_requested:
                record.add(StageRecord(stage, False, "cancelled before it started", 0.0, {}))
                cancelled, result.message = True, f"cancelled before stage '{stage}'"
                break
            self._feedback(goal_handle, index, stage, 0.0, "starting")
            t0 = time.monotonic()
            try:
                message, outputs = await getattr(self, f"_stage_{stage}")(goal_handle, index, ctx)
                ok = True
            except StageCancelled as exc:
                message, outputs, ok, cancelled = str(exc), {}, False, True
            except (StageFailed, StageTimeout, PhysWorldError) as exc:
                message, outputs, ok = str(exc), {}, False
            except Exception as exc:  # a bug, or garbage from a stage's node: the goal still gets an answer
                message, outputs, ok = goal_failure(exc, f"run_task stage '{stage}'", self.get_logger()), {}, False
            record.add(StageRecord(stage, ok, message, time.monotonic() - t0, outputs))
            self._feedback(goal_handle, index, stage, 1.0, message)
            if not ok:
                what = f"cancelled during stage '{stage}'" if cancelled else f"stage '{stage}' failed"
                result.message = f"{what}: {message}"
                break
        result.run_dir = str(run_dir)
        result.report_path = str(write_report(record))
        result.success = record.success
        if cancelled:
            goal_handle.canceled()
        elif record.success:
            result.message = f"all {len(self.stages)} stages done; report: {result.report_path}"
            goal_handle.succeed()
        else:
            goal_handle.abort()
        self.get_logger().info(f"run_task '{text}': {result.message}")
        return result

    async def _stage_capture(self, goal_handle, index, ctx):
        await wait_for_server(self.capture_client, self.cfg.server_wait_s, "service capture_rgbd")
        req = CaptureRgbd.Request(timeout_s=self.cfg.capture_timeout_s)
        resp = await await_with_timeout(
            self.capture_client.call_async(req), self.cfg.capture_timeout_s + 5.0, "capture_rgbd"
        )
        if not resp.success:
            raise StageFailed(resp.message)
        rgb = image_to_numpy(resp.color, desired_encoding="rgb8")
        depth = image_to_numpy(resp.depth)
        ctx["capture"] = resp
        outputs = save_capture(ctx["run_dir"], rgb, depth, intrinsics_from_camera_info(resp.camera_info).to_dict())
        return f"{rgb.shape[1]}x{rgb.shape[0]} RGB-D frame", outputs

    async def _stage_generate_video(self, goal_handle, index, ctx):
        await wait_for_server(self.video_client, self.cfg.server_wait_s, "action generate_video")
        goal = GenerateVideo.Goal(
            image=ctx["capture"].color,
            task_text=ctx["task_text"],
            task_name=ctx["task_name"],
            n_frames=self.cfg.default_frames,
            seed=ctx["seed"],
            run_dir=str(ctx["run_dir"] / "video"),
        )

        def on_feedback(msg):
            fb = msg.feedback
            self._feedback(goal_handle, index, "generate_video", fb.frames_done / max(fb.frames_total, 1), fb.status)

        result = await self._run_action(self.video_client, goal, on_feedback, goal_handle, "generate_video")
        ctx["video_path"] = result.video_path
        sheet = Path(result.video_path) / "contact_sheet.png"
        return result.message, {
            "video_path": result.video_path,
            **({"contact_sheet_png": str(sheet)} if sheet.is_file() else {}),
        }

    async def _stage_reconstruct_scene(self, goal_handle, index, ctx):
        await wait_for_server(self.recon_client, self.cfg.server_wait_s, "action reconstruct_scene")
        cap = ctx["capture"]
        goal = ReconstructScene.Goal(color=cap.color, depth=cap.depth, camera_info=cap.camera_info,
                                     camera_pose=cap.camera_pose, task_text=ctx["task_text"],
                                     task_name=ctx["task_name"], video_path=ctx["video_path"],
                                     run_dir=str(ctx["run_dir"]))  # fmt: skip

        def on_feedback(msg):
            s = msg.feedback.status
            self._feedback(goal_handle, index, "reconstruct_scene", s.progress, s.detail or s.stage)

        result = await self._run_action(self.recon_client, goal, on_feedback, goal_handle, "reconstruct_scene")
        ctx["bundle_path"] = result.bundle_path
        outputs = {"bundle_path": result.bundle_path}
        report_png = Path(result.bundle_path).parent / "reconstruction" / "report.png"
        if report_png.is_file():
            outputs["reconstruction_report_png"] = str(report_png)
        return result.message, outputs

    async def _stage_train_policy(self, goal_handle, index, ctx):
        await wait_for_server(self.train_client, self.cfg.server_wait_s, "action train_policy")
        goal = TrainPolicy.Goal(bundle_path=ctx["bundle_path"], task_name=ctx["task_name"], seed=ctx["seed"],
                                total_timesteps=0, out_dir=str(ctx["run_dir"] / "policy"))  # fmt: skip

        def on_feedback(msg):
            fb = msg.feedback
            detail = f"{fb.env_steps} env steps, mean tracking reward {fb.mean_reward:.3f}"
            self._feedback(goal_handle, index, "train_policy", 0.0, detail)

        result = await self._run_action(self.train_client, goal, on_feedback, goal_handle, "train_policy")
        ctx["policy_path"] = result.policy_path
        curve = Path(result.policy_path) / "curve.png"
        return result.message, {
            "policy_path": result.policy_path,
            **({"curve_png": str(curve)} if curve.is_file() else {}),
        }

    async def _stage_execute_task(self, goal_handle, index, ctx):
        await wait_for_server(self.exec_client, self.cfg.server_wait_s, "action execute_task")
        goal = ExecuteTask.Goal(policy_path=ctx["policy_path"], bundle_path=ctx.get("bundle_path", ""), timeout_s=0.0)

        def on_feedback(msg):
            fb = msg.feedback
            detail = f"step {fb.step}, object {fb.tracking_error * 100:.1f} cm from target, arm mode {fb.mode}"
            self._feedback(goal_handle, index, "execute_task", 0.0, detail)

        result = await self._run_action(self.exec_client, goal, on_feedback, goal_handle, "execute_task")
        return result.message, {"steps": int(result.steps)}

    async def _run_action(self, client, goal, on_feedback, parent_handle, what: str):
        sub = await await_with_timeout(
            client.send_goal_async(goal, feedback_callback=on_feedback), self.cfg.server_wait_s, f"{what} goal"
        )
        if not sub.accepted:
            raise StageFailed(
                f"{what} goal was rejected: its server runs one goal at a time and is busy with another, or its node "
                "is a managed node that is not active (its log says which; `ros2 lifecycle get <node>`)"
            )
        result_future = sub.get_result_async()
        deadline = time.monotonic() + self.cfg.stage_timeout_s
        while not result_future.done():
            if parent_handle.is_cancel_requested:
                raise StageCancelled(await self._stop(sub, result_future, what))
            if time.monotonic() > deadline:
                stopped = await self._stop(sub, result_future, what)
                raise StageTimeout(f"{what}: no result within {self.cfg.stage_timeout_s:.0f} s; {stopped}")
            await wait_done(result_future, 0.2)
        wrapped = result_future.result()
        if wrapped.status == GoalStatus.STATUS_CANCELED:  # cancelled by someone else
            raise StageCancelled(f"{what} goal was cancelled: {wrapped.result.message}")
        if not wrapped.result.success:
            reason = getattr(wrapped.result, "failure_reason", "")
            prefix = f"failure reason '{reason}': " if reason else ""
            raise StageFailed(prefix + (wrapped.result.message or f"{what} failed (status {wrapped.status})"))
        return wrapped.result

    async def _stop(self, sub, result_future, what: str) -> str:
        """Cancel a stage's sub-goal and wait until it has stopped (the arm holds, the server is free
        for the next goal); says how it ended."""
        await sub.cancel_goal_async()
        if not await wait_done(result_future, CANCEL_WAIT_S):
            self.get_logger().error(f"{what} goal did not stop within {CANCEL_WAIT_S:.0f} s of its cancel")
            return f"{what} goal cancelled but still running after {CANCEL_WAIT_S:.0f} s"
        status = result_future.result().status
        if status == GoalStatus.STATUS_CANCELED:
            return f"{what} goal cancelled"
        return f"{what} goal cancelled; it ended with status {_STATUS.get(status, status)}"

    def destroy_node(self):
        destroy_actions(self)
        return super().destroy_node()


_STATUS = {GoalStatus.STATUS_SUCCEEDED: "succeeded", GoalStatus.STATUS_ABORTED: "aborted"}


def main(args=None) -> None:
    spin_node(TaskOrchestratorNode, args)
