"""Configuration of the 4D world model (paper 000): model shape, sim data, training stages, experiment.

One YAML file holds optional sections ``model``, ``sim_data``, ``pretrain``, ``adapt``, ``experiment``;
each is validated into its dataclass (unknown keys and bad values raise ``ConfigError`` naming the
section and field). Units are metres; the voxel grid is an axis-aligned box in the camera's optical
frame (x right, y down, z forward), so it is egocentric by construction.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from ..config import from_dict, load_yaml, param
from ..errors import ConfigError


@dataclass
class ModelConfig:
    image_size: list[int] = param([32, 32], "input/render image size [height, width] in pixels")
    fov_y_deg: float = param(60.0, "vertical field of view of the pinhole camera", range=(5.0, 170.0))
    grid_size: list[int] = param([16, 16, 16], "voxel grid [D (z), H (y), W (x)]")
    grid_bounds: list[float] = param(
        [-1.1, 1.1, -1.1, 0.45, 0.3, 1.9], "voxel box in the optical frame [xmin, xmax, ymin, ymax, zmin, zmax] (m)"
    )
    channels: int = param(8, "latent channels C of the voxel grid", range=(2, 256))
    encoder_width: int = param(32, "channels of the 2D image encoder", range=(4, 512))
    depth_bins: int = param(16, "bins of the predicted depth distribution along each ray", range=(2, 256))
    render_samples: int = param(16, "samples per ray of the volume renderer", range=(2, 512))
    action_dim: int = param(3, "action / ego-motion vector size (0: no action input)", range=(0, 64))
    action_scale: float = param(10.0, "actions are multiplied by this before entering the dynamics", range=(0.0, 1e4))
    dynamics_layers: int = param(1, "stacked 3D ConvGRU cells in the dynamics", range=(1, 4))

    @property
    def height(self) -> int:
        return self.image_size[0]

    @property
    def width(self) -> int:
        return self.image_size[1]


@dataclass
class SimDataConfig:
    clip_len: int = param(6, "frames per clip", range=(2, 200))
    fps: float = param(10.0, "frames per second of the clips", range=(1.0, 120.0))
    objects_min: int = param(1, "fewest primitives per scene", range=(1, 10))
    objects_max: int = param(3, "most primitives per scene", range=(1, 10))
    fall_prob: float = param(0.5, "probability that an object starts in the air and falls", range=(0.0, 1.0))
    drop_height: list[float] = param(
        [0.05, 0.2], "height range above rest of a falling object (m); small enough to start in view"
    )
    camera_motion: str = param(
        "random",
        "camera motion: none, lateral (along the camera x axis), random",
        choices=("none", "lateral", "random"),
    )
    camera_speed: list[float] = param([0.02, 0.06], "camera speed range (m per frame)")
    camera_height: float = param(0.7, "camera height above the plane (m)", range=(0.1, 10.0))
    camera_pitch_deg: float = param(50.0, "camera pitch below the horizon", range=(5.0, 89.0))


@dataclass
class StageConfig:
    """One training stage (pretrain, adapt, real-only baseline, depth estimator)."""

    steps: int = param(300, "optimiser steps", range=(1, 10_000_000))
    batch_size: int = param(4, "clips per batch", range=(1, 4096))
    lr: float = param(2e-3, "Adam learning rate", range=(1e-7, 1.0))
    disc_lr: float = param(2e-4, "discriminator learning rate", range=(1e-7, 1.0))
    seed: int = param(0, "seed of initialisation and batch sampling", range=(0, 2**31 - 1))
    device: str = param("auto", "torch device: auto, cpu, cuda or cuda:N")
    checkpoint_every: int = param(100, "steps between checkpoints", range=(1, 10_000_000))
    grad_clip: float = param(5.0, "gradient norm clip (0: off)", range=(0.0, 1e6))
    w_rgb: float = param(1.0, "weight of the RGB L1 term", range=(0.0, 1e4))
    w_perceptual: float = param(0.2, "weight of the perceptual term (LPIPS or its named stand-in)", range=(0.0, 1e4))
    w_depth: float = param(1.0, "weight of the rendered-depth L1 term (stage 1 only)", range=(0.0, 1e4))
    w_opacity: float = param(0.1, "weight of the opacity BCE term (stage 1 only)", range=(0.0, 1e4))
    w_motion: float = param(
        2.0, "extra per-pixel weight on moving pixels, from ground-truth flow (stage 1)", range=(0.0, 1e4)
    )
    lambda_p: float = param(1.0, "lambda_p of eq. 4 (physics regularisation)", range=(0.0, 1e6))
    lambda_a: float = param(0.05, "lambda_a of eq. 4 (adversarial term)", range=(0.0, 1e6))
    perceptual_weights: str = param("", "local TorchScript LPIPS module; empty: SSIM stand-in (named in outputs)")


@dataclass
class ExperimentConfig:
    syn_clips: int = param(96, "synthetic training clips (stage 1)", range=(1, 1_000_000))
    real_clips: int = param(
        96, "domain-shifted 'real' training clips (stage 2, real-only baseline)", range=(1, 1_000_000)
    )
    test_clips: int = param(32, "held-out 'real' test clips", range=(2, 1_000_000))
    seed: int = param(0, "experiment seed", range=(0, 2**31 - 1))
    fvd_features: str = param("", "local TorchScript I3D-style video network; empty: tiny random 3D CNN")
    fvd_feature_dim: int = param(16, "feature size of the tiny FVD network", range=(2, 4096))
    geo_depth_model: str = param("", "local TorchScript depth model for Geo-C; empty: train the small stand-in")
    geo_min_pixels: int = param(4, "fewest mask pixels for a per-object depth sample in Geo-C", range=(1, 10_000))
    rollout_examples: int = param(2, "clips shown in each rollout PNG", range=(1, 16))
    threads: int = param(0, "torch CPU threads (0: torch default)", range=(0, 256))


def _default(cls):
    return field(default_factory=cls)


@dataclass
class WorldModelSettings:
    model: ModelConfig = _default(ModelConfig)
    sim_data: SimDataConfig = _default(SimDataConfig)
    pretrain: StageConfig = _default(StageConfig)
    adapt: StageConfig = field(default_factory=lambda: StageConfig(steps=120, lr=1e-3))
    real_only: StageConfig = _default(StageConfig)
    depth_estimator: StageConfig = field(default_factory=lambda: StageConfig(steps=200, batch_size=8))
    experiment: ExperimentConfig = _default(ExperimentConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


SECTIONS = {f.name: f for f in dataclasses.fields(WorldModelSettings)}


def validate_model_config(cfg: ModelConfig, source: str = "model") -> ModelConfig:
    """Shape checks ``from_dict`` cannot express: list lengths, positivity, ordered bounds."""

    def need(ok: bool, fld: str, what: str) -> None:
        if not ok:
            raise ConfigError(f"{source}.{fld}={getattr(cfg, fld)!r}: {what}")

    need(
        len(cfg.image_size) == 2 and all(v >= 8 for v in cfg.image_size),
        "image_size",
        "must be [height, width] with both >= 8",
    )
    need(len(cfg.grid_size) == 3 and all(v >= 2 for v in cfg.grid_size), "grid_size", "must be [D, H, W], each >= 2")
    b = cfg.grid_bounds
    need(
        len(b) == 6 and b[0] < b[1] and b[2] < b[3] and 0 < b[4] < b[5],
        "grid_bounds",
        "must be [xmin, xmax, ymin, ymax, zmin, zmax] with min < max and 0 < zmin",
    )
    return cfg


def model_config_from_dict(values: dict, source: str = "model") -> ModelConfig:
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: expected a mapping of model fields, got {type(values).__name__}")
    return validate_model_config(from_dict(ModelConfig, values, source=source), source)


def settings_from_dict(data: dict, source: str = "config") -> WorldModelSettings:
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {unknown}; known: {sorted(SECTIONS)}")
    base = WorldModelSettings()
    kwargs = {}
    for name in SECTIONS:
        values = data.get(name) or {}
        if not isinstance(values, dict):
            raise ConfigError(f"{source}:{name}: expected a mapping, got {type(values).__name__}")
        merged = {**dataclasses.asdict(getattr(base, name)), **values}
        kwargs[name] = from_dict(type(getattr(base, name)), merged, source=f"{source}:{name}")
    settings = WorldModelSettings(**kwargs)
    validate_model_config(settings.model, f"{source}:model")
    sd = settings.sim_data
    if sd.objects_min > sd.objects_max:
        raise ConfigError(f"{source}:sim_data.objects_min={sd.objects_min} exceeds objects_max={sd.objects_max}")
    if len(sd.drop_height) != 2 or not 0 <= sd.drop_height[0] <= sd.drop_height[1]:
        raise ConfigError(f"{source}:sim_data.drop_height={sd.drop_height!r} must be [lo, hi] with 0 <= lo <= hi")
    if len(sd.camera_speed) != 2 or not 0 <= sd.camera_speed[0] <= sd.camera_speed[1]:
        raise ConfigError(f"{source}:sim_data.camera_speed={sd.camera_speed!r} must be [lo, hi] with 0 <= lo <= hi")
    return settings


def load_settings(path: str | Path | None, overrides: dict | None = None) -> WorldModelSettings:
    """Settings from a YAML file (sections as above) plus ``{"section": {...}}`` overrides."""
    data = load_yaml(path) if path else {}
    for section, values in (overrides or {}).items():
        data.setdefault(section, {})
        if data[section] is None:
            data[section] = {}
        data[section].update(values)
    return settings_from_dict(data, source=str(path or "defaults"))
