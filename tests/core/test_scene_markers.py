"""Scene bundle -> MarkerArray / Path conversion (message classes only, no rclpy.init)."""

import numpy as np
import pytest
import trimesh

pytest.importorskip("visualization_msgs", reason="ROS message packages not installed")

from physworld.bundle import BundleObject, SceneBundle, save_bundle
from physworld.ros.scene_markers import bundle_markers, trajectory_path


def test_bundle_becomes_triangle_markers_with_labels(tmp_path):
    traj = np.tile([0.5, 0.0, 0.8, 0, 0, 0, 1.0], (4, 1))
    traj[:, 2] += np.linspace(0, 0.1, 4)
    obj = BundleObject(
        name="lid",
        category="lid",
        mesh="meshes/lid.obj",
        position=[0.5, 0.0, 0.8],
        orientation=[0, 0, 0, 1],
        mass=0.2,
        friction=0.6,
        target_trajectory=traj.tolist(),
    )
    bundle = SceneBundle(
        task_name="lid_on_pot",
        task_text="put the lid on the pot",
        camera={},
        T_world_camera=np.eye(4).tolist(),
        gravity_rotation=np.eye(3).tolist(),
        background_mesh="meshes/bg.obj",
        background_friction=0.8,
        objects=[obj],
    )
    box = trimesh.creation.box((0.1, 0.1, 0.02))
    out = save_bundle(bundle, tmp_path / "b", {"meshes/lid.obj": box, "meshes/bg.obj": trimesh.creation.box()})
    markers = bundle_markers(bundle, out, frame_id="world").markers
    kinds = [(m.ns, m.type) for m in markers[1:]]
    assert kinds == [("background", 11), ("objects", 11), ("labels", 9)]
    lid = markers[2]
    assert len(lid.points) == 3 * len(box.faces) and lid.header.frame_id == "world"
    assert lid.pose.position.z == pytest.approx(0.8) and "lid" in markers[3].text
    path = trajectory_path(traj)
    assert len(path.poses) == 4 and path.poses[-1].pose.position.z == pytest.approx(0.9)
    with pytest.raises(ValueError, match=r"\(T, 7\)"):
        trajectory_path(np.zeros((3, 3)))
