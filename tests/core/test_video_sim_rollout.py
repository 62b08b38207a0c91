"""Embedded sim_rollout video generator, the interface checks and the registry."""

import numpy as np
import pytest

from physworld.errors import ConfigError, InputError, UnknownTaskError
from physworld.sim.world import build_task_scene
from physworld.video import GeneratedVideo, available_generators, make_generator, register_generator
from physworld.video.base import VideoGenerator

SIZE = (160, 120)
TASK = "put the lid on the pot"


@pytest.fixture(scope="module")
def first_rgb():
    scene = build_task_scene("lid_on_pot", 4, image_size=SIZE)
    rgb = scene.render()[0]
    scene.close()
    return rgb


@pytest.fixture(scope="module")
def plain_video(first_rgb):
    calls = []
    video = make_generator("sim_rollout").generate(first_rgb, TASK, 6, 4, progress=lambda d, t: calls.append((d, t)))
    return video, calls


def test_video_shapes_dtypes_and_sidecar(plain_video, first_rgb):
    video, calls = plain_video
    assert isinstance(video, GeneratedVideo) and video.backend == "sim_rollout" and video.seed == 4
    assert video.frames.shape == (6, SIZE[1], SIZE[0], 3) and video.frames.dtype == np.uint8
    np.testing.assert_array_equal(video.frames[0], first_rgb)
    assert video.fps == pytest.approx(5 / 6.0)  # lid_on_pot lasts 6 s
    assert video.aux["depth"].shape == (6, SIZE[1], SIZE[0]) and video.aux["depth"].dtype == np.float32
    poses = video.aux["object_poses"]
    assert set(poses) == {"pot", "lid"} and poses["lid"].shape == (6, 7)
    assert poses["lid"][0, 2] < poses["lid"][2, 2]  # lifted mid-way
    assert calls == [(i, 6) for i in range(1, 7)]
    assert not np.array_equal(video.frames[0], video.frames[-1])  # something moved
    assert video.meta["task_name"] == "lid_on_pot" and video.meta["robot_visible"]


def test_final_poses_satisfy_the_task(plain_video):
    from physworld.sim.tasks import TASKS

    poses = {n: (p[-1, :3], p[-1, 3:]) for n, p in plain_video[0].aux["object_poses"].items()}
    assert TASKS["lid_on_pot"].success(poses)


def test_same_seed_same_video(plain_video, first_rgb):
    again = make_generator("sim_rollout").generate(first_rgb, "lid_on_pot", 6, 4)
    np.testing.assert_array_equal(again.frames, plain_video[0].frames)


def test_artefacts_change_frames_but_not_the_first(plain_video, first_rgb):
    base = plain_video[0].frames
    outs = {}
    for name in ("blur", "jitter", "drift", "occluder"):
        v = make_generator("sim_rollout", artefacts=name).generate(first_rgb, TASK, 6, 4)
        np.testing.assert_array_equal(v.frames[0], base[0])
        assert np.abs(v.frames[1:].astype(int) - base[1:]).mean() > 0.05, name
        assert v.aux["depth"].shape == (6, SIZE[1], SIZE[0])
        outs[name] = v
    skin = np.array([224, 172, 138])
    occ = outs["occluder"].frames[3].astype(int)
    assert (np.abs(occ - skin).max(axis=2) < 45).sum() > 20  # a hand-coloured blob appeared
    # seeded: the same request gives the same artefacts
    again = make_generator("sim_rollout", artefacts="jitter").generate(first_rgb, TASK, 6, 4)
    np.testing.assert_array_equal(again.frames, outs["jitter"].frames)


def test_image_from_another_seed_is_rejected(first_rgb):
    with pytest.raises(InputError, match="not the scene of task 'lid_on_pot' with seed 5"):
        make_generator("sim_rollout").generate(first_rgb, TASK, 4, 5)


def test_image_of_another_task_is_rejected(first_rgb):
    with pytest.raises(InputError, match="not the scene of task 'stack_block'"):
        make_generator("sim_rollout").generate(first_rgb, "stack the blocks", 4, 4)


def test_request_validation(first_rgb):
    gen = make_generator("sim_rollout")
    with pytest.raises(InputError, match="uint8"):
        gen.generate(first_rgb.astype(np.float32), TASK, 4, 4)
    with pytest.raises(InputError, match="HxWx3"):
        gen.generate(first_rgb[..., 0], TASK, 4, 4)
    with pytest.raises(InputError, match="empty"):
        gen.generate(first_rgb, "  ", 4, 4)
    for n in (1, 501, 2.5):
        with pytest.raises(InputError, match="n_frames"):
            gen.generate(first_rgb, TASK, n, 4)
    with pytest.raises(InputError, match="seed"):
        gen.generate(first_rgb, TASK, 4, -1)
    with pytest.raises(UnknownTaskError, match="known tasks"):
        gen.generate(first_rgb, "fold the laundry", 4, 4)


def test_progress_callback_can_cancel(first_rgb):
    class Cancelled(Exception):
        pass

    def cancel(done, total):
        if done == 2:
            raise Cancelled()

    with pytest.raises(Cancelled):
        make_generator("sim_rollout").generate(first_rgb, TASK, 5, 4, progress=cancel)


def test_registry():
    assert {"sim_rollout", "http"} <= set(available_generators())
    with pytest.raises(ConfigError, match="unknown video generator 'veo9'.*sim_rollout"):
        make_generator("veo9")
    with pytest.raises(ConfigError, match="unknown video artefact 'rain'"):
        make_generator("sim_rollout", artefacts="blur,rain")
    with pytest.raises(ConfigError, match="no option"):
        make_generator("sim_rollout", colour="red")

    class Const(VideoGenerator):
        name = "const"

        def _generate(self, first_rgb, task_text, n_frames, seed, progress):
            return GeneratedVideo(np.repeat(first_rgb[None], n_frames, 0), 5.0, task_text, seed, self.name)

    register_generator("const_test", Const)
    v = make_generator("const_test").generate(np.zeros((16, 16, 3), np.uint8), "x", 3, 0)
    assert v.n_frames == 3 and "const_test" in available_generators()
