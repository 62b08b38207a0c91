"""Reconstruction metrics against the ground truth (recon.evaluation)."""

from types import SimpleNamespace

import numpy as np
import trimesh

from physworld.recon.evaluation import match_identical


def _scene_and_result(true_xy, rec_xy, names, category="ink", size=0.02):
    box = trimesh.creation.box([size, size, 0.003])
    truth = {n: SimpleNamespace(category=category, mesh=box) for n in names}
    poses = {n: (np.array([x, y, 0.0]), np.array([0.0, 0.0, 0.0, 1.0])) for n, (x, y) in zip(names, true_xy)}
    scene = SimpleNamespace(objects=truth, initial_poses=poses, object_pose=lambda n: poses[n])
    objs = [SimpleNamespace(name=n, mesh=f"meshes/{n}.obj", position=[x, y, 0.0], orientation=[0.0, 0.0, 0.0, 1.0])
            for n, (x, y) in zip(names, rec_xy)]  # fmt: skip
    bundle = SimpleNamespace(objects=objs, object=lambda n: next(o for o in objs if o.name == n))
    return scene, SimpleNamespace(bundle=bundle, meshes={o.mesh: box for o in objs})


def test_identical_objects_are_matched_by_position_not_by_their_arbitrary_names():
    names = ["mark_0", "mark_1", "mark_2"]
    true_xy = [(0.0, 0.0), (0.1, 0.0), (0.0, 0.1)]
    scene, result = _scene_and_result(true_xy, [true_xy[2], true_xy[0], true_xy[1]], names)
    assert match_identical(result, scene, {}) == {"mark_0": "mark_2", "mark_1": "mark_0", "mark_2": "mark_1"}
    # objects that can be told apart (another category or size) keep their names
    scene.objects["mark_2"] = SimpleNamespace(category="sponge", mesh=trimesh.creation.box([0.09, 0.06, 0.035]))
    m = match_identical(result, scene, {})
    assert m["mark_2"] == "mark_2" and {m["mark_0"], m["mark_1"]} == {"mark_0", "mark_1"}
