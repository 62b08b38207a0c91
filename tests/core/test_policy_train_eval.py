"""PPO training (checkpoints, resume, divergence guard), evaluation in the ground-truth sim, CLI."""

import dataclasses
import hashlib
import json

import numpy as np
import pytest

from physworld.errors import ArtefactError, ConfigError, InputError, UnknownTaskError
from physworld.policy.baseline import TRACK, make_plan
from physworld.policy.demo import make_demo_bundle
from physworld.policy.env import EnvConfig, observation_layout
from physworld.policy.rollout import classify
from physworld.policy.train import TrainConfig, TrainingDiverged, load_policy, save_checkpoint, train_policy
from physworld.policy.world import WorldSource

TINY = dict(total_steps=128, n_envs=1, vec="dummy", n_steps=64, batch_size=64, n_epochs=1, checkpoint_every=64,
            progress_bar=False, net_arch=(16, 16), select_episodes=1)  # fmt: skip


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from physworld.bundle import load_bundle

    path = make_demo_bundle(tmp_path_factory.mktemp("demo") / "bundle")
    src = WorldSource("bundle", str(path))
    world = src.build()
    try:
        b = load_bundle(path)
        plan = make_plan(world, b.target_trajectory("box"), b.frame_dt)
    finally:
        world.close()
    return src, plan


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_train_writes_policy_with_metadata_and_resumes(demo, tmp_path):
    src, plan = demo
    out = tmp_path / "pol"
    res = train_policy(src, plan, out, "demo_box", "bundle", TrainConfig(**TINY), EnvConfig(mode="residual"))
    assert res.steps == 128
    meta = json.loads((out / "policy.json").read_text())
    assert meta["task"] == "demo_box" and meta["mode"] == "residual" and meta["steps"] == 128
    sl = meta["observation"]["slices"]
    assert sl["ee_pos"] == [0, 3] and max(b for _, b in sl.values()) == meta["observation"]["size"]
    model, meta2, plan2 = load_policy(out)
    obs = np.zeros(meta["observation"]["size"], np.float32)
    assert model.predict(obs, deterministic=True)[0].shape == (6,)
    assert np.allclose(plan2.ee, plan.ee)
    sel = meta["selection"]  # model selection in the world model: the start policy unless one is clearly better
    assert len(sel["history"]) >= 2 and sel["history"][0]["taken"] and sel["history"][0]["steps"] == 0
    assert sel["steps"] == [h["steps"] for h in sel["history"] if h["taken"]][-1]
    for f in ("checkpoint.zip", "curve.json", "train_report.md", "plan.npz"):
        assert (out / f).exists()
    with pytest.raises(ConfigError, match="resume"):
        train_policy(src, plan, out, "demo_box", None, TrainConfig(**TINY), EnvConfig(mode="residual"))
    res2 = train_policy(src, plan, out, "demo_box", None, TrainConfig(**dict(TINY, total_steps=256)),
                        EnvConfig(mode="residual"), resume=True)  # fmt: skip
    assert res2.steps == 256  # continued from 128, not restarted
    with pytest.raises(ArtefactError, match="different mode"):
        train_policy(src, plan, out, "demo_box", None, TrainConfig(**TINY), EnvConfig(mode="scratch"), resume=True)


def test_gsde_noise_can_be_redrawn_once_per_episode(demo, tmp_path):
    from stable_baselines3 import PPO

    src, plan = demo
    train_policy(src, plan, tmp_path / "p", "demo_box", None, TrainConfig(**dict(TINY, sde_sample_freq=0)),
                 EnvConfig(mode="residual"))  # fmt: skip
    assert PPO.load(tmp_path / "p" / "policy.zip", device="cpu").sde_sample_freq == plan.horizon


def test_untrained_residual_is_exactly_the_baseline_and_still_learns(demo, tmp_path):
    """The residual's action head starts at zero (TrainConfig.zero_init_residual): with the actor still
    frozen (critic warm-up) the policy's action is exactly 0 for any observation; once the actor
    trains, the head moves. SB3's own init (zero_init_residual False) and scratch mode are not zero."""
    from stable_baselines3 import PPO

    src, plan = demo
    n_obs = sum(n for _, n in observation_layout("residual"))
    obs = np.random.default_rng(0).uniform(-1, 1, (32, n_obs)).astype(np.float32)

    def actions(out, **kw):
        train_policy(src, plan, out, "demo_box", None, TrainConfig(**dict(TINY, **kw)), EnvConfig(mode="residual"))
        return PPO.load(out / "checkpoint.zip", device="cpu").predict(obs, deterministic=True)[0]

    assert np.array_equal(actions(tmp_path / "frozen"), np.zeros((32, 6), np.float32))
    assert np.abs(actions(tmp_path / "sb3_init", zero_init_residual=False)).max() > 0
    assert np.abs(actions(tmp_path / "learning", critic_warmup_steps=0)).max() > 0


def test_nan_weights_never_overwrite_the_last_good_checkpoint(demo, tmp_path):
    import torch

    src, plan = demo
    out = tmp_path / "pol"
    train_policy(src, plan, out, "demo_box", None, TrainConfig(**TINY), EnvConfig(mode="residual"))
    model, meta, _ = load_policy(out)
    before = _digest(out / "checkpoint.zip")
    with torch.no_grad():
        next(model.policy.parameters()).fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="non-finite"):
        save_checkpoint(model, out, meta, [], 1.0)
    assert _digest(out / "checkpoint.zip") == before
    (out / "checkpoint.zip").write_bytes(b"garbage")
    with pytest.raises(ArtefactError, match="corrupt checkpoint"):
        train_policy(src, plan, out, "demo_box", None, TrainConfig(**TINY), EnvConfig(mode="residual"), resume=True)
    (out / "policy.zip").unlink()
    with pytest.raises(ArtefactError, match="policy weights missing"):
        load_policy(out)


def test_failure_classification_rules(demo):
    _, plan = demo
    n = plan.horizon
    T = plan.T_obj_grasp
    obj = [plan.target[k] for k in range(n)]
    from physworld.policy import geometry as geo

    ee = [geo.compose(o, T) for o in obj]
    trace = {"obj": obj, "ee": ee, "gripper": [True] * n, "ik_ok": [True] * n}
    assert classify(trace, plan, True, False) is None
    assert classify(trace, plan, False, False) == "dynamics"  # tracked well, task still failed
    assert classify(trace, plan, False, True) == "reconstruction"
    far = dict(trace, ee=[e + np.r_[0, 0, 0.2, 0, 0, 0, 0] for e in ee])
    assert classify(far, plan, False, False) == "grasp"
    off = dict(trace, obj=[o + np.r_[0.08, 0, 0, 0, 0, 0, 0] for o in obj],
               ee=[geo.compose(o + np.r_[0.08, 0, 0, 0, 0, 0, 0], T) for o in obj])  # fmt: skip
    assert classify(off, plan, False, False) == "tracking"
    assert classify(dict(trace, ik_ok=[False] * n), plan, False, False) == "planning"
    # IK misses that only start after the object left the hand: the grasp failed, not the planning
    track = np.nonzero(plan.phase == TRACK)[0]
    k = int(track[len(track) // 2])
    dropped = dict(trace, ee=ee[:k] + [e + np.r_[0, 0, 0.2, 0, 0, 0, 0] for e in ee[k:]],
                   ik_ok=[True] * k + [False] * (n - k))  # fmt: skip
    assert (n - k) > 0.2 * n
    assert classify(dropped, plan, False, False) == "grasp"
    assert classify(dict(dropped, ik_ok=[False] * n), plan, False, False) == "planning"


def test_evaluate_in_the_ground_truth_sim_writes_results(tmp_path):
    from physworld.policy.baseline import BaselinePlan
    from physworld.policy.env import RandomizationConfig
    from physworld.policy.evaluate import EvalConfig, evaluate
    from physworld.policy.grasp_feedback import GraspSelectionConfig

    rand = RandomizationConfig(mass=0.1, friction=0.05, pos_xy=0.02, yaw_deg=8.0)
    cfg = EvalConfig(seeds=1, first_seed=10_007, world_model="oracle", train_steps=192, vec="dummy", n_envs=1,
                     n_steps=64, batch_size=64, progress=False, settle_s=0.2, rand=rand,
                     methods=("baseline", "residual", "scratch", "wm_grasp"),
                     selection=GraspSelectionConfig(candidates=2, episodes=1))  # fmt: skip
    res = evaluate(["stack_block"], tmp_path, cfg)
    t = res["tasks"]["stack_block"]
    assert set(t["methods"]) == {"baseline", "residual", "scratch", "wm_grasp"}
    rows = t["wm_grasp_plan"]["selection"]["candidates"]
    assert len(rows) == 2 and sum(r["chosen"] for r in rows) == 1
    # the residual runs on the plan it was trained on: the world model's grasp choice
    chosen = BaselinePlan.load(tmp_path / "stack_block" / "plan_wm_grasp.npz")
    trained_on = json.loads((tmp_path / "stack_block" / "residual" / "policy.json").read_text())["plan"]
    assert np.allclose(BaselinePlan.load(tmp_path / "stack_block" / "residual" / trained_on).ee, chosen.ee)
    for m in t["methods"].values():
        assert m["rollouts"] == 1 and m["successes"] + sum(m["failures"].values()) == 1
        assert [d["seed"] for d in m["rollout_details"]] == [10_007]
        assert abs(m["rollout_details"][0]["perturbation"]["moved_pose_delta"]["xy"][0]) <= 0.02
    # one set of perturbation ranges: the policies were trained in the world model with the evaluation's
    for method in ("residual", "scratch"):
        meta = json.loads((tmp_path / "stack_block" / method / "policy.json").read_text())
        assert meta["env_config"]["rand"] == {"mass": 0.1, "friction": 0.05, "pos_xy": 0.02, "yaw_deg": 8.0}
    assert t["reconstruction_gap"]["flagged"] is False  # the oracle bundle is the truth
    assert t["methods"]["residual"]["train_env_steps"] == 192
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["tasks"]["stack_block"]["methods"]["baseline"]["rollouts"] == 1
    # the policies are reused, but not under other perturbation ranges than they were trained in
    with pytest.raises(InputError, match="trained with perturbations"):
        evaluate(["stack_block"], tmp_path,
                 dataclasses.replace(cfg, methods=("residual",), rand=RandomizationConfig()))  # fmt: skip
    for f in ("results.md", "success.png", "failures.png", "curves.png"):
        assert (tmp_path / f).exists()


def test_cli_rejects_bad_input(tmp_path, capsys):
    from physworld.cli import main
    from physworld.policy.evaluate import parse_methods, parse_tasks

    with pytest.raises(UnknownTaskError):
        parse_tasks("make_coffee")
    with pytest.raises(InputError, match="unknown method"):
        parse_methods("baseline,magic")
    assert main(["train", "--task", "make_coffee", "--out", str(tmp_path / "x")]) == 1
    assert "unknown task" in capsys.readouterr().err
    assert main(["train", "--task", "stack_block", "--grasp-candidates", "0", "--out", str(tmp_path / "x")]) == 1
    assert "candidates >= 1" in capsys.readouterr().err and not (tmp_path / "x").exists()
    assert main(["train", "--task", "stack_block", "--bundle", str(tmp_path / "none"), "--out", str(tmp_path)]) == 1
    assert "scene bundle directory not found" in capsys.readouterr().err
    assert main(["evaluate", "--tasks", "stack_block", "--perturb-xy", "-0.01", "--out", str(tmp_path / "e")]) == 1
    assert "perturbation ranges must be finite and >= 0" in capsys.readouterr().err
    assert main(["train", "--task", "stack_block", "--perturb-mass", "1.0", "--out", str(tmp_path / "t")]) == 1
    assert "fractions below 1" in capsys.readouterr().err
    assert main(["evaluate", "--tasks", "stack_block", "--first-seed", "-1", "--out", str(tmp_path / "e")]) == 1
    assert "--first-seed must be >= 0" in capsys.readouterr().err
    assert not (tmp_path / "e").exists() and not (tmp_path / "t").exists()


def test_train_cli_exploration_choice():
    import argparse

    from physworld import cli_policy

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    cli_policy.register(sub)
    args = parser.parse_args(["train", "--task", "stack_block", "--out", "x"])
    assert cli_policy.train_config(args).use_sde  # the default: gSDE
    from physworld.policy.train import EXPLORATION, TrainConfig

    assert all(getattr(TrainConfig(), k) == v for k, v in EXPLORATION["gsde"].items())  # the presets match
    cfg = cli_policy.train_config(parser.parse_args(["train", "--task", "stack_block", "--out", "x",
                                                     "--exploration", "gaussian"]))  # fmt: skip
    assert not cfg.use_sde and cfg.log_std_init == pytest.approx(-2.3)
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--task", "stack_block", "--out", "x", "--exploration", "ou"])
    # the CLI's and the node parameter's choices are spelled out (cheap imports); they must be the presets
    import dataclasses

    from physworld.configs import ResidualPolicyConfig

    cli_choices = next(a.choices for a in sub.choices["train"]._actions if a.dest == "exploration")
    node_field = next(f for f in dataclasses.fields(ResidualPolicyConfig) if f.name == "exploration")
    assert set(cli_choices) == set(node_field.metadata["choices"]) == set(EXPLORATION)


def test_learning_speed_holds_both_methods_to_one_level():
    from physworld.policy.report import learning_speed

    def curve(vals, step=1000):
        return [{"steps": step * (i + 1), "tracking": v} for i, v in enumerate(vals)]

    residual = curve([0.5, 0.8, 0.9, 0.9, 0.9])  # level 0.81 reached at 3000 steps
    learner = curve([0.1, 0.3, 0.5, 0.7, 0.85, 0.9, 0.9, 0.9, 0.9, 0.9])  # reaches 0.81 at 5000 steps
    sp = learning_speed(residual, learner)
    assert sp["level"] == pytest.approx(0.81) and sp["residual_steps"] == 3000 and sp["scratch_steps"] == 5000
    assert sp["ratio"] == pytest.approx(5000 / 3000) and not sp["bounded"]

    flat = curve([0.02] * 12)  # scratch that never learns: a flat curve must not count as "fast"
    sp = learning_speed(residual, flat)
    assert sp["scratch_steps"] is None and sp["bounded"] and sp["ratio"] == pytest.approx(12000 / 3000)
    assert learning_speed([], flat)["ratio"] is None


def test_selection_needs_a_clear_paired_improvement():
    from physworld.policy.selection import WorldModelScore, clearly_better

    base = WorldModelScore([0.012, 0.010, 0.015, 0.011, 0.013, 0.009], [40.0] * 6)
    better = WorldModelScore([e - 0.004 for e in base.errors], [39.0] * 6)  # 4 mm better on every seed
    noisy = WorldModelScore([0.006, 0.016, 0.011, 0.012, 0.008, 0.012], [45.0] * 6)  # lower mean, by luck
    assert clearly_better(better, base)
    assert noisy.error < base.error and not clearly_better(noisy, base)  # a higher return does not count
    assert not clearly_better(base, better) and not clearly_better(base, base)


def test_selection_episodes_in_worker_processes_match_the_main_process(demo):
    """The model-selection episodes run split over SubprocVecEnv's workers; the score must be the
    one of running them all in one process (episodes are bit-identical per seed)."""
    from stable_baselines3 import PPO

    from physworld.policy.env import PhysWorldEnv
    from physworld.policy.selection import SELECT_SEED, score_episode, world_model_score
    from physworld.policy.train import make_vec_env

    src, plan = demo
    env_cfg = EnvConfig(mode="residual")
    cfg = TrainConfig(**dict(TINY, n_envs=2, vec="subproc"))
    venv = make_vec_env(src, plan, env_cfg, cfg)
    try:
        model = PPO("MlpPolicy", venv, n_steps=64, batch_size=64, seed=0, device="cpu",
                    policy_kwargs=dict(net_arch=[16, 16], log_std_init=-1.0))  # fmt: skip
        with __import__("torch").no_grad():  # a policy whose actions matter (not near zero)
            model.policy.action_net.weight.normal_(0.0, 0.5)
        parallel = world_model_score(model, venv, 3)
    finally:
        venv.close()
    env = PhysWorldEnv(src, plan, env_cfg)
    try:
        local = [score_episode(env, model, SELECT_SEED + i) for i in range(3)]
    finally:
        env.close()
    assert parallel.errors == [e for e, _ in local] and parallel.returns == [r for _, r in local]
    assert len(set(parallel.returns)) == 3  # three different perturbed episodes, not one repeated


def test_start_box_centre_does_not_depend_on_the_object_frame():
    from physworld.policy import geometry as geo
    from physworld.policy.rollout import reconstruction_gap, start_box_centre

    rng = np.random.default_rng(0)
    pan = np.r_[rng.uniform([-0.1, -0.1, 0], [0.1, 0.1, 0.05], (300, 3)),
                rng.uniform([0.1, -0.015, 0.03], [0.25, 0.015, 0.045], (60, 3))]  # body + handle  # fmt: skip
    true_start = np.array([0.5, 0.0, 0.7, 0, 0, 0, 1.0])
    # the same pan described in a frame turned 25 deg about z (as a reconstruction may choose)
    turn = np.r_[0, 0, 0, 0, 0, np.sin(np.radians(12.5)), np.cos(np.radians(12.5))]
    model_vertices = np.array([geo.transform_point(geo.inverse(turn), v) for v in pan])
    model_start = geo.compose(true_start, turn)
    world_true = geo.transform_point(true_start, start_box_centre(pan, true_start))
    world_model = geo.transform_point(model_start, start_box_centre(model_vertices, model_start))
    np.testing.assert_allclose(world_model, world_true, atol=1e-9)
    own_axes = geo.transform_point(model_start, model_vertices.min(0) / 2 + model_vertices.max(0) / 2)
    assert np.linalg.norm(own_axes - world_true) > 0.01  # the old own-axis box centre moved by > 1 cm
    traj_t, traj_m = np.stack([true_start] * 3), np.stack([model_start] * 3)
    gap = reconstruction_gap(traj_m, start_box_centre(model_vertices, model_start), traj_t,
                             start_box_centre(pan, true_start))  # fmt: skip
    assert gap["start_pos_err_m"] < 1e-9 and not gap["flagged"]
