"""Grasp selection with world-model feedback (policy.grasp_feedback) on the demo bundle."""

import dataclasses

import numpy as np
import pytest

from physworld.errors import InputError
from physworld.policy.baseline import CLOSE, TRACK
from physworld.policy.bundles import plan_for_bundle, plans_for_bundle
from physworld.policy.demo import make_demo_bundle
from physworld.policy.grasp_feedback import GraspSelectionConfig, select_grasp, world_model_return


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = make_demo_bundle(tmp_path_factory.mktemp("feedback") / "bundle")
    source, plans = plans_for_bundle(path, limit=3)
    return path, source, plans


def test_candidate_plans_start_with_the_baselines_grasp(demo):
    path, _, plans = demo
    _, baseline = plan_for_bundle(path)
    assert 1 < len(plans) <= 3 and all(p.ok for p in plans)
    assert np.allclose(plans[0].T_obj_grasp, baseline.T_obj_grasp) and np.allclose(plans[0].ee, baseline.ee)
    ranks = [p.info["candidate"] for p in plans]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)
    scores = [p.info["grasp_score"] for p in plans]
    assert scores == sorted(scores, reverse=True)


def _missing_grasp(plan):
    """The same plan with the hand 12 cm above the object while it should hold it: the box stays put."""
    ee = plan.ee.copy()
    held = np.isin(plan.phase, (CLOSE, TRACK))
    ee[held, 2] += 0.12
    return dataclasses.replace(plan, ee=ee, info=dict(plan.info, candidate=-1))


def test_the_world_model_rejects_a_grasp_that_does_not_hold_the_object(demo):
    _, source, plans = demo
    bad = _missing_grasp(plans[0])
    cfg = GraspSelectionConfig(candidates=2, episodes=1)
    calls = []
    chosen = select_grasp(source, [bad, plans[0]], cfg=cfg, progress=lambda i, n: calls.append((i, n)))
    assert calls == [(1, 2), (2, 2)]
    rows = chosen.info["grasp_selection"]["candidates"]
    assert np.allclose(chosen.ee, plans[0].ee) and chosen.info["candidate"] == plans[0].info["candidate"]
    assert [r["chosen"] for r in rows] == [False, True]
    assert rows[1]["return"] > rows[0]["return"] and rows[0]["final_pos_err_m"] > 0.05


def test_another_grasp_must_beat_the_baselines_by_the_margin():
    from physworld.policy.grasp_feedback import chosen_index

    # 100-step episodes: 0.7 more return (0.007 per step) is within the world model's error
    assert chosen_index([33.1, 31.8, 33.8], [100] * 3, 0.05) == 0
    assert chosen_index([-23.9, -0.7, 6.1], [100] * 3, 0.05) == 2  # holds where the baseline's drops
    assert chosen_index([10.0, 16.0, 16.0], [100] * 3, 0.05) == 1  # a tie keeps the better-scored one
    assert chosen_index([33.1, 33.8], [100] * 2, 0.0) == 1  # min_gain 0: the highest return
    assert chosen_index([40.0, 30.0], [100] * 2, 0.05) == 0
    with pytest.raises(InputError, match="min_gain"):
        GraspSelectionConfig(min_gain=-0.1)


def test_world_model_return_is_reproducible(demo):
    _, source, plans = demo
    from physworld.policy.env import EnvConfig

    a = world_model_return(source, plans[0], EnvConfig(), episodes=2)
    b = world_model_return(source, plans[0], EnvConfig(), episodes=2)
    assert a == b and np.isfinite(a["return"]) and a["final_pos_err_m"] < 0.03


def test_single_or_failed_plans_pass_through_and_bad_config_is_refused(demo, tmp_path):
    _, source, plans = demo
    assert select_grasp(source, plans[:1], cfg=GraspSelectionConfig(candidates=4)) is plans[0]
    assert "grasp_selection" not in plans[0].info
    _, far = plans_for_bundle(make_demo_bundle(tmp_path / "far", box_xy=(1.6, 0.0)), limit=4)
    assert len(far) == 1 and not far[0].ok
    assert select_grasp(source, far) is far[0]
    with pytest.raises(InputError, match="candidates"):
        GraspSelectionConfig(candidates=0)
    with pytest.raises(InputError, match="at least one plan"):
        select_grasp(source, [])


def test_train_cli_trains_on_the_chosen_grasp_and_prints_the_candidates(tmp_path, capsys, monkeypatch):
    import json

    from physworld.cli import main
    from physworld.policy.baseline import BaselinePlan
    from physworld.policy.oracle import build_oracle_bundle

    path = build_oracle_bundle("stack_block", 0, tmp_path / "bundle")
    out = tmp_path / "policy"
    argv = ["train", "--task", "stack_block", "--bundle", str(path), "--out", str(out), "--steps", "64",
            "--n-envs", "1", "--vec", "dummy", "--grasp-candidates", "2", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert text.count("grasp candidate ") == 2 and text.count("<- chosen") == 1
    meta = json.loads((out / "policy.json").read_text())
    rows = BaselinePlan.load(out / meta["plan"]).info["grasp_selection"]["candidates"]
    assert len(rows) == 2 and sum(r["chosen"] for r in rows) == 1
    # resuming trains on the run's own plan: no planning, no second grasp choice
    import physworld.policy.bundles as bundles

    def no_planning(*a, **k):
        raise AssertionError("a resumed run planned again")

    monkeypatch.setattr(bundles, "plans_for_bundle", no_planning)
    steps = argv.index("--steps") + 1
    assert main([*argv[:steps], "1024", *argv[steps + 1 :], "--resume"]) == 0  # one PPO rollout is 512
    assert json.loads((out / "policy.json").read_text())["steps"] == 1024
    assert np.allclose(BaselinePlan.load(out / meta["plan"]).ee, BaselinePlan.load(out / "plan.npz").ee)
