"""`physworld worldmodel ...` commands end to end (tiny config) and the world_model video backend."""

import json

import numpy as np
import pytest

from physworld.cli_worldmodel import register
from physworld.errors import ConfigError
from physworld.video.base import available_generators, make_generator

TINY_YAML = """
model: {image_size: [16, 16], grid_size: [8, 8, 8], channels: 4, encoder_width: 8, depth_bins: 8, render_samples: 8}
sim_data: {clip_len: 3}
pretrain: {steps: 2, batch_size: 2, device: cpu}
adapt: {steps: 2, batch_size: 2, device: cpu}
real_only: {steps: 2, batch_size: 2, device: cpu}
depth_estimator: {steps: 2, batch_size: 2, device: cpu}
experiment: {syn_clips: 3, real_clips: 3, test_clips: 3, fvd_feature_dim: 4, geo_min_pixels: 1, rollout_examples: 1}
"""


def run_cli(argv):
    import argparse

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def table_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("wm")
    (d / "tiny.yaml").write_text(TINY_YAML)
    assert run_cli(["worldmodel", "table", "--config", str(d / "tiny.yaml"), "--out", str(d / "exp"), "--quiet"]) == 0
    return d


def test_table_writes_every_method_with_named_features(table_dir):
    exp = table_dir / "exp"
    t = json.loads((exp / "table.json").read_text())
    assert set(t["rows"]) == {"direct_transfer", "real_only_2d", "adapted", "ablation_lambda_p0", "ablation_lambda_a0"}
    for key, row in t["rows"].items():
        assert np.isfinite(row["fvd"]["value"]) and np.isfinite(row["geo_c"]["value"]), key
        assert ("geo_c_rendered" in row) == (key != "real_only_2d")
    assert "NOT I3D" in t["fvd_features"] and t["fvd_comparable_to_published"] is False
    assert "stand-in" in t["perceptual"] and "stand-in" in t["geo_c_depth_source"]
    for check in t["ordering"]["checks"].values():
        assert set(check) == {"holds", "intervals_disjoint"}
    lo, hi = t["rows"]["adapted"]["fvd"]["ci95_bootstrap"]
    assert lo <= hi
    md = (exp / "table.md").read_text()
    assert "NOT LPIPS" in md and "Paper ordering" in md
    for key in t["rows"]:
        assert (exp / f"rollouts_{key}.png").stat().st_size > 1000
    assert (exp / "fig3_rollouts.png").is_file()


def test_pretrain_adapt_evaluate_commands(table_dir):
    cfg = str(table_dir / "tiny.yaml")
    run = table_dir / "run"
    assert run_cli(["worldmodel", "pretrain", "--config", cfg, "--out", str(run), "--quiet"]) == 0
    assert (
        run_cli(
            [
                "worldmodel",
                "adapt",
                "--config",
                cfg,
                "--init",
                str(run / "syn.pt"),
                "--out",
                str(run),
                "--lambda-p",
                "0",
                "--quiet",
            ]
        )
        == 0
    )
    rep = json.loads((run / "adapt_report.json").read_text())
    assert rep["lambda_p"] == 0.0 and "SSIM" in rep["perceptual"] and (run / "adapt_losses.png").is_file()
    depth = table_dir / "exp" / "checkpoints" / "depth_estimator.pt"
    assert (
        run_cli(
            [
                "worldmodel",
                "evaluate",
                "--config",
                cfg,
                "--checkpoint",
                str(run / "adapted.pt"),
                "--depth-model",
                str(depth),
                "--out",
                str(run / "eval"),
                "--quiet",
            ]
        )
        == 0
    )
    m = json.loads((run / "eval" / "metrics.json").read_text())
    assert m["kind"] == "world_model_4d" and "geo_c" in m and "geo_c_rendered" in m


def test_world_model_video_backend(table_dir):
    ckpt = table_dir / "exp" / "checkpoints" / "adapted.pt"
    assert "world_model" in available_generators()
    gen = make_generator("world_model", checkpoint=str(ckpt), device="cpu", action=[0.05, 0.0, 0.0])
    seen = []
    first = np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8)
    video = gen.generate(first, "push the block", 4, seed=0, progress=lambda d, t: seen.append(d))
    assert video.frames.shape == (4, 40, 48, 3) and video.backend == "world_model" and seen == [1, 2, 3, 4]
    assert video.aux["world_model_depth"].shape == (4, 40, 48) and "depth" not in video.aux
    with pytest.raises(ConfigError, match="action_dim"):
        make_generator("world_model", checkpoint=str(ckpt), action=[0.1])
    with pytest.raises(ConfigError, match="checkpoint"):
        make_generator("world_model")
