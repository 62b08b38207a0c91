import numpy as np
import pytest

from physworld.errors import ArtefactError, ConfigError, InputError
from physworld.recon.depth import SimRelativeDepth, check_frames, make_depth_estimator


def _video(T=3, H=24, W=32, seed=0):
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 255, (T, H, W, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:H, 0:W]
    depth = np.broadcast_to(0.8 + 0.02 * yy + 0.01 * xx, (T, H, W)).astype(np.float32).copy()
    depth[:, 0, 0] = np.nan  # no reading
    return frames, depth


def test_sim_relative_is_affine_distorted_noisy_depth():
    frames, depth = _video()
    est = make_depth_estimator("sim_relative", seed=3, outlier_fraction=0.02)
    rel = est.estimate(frames, {"depth": depth})
    assert rel.shape == depth.shape and rel.dtype == np.float32
    assert np.all(np.isfinite(rel))  # a network always predicts something, also where depth had no reading
    s, t = est.last_transform["scale"], est.last_transform["shift"]
    assert 0.5 <= s <= 2.0 and -0.3 <= t <= 0.3
    valid = np.isfinite(depth)
    err = np.abs(s * rel[valid] + t - depth[valid])
    # noise ~1 %, 2 % outliers: the median error is small, but the data are not exact
    assert np.median(err) < 0.03
    assert np.mean(err > 0.1) > 0.005
    # it is not the identity: the hidden affine transform is a real distortion
    assert np.median(np.abs(rel[valid] - depth[valid])) > 0.01


def test_sim_relative_seeded():
    frames, depth = _video()
    a = SimRelativeDepth(seed=1).estimate(frames, {"depth": depth})
    b = SimRelativeDepth(seed=1).estimate(frames, {"depth": depth})
    c = SimRelativeDepth(seed=2).estimate(frames, {"depth": depth})
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_sim_relative_needs_sim_depth():
    frames, depth = _video()
    est = SimRelativeDepth()
    with pytest.raises(InputError, match="sim rollout"):
        est.estimate(frames, None)
    with pytest.raises(InputError, match="sim rollout"):
        est.estimate(frames, {})
    with pytest.raises(InputError, match="shape"):
        est.estimate(frames, {"depth": depth[:, :-1]})
    with pytest.raises(InputError, match="no valid"):
        est.estimate(frames, {"depth": np.full(depth.shape, np.nan, np.float32)})


def test_check_frames_errors():
    with pytest.raises(InputError, match=r"\(T, H, W, 3\)"):
        check_frames(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(InputError, match="uint8"):
        check_frames(np.zeros((1, 4, 4, 3), np.float32))
    with pytest.raises(InputError, match="no frames"):
        check_frames(np.zeros((0, 4, 4, 3), np.uint8))


def test_factory_errors():
    with pytest.raises(ConfigError, match="unknown depth backend"):
        make_depth_estimator("megasam")
    with pytest.raises(ConfigError, match="no option"):
        make_depth_estimator("sim_relative", sigma=1.0)
    with pytest.raises(ConfigError, match="needs option"):
        make_depth_estimator("transformers")
    with pytest.raises(ConfigError, match="scale_range"):
        make_depth_estimator("sim_relative", scale_range=(0.0, 1.0))


def test_transformers_missing_model_path(tmp_path):
    missing = tmp_path / "no_such_model"
    with pytest.raises(ArtefactError, match="no_such_model"):
        make_depth_estimator("transformers", model_path=missing)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArtefactError, match="config.json"):
        make_depth_estimator("transformers", model_path=tmp_path / "empty")


def _tiny_dpt(path):
    transformers = pytest.importorskip("transformers")
    import torch

    torch.manual_seed(0)
    cfg = transformers.DPTConfig(
        hidden_size=16,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=32,
        image_size=32,
        patch_size=8,
        backbone_out_indices=[0, 1, 2, 3],
        neck_hidden_sizes=[8, 8, 8, 8],
        fusion_hidden_size=8,
        reassemble_factors=[4, 2, 1, 0.5],
    )
    transformers.DPTForDepthEstimation(cfg).save_pretrained(path)
    transformers.DPTImageProcessor(size={"height": 32, "width": 32}, keep_aspect_ratio=False).save_pretrained(path)


@pytest.mark.parametrize("output", ["inverse_depth", "depth"])
def test_transformers_tiny_model_runs_per_frame(tmp_path, output):
    _tiny_dpt(tmp_path / "tiny_dpt")
    est = make_depth_estimator(
        "transformers", model_path=tmp_path / "tiny_dpt", device="cpu", output=output, batch_size=2, progress=False
    )
    frames, _ = _video(T=3, H=30, W=40)
    rel = est.estimate(frames)
    assert rel.shape == (3, 30, 40) and rel.dtype == np.float32
    assert np.all(np.isfinite(rel))
    # per-frame predictions: different images give different depth
    assert not np.allclose(rel[0], rel[1], rtol=1e-3, atol=0.0)
    if output == "inverse_depth":
        assert np.all(rel > 0)


def test_sim_relative_smears_depth_edges():
    frames, _ = _video(T=1, H=20, W=20)
    depth = np.full((1, 20, 20), 0.8, np.float32)
    depth[:, :, 10:] = 1.5  # a depth edge between columns 9 and 10
    clean = dict(mult_noise=0.0, add_noise=0.0, smooth_noise=0.0, outlier_fraction=0.0)
    est = SimRelativeDepth(seed=0, edge_blend=1.0, **clean)
    rel = est.estimate(frames, {"depth": depth})
    metric = est.last_transform["scale"] * rel + est.last_transform["shift"]
    between = (metric > 0.81) & (metric < 1.49)
    assert between[0, :, 9:11].mean() > 0.9  # flying pixels on both sides of the edge
    assert not between[0, :, :8].any() and not between[0, :, 12:].any()
    est0 = SimRelativeDepth(seed=0, edge_blend=0.0, **clean)
    rel0 = est0.estimate(frames, {"depth": depth})
    metric0 = est0.last_transform["scale"] * rel0 + est0.last_transform["shift"]
    np.testing.assert_allclose(metric0, depth, atol=1e-5)
