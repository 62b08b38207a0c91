import numpy as np
import pytest
import trimesh

from physworld.bundle import SCENE_FILE, BundleObject, SceneBundle, load_bundle, save_bundle
from physworld.errors import ArtefactError


def _bundle(traj=None) -> SceneBundle:
    obj = BundleObject(
        name="lid",
        category="lid",
        mesh="meshes/lid.obj",
        position=[0.5, 0.0, 0.8],
        orientation=[0, 0, 0, 1],
        mass=0.2,
        friction=0.6,
        extent=[0.1, 0.1, 0.02],
        target_trajectory=traj,
    )
    return SceneBundle(
        task_name="lid_on_pot",
        task_text="put the lid on the pot",
        camera={"width": 32, "height": 24, "fx": 30.0, "fy": 30.0, "cx": 15.5, "cy": 11.5},
        T_world_camera=np.eye(4).tolist(),
        gravity_rotation=np.eye(3).tolist(),
        background_mesh="meshes/background.obj",
        background_friction=0.8,
        objects=[obj],
    )


def _meshes():
    return {
        "meshes/lid.obj": trimesh.creation.box((0.1, 0.1, 0.02)),
        "meshes/background.obj": trimesh.creation.box((1.0, 1.0, 0.01)),
    }


def test_roundtrip(tmp_path):
    traj = np.tile([0.5, 0.0, 0.8, 0, 0, 0, 1.0], (5, 1)).tolist()
    out = save_bundle(_bundle(traj), tmp_path / "b", _meshes())
    b = load_bundle(out)
    assert b.object("lid").mass == 0.2
    assert b.target_trajectory("lid").shape == (5, 7)
    assert trimesh.load(out / "meshes/lid.obj").is_watertight


def test_missing_mesh_and_corrupt_json_are_clear(tmp_path):
    with pytest.raises(ArtefactError, match="no mesh given"):
        save_bundle(_bundle(), tmp_path / "b", {"meshes/lid.obj": trimesh.creation.box()})
    assert not (tmp_path / "b").exists()  # nothing half-written
    out = save_bundle(_bundle(), tmp_path / "c", _meshes())
    (out / "meshes/lid.obj").unlink()
    with pytest.raises(ArtefactError, match="lid.obj"):
        load_bundle(out)
    (out / SCENE_FILE).write_text('{"schema_version": 99}')
    with pytest.raises(ArtefactError, match="schema_version"):
        load_bundle(out)


def test_nan_trajectory_rejected(tmp_path):
    traj = np.full((3, 7), np.nan).tolist()
    with pytest.raises(ArtefactError, match="target_trajectory"):
        save_bundle(_bundle(traj), tmp_path / "b", _meshes())
