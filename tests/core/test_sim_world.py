"""Ground-truth scene: determinism, robot, camera geometry, scripted task completion."""

import numpy as np
import pytest

from physworld.errors import ConfigError, InputError
from physworld.sim.camera import project, unproject
from physworld.sim.tasks import TABLE_TOP_Z, TASKS
from physworld.sim.world import build_task_scene, replay_trajectory, scripted_object_trajectory

SIZE = (160, 120)


@pytest.fixture(scope="module")
def lid_scene():
    scene = build_task_scene("lid_on_pot", 3, image_size=SIZE)
    yield scene
    scene.close()


def test_same_seed_same_scene_other_seed_other_scene():
    a = build_task_scene("pour_candies", 7, image_size=SIZE)
    b = build_task_scene("pour_candies", 7, image_size=SIZE)
    c = build_task_scene("pour_candies", 8, image_size=SIZE)
    try:
        pa, pb, pc = a.object_poses(), b.object_poses(), c.object_poses()
        for name in pa:
            np.testing.assert_array_equal(pa[name][0], pb[name][0])
            np.testing.assert_array_equal(pa[name][1], pb[name][1])
        np.testing.assert_array_equal(a.render()[0], b.render()[0])
        np.testing.assert_array_equal(a.camera.T_world_optical, b.camera.T_world_optical)
        assert np.linalg.norm(pa["cup"][0] - pc["cup"][0]) > 1e-4
        assert not np.allclose(a.camera.T_world_optical, c.camera.T_world_optical)
    finally:
        for s in (a, b, c):
            s.close()


def test_scene_contents(lid_scene):
    import pybullet as p

    s = lid_scene
    assert set(s.objects) == {"pot", "lid"}
    lid = s.objects["lid"]
    assert lid.movable and lid.mass > 0 and lid.category == "lid"
    parts_volume = sum(part.volume for part in lid.shape.parts)  # disc + knob, no overlap
    assert abs(lid.mesh.volume - parts_volume) < 0.02 * parts_volume  # 24-gon cylinders: -1.1 %
    assert lid.mass == pytest.approx(0.2 * lid.scale**3)
    # the true mesh is in the centre-of-mass frame: its centroid is near the origin for a solid lid
    assert np.linalg.norm(lid.mesh.bounds.mean(axis=0)[:2]) < 1e-3
    assert lid.shape_description["parts"][0]["kind"] == "cylinder"
    r = s.robot
    assert len(r.arm_joints) == 7 and len(r.finger_joints) == 2
    q = [p.getJointState(r.body_id, j, physicsClientId=s.client)[0] for j in r.arm_joints]
    np.testing.assert_allclose(q, r.home, atol=0.02)
    fingers = [p.getJointState(r.body_id, j, physicsClientId=s.client)[0] for j in r.finger_joints]
    np.testing.assert_allclose(fingers, [r.finger_open] * 2, atol=0.002)
    assert np.all(r.joint_lower < r.home) and np.all(r.home < r.joint_upper)
    ee = p.getLinkState(r.body_id, r.ee_link, physicsClientId=s.client)[0]
    assert ee[2] > TABLE_TOP_Z + 0.2  # gripper parked well above the table


def test_objects_rest_on_the_table(lid_scene):
    import pybullet as p

    for name, info in lid_scene.objects.items():
        v, _ = p.getBaseVelocity(info.body_id, physicsClientId=lid_scene.client)
        assert np.linalg.norm(v) < 0.01, name
        pos, quat = lid_scene.object_pose(name)
        from scipy.spatial.transform import Rotation

        lowest = pos[2] + Rotation.from_quat(quat).apply(info.mesh.vertices)[:, 2].min()
        assert abs(lowest - TABLE_TOP_Z) < 0.003, name


def test_table_depth_matches_geometry(lid_scene):
    rgb, depth, seg = lid_scene.render()
    assert rgb.shape == (SIZE[1], SIZE[0], 3) and rgb.dtype == np.uint8
    assert depth.shape == seg.shape == (SIZE[1], SIZE[0]) and depth.dtype == np.float32
    cam = lid_scene.camera
    table = seg == lid_scene.table_id
    assert table.mean() > 0.3
    pts = unproject(depth, cam.intrinsics, cam.T_world_optical, mask=table)
    top = pts[pts[:, 2] > TABLE_TOP_Z - 0.05]  # the top face (not the table's front side)
    assert len(top) > 0.2 * table.sum()
    assert np.abs(top[:, 2] - TABLE_TOP_Z).max() < 0.002


def test_world_point_projects_where_it_renders(lid_scene):
    from scipy.spatial.transform import Rotation

    s = lid_scene
    rgb, depth, seg = s.render()
    cam = s.camera
    pos, quat = s.object_pose("lid")
    knob_top = pos + Rotation.from_quat(quat).apply(s.objects["lid"].shape.anchor("top"))
    u, v, z = project(knob_top[None], cam.intrinsics, cam.T_world_optical)[0]
    # a point 2 mm below the knob's top along the camera ray sits inside the knob
    ui, vi = int(round(u)), int(round(v))
    assert seg[vi, ui] == s.objects["lid"].body_id
    assert abs(depth[vi, ui] - z) < 0.01
    # the table at a known point: its projection shows the table at the projected depth
    p_table = np.array([0.75, -0.25, TABLE_TOP_Z])
    u, v, z = project(p_table[None], cam.intrinsics, cam.T_world_optical)[0]
    ui, vi = int(round(u)), int(round(v))
    assert seg[vi, ui] == s.table_id
    assert abs(depth[vi, ui] - z) < 0.004


@pytest.mark.parametrize("name", sorted(TASKS))
def test_scripted_trajectory_completes_every_task(name):
    scene = build_task_scene(name, 11, image_size=SIZE, with_robot=False)
    try:
        assert not scene.is_success(), "the initial scene must not already satisfy the task"
        traj = scripted_object_trajectory(scene, 25)
        assert list(traj) == [scene.task.moved_object]
        poses = traj[scene.task.moved_object]
        assert poses.shape == (25, 7)
        np.testing.assert_allclose(np.linalg.norm(poses[:, 3:], axis=1), 1.0, atol=1e-9)
        np.testing.assert_allclose(poses[0, :3], scene.object_pose(scene.task.moved_object)[0], atol=1e-9)
        record = replay_trajectory(scene, traj)
        assert set(record) == set(scene.objects) and record[scene.task.moved_object].shape == (25, 7)
        np.testing.assert_allclose(record[scene.task.moved_object][-1, :3], poses[-1, :3], atol=1e-6)
        assert scene.is_success()
        scene.step(120)  # the moved object is no longer driven: it is released and settles
        assert scene.is_success(), "success must survive releasing the object"
    finally:
        scene.close()


def test_replay_rejects_bad_trajectories(lid_scene):
    with pytest.raises(InputError, match="not in the scene"):
        replay_trajectory(lid_scene, {"kettle": np.zeros((3, 7))})
    with pytest.raises(InputError, match=r"\(T, 7\)"):
        replay_trajectory(lid_scene, {"lid": np.zeros((3, 6))})
    with pytest.raises(InputError, match="n_frames"):
        scripted_object_trajectory(lid_scene, 1)


def test_bad_arguments():
    with pytest.raises(InputError, match="seed"):
        build_task_scene("lid_on_pot", -1)
    with pytest.raises(ConfigError, match="image_size"):
        build_task_scene("lid_on_pot", 0, image_size=(4, 4))


def test_build_into_a_given_client_leaves_it_connected():
    import pybullet as p

    client = p.connect(p.DIRECT)
    try:
        scene = build_task_scene("stack_block", 0, client=client, image_size=SIZE, with_robot=False)
        assert scene.client == client and scene.robot is None
        ref = build_task_scene("stack_block", 0, image_size=SIZE, with_robot=False)
        np.testing.assert_array_equal(scene.object_pose("block")[0], ref.object_pose("block")[0])
        ref.close()
        scene.close()
        assert p.isConnected(client)
    finally:
        p.disconnect(client)


def test_segmentation_names_cover_the_image(lid_scene):
    _, _, seg = lid_scene.render()
    names = lid_scene.body_names()
    assert {names[b] for b in np.unique(seg) if b >= 0} >= {"table", "pot", "lid"}
