"""Rendering in a child process: the same frames as rendering in this process, state carried over,
reset, and clear errors when the process is gone."""

import numpy as np
import pytest

from physworld.sim.render_worker import RenderWorker, RenderWorkerError
from physworld.sim.robot_io import SimRobotIO

SIZE = (96, 72)


@pytest.fixture(scope="module")
def io_pair():
    local = SimRobotIO.create("pour_candies", 2, SIZE)
    remote = SimRobotIO.create("pour_candies", 2, SIZE, render_process=True)
    yield local, remote
    local.close()
    remote.close()


def _move(io: SimRobotIO) -> None:
    q = io.arm.read_joint_state().position[:7] + np.array([0.3, -0.2, 0.1, -0.3, 0.0, 0.4, 0.5])
    io.command_arm(io.arm.joint_names, q)
    io.command_gripper([0.0, 0.0])
    io.scene.set_object_pose("cup", [0.55, 0.05, 0.80], [0.0, 0.38268343, 0.0, 0.92387953])
    io.step(60)


def test_child_process_renders_the_live_state_exactly(io_pair):
    local, remote = io_pair
    before = remote.render_rgbd()
    for io in io_pair:
        _move(io)
    assert remote.render_state() is not None and local.render_state() is None
    rgb_l, depth_l = local.render_rgbd()
    rgb_r, depth_r = remote.render_rgbd(remote.render_state())
    assert not np.array_equal(before[0], rgb_r)  # the moved arm and lifted cup are in the new frame
    np.testing.assert_array_equal(rgb_l, rgb_r)
    np.testing.assert_array_equal(np.isnan(depth_l), np.isnan(depth_r))
    np.testing.assert_allclose(depth_l[~np.isnan(depth_l)], depth_r[~np.isnan(depth_r)], atol=1e-6)


def test_reset_rebuilds_both_copies(io_pair):
    local, remote = io_pair
    for io in io_pair:
        io.reset()
    np.testing.assert_array_equal(local.render_rgbd()[0], remote.render_rgbd()[0])


def test_dead_or_unbuildable_worker_raises_clear_errors(io_pair):
    _, remote = io_pair
    with pytest.raises(RenderWorkerError, match="UnknownTaskError"):
        RenderWorker("no_such_task", 0, SIZE)
    worker = RenderWorker("stack_block", 0, SIZE)
    state = remote.render_state()  # pour_candies has more bodies than stack_block
    with pytest.raises(RenderWorkerError, match="bodies"):
        worker.render(state)
    worker._proc.kill()
    worker._proc.join()
    with pytest.raises(RenderWorkerError, match="exited"):
        worker.render(state)
    worker.close()
