"""residual_policy: actions ``train_policy`` (physworld_interfaces/action/TrainPolicy) and
``execute_task`` (physworld_interfaces/action/ExecuteTask).

``train_policy``: scene bundle -> baseline plan -> PPO in the world model
(``physworld.policy.train``), off the executor, with feedback per rollout (env steps, mean tracking
reward, the fraction of training episodes whose object ended at the final target in the world model).

``execute_task``: the closed loop of ``physworld.policy.execution`` at the policy's control rate, on
the latest ``joint_states`` and ``object_pose`` (geometry_msgs/PoseStamped, world frame; sim_world
publishes the ground truth there, a pose tracker on a real robot), sending single-point
``JointTrajectory`` commands (arm + finger joints) on ``arm_controller/joint_command``. It asks the
arm_controller for mode ``policy`` first and for ``hold`` when done, watches
``arm_controller/status`` (e-stop, hand-over). When the sim's ``task_success`` service exists its
ground-truth verdict decides the result (a world-model target reached but the task not achieved is
a ``dynamics`` failure). The loop runs in a worker thread; this file is glue.

Each action takes one goal at a time (``goal_gate``: a second goal is rejected while one is
active); ``execute_task`` is not blocked by a running ``train_policy``, which never moves the arm.

Trained policies are loaded on first use and cached per directory; a directory whose policy files
changed since (a retrain into the same folder) is loaded again. A managed node
(``physworld.ros.lifecycle``): goals only while active; deactivation stops a running training at its
next rollout and a running execution at its next control step (the arm is asked to hold), and its
arm commands go out on a lifecycle publisher; cleanup closes every cached policy.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from rclpy.callback_groups import ReentrantCallbackGroup
from std_srvs.srv import Trigger

from physworld_interfaces.action import ExecuteTask, TrainPolicy
from physworld_interfaces.srv import SetControlMode

from ..configs import ResidualPolicyConfig
from ..errors import InputError, PhysWorldError
from ..policy.execution import ExecutionConfig, execute, judge_in_sim
from .arm_link import RosArmLink
from .goal_gate import single_goal_server
from .lifecycle import ManagedNode
from .params import declare_config
from .runner import GoalCancelled, destroy_actions, goal_failure, run_off_executor, spin_node


class ExecutionAborted(PhysWorldError):
    """The execution loop raised mid-run; the message says why and what the arm does now."""


class ResidualPolicyNode(ManagedNode):
    def __init__(self, **kwargs):
        super().__init__("residual_policy", **kwargs)
        self.cfg = declare_config(self, ResidualPolicyConfig)
        group = ReentrantCallbackGroup()
        self.link = RosArmLink(self, self.cfg, group, self.create_lifecycle_publisher)
        self.mode_client = self.create_client(SetControlMode, "set_mode", callback_group=group)
        self.success_client = (
            self.create_client(Trigger, self.cfg.task_success_service, callback_group=group)
            if self.cfg.task_success_service
            else None
        )
        self._runners: dict[str, tuple[tuple, object]] = {}  # policy dir -> (its files' stamp, PolicyRunner)
        # one goal per server; execute_task is not blocked by a running train_policy (README, docs)
        ready = self.inactive_reason
        self._train_server = single_goal_server(self, TrainPolicy, "train_policy", self._train, group, available=ready)
        self._exec_server = single_goal_server(self, ExecuteTask, "execute_task", self._execute, group,
                                               available=ready)  # fmt: skip
        self.autostart()

    def release_resources(self) -> None:
        for _stamp, runner in self._runners.values():
            runner.close()
        self._runners.clear()

    # --- train_policy -------------------------------------------------------------------------
    async def _train(self, goal_handle):
        goal, result = goal_handle.request, TrainPolicy.Result()
        state = {"iteration": 0, "reward": float("nan"), "success": float("nan")}

        def progress(info: dict) -> None:
            if goal_handle.is_cancel_requested:
                raise GoalCancelled()
            self.check_active()  # deactivation stops training here
            if "tracking" in info:
                state.update(iteration=state["iteration"] + 1, reward=info["tracking"], success=info["model_success"])
            goal_handle.publish_feedback(
                TrainPolicy.Feedback(iteration=state["iteration"], env_steps=int(info["steps"]),
                                     mean_reward=float(state["reward"]), success_rate=float(state["success"]))
            )  # fmt: skip

        try:
            res = await run_off_executor(self.guarded(lambda: self._train_work(goal, progress)))
        except GoalCancelled:
            goal_handle.canceled()
            result.message = "cancelled"
            return result
        except Exception as exc:  # answer every goal; the node keeps running
            result.message = goal_failure(exc, "train_policy", self.get_logger())
            goal_handle.abort()
            return result
        last = res.curve[-1] if res.curve else {}
        result.success, result.policy_path, result.env_steps = True, str(res.out_dir), res.steps
        result.success_rate = float(last.get("model_success", float("nan")))
        result.message = (
            f"{res.steps} env steps in {res.wall_s:.0f} s; last rollout: mean tracking reward "
            f"{last.get('tracking', float('nan')):.3f}, {result.success_rate:.0%} of training episodes ended at the "
            f"target in the world model -> {res.out_dir}"
        )
        goal_handle.succeed()
        return result

    def _train_work(self, goal, progress):
        from ..bundle import load_bundle
        from ..errors import UnknownTaskError
        from ..policy.bundles import plan_for_training
        from ..policy.env import EnvConfig, RandomizationConfig
        from ..policy.grasp_feedback import GraspSelectionConfig
        from ..policy.train import EXPLORATION, TrainConfig, train_policy
        from ..sim.tasks import resolve_task

        if not goal.bundle_path:
            raise InputError("train_policy goal has no bundle_path: pass the scene bundle from reconstruct_scene")
        bundle = load_bundle(goal.bundle_path)  # clear errors for a missing / corrupt bundle
        task = goal.task_name or bundle.task_name
        try:
            moved = resolve_task(task).moved_object
        except UnknownTaskError:
            moved = None  # the bundle's meta.moved_object or its single moved object
        resume = bool(goal.resume_from)
        if resume:
            out_dir = Path(goal.resume_from)
            out_dir = out_dir.parent if out_dir.suffix == ".zip" else out_dir
        else:
            out_dir = Path(goal.out_dir or Path(self.cfg.run_root) / f"policy_{task}_{goal.seed}")
        selection = (
            GraspSelectionConfig(self.cfg.grasp_candidates, min_gain=self.cfg.grasp_min_gain)
            if self.cfg.mode == "residual"
            else None
        )
        c = self.cfg
        rand = RandomizationConfig(mass=c.perturb_mass, friction=c.perturb_friction, pos_xy=c.perturb_xy,
                                   yaw_deg=c.perturb_yaw_deg)  # fmt: skip
        env_cfg = EnvConfig(mode=c.mode, rand=rand)
        # feedback (env_steps 0) after each grasp candidate; cancel and deactivation are honoured there too
        source, plan = plan_for_training(goal.bundle_path, out_dir, resume, moved=moved, selection=selection,
                                         progress=lambda i, n: progress({"steps": 0}), env_cfg=env_cfg)  # fmt: skip
        if not plan.ok:
            raise PhysWorldError(f"baseline plan found no feasible grasp in {goal.bundle_path}: {plan.failures}")
        steps = int(goal.total_timesteps or self.cfg.default_total_timesteps)
        tcfg = TrainConfig(total_steps=steps, n_envs=self.cfg.n_envs, vec=self.cfg.vec, seed=int(goal.seed),
                           device=self.cfg.device, progress_bar=False, **EXPLORATION[self.cfg.exploration])  # fmt: skip
        self.get_logger().info(f"train_policy: {task} on {goal.bundle_path}, {steps} env steps -> {out_dir}")
        return train_policy(source, plan, out_dir, task, goal.bundle_path, tcfg, env_cfg,
                            resume=resume, overwrite=not resume, progress=progress)  # fmt: skip

    # --- execute_task -------------------------------------------------------------------------
    async def _execute(self, goal_handle):
        goal, result = goal_handle.request, ExecuteTask.Result()
        try:
            res = await run_off_executor(self.guarded(lambda: self._execute_work(goal, goal_handle)))
        except ExecutionAborted as exc:  # the loop raised mid-run (logged), the arm holds
            goal_handle.abort()
            result.message = str(exc)
            return result
        except Exception as exc:  # answer every goal; the node keeps running
            result.message = goal_failure(exc, "execute_task", self.get_logger())
            goal_handle.abort()
            return result
        if res.failure_reason == "cancelled" and not goal_handle.is_cancel_requested and not self.active:
            res.message += f"; stopped: {self.get_fully_qualified_name()} was deactivated"
        result.success, result.failure_reason, result.steps = res.success, res.failure_reason, res.steps
        result.message = res.message
        if res.failure_reason == "cancelled" and goal_handle.is_cancel_requested:
            goal_handle.canceled()
        elif res.success:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        self.get_logger().info(f"execute_task: {'success' if res.success else res.failure_reason}: {res.message}")
        return result

    def _runner(self, policy_path: str):
        from ..policy.runtime import PolicyRunner

        if not policy_path:
            raise InputError("execute_task goal has no policy_path: pass the directory train_policy wrote")
        key = str(Path(policy_path).resolve())
        stamp = _policy_stamp(key)
        cached = self._runners.pop(key, None)
        if cached is not None and cached[0] == stamp:
            self._runners[key] = cached
            return cached[1]
        if cached is not None:  # retrained into the same directory: never serve the old policy
            cached[1].close()
            self.get_logger().info(f"execute_task: the policy in {key} changed since it was loaded; loading it again")
        runner = PolicyRunner(key)
        self._runners[key] = (stamp, runner)
        return runner

    def _execute_work(self, goal, goal_handle):
        runner = self._runner(goal.policy_path)
        self.link.period = 1.0 / runner.control_hz
        c = self.cfg
        ecfg = ExecutionConfig(c.stale_timeout_s, c.start_timeout_s, c.settle_s, c.max_ik_failures, c.success_pos_tol,
                               c.success_rot_deg, float(goal.timeout_s))  # fmt: skip
        if self.link.status() not in ("e_stop", "policy"):
            refused = self._set_mode_refusal("policy")
            if refused:  # e.g. arm_controller is not active: say so instead of a loop stopped at step 0
                raise PhysWorldError(f"arm_controller refused mode 'policy': {refused}")
            end = time.monotonic() + 1.0  # the latched status follows on arm_controller's next tick
            while self.link.status() != "policy" and time.monotonic() < end:
                time.sleep(0.01)

        def stop() -> bool:  # a cancel request, or this node being deactivated
            return goal_handle.is_cancel_requested or not self.active

        def feedback(step: int, err: float, mode: str) -> None:
            goal_handle.publish_feedback(ExecuteTask.Feedback(step=step, tracking_error=err, mode=mode))

        try:
            res = execute(runner, self.link, ecfg, stop, feedback)
        except Exception as exc:  # nothing more is sent; the arm must not wait for the watchdog's hand-over
            arm = self._hold_arm()
            message = goal_failure(exc, "execute_task", self.get_logger())
            self._runners.pop(str(Path(goal.policy_path).resolve()), None)  # loaded afresh next time
            runner.close()
            raise ExecutionAborted(f"{message}; {arm}") from exc
        if res.failure_reason != "e_stop":
            self._hold_arm()
        verdict = self._sim_success()
        return res if verdict is None else judge_in_sim(res, *verdict)  # in sim the ground truth is the judge

    def _call(self, client, request, timeout_s: float = 2.0):
        """Blocking service call for worker threads (never called on the executor)."""
        if not client.wait_for_service(timeout_sec=timeout_s):
            return None
        done = threading.Event()
        future = client.call_async(request)
        future.add_done_callback(lambda _f: done.set())
        return future.result() if done.wait(timeout_s) else None

    def _set_mode(self, mode: str) -> bool:
        resp = self._call(self.mode_client, SetControlMode.Request(mode=mode))
        if resp is None:
            self.get_logger().warning(f"set_mode '{mode}': arm_controller did not answer")
        elif not resp.success:
            self.get_logger().warning(f"set_mode '{mode}' refused: {resp.message}")
        return resp is not None and resp.success

    def _set_mode_refusal(self, mode: str) -> str:
        """'' unless arm_controller answered and refused ``mode``: then its reason. No answer is
        not a refusal here: the loop then stops on arm_controller/status as it always did."""
        resp = self._call(self.mode_client, SetControlMode.Request(mode=mode))
        if resp is None:
            self.get_logger().warning(f"set_mode '{mode}': arm_controller did not answer")
            return ""
        return "" if resp.success else resp.message or "(no reason given)"

    def _hold_arm(self) -> str:
        """Stop streaming on purpose: ask arm_controller for 'hold' while it is in 'policy' (the end
        of the stream is then no policy failure handed to teleop). Says what the arm does now."""
        status = self.link.status()
        if status != "policy":
            return f"arm_controller is in '{status or 'unknown'}' mode"
        if self._set_mode("hold"):
            return "arm_controller holds the arm (mode 'hold')"
        return "set_mode 'hold' failed: arm_controller's watchdog holds the arm"

    def _sim_success(self) -> tuple[bool, str] | None:
        """The sim's ground-truth verdict (achieved, text), or None without a sim (a real robot)."""
        if self.success_client is None:
            return None
        resp = self._call(self.success_client, Trigger.Request(), timeout_s=0.5)
        return None if resp is None else (bool(resp.success), resp.message)

    def destroy_node(self):
        destroy_actions(self)
        self.release_resources()
        return super().destroy_node()


def _policy_stamp(policy_dir: str) -> tuple:
    """What changes when a policy directory is trained again (train_policy replaces its files)."""
    stamp = []
    for name in ("policy.json", "policy.zip"):
        try:
            st = (Path(policy_dir) / name).stat()
        except OSError:
            continue
        stamp.append((name, st.st_ino, st.st_mtime_ns, st.st_size))
    return tuple(stamp)


def main(args=None) -> None:
    spin_node(ResidualPolicyNode, args)
