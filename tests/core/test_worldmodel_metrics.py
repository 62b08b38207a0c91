"""FVD (Fréchet distance over pluggable video features) and Geo-C."""

import numpy as np
import pytest
import scipy.linalg
import torch

from physworld.errors import ArtefactError, InputError
from physworld.worldmodel.metrics import (
    TinyVideoFeatures,
    frechet_distance,
    fvd,
    gaussian_stats,
    geo_c,
    make_video_features,
    per_object_depth_series,
    video_features,
)


def test_frechet_distance_closed_forms():
    mu = np.array([1.0, -2.0])
    cov = np.array([[2.0, 0.3], [0.3, 1.0]])
    assert frechet_distance(mu, cov, mu, cov) == pytest.approx(0.0, abs=1e-9)
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2
    assert frechet_distance([0.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(9.0 + 1.0)


def test_frechet_distance_matches_sqrtm_on_well_conditioned_input():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 6)), rng.normal(size=(200, 6)) @ rng.normal(size=(6, 6)) + 0.5
    (m1, c1), (m2, c2) = gaussian_stats(a), gaussian_stats(b)
    ref = ((m1 - m2) ** 2).sum() + np.trace(c1 + c2 - 2 * scipy.linalg.sqrtm(c1 @ c2).real)
    assert frechet_distance(m1, c1, m2, c2) == pytest.approx(ref, rel=1e-6)


def test_frechet_distance_is_finite_on_singular_covariances():
    rng = np.random.default_rng(1)
    few = rng.normal(size=(3, 32))  # 3 samples, 32 dims: rank-2 covariances
    other = rng.normal(size=(3, 32)) * 1e-9  # nearly zero covariance
    d = frechet_distance(*gaussian_stats(few), *gaussian_stats(other))
    assert np.isfinite(d) and d >= 0
    with pytest.raises(InputError, match="at least 2 clips"):
        gaussian_stats(few[:1])


def test_fvd_ranks_a_shifted_set_farther_and_names_its_features():
    rng = np.random.default_rng(2)
    real = rng.random((12, 4, 3, 16, 16)).astype(np.float32)
    close = np.clip(real + rng.normal(0, 0.01, real.shape), 0, 1).astype(np.float32)
    far = np.clip(real * 0.3 + 0.6, 0, 1).astype(np.float32)
    net = TinyVideoFeatures(dim=8, seed=0)
    d_close, d_far = fvd(real, close, net), fvd(real, far, net)
    assert d_close["value"] < d_far["value"]
    assert "NOT I3D" in d_far["features"] and d_far["comparable_to_published"] is False
    # fixed seed -> the same features every time; uint8 input is accepted
    a = video_features(TinyVideoFeatures(8, 0), real[:2])
    b = video_features(TinyVideoFeatures(8, 0), (real[:2].transpose(0, 1, 3, 4, 2) * 255).round().astype(np.uint8))
    assert np.allclose(a, b, atol=0.05)


def test_i3d_features_from_a_local_torchscript_file(tmp_path):
    class Fake(torch.nn.Module):
        def forward(self, x):  # (N, 3, T, S, S) -> (N, 4)
            return torch.stack(
                [x.mean((1, 2, 3, 4)), x.std((1, 2, 3, 4)), x.amax((1, 2, 3, 4)), x.amin((1, 2, 3, 4))], 1
            )

    path = tmp_path / "i3d.pt"
    torch.jit.script(Fake()).save(str(path))
    net = make_video_features(str(path))
    real = np.random.default_rng(0).random((4, 3, 3, 8, 8)).astype(np.float32)
    out = fvd(real, real * 0.5, net)
    assert out["comparable_to_published"] is True and "I3D" in out["features"] and out["value"] > 0
    with pytest.raises(ArtefactError, match="not found"):
        make_video_features(str(tmp_path / "missing.pt"))


def test_geo_c_is_zero_for_rigid_objects_and_the_depth_variance_otherwise():
    seg = np.zeros((1, 4, 8, 8), np.int32)
    seg[:, :, 2:5, 2:5] = 1
    seg[:, :, 5:8, 5:8] = 2
    depth = np.full((1, 4, 8, 8), 2.0, np.float32)
    assert geo_c(depth, seg)["value"] == pytest.approx(0.0)
    wobble = depth.copy()
    for t, d in enumerate([1.0, 1.2, 1.0, 1.2]):
        wobble[0, t][seg[0, t] == 2] = d
    g = geo_c(wobble, seg)
    assert g["n_objects"] == 2 and g["value"] == pytest.approx(np.var([1.0, 1.2, 1.0, 1.2]) / 2)
    # NaN depth and tiny masks are skipped per frame
    series = per_object_depth_series(np.where(seg[0] == 1, np.nan, depth[0]), seg[0], min_pixels=4)
    assert np.isnan(series[1]).all() and np.allclose(series[2], 2.0)
    with pytest.raises(InputError, match="no object"):
        geo_c(np.full_like(depth, np.nan), seg)
