"""4D world model parts: encoder lifting, dynamics, volume renderer, checkpoints."""

import numpy as np
import pytest
import torch

from physworld.errors import ArtefactError, ConfigError, InputError
from physworld.worldmodel.checkpoint import load_model, save_checkpoint
from physworld.worldmodel.config import ModelConfig, load_settings, model_config_from_dict
from physworld.worldmodel.geometry import composite, model_intrinsics, pixel_ray_directions, points_to_grid_coords
from physworld.worldmodel.model import WorldModel4D

TINY = dict(image_size=[16, 16], grid_size=[8, 8, 8], channels=4, encoder_width=8, depth_bins=8, render_samples=8)


def tiny_cfg(**kw) -> ModelConfig:
    return model_config_from_dict({**TINY, **kw})


def test_shapes_of_encode_step_render_rollout():
    cfg = tiny_cfg()
    m = WorldModel4D(cfg)
    x = torch.rand(2, 3, 16, 16)
    z = m.encode(x)
    assert z.shape == (2, 4, 8, 8, 8) and z.abs().max() <= 1
    assert m.step(z, torch.zeros(2, 3)).shape == z.shape
    out = m.rollout(x, torch.zeros(2, 4, 3), 5)
    assert out["rgb"].shape == (2, 5, 3, 16, 16)
    assert out["depth"].shape == out["opacity"].shape == (2, 5, 16, 16)
    assert ((out["rgb"] >= 0) & (out["rgb"] <= 1)).all()


def test_gradients_reach_every_part():
    m = WorldModel4D(tiny_cfg())
    out = m.rollout(torch.rand(1, 3, 16, 16), torch.randn(1, 2, 3), 3)
    (out["rgb"].mean() + out["depth"].mean()).backward()
    for name in ("encoder", "dynamics", "renderer"):
        grads = [p.grad for p in getattr(m, name).parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), name


def test_renderer_puts_an_opaque_slab_at_its_depth():
    """A dense slab of density at z in [1.0, 1.2] renders its front face (depth ~1.0, trilinear blur
    of half a voxel = 0.025 m) and opacity ~1 where rays hit it;
    an empty grid renders the background colour at depth = far."""
    cfg = tiny_cfg(grid_size=[32, 8, 8], render_samples=64)
    m = WorldModel4D(cfg)
    z0, z1 = cfg.grid_bounds[4], cfg.grid_bounds[5]
    zs = z0 + (torch.arange(32) + 0.5) * (z1 - z0) / 32
    slab = ((zs > 1.0) & (zs < 1.2)).float()
    with torch.no_grad():
        m.renderer.head.weight.zero_()
        m.renderer.head.bias.copy_(torch.tensor([-30.0, 0, 0, 0]))
        empty = m.render(torch.zeros(1, 4, 32, 8, 8))
        assert torch.allclose(empty["depth"], torch.full_like(empty["depth"], z1))
        assert empty["opacity"].max() < 1e-3
        m.renderer.head.weight[0, 0] = 60.0  # density from channel 0
        grid = torch.zeros(1, 4, 32, 8, 8)
        grid[:, 0] = slab.view(32, 1, 1)
        out = m.render(grid)
    centre = out["depth"][0, 6:10, 6:10]  # central rays stay inside the box's x/y extent
    assert out["opacity"][0, 6:10, 6:10].min() > 0.95
    assert torch.allclose(centre, torch.full_like(centre, 1.0), atol=0.04)


def test_composite_matches_hand_computation():
    density = torch.tensor([0.0, 1.0, 2.0]).view(1, 3, 1, 1)
    colour = torch.tensor([[1.0, 0.0, 0.5]] * 3).view(1, 3, 3, 1, 1)
    deltas = torch.full((3, 1, 1), 0.5)
    depths = torch.tensor([1.0, 2.0, 3.0])
    rgb, depth, opa = composite(density, colour, depths, deltas, torch.zeros(3), far=4.0)
    a = 1 - np.exp(-np.array([0.0, 0.5, 1.0]))
    w = a * np.concatenate([[1.0], np.cumprod(1 - a)[:-1]])
    assert opa.item() == pytest.approx(w.sum(), abs=1e-6)
    assert depth.item() == pytest.approx((w * [1, 2, 3]).sum() + (1 - w.sum()) * 4.0, abs=1e-5)
    assert rgb[0, 0].item() == pytest.approx(w @ [1.0, 0.0, 0.5], abs=1e-6)


def test_grid_coords_and_rays_are_consistent():
    cfg = tiny_cfg()
    x0, x1, y0, y1, z0, z1 = cfg.grid_bounds
    c = points_to_grid_coords(torch.tensor([[x0, y0, z0], [x1, y1, z1]]), cfg)
    assert torch.allclose(c, torch.tensor([[-1.0, -1, -1], [1, 1, 1]]))
    intr = model_intrinsics(cfg)
    d = pixel_ray_directions(intr)
    assert torch.allclose(d[..., 2], torch.ones(16, 16))
    assert d[0, 0, 0] < 0 < d[-1, -1, 0] and d[0, 0, 1] < 0 < d[-1, -1, 1]  # x right, y down


def test_bad_inputs_and_configs_name_the_field():
    m = WorldModel4D(tiny_cfg())
    with pytest.raises(InputError, match="image_size"):
        m.encode(torch.rand(1, 3, 20, 16))
    with pytest.raises(InputError, match="action_dim"):
        m.step(torch.zeros(1, 4, 8, 8, 8), torch.zeros(1, 2))
    with pytest.raises(ConfigError, match="grid_size"):
        model_config_from_dict({**TINY, "grid_size": [8, 8]})
    with pytest.raises(ConfigError, match="grid_bounds"):
        model_config_from_dict({**TINY, "grid_bounds": [1, 0, 0, 1, 0.5, 2]})
    with pytest.raises(ConfigError, match="unknown section"):
        load_settings(None, {"modle": {}})
    with pytest.raises(ConfigError, match="model.channels"):
        load_settings(None, {"model": {"channels": "eight"}})


def test_checkpoint_roundtrip_and_damage(tmp_path):
    cfg = tiny_cfg()
    m = WorldModel4D(cfg)
    path = save_checkpoint(
        tmp_path / "m.pt", kind="world_model_4d", model_cfg=cfg, state={"model": m.state_dict()}, step=3
    )
    loaded, payload = load_model(path)
    assert payload["step"] == 3
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded.render(loaded.encode(x))["rgb"], m.render(m.encode(x))["rgb"])
    with pytest.raises(ConfigError, match="image_size"):
        load_model(path, expect_config={"image_size": [32, 32]})
    bad = tmp_path / "bad.pt"
    bad.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ArtefactError, match="bad.pt"):
        load_model(bad)
    other = WorldModel4D(tiny_cfg(channels=6))
    wrong = save_checkpoint(
        tmp_path / "wrong.pt", kind="world_model_4d", model_cfg=cfg, state={"model": other.state_dict()}, step=0
    )
    with pytest.raises(ArtefactError, match="wrong.pt.*shape"):
        load_model(wrong)
    with pytest.raises(ArtefactError, match="not found"):
        load_model(tmp_path / "missing.pt")
