"""The task suite: the PhysWorld real-world tasks (paper IV) rebuilt from PyBullet primitives.

Each :class:`TaskSpec` names the object the robot must move, the objects of the scene (shape,
mass, friction, colour, nominal placement, randomisation ranges), a motion template used by the
scripted video generator, and a success predicate on the final object poses (types and predicate
geometry in :mod:`physworld.sim.taskspec`). Predicates use the NOMINAL geometry; their
tolerances are wide enough to cover the small size randomisation (+-3 %).
"""

from __future__ import annotations

import math
import re

import numpy as np

from ..errors import InputError, UnknownTaskError
from . import assets as A
from .motions import Place, Pour, Stroke
from .taskspec import (  # noqa: F401  (re-exported: the public names of the task API)
    TABLE_TOP_Z,
    ObjectSpec,
    Poses,
    TaskSpec,
    count_in_container,
    in_build_frame,
    radial,
    small_items,
    tilt,
)

# ---------------------------------------------------------------------------------------------
# the tasks

_GREY, _DARK, _WOOD = (0.62, 0.64, 0.67, 1), (0.22, 0.22, 0.26, 1), (0.55, 0.38, 0.22, 1)
_WHITE, _RED = (0.93, 0.93, 0.9, 1), (0.85, 0.15, 0.12, 1)
_CANDY = ((0.9, 0.1, 0.1, 1), (0.95, 0.8, 0.1, 1), (0.1, 0.7, 0.2, 1), (0.15, 0.3, 0.9, 1), (1.0, 0.5, 0.0, 1))


def _lid_on_pot() -> TaskSpec:
    pot, lid = A.container(0.085, 0.10, 0.008, 0.01), A.lid(0.092, 0.008, 0.014, 0.025)
    rim = pot.anchors["rim"][2]

    def ok(poses: Poses) -> bool:
        v = in_build_frame(poses, "lid", "pot", pot)
        bottom = v[2] - lid.com[2]
        return radial(v) <= 0.03 and rim - 0.01 <= bottom <= rim + 0.02 and tilt(poses["lid"][1]) < math.radians(15)

    return TaskSpec(
        "lid_on_pot",
        "put the lid on the pot",
        ("lid on pot", "cover the pot", "close the pot with the lid"),
        "lid",
        (
            ObjectSpec("pot", "pot", pot, 0.8, 0.6, _GREY, (0.60, 0.13)),
            ObjectSpec("lid", "lid", lid, 0.2, 0.6, _DARK, (0.47, -0.14)),
        ),
        ok,
        "lid centre within 3 cm of the pot axis, lid bottom between 1 cm below and 2 cm above the rim, tilt < 15 deg",
        Place("pot", "rim"),
    )


def _spoon_in_pan() -> TaskSpec:
    pan, spoon = A.pan(0.11, 0.045, 0.006, 0.006, 0.14, 0.03), A.spoon(0.17, 0.05, 0.035)

    def ok(poses: Poses) -> bool:
        v = in_build_frame(poses, "spoon", "pan", pan)
        return radial(v) <= 0.08 and v[2] <= pan.anchors["rim"][2]

    return TaskSpec(
        "spoon_in_pan",
        "put the spoon in the pan",
        ("spoon in pan", "place the spoon in the pan"),
        "spoon",
        (
            ObjectSpec("pan", "pan", pan, 0.6, 0.6, _DARK, (0.60, 0.12), yaw=-math.pi / 2),
            ObjectSpec("spoon", "spoon", spoon, 0.05, 0.6, _GREY, (0.46, -0.15)),
        ),
        ok,
        "spoon centre of mass within 8 cm of the pan axis and below the rim height",
        Place("pan", "floor"),
    )


def _book_in_shelf() -> TaskSpec:
    shelf, book = A.bookshelf(0.30, 0.16, 0.18, 0.012, 0.06), A.book(0.035, 0.13, 0.17)
    slot = np.asarray(shelf.anchors["slot"])

    def ok(poses: Poses) -> bool:
        v = in_build_frame(poses, "book", "shelf", shelf) - slot
        bottom = v[2] - book.com[2]
        return abs(v[1]) <= 0.03 and abs(v[0]) <= 0.05 and bottom <= 0.02 and tilt(poses["book"][1]) < math.radians(20)

    return TaskSpec(
        "book_in_shelf",
        "put the book in the bookshelf",
        ("put the book in the shelf", "book in shelf", "shelve the book"),
        "book",
        (
            ObjectSpec("shelf", "shelf", shelf, 0.0, 0.6, _WOOD, (0.65, 0.13), yaw_jitter=math.radians(5)),
            ObjectSpec("book", "book", book, 0.3, 0.5, (0.15, 0.35, 0.7, 1), (0.46, -0.14)),
        ),
        ok,
        "book within 3 cm of the slot centre across and 5 cm along the slot, bottom within 2 cm of the shelf floor, "
        "tilt < 20 deg",
        Place("shelf", "slot", rel_yaw=math.pi / 2),
    )


def _shoe_in_shoebox() -> TaskSpec:
    sbox, shoe = A.open_box(0.32, 0.19, 0.10, 0.008), A.shoe(0.24, 0.07)

    def ok(poses: Poses) -> bool:
        v = in_build_frame(poses, "shoe", "shoebox", sbox)
        return (
            abs(v[0]) <= 0.16 - 0.05
            and abs(v[1]) <= 0.06
            and v[2] <= sbox.anchors["rim"][2]
            and tilt(poses["shoe"][1]) < math.radians(30)
        )

    return TaskSpec(
        "shoe_in_shoebox",
        "put the shoe in the shoebox",
        ("shoe in shoebox", "put the shoe in the box"),
        "shoe",
        (
            ObjectSpec("shoebox", "box", sbox, 0.4, 0.6, (0.8, 0.55, 0.3, 1), (0.63, 0.14)),
            ObjectSpec("shoe", "shoe", shoe, 0.3, 0.8, (0.5, 0.1, 0.1, 1), (0.45, -0.15)),
        ),
        ok,
        "shoe centre within the box interior (5 cm margin along, 6 cm across the axis), below the rim, tilt < 30 deg",
        Place("shoebox", "floor"),
    )


def _pour_candies() -> TaskSpec:
    cup, candy, plate = A.container(0.034, 0.09, 0.005, 0.006, n=14), A.sphere(0.009), A.plate(0.10, 0.012, 0.012)
    d = 0.0105
    offsets = [(-d, -d, 0.0), (d, -d, 0.0), (-d, d, 0.0), (d, d, 0.0), (0.0, 0.0, 0.02), (0.0, 0.0, 0.04)]
    candies = small_items("candy", "candy", candy, 6, "cup", offsets, _CANDY, 0.004, 0.5, 0.002)
    names = [c.name for c in candies]

    def ok(poses: Poses) -> bool:
        return count_in_container(poses, names, "plate", plate, 0.094 * 0.97, 0.06) >= 4

    return TaskSpec(
        "pour_candies",
        "pour the candies from the cup onto the plate",
        ("pour the candies onto the plate", "pour candies", "pour the candies from the spoon onto the plate"),
        "cup",
        (
            ObjectSpec("cup", "cup", cup, 0.12, 0.6, (0.2, 0.55, 0.75, 1), (0.47, -0.12)),
            ObjectSpec("plate", "plate", plate, 0.5, 0.6, _WHITE, (0.62, 0.14)),
            *candies,
        ),
        ok,
        ">= 4 of the 6 candies on the plate (within its inner radius, < 6 cm above its bottom)",
        Pour("plate", "surface", tilt_deg=125, height=0.07, back=0.02),
        duration_s=7.0,
    )


def _sweep_scraps() -> TaskSpec:
    pan, scrap, brush = A.dustpan(0.16, 0.13, 0.04), A.sphere(0.008), A.brush(0.12, 0.04, 0.025)  # crumpled paper
    offsets = [(-0.03, -0.17, 0), (-0.01, -0.15, 0), (0.01, -0.18, 0), (0.03, -0.16, 0), (0.0, -0.2, 0)]
    scraps = small_items("scrap", "paper", scrap, 5, "dustpan", offsets, [_WHITE], 0.003, 0.4, 0.02)
    names = [s.name for s in scraps]
    half_x = pan.dims["inner_x"] / 2 * 0.97
    y0, y1 = -0.065 * 1.03, 0.065 * 0.97

    def ok(poses: Poses) -> bool:
        n = 0
        for name in names:
            v = in_build_frame(poses, name, "dustpan", pan)
            n += abs(v[0]) <= half_x and y0 <= v[1] <= y1 and v[2] <= 0.05
        return n >= 4

    return TaskSpec(
        "sweep_scraps",
        "sweep the paper scraps into the dustpan",
        ("sweep the scraps into the dustpan", "sweep the scraps", "sweep"),
        "brush",
        (
            ObjectSpec("dustpan", "dustpan", pan, 0.0, 0.5, (0.2, 0.2, 0.25, 1), (0.60, 0.14), yaw_jitter=0.08),
            ObjectSpec("brush", "brush", brush, 0.15, 0.8, (0.75, 0.2, 0.5, 1), (0.45, -0.22)),
            *scraps,
        ),
        ok,
        ">= 4 of the 5 scraps within the dustpan's floor footprint",
        Stroke("dustpan", items=tuple(names), clearance=0.002, end_anchor="back"),
    )


def _wipe_board() -> TaskSpec:
    board, mark, sponge = A.board(0.22, 0.30, 0.01), A.box(0.02, 0.02, 0.003), A.box(0.09, 0.06, 0.035)
    offsets = [(-0.02, -0.06, 0.01), (0.02, -0.02, 0.01), (-0.015, 0.03, 0.01), (0.02, 0.07, 0.01)]
    marks = small_items("mark", "ink", mark, 4, "board", offsets, [(0.1, 0.15, 0.6, 1)], 0.002, 0.3, 0.0)
    names = [m.name for m in marks]

    def ok(poses: Poses) -> bool:
        left = 0
        for name in names:
            v = in_build_frame(poses, name, "board", board)
            on_top = abs(v[0]) <= 0.11 and abs(v[1]) <= 0.15 and v[2] >= 0.01 - 0.004
            left += on_top
        return left <= 1

    return TaskSpec(
        "wipe_board",
        "wipe the whiteboard",
        ("wipe the board", "clean the whiteboard", "wipe"),
        "sponge",
        (
            ObjectSpec("board", "whiteboard", board, 0.0, 0.3, (0.97, 0.97, 0.97, 1), (0.60, 0.08), yaw_jitter=0.08),
            ObjectSpec("sponge", "sponge", sponge, 0.05, 0.8, (0.95, 0.85, 0.2, 1), (0.45, -0.2)),
            *marks,
        ),
        ok,
        "final-pose proxy for wiping: at most 1 of the 4 ink marks (thin tiles) still lies on the board surface",
        Stroke("board", items=tuple(names), clearance=0.001, overshoot=0.05),
    )


def _water_flowers() -> TaskSpec:
    fpot, can, drop = A.flower_pot(0.07, 0.11, 0.05), A.watering_can(0.034, 0.10), A.sphere(0.007)
    d = 0.011
    offsets = [(-d, -d, 0.0), (d, -d, 0.0), (-d, d, 0.0), (d, d, 0.0), (0.0, 0.0, 0.015), (0.0, 0.0, 0.03)]
    drops = small_items("water", "water", drop, 6, "can", offsets, [(0.3, 0.6, 1.0, 1)], 0.002, 0.2, 0.001)
    names = [w.name for w in drops]

    def ok(poses: Poses) -> bool:
        return count_in_container(poses, names, "flower_pot", fpot, 0.063 * 0.97, 0.11) >= 4

    return TaskSpec(
        "water_flowers",
        "water the flowers",
        ("water the flower pot", "water the plant", "water the flowers with the can"),
        "can",
        (
            ObjectSpec("flower_pot", "flower_pot", fpot, 1.2, 0.6, (0.75, 0.4, 0.25, 1), (0.62, 0.14)),
            ObjectSpec("can", "watering_can", can, 0.15, 0.6, (0.2, 0.6, 0.3, 1), (0.47, -0.13)),
            *drops,
        ),
        ok,
        ">= 4 of the 6 water beads inside the flower pot (inner radius, below the rim)",
        Pour("flower_pot", "rim", tilt_deg=120, height=0.03, back=0.03),
        duration_s=7.0,
    )


def _pour_from_pan(name: str, food: str, food_shape, mass, friction, rolling, colour, command, aliases) -> TaskSpec:
    pan, plate = A.pan(0.10, 0.04, 0.006, 0.006, 0.13, 0.028), A.plate(0.11, 0.012, 0.012)

    def ok(poses: Poses) -> bool:
        return count_in_container(poses, [food], "plate", plate, 0.104 * 0.97, 0.07) == 1

    food_spec = ObjectSpec(
        food, food, food_shape, mass, friction, colour, (0.0, 0.0), z=0.006, parent="pan", pos_jitter=0.01,
        yaw_jitter=0.3, rolling_friction=rolling,
    )  # fmt: skip
    return TaskSpec(
        name,
        command,
        aliases,
        "pan",
        (
            ObjectSpec("pan", "pan", pan, 0.5, 0.6, _DARK, (0.48, -0.12), yaw=math.pi / 2),
            ObjectSpec("plate", "plate", plate, 0.5, 0.6, _WHITE, (0.62, 0.15)),
            food_spec,
        ),
        ok,
        f"the {food} on the plate (within its inner radius, < 7 cm above its bottom)",
        Pour("plate", "surface", tilt_deg=110, height=0.07, back=0.04),
        duration_s=7.0,
    )


def _stack_block() -> TaskSpec:
    base, top = A.box(0.06, 0.06, 0.06), A.box(0.045, 0.045, 0.045)

    def ok(poses: Poses) -> bool:
        v = in_build_frame(poses, "block", "base_block", base)
        bottom = v[2] - top.com[2]
        return radial(v) <= 0.015 and abs(bottom - 0.06) <= 0.01 and tilt(poses["block"][1]) < math.radians(10)

    return TaskSpec(
        "stack_block",
        "stack the red block on the green block",
        ("stack the blocks", "stack block", "put the red block on the green block"),
        "block",
        (
            ObjectSpec("base_block", "block", base, 0.3, 0.6, (0.2, 0.7, 0.25, 1), (0.60, 0.10)),
            ObjectSpec("block", "block", top, 0.1, 0.6, _RED, (0.47, -0.13)),
        ),
        ok,
        "block centre within 1.5 cm of the base block's axis, bottom within 1 cm of its top face, tilt < 10 deg",
        Place("base_block", "top"),
    )


def _build_tasks() -> dict[str, TaskSpec]:
    tasks = [
        _lid_on_pot(),
        _spoon_in_pan(),
        _book_in_shelf(),
        _shoe_in_shoebox(),
        _pour_candies(),
        _sweep_scraps(),
        _wipe_board(),
        _water_flowers(),
        _pour_from_pan(
            "pour_tomato", "tomato", A.sphere(0.026), 0.08, 0.6, 0.004, _RED,
            "pour the tomato from the pan onto the plate", ("pour the tomato onto the plate", "pour tomato"),
        ),
        _pour_from_pan(
            "pour_fish", "fish", A.box(0.10, 0.04, 0.02), 0.06, 0.3, 0.0, (0.75, 0.75, 0.8, 1),
            "pour the fish from the pan onto the plate", ("pour the fish onto the plate", "pour fish"),
        ),
        _stack_block(),
    ]  # fmt: skip
    return {t.name: t for t in tasks}


TASKS: dict[str, TaskSpec] = _build_tasks()


def list_tasks() -> list[TaskSpec]:
    return list(TASKS.values())


_ARTICLES = re.compile(r"\b(the|a|an)\b")


def normalise_text(text: str) -> str:
    """Lower case, '_' as space, no punctuation or articles, single spaces."""
    t = text.lower().replace("_", " ")
    t = re.sub(r"[^\w\s]", " ", t)
    t = _ARTICLES.sub(" ", t)
    return " ".join(t.split())


def resolve_task(name_or_text: str) -> TaskSpec:
    """A task by name (``lid_on_pot``), command ("Put the lid on the pot.") or alias."""
    if not isinstance(name_or_text, str) or not name_or_text.strip():
        raise InputError("task text is empty: give a task name or command, e.g. 'put the lid on the pot'")
    key = normalise_text(name_or_text)
    for task in TASKS.values():
        if key in {normalise_text(s) for s in (task.name, task.command, *task.aliases)}:
            return task
    known = "; ".join(f"{t.name} ('{t.command}')" for t in TASKS.values())
    raise UnknownTaskError(f"unknown task {name_or_text!r}; known tasks: {known}")
