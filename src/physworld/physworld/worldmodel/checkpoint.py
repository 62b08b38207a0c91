"""Checkpoints: one ``.pt`` file, written atomically, read with ``weights_only=True``.

Payload: ``format``, ``version``, ``kind`` (``world_model_4d`` | ``video_2d`` | ``depth_estimator``),
``model_config`` (ModelConfig as a dict), ``state`` (``model`` and optionally ``disc``, ``opt``,
``disc_opt`` state dicts), ``step`` and ``meta`` (stage, losses, perceptual-term name...).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import nn

from ..errors import ArtefactError, ConfigError
from ..io import atomic_file
from .config import ModelConfig, model_config_from_dict
from .model import WorldModel4D
from .networks2d import DepthEstimator, VideoModel2D

FORMAT = "physworld.worldmodel.checkpoint"
VERSION = 1
KINDS = ("world_model_4d", "video_2d", "depth_estimator")


def save_checkpoint(
    path: str | Path, *, kind: str, model_cfg: ModelConfig, state: dict, step: int, meta: dict | None = None
) -> Path:
    if kind not in KINDS:
        raise ValueError(f"unknown checkpoint kind {kind!r}")
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind,
        "model_config": dataclasses.asdict(model_cfg),
        "state": state,
        "step": int(step),
        "meta": meta or {},
    }
    with atomic_file(path, suffix=".pt") as tmp:
        torch.save(payload, tmp)
    return Path(path)


def read_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ArtefactError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickle garbage, unexpected types
        raise ArtefactError(f"{path}: corrupt or unreadable checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ArtefactError(f"{path}: not a PhysWorld world-model checkpoint (field 'format' is missing or wrong)")
    if payload.get("version") != VERSION:
        raise ArtefactError(f"{path}: checkpoint version {payload.get('version')!r} is not supported ({VERSION})")
    for key in ("kind", "model_config", "state", "step"):
        if key not in payload:
            raise ArtefactError(f"{path}: checkpoint lacks field {key!r}")
    if payload["kind"] not in KINDS:
        raise ArtefactError(f"{path}: field 'kind'={payload['kind']!r} is not one of {KINDS}")
    if not isinstance(payload["state"], dict) or "model" not in payload["state"]:
        raise ArtefactError(f"{path}: field 'state' lacks the 'model' weights")
    return payload


def checkpoint_model_config(payload: dict, path: str | Path) -> ModelConfig:
    try:
        return model_config_from_dict(payload["model_config"], source=f"{path}:model_config")
    except ConfigError as exc:
        raise ArtefactError(str(exc)) from exc


def build_model(kind: str, cfg: ModelConfig, meta: dict | None = None) -> nn.Module:
    meta = meta or {}
    if kind == "world_model_4d":
        return WorldModel4D(cfg)
    if kind == "video_2d":
        return VideoModel2D(cfg)
    if kind == "depth_estimator":
        return DepthEstimator(meta.get("near", cfg.grid_bounds[4]), meta.get("far", cfg.grid_bounds[5]))
    raise ValueError(f"unknown model kind {kind!r}")


def load_state_checked(module: nn.Module, state: dict, path: str | Path, what: str = "model") -> None:
    """``load_state_dict`` with errors that name the file and the mismatching parameter."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ArtefactError(
            f"{path}: {what} weights do not fit the model built from its model_config "
            f"(missing {missing[:4]}, unexpected {unexpected[:4]})"
        )
    for name, tensor in state.items():
        if tuple(tensor.shape) != tuple(own[name].shape):
            raise ArtefactError(
                f"{path}: {what} parameter {name!r} has shape {tuple(tensor.shape)} in the file but "
                f"{tuple(own[name].shape)} in the model (check model.channels / grid_size / action_dim)"
            )
    module.load_state_dict(state)


def load_model(
    path: str | Path,
    expect_kind: str | tuple[str, ...] | None = None,
    expect_config: dict | None = None,
    device: str | torch.device = "cpu",
) -> tuple[nn.Module, dict]:
    """Model in eval mode + the payload. ``expect_config``: model fields the caller requires (e.g. the
    resolution of its data); a different value in the checkpoint raises ``ConfigError`` naming the field."""
    payload = read_checkpoint(path)
    kinds = (expect_kind,) if isinstance(expect_kind, str) else expect_kind
    if kinds and payload["kind"] not in kinds:
        raise ArtefactError(f"{path}: checkpoint holds a {payload['kind']!r} model, expected one of {list(kinds)}")
    cfg = checkpoint_model_config(payload, path)
    for field, want in (expect_config or {}).items():
        if not hasattr(cfg, field):
            raise ConfigError(f"model.{field}: no such model field")
        have = getattr(cfg, field)
        if _plain(have) != _plain(want):
            raise ConfigError(f"{path}: model.{field} is {have!r} in the checkpoint but {want!r} was required")
    model = build_model(payload["kind"], cfg, payload.get("meta"))
    load_state_checked(model, payload["state"]["model"], path)
    return model.to(device).eval(), payload


def _plain(v):
    return [float(x) for x in v] if isinstance(v, (list, tuple)) else v
