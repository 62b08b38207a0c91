import numpy as np
import pytest

from physworld.errors import ConfigError, InputError
from physworld.orchestration import (
    RunRecord,
    StageRecord,
    check_stages,
    check_task_text,
    save_capture,
    write_report,
)


def test_stage_lists_are_checked():
    assert check_stages(["capture", "generate_video"]) == ["capture", "generate_video"]
    with pytest.raises(ConfigError, match="unknown stage"):
        check_stages(["capture", "dance"])
    with pytest.raises(ConfigError, match="start with 'capture'"):
        check_stages(["generate_video"])
    with pytest.raises(ConfigError, match="loop order"):
        check_stages(["capture", "train_policy", "generate_video"])


def test_task_text_is_normalised_and_empty_rejected():
    assert check_task_text("  put the lid\n on the pot ") == "put the lid on the pot"
    with pytest.raises(InputError, match="empty"):
        check_task_text("   ")


def test_run_record_report_and_capture_files(tmp_path):
    rgb = np.zeros((12, 16, 3), np.uint8)
    depth = np.linspace(0.5, 1.5, 12 * 16, dtype=np.float32).reshape(12, 16)
    depth[0, 0] = np.nan
    rec = RunRecord("put the lid on the pot", tmp_path)
    outputs = save_capture(tmp_path, rgb, depth, {"width": 16, "height": 12})
    rec.add(StageRecord("capture", True, "16x12 RGB-D frame", 0.1, outputs))
    rec.add(StageRecord("generate_video", False, "backend timed out", 2.0))
    assert not rec.success
    report = write_report(rec).read_text()
    assert "FAILED" in report and "backend timed out" in report and "capture/color.png" in report
    assert np.array_equal(np.load(outputs["depth_npy"]), depth, equal_nan=True)
    assert (tmp_path / "run.json").is_file()
