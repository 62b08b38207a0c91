"""``physworld generate`` and ``physworld tasks`` through the CLI entry point."""

import numpy as np

from physworld import cli
from physworld.sim.tasks import TASKS
from physworld.video import load_video


def test_tasks_lists_every_task(capsys):
    assert cli.main(["tasks"]) == 0
    out = capsys.readouterr().out
    for task in TASKS.values():
        assert task.name in out and task.command in out


def test_generate_writes_video_capture_and_sheet(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["generate", "--task", "stack_block", "--seed", "2", "--frames", "4", "--out", str(out), "--size", "64x48"]
    assert cli.main(argv + ["--artefacts", "jitter"]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "contact_sheet.png" in printed
    video = load_video(out)
    assert video.frames.shape == (4, 48, 64, 3) and video.meta["artefacts"] == ["jitter"]
    obs = np.load(out / "observation.npz")
    np.testing.assert_array_equal(obs["rgb"], video.frames[0])
    assert obs["depth"].shape == (48, 64) and obs["T_world_optical"].shape == (4, 4)
    assert (out / "contact_sheet.png").stat().st_size > 0


def test_generate_reports_bad_input(tmp_path, capsys):
    assert cli.main(["generate", "--text", "juggle", "--out", str(tmp_path / "x")]) == 1
    assert "unknown task 'juggle'" in capsys.readouterr().err
    assert cli.main(["generate", "--task", "lid_on_pot", "--frames", "1", "--out", str(tmp_path / "y")]) == 1
    assert "n_frames" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()
