import threading

import numpy as np
import pytest

from physworld.errors import InputError
from physworld.rgbd import RgbdPairer, validate_rgbd
from physworld.sim.camera import CameraIntrinsics


def test_validate_rgbd_names_problems():
    rgb = np.zeros((24, 32, 3), np.uint8)
    depth = np.ones((24, 32), np.float32)
    validate_rgbd(rgb, depth, CameraIntrinsics.from_fov(32, 24, 60))
    with pytest.raises(InputError, match="all NaN"):
        validate_rgbd(rgb, np.full_like(depth, np.nan))
    with pytest.raises(InputError, match="differs"):
        validate_rgbd(rgb, np.ones((20, 32), np.float32))
    with pytest.raises(InputError, match="camera_info is 64x48"):
        validate_rgbd(rgb, depth, CameraIntrinsics.from_fov(64, 48, 60))
    with pytest.raises(InputError, match="uint8"):
        validate_rgbd(rgb.astype(np.float32), depth)


def test_pairer_matches_stamps_within_tolerance():
    p = RgbdPairer(tolerance_s=0.01)
    p.add_color(1_000_000_000, "c1")
    p.add_depth(1_050_000_000, "d_late")
    assert p.latest_pair() is None
    p.add_depth(1_005_000_000, "d1")
    c, d = p.latest_pair()
    assert (c.data, d.data) == ("c1", "d1")
    assert p.latest_pair(newer_than_ns=1_000_000_000) is None


def test_pairer_wait_wakes_on_new_frames():
    p = RgbdPairer(tolerance_s=0.01)
    threading.Timer(0.05, lambda: (p.add_color(5, "c"), p.add_depth(5, "d"))).start()
    pair = p.wait_pair(timeout_s=5.0)
    assert pair is not None and pair[0].data == "c"
    assert RgbdPairer().wait_pair(timeout_s=0.01) is None
