"""In sim the task's own predicate judges an execute_task run (policy.execution.judge_in_sim)."""

from physworld.policy.execution import ExecutionResult, judge_in_sim


def _run(success: bool, reason: str, completed: bool) -> ExecutionResult:
    return ExecutionResult(success, reason, "object ends 4.1 cm from the target", 99, 0.041, 11.0, completed=completed)


def test_a_completed_run_that_achieves_the_task_succeeds_despite_missing_the_model_target():
    res = judge_in_sim(_run(False, "tracking", completed=True), True, "task 'spoon_in_pan': success")
    assert res.success and res.failure_reason == ""
    assert "'tracking' check alone would fail it" in res.message
    assert "sim ground truth: task 'spoon_in_pan'" in res.message


def test_reaching_the_model_target_without_the_task_is_a_dynamics_failure():
    res = judge_in_sim(_run(True, "", completed=True), False, "not achieved")
    assert not res.success and res.failure_reason == "dynamics" and "not achieved" in res.message


def test_a_stopped_run_stays_failed_even_if_the_task_holds():
    for reason in ("timeout", "cancelled", "e_stop", "ik"):
        res = judge_in_sim(_run(False, reason, completed=False), True, "success")
        assert not res.success and res.failure_reason == reason, reason


def test_agreeing_verdicts_only_add_the_ground_truth_text():
    ok = judge_in_sim(_run(True, "", completed=True), True, "success")
    bad = judge_in_sim(_run(False, "grasp", completed=True), False, "not achieved")
    assert ok.success and ok.message.endswith("sim ground truth: success")
    assert not bad.success and bad.failure_reason == "grasp"
