import numpy as np
import pytest

from physworld.errors import ConfigError, InputError
from physworld.recon.align import apply_scale_shift, fit_scale_shift
from physworld.recon.depth import SimRelativeDepth

S_TRUE, T_TRUE = 1.7, 0.25


def _scene(seed=0, outlier_fraction=0.2, H=120, W=160):
    """Relative depth and a captured metric depth with noise and one-sided gross outliers."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    metric_clean = 0.6 + 0.8 * yy / H + 0.2 * np.sin(xx / 15.0)
    rel = (metric_clean - T_TRUE) / S_TRUE
    metric = metric_clean + 0.004 * rng.standard_normal((H, W))
    out = rng.random((H, W)) < outlier_fraction
    metric[out] += rng.uniform(0.3, 1.5, out.sum())  # flying pixels / reflections: always too far
    return rel, metric, out


def test_irls_recovers_scale_shift_with_20pc_outliers_and_plain_ls_does_not():
    rel, metric, _ = _scene()
    res = fit_scale_shift(rel, metric)
    assert res.converged
    assert abs(res.scale - S_TRUE) / S_TRUE < 0.01
    assert abs(res.shift - T_TRUE) / T_TRUE < 0.01
    assert res.n_valid == rel.size
    assert res.weights.shape == rel.shape
    assert 0.7 < res.inlier_fraction < 0.85  # the outliers are down-weighted
    assert res.residual_rmse_inliers < 0.01

    # pure eq. 1 (Huber IRLS, no rejection pass): scale within 1 %, shift biased by only a few mm
    huber = fit_scale_shift(rel, metric, reject_sigma=None)
    assert abs(huber.scale - S_TRUE) / S_TRUE < 0.01
    assert abs(huber.shift - T_TRUE) < 0.005

    ls = fit_scale_shift(rel, metric, iters=0)  # plain least squares
    assert abs(ls.scale - S_TRUE) / S_TRUE > 0.02 or abs(ls.shift - T_TRUE) / T_TRUE > 0.2
    err_ls = abs(ls.scale - S_TRUE) / S_TRUE + abs(ls.shift - T_TRUE) / T_TRUE
    err_irls = abs(res.scale - S_TRUE) / S_TRUE + abs(res.shift - T_TRUE) / T_TRUE
    assert err_irls < 0.2 * err_ls


def test_fixed_huber_delta_also_works():
    rel, metric, _ = _scene(seed=1)
    res = fit_scale_shift(rel, metric, huber_delta=0.01)
    assert abs(res.scale - S_TRUE) / S_TRUE < 0.01
    assert res.huber_delta == 0.01


def test_invalid_pixels_are_ignored():
    rel, metric, _ = _scene(seed=2)
    rel = rel.copy()
    metric[:10] = np.nan
    metric[10:20] = 0.0
    metric[20:25] = -1.0
    metric[25, :] = np.inf
    rel[26, :] = np.nan
    mask = np.ones_like(rel, dtype=bool)
    mask[-10:] = False
    res = fit_scale_shift(rel, metric, valid_mask=mask)
    assert res.n_valid == (120 - 27 - 10) * 160
    assert abs(res.scale - S_TRUE) / S_TRUE < 0.01
    assert np.all(res.weights[:27] == 0) and np.all(res.weights[-10:] == 0)


def test_errors():
    rel, metric, _ = _scene()
    with pytest.raises(InputError, match="valid pixel"):
        fit_scale_shift(rel, np.full_like(metric, np.nan))
    with pytest.raises(InputError, match="valid pixel"):
        fit_scale_shift(rel[:5, :5], metric[:5, :5], min_valid=100)
    with pytest.raises(InputError, match="same shape"):
        fit_scale_shift(rel, metric[:-1])
    with pytest.raises(InputError, match="constant"):
        fit_scale_shift(np.ones_like(rel), metric)
    with pytest.raises(InputError, match="inverse depth"):
        fit_scale_shift(1.0 / (metric + 0.1), metric)
    with pytest.raises(ConfigError, match="huber_delta"):
        fit_scale_shift(rel, metric, huber_delta=0.0)
    with pytest.raises(ConfigError, match="reject_sigma"):
        fit_scale_shift(rel, metric, reject_sigma=1.0)


def test_apply_scale_shift():
    rel = np.array([[[0.1, 0.5], [-1.0, np.nan]]])
    out = apply_scale_shift(rel, 2.0, 0.1)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], [0.3, 1.1], rtol=1e-6)
    assert np.isnan(out[0, 1, 0]) and np.isnan(out[0, 1, 1])  # negative metric depth -> NaN
    with pytest.raises(InputError, match="scale"):
        apply_scale_shift(rel, -1.0, 0.0)


def test_recovers_sim_relative_backend_transform():
    rng = np.random.default_rng(0)
    H, W, T = 60, 80, 4
    yy, xx = np.mgrid[0:H, 0:W]
    depth = np.stack([0.7 + 0.6 * yy / H + 0.05 * k + 0.01 * xx / W for k in range(T)]).astype(np.float32)
    frames = rng.integers(0, 255, (T, H, W, 3), dtype=np.uint8)
    est = SimRelativeDepth(seed=7, outlier_fraction=0.05)
    rel = est.estimate(frames, {"depth": depth})
    captured = depth[0] + 0.003 * rng.standard_normal((H, W))
    res = fit_scale_shift(rel[0], captured)
    s, t = est.last_transform["scale"], est.last_transform["shift"]
    assert abs(res.scale - s) / s < 0.01
    assert abs(res.shift - t) < 0.01
    # gross errors in the relative depth are leverage points: Huber weights alone leave a bias
    huber = fit_scale_shift(rel[0], captured, reject_sigma=None)
    assert abs(huber.scale - s) / s > 2 * abs(res.scale - s) / s
    metric = apply_scale_shift(rel, res.scale, res.shift)
    assert np.nanmedian(np.abs(metric - depth)) < 0.02  # applied to all frames
