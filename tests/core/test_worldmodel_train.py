"""World-model training stages: losses go down, checkpoints, resume, NaN stop, adaptation terms."""

import pytest
import torch

from physworld.errors import ArtefactError
from physworld.worldmodel import objectives
from physworld.worldmodel.checkpoint import load_model, read_checkpoint
from physworld.worldmodel.config import load_settings
from physworld.worldmodel.sim_data import generate_sim_clips
from physworld.worldmodel.train import NonFiniteLossError, adapt, pretrain, train_depth_estimator, train_real_only

TINY_MODEL = dict(image_size=[16, 16], grid_size=[8, 8, 8], channels=4, encoder_width=8, depth_bins=8, render_samples=8)


def tiny_settings(steps=4, **stage):
    st = {"steps": steps, "batch_size": 2, "checkpoint_every": 2, "device": "cpu", **stage}
    return load_settings(
        None,
        {
            "model": TINY_MODEL,
            "sim_data": {"clip_len": 3},
            "pretrain": st,
            "adapt": st,
            "real_only": st,
            "depth_estimator": st,
        },
    )


@pytest.fixture(scope="module")
def data():
    s = tiny_settings()
    syn = generate_sim_clips(s.sim_data, s.model, 4, seed=0, progress=False)
    real = generate_sim_clips(s.sim_data, s.model, 4, seed=1, textured=True, progress=False)
    return syn, real


def test_pretraining_reduces_the_loss(tmp_path, data):
    s = tiny_settings(steps=20, lr=1e-2, checkpoint_every=100)
    s.pretrain.batch_size = 4
    res = pretrain(s, data[0], tmp_path / "syn.pt", progress=False)
    first = res.history[0]["total"]
    last = sum(r["total"] for r in res.history[-5:]) / 5
    assert last < 0.8 * first
    assert {"rgb_l1", "perceptual", "depth_l1", "opacity_bce"} <= set(res.history[0])
    payload = read_checkpoint(tmp_path / "syn.pt")
    assert payload["step"] == 20 and "SSIM" in payload["meta"]["perceptual"]


def test_resume_continues_exactly(tmp_path, data):
    s = tiny_settings(steps=4)
    pretrain(s, data[0], tmp_path / "full.pt", progress=False)
    s2 = tiny_settings(steps=2)
    pretrain(s2, data[0], tmp_path / "part.pt", progress=False)
    pretrain(s, data[0], tmp_path / "part.pt", resume=True, progress=False)
    a, b = read_checkpoint(tmp_path / "full.pt"), read_checkpoint(tmp_path / "part.pt")
    assert a["step"] == b["step"] == 4 and len(b["meta"]["history"]) == 4
    for k, v in a["state"]["model"].items():
        assert torch.allclose(v, b["state"]["model"][k], atol=1e-6), k


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, data, monkeypatch):
    real_losses = objectives.Stage1Objective.generator_losses
    calls = {"n": 0}

    def poisoned(self, batch):
        out = real_losses(self, batch)
        calls["n"] += 1
        if calls["n"] == 4:
            out["depth_l1"] = out["depth_l1"] * float("nan")
            out["total"] = out["total"] + out["depth_l1"]
        return out

    monkeypatch.setattr(objectives.Stage1Objective, "generator_losses", poisoned)
    path = tmp_path / "syn.pt"
    with pytest.raises(NonFiniteLossError, match=r"step 4.*depth_l1.*syn.pt \(step 2\)"):
        pretrain(tiny_settings(steps=6), data[0], path, progress=False)
    payload = read_checkpoint(path)
    assert payload["step"] == 2 and all(torch.isfinite(v).all() for v in payload["state"]["model"].values())


def test_adaptation_starts_at_the_prior_and_logs_eq4_terms(tmp_path, data):
    s = tiny_settings(steps=3)
    pretrain(s, data[0], tmp_path / "syn.pt", progress=False)
    res = adapt(s, tmp_path / "syn.pt", data[1], tmp_path / "ad.pt", progress=False)
    h = res.history
    assert h[0]["phys"] == pytest.approx(0.0, abs=1e-12)  # theta = theta_syn at the first step
    assert h[-1]["phys"] > 0 and {"render", "adv", "disc"} <= set(h[0])
    meta = read_checkpoint(tmp_path / "ad.pt")["meta"]
    assert meta["init"].endswith("syn.pt") and meta["lambda_p"] == s.adapt.lambda_p
    s.adapt.lambda_a = 0.0
    s.adapt.lambda_p = 0.0
    res0 = adapt(s, tmp_path / "syn.pt", data[1], tmp_path / "ad0.pt", progress=False)
    assert "adv" not in res0.history[0] and "disc" not in res0.history[0]
    assert res0.history[-1]["phys"] > 0  # still measured, not optimised
    with pytest.raises(ArtefactError, match="expected one of"):
        adapt(s, _depth_ckpt(s, data, tmp_path), data[1], tmp_path / "x.pt", progress=False)


def _depth_ckpt(s, data, tmp_path):
    train_depth_estimator(s, [data[0], data[1]], tmp_path / "depth.pt", progress=False)
    return tmp_path / "depth.pt"


def test_baseline_and_depth_estimator_checkpoints(tmp_path, data):
    s = tiny_settings(steps=2)
    train_real_only(s, data[1], tmp_path / "ro.pt", progress=False)
    model, payload = load_model(tmp_path / "ro.pt")
    assert payload["kind"] == "video_2d" and model.rollout(torch.rand(1, 3, 16, 16), None, 3)["rgb"].shape[1] == 3
    depth, payload = load_model(_depth_ckpt(s, data, tmp_path))
    d = depth(torch.rand(2, 3, 16, 16))
    assert d.shape == (2, 16, 16) and (d >= s.model.grid_bounds[4]).all() and (d <= s.model.grid_bounds[5]).all()


def test_lpips_from_a_local_torchscript_file(tmp_path, data):
    class FakeLpips(torch.nn.Module):
        def forward(self, x, y):
            return (x - y).abs().mean((1, 2, 3))

    path = tmp_path / "lpips.pt"
    torch.jit.script(FakeLpips()).save(str(path))
    s = tiny_settings(steps=1, perceptual_weights=str(path))
    res = pretrain(s, data[0], tmp_path / "syn.pt", progress=False)
    assert res.perceptual.startswith("LPIPS") and "lpips.pt" in res.perceptual
    s = tiny_settings(steps=1, perceptual_weights=str(tmp_path / "nope.pt"))
    with pytest.raises(ArtefactError, match="nope.pt"):
        pretrain(s, data[0], tmp_path / "syn2.pt", progress=False)
