"""Run-time device choice for torch code: ``auto`` picks CUDA when present, else CPU."""

from __future__ import annotations

from .errors import ConfigError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto"):
    import torch

    if name not in DEVICE_CHOICES and not name.startswith("cuda:"):
        raise ConfigError(f"device must be one of {DEVICE_CHOICES} or 'cuda:N', got {name!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} was asked for but torch sees no CUDA device; use 'auto' or 'cpu'")
    return torch.device(name)
