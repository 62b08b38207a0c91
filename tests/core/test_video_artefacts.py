"""Artefact functions on synthetic frames: what each one does, and that depth stays registered."""

import numpy as np
import pytest

from physworld.errors import ConfigError
from physworld.video import artefacts as art

T, H, W = 5, 40, 48


def _frames():
    f = np.zeros((T, H, W, 3), np.uint8)
    d = np.full((T, H, W), 2.0, np.float32)
    for t in range(T):  # a bright square moving right, 1 m closer than the background
        f[t, 15:25, 5 + 6 * t : 15 + 6 * t] = 200
        d[t, 15:25, 5 + 6 * t : 15 + 6 * t] = 1.0
    return f, d


def test_parse_artefacts():
    assert art.parse_artefacts("blur, jitter,,blur") == ("blur", "jitter")
    assert art.parse_artefacts(["OCCLUDER"]) == ("occluder",)
    assert art.parse_artefacts("") == () and art.parse_artefacts(None) == ()
    with pytest.raises(ConfigError, match="unknown video artefact 'snow'"):
        art.parse_artefacts("snow")


def test_motion_blur_ghosts_the_previous_frame():
    f, _ = _frames()
    out = art.motion_blur(f, 0.4)
    np.testing.assert_array_equal(out[0], f[0])
    # where the square was in frame 1 but no longer is in frame 2, a ghost remains
    ghost = out[2, 15:25, 11:17]
    assert 40 < ghost.mean() < 200
    with pytest.raises(ConfigError):
        art.motion_blur(f, 1.5)


def test_jitter_moves_colour_and_depth_together():
    f, d = _frames()
    out_f, out_d = art.camera_jitter(f, d, np.random.default_rng(0), max_px=3.0)
    np.testing.assert_array_equal(out_f[0], f[0])
    assert not np.array_equal(out_f[1:], f[1:])
    for t in range(1, T):
        bright = out_f[t, ..., 0] > 150
        near = out_d[t] < 1.5
        assert (bright & near).sum() >= 0.8 * max(bright.sum(), near.sum())


def test_scale_drift_zooms_in_progressively():
    f, d = _frames()
    out_f, out_d = art.scale_drift(f, d, 0.2)
    sizes = [(out_d[t] < 1.5).sum() for t in range(T)]
    raw = [(d[t] < 1.5).sum() for t in range(T)]
    assert sizes[0] == raw[0] and sizes[-1] > raw[-1] * 1.2


def test_occluder_draws_a_near_blob_at_the_anchor():
    f, d = _frames()
    anchor = np.array([[10 + 6 * t, 30] for t in range(T)], float)
    out_f, out_d = art.occluder(f, d, np.random.default_rng(1), anchor, np.full(T, 2.0), radius_frac=0.15)
    np.testing.assert_array_equal(out_f[0], f[0])
    changed = np.any(out_f[3] != f[3], axis=2)
    assert changed.sum() > 20
    assert np.allclose(out_d[3][changed & (d[3] == 2.0)], 1.95)
