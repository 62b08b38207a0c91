"""The policy runtime reproduces the training env's observation and command from measured state."""

import numpy as np
import pytest

from physworld.errors import ArtefactError, InputError
from physworld.policy import geometry as geo
from physworld.policy.baseline import make_plan
from physworld.policy.demo import make_demo_bundle
from physworld.policy.env import EnvConfig, PhysWorldEnv
from physworld.policy.runtime import PolicyRunner, frame_offset
from physworld.policy.train import TrainConfig, train_policy
from physworld.policy.world import WorldSource

TINY = dict(total_steps=128, n_envs=1, vec="dummy", n_steps=64, batch_size=64, n_epochs=1, checkpoint_every=64,
            progress_bar=False, net_arch=(16, 16))  # fmt: skip


def _yaw_quat(deg):
    y = np.deg2rad(deg)
    return np.array([0.0, 0.0, np.sin(y / 2), np.cos(y / 2)])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from physworld.bundle import load_bundle

    root = tmp_path_factory.mktemp("runtime")
    path = make_demo_bundle(root / "bundle")
    src = WorldSource("bundle", str(path))
    world = src.build()
    try:
        b = load_bundle(path)
        plan = make_plan(world, b.target_trajectory("box"), b.frame_dt)
    finally:
        world.close()
    calls = []
    res = train_policy(src, plan, root / "policy", "demo_box", str(path), TrainConfig(**TINY),
                       EnvConfig(mode="residual"), progress=calls.append)  # fmt: skip
    return src, plan, res.out_dir, calls


def test_progress_callback_reports_curve(trained):
    *_, calls = trained
    assert any("tracking" in c and "model_success" in c for c in calls)
    assert max(c["steps"] for c in calls) == 128
    assert all(0.0 <= c["model_success"] <= 1.0 for c in calls if "model_success" in c)


def test_runner_matches_env_observation_and_command(trained):
    src, plan, out, _ = trained
    env = PhysWorldEnv(src, plan, EnvConfig(mode="residual", randomize=False))
    runner = PolicyRunner(out)
    sent = []
    original = env.ctrl.command_pose

    def spy(pose, closed, rest=None, seed=None):
        res = original(pose, closed, rest, seed)
        sent.append((np.array(pose), closed, res.q.copy(), res.ok))
        return res

    env.ctrl.command_pose = spy
    try:
        obs, _ = env.reset(seed=0)
        assert np.allclose(runner.base, env.world.robot.base_pose)
        runner.reset(env.world.object_pose(env.world.moved))
        assert np.allclose(runner.offset, [0, 0, 0, 1])  # same world: no frame turn
        for k in range(plan.horizon // 2):
            ee, obj, fw = env.ctrl.ee_pose(), env.world.object_pose(env.world.moved), env.ctrl.finger_width()
            q_now = env.ctrl.joint_positions()
            cmd, closed, info = runner.act(ee, obj, fw, k)
            assert np.array_equal(info["obs"], obs), f"observation differs at step {k}"
            action, _ = runner.model.predict(obs, deterministic=True)
            obs, _, done, _, _ = env.step(action)
            pose_env, closed_env, q_env, ok_env = sent[-1]
            assert np.array_equal(cmd, pose_env) and closed == closed_env
            jc = runner.ee_to_joints(cmd, q_now, info["rest_q"], info["seed_q"])
            assert np.allclose(jc.q, q_env, atol=1e-9) and jc.ok == ok_env
            assert jc.ok == (jc.reason == "")
            assert not done
        assert np.allclose(runner.fk(env.ctrl.joint_positions()), env.ctrl.ee_pose(), atol=1e-6)
    finally:
        runner.close()
        env.close()


def test_frame_offset_snaps_to_quarter_turns():
    model0 = np.array([0.5, 0, 0.1, *_yaw_quat(10.0)])
    # tracker frame turned by 90 deg plus a real 4 deg yaw error: only the 90 deg is absorbed
    tracked0 = np.array([0.5, 0, 0.1, *geo.quat_mul(_yaw_quat(10.0 + 94.0), [0, 0, 0, 1.0])])
    off = frame_offset(tracked0, model0)
    assert geo.rotation_angle(off, _yaw_quat(-90.0)) < 1e-9
    in_model = geo.quat_mul(tracked0[3:], off)
    assert np.isclose(np.degrees(geo.rotation_angle(in_model, model0[3:])), 4.0, atol=1e-6)
    tilted = np.array([0.5, 0, 0.1, np.sin(0.5), 0, 0, np.cos(0.5)])  # 57 deg about x
    with pytest.raises(InputError, match="z-up"):
        frame_offset(tilted, model0)


def test_runner_errors_are_specific(trained, tmp_path):
    _, _, out, _ = trained
    with pytest.raises(ArtefactError, match="policy.json missing"):
        PolicyRunner(tmp_path / "nope")
    runner = PolicyRunner(out)
    try:
        runner.reset()
        with pytest.raises(InputError, match="obj_pose"):
            runner.act(runner.fk(runner.home), np.full(7, np.nan), 0.08, 0)
        with pytest.raises(InputError, match="t must be"):
            runner.act(runner.fk(runner.home), runner.plan.target[0], 0.08, -1)
        far = np.array([3.0, 0.0, 0.5, 0, 0, 0, 1.0])  # out of reach: IK fails with the reason
        jc = runner.ee_to_joints(far, runner.home)
        assert not jc.ok and "IK misses" in jc.reason and np.all(np.isfinite(jc.q))
    finally:
        runner.close()
