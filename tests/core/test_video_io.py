"""Generated videos on disk: round trip, atomicity, clear errors; contact sheet."""

import json

import numpy as np
import pytest

from physworld.errors import ArtefactError, InputError
from physworld.video import GeneratedVideo, load_video, save_contact_sheet, save_video
from physworld.video.sheet import sheet_indices


def _video(n=4, aux=True):
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, (n, 20, 28, 3), dtype=np.uint8)
    extra = {}
    if aux:
        depth = rng.uniform(0.5, 2.0, (n, 20, 28)).astype(np.float32)
        depth[0, 0, 0] = np.nan
        extra = {"depth": depth, "object_poses": {"lid": rng.normal(size=(n, 7)), "pot": rng.normal(size=(n, 7))}}
    return GeneratedVideo(frames, 5.0, "put the lid on the pot", 3, "sim_rollout", extra, {"task_name": "lid_on_pot"})


def test_round_trip(tmp_path):
    v = _video()
    out = save_video(v, tmp_path / "vid")
    assert sorted(p.name for p in out.iterdir()) == ["aux.npz", "frames", "video.json", "video.mp4"]
    assert len(list((out / "frames").glob("*.png"))) == 4
    w = load_video(out)
    np.testing.assert_array_equal(w.frames, v.frames)
    np.testing.assert_array_equal(w.aux["depth"], v.aux["depth"])
    np.testing.assert_array_equal(w.aux["object_poses"]["lid"], v.aux["object_poses"]["lid"])
    assert (w.fps, w.task_text, w.seed, w.backend, w.meta) == (5.0, v.task_text, 3, "sim_rollout", v.meta)
    assert load_video(out, load_aux=False).aux == {}


def test_video_without_aux_and_overwrite(tmp_path):
    save_video(_video(aux=True), tmp_path / "v")
    save_video(_video(n=3, aux=False), tmp_path / "v")  # replaces the directory atomically
    w = load_video(tmp_path / "v")
    assert w.n_frames == 3 and w.aux == {}
    assert not (tmp_path / "v" / "aux.npz").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["v"]  # no staging leftovers


def test_mp4_is_readable(tmp_path):
    import cv2

    save_video(_video(n=5), tmp_path / "v")
    cap = cv2.VideoCapture(str(tmp_path / "v" / "video.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 5


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(ArtefactError, match="not found"):
        load_video(tmp_path / "nothing")
    out = save_video(_video(), tmp_path / "v")
    (out / "frames" / "000002.png").write_bytes(b"not a png")
    with pytest.raises(ArtefactError, match="000002.png: not a readable PNG"):
        load_video(out)
    (out / "frames" / "000002.png").unlink()
    with pytest.raises(ArtefactError, match="frame 000002.png is missing"):
        load_video(out)

    out = save_video(_video(), tmp_path / "w")
    (out / "aux.npz").write_bytes(b"garbage")
    with pytest.raises(ArtefactError, match="aux.npz: not a readable"):
        load_video(out)
    (out / "aux.npz").unlink()
    with pytest.raises(ArtefactError, match="aux.npz: missing"):
        load_video(out)

    out = save_video(_video(), tmp_path / "x")
    (out / "video.json").write_text("{")
    with pytest.raises(ArtefactError, match="not valid JSON"):
        load_video(out)
    (out / "video.json").write_text(json.dumps({"n_frames": 4}))
    with pytest.raises(ArtefactError, match="missing fields"):
        load_video(out)


def test_failed_save_leaves_nothing(tmp_path):
    v = _video()
    v.aux["bad"] = "a string"
    with pytest.raises(ArtefactError, match="only arrays"):
        save_video(v, tmp_path / "v")
    assert list(tmp_path.iterdir()) == []


def test_generated_video_validation():
    with pytest.raises(InputError, match="uint8"):
        GeneratedVideo(np.zeros((2, 4, 4, 3), np.float32), 5.0, "x", 0, "b")
    with pytest.raises(InputError, match="fps"):
        GeneratedVideo(np.zeros((2, 4, 4, 3), np.uint8), 0.0, "x", 0, "b")


def test_contact_sheet(tmp_path):
    assert sheet_indices(10, 4) == [0, 3, 6, 9]
    assert sheet_indices(3, 8) == [0, 1, 2]
    path = save_contact_sheet(_video(n=6), tmp_path / "sheet.png", n=3)
    import cv2

    img = cv2.imread(str(path))
    assert img is not None and img.shape[1] > img.shape[0]
