"""Task suite: names, text resolution, predicates (no physics here)."""

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from physworld.errors import InputError, UnknownTaskError
from physworld.sim.tasks import TASKS, list_tasks, resolve_task, tilt

PAPER_TASKS = {
    "lid_on_pot", "spoon_in_pan", "book_in_shelf", "shoe_in_shoebox", "pour_candies", "sweep_scraps",
    "wipe_board", "water_flowers", "pour_tomato", "pour_fish",
}  # fmt: skip


def test_suite_has_the_paper_tasks_and_more():
    assert PAPER_TASKS <= set(TASKS)
    assert len(list_tasks()) >= 10
    for name, task in TASKS.items():
        assert name == task.name and name.isidentifier() and name == name.lower()
        assert task.moved_object in task.object_names
        assert len(set(task.object_names)) == len(task.object_names)
        assert task.tolerance and task.command


@pytest.mark.parametrize("name", sorted(TASKS))
def test_moved_object_is_light_and_has_a_graspable_part(name):
    task = TASKS[name]
    spec = task.object(task.moved_object)
    assert 0 < spec.mass <= 1.0
    # some part is narrower than the Panda's 8 cm opening across a horizontal axis (at max scale)
    widths = [min(p.dims[:2]) if p.kind == "box" else 2 * p.dims[0] for p in spec.shape.parts]
    assert min(widths) * (1 + spec.scale_jitter) < 0.08


@pytest.mark.parametrize(
    "text",
    ["lid_on_pot", "LID_ON_POT", "put the lid on the pot", "  Put the LID on the pot. ", "cover the pot", "lid on pot"],
)
def test_resolve_task_by_name_command_alias(text):
    assert resolve_task(text).name == "lid_on_pot"


def test_resolve_every_command_and_alias():
    for task in TASKS.values():
        for text in (task.name, task.command, *task.aliases):
            assert resolve_task(text) is task


def test_aliases_are_unambiguous():
    from physworld.sim.tasks import normalise_text

    seen = {}
    for task in TASKS.values():
        for text in (task.name, task.command, *task.aliases):
            key = normalise_text(text)
            assert seen.setdefault(key, task.name) == task.name, f"{text!r} is ambiguous"


def test_unknown_task_lists_known_tasks():
    with pytest.raises(UnknownTaskError) as err:
        resolve_task("juggle three balls")
    msg = str(err.value)
    assert "juggle three balls" in msg
    assert all(name in msg for name in TASKS)


@pytest.mark.parametrize("text", ["", "   ", None])
def test_empty_task_text_is_an_input_error(text):
    with pytest.raises(InputError, match="empty"):
        resolve_task(text)


def _pose(xyz, yaw=0.0, roll=0.0):
    return np.asarray(xyz, float), Rotation.from_euler("xyz", [roll, 0.0, yaw]).as_quat()


def test_lid_predicate_geometry():
    task = TASKS["lid_on_pot"]
    pot, lid = task.object("pot").shape, task.object("lid").shape
    pot_pos = np.array([0.6, 0.1, 0.625]) + pot.com
    rim = 0.625 + pot.anchors["rim"][2]
    on = {"pot": _pose(pot_pos), "lid": _pose([0.6, 0.1, rim + lid.com[2] + 0.002])}
    assert task.success(on)
    off_centre = dict(on, lid=_pose([0.65, 0.1, rim + lid.com[2]]))
    assert not task.success(off_centre)
    floating = dict(on, lid=_pose([0.6, 0.1, rim + lid.com[2] + 0.05]))
    assert not task.success(floating)
    tilted = dict(on, lid=_pose([0.6, 0.1, rim + lid.com[2]], roll=math.radians(30)))
    assert not task.success(tilted)
    # the predicate works in the pot's frame: a rotated pot changes nothing
    rotated = {"pot": _pose(pot_pos, yaw=1.0), "lid": on["lid"]}
    assert task.success(rotated)


def test_tilt():
    assert tilt([0, 0, 0, 1]) == pytest.approx(0.0)
    assert tilt(Rotation.from_euler("x", 0.5).as_quat()) == pytest.approx(0.5)
    assert tilt(Rotation.from_euler("z", 2.0).as_quat()) == pytest.approx(0.0, abs=1e-7)
