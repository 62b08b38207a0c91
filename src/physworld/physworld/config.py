"""Typed configuration: one YAML file keyed by node name, validated into dataclasses.

The YAML uses the ROS 2 parameter-file layout so the same file feeds ``ros2 launch``::

    camera_capture:
      ros__parameters:
        timeout_s: 2.0

Core code receives dataclass instances; nodes declare their parameters from the same dataclass
(see ``physworld.ros.params``) so names, types, ranges and defaults live in one place.
Range and choice constraints go into each field's ``metadata``: ``range=(lo, hi)``,
``choices=(...)``, ``read_only=True``, ``description="..."``.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, TypeVar

from .errors import ConfigError

T = TypeVar("T")


def param(
    default: Any, description: str, *, range: tuple | None = None, choices: tuple | None = None, read_only: bool = False
) -> Any:
    """A dataclass field carrying the metadata used for validation and ROS parameter descriptors."""
    meta = {"description": description, "range": range, "choices": choices, "read_only": read_only}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def load_yaml(path: str | Path) -> dict:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: parameter file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of node names")
    return data


def node_params(data: dict, node_name: str) -> dict:
    """Parameters of one node from a ROS 2 parameter file (``/**`` wildcard entries apply too)."""
    out: dict = {}
    for key in ("/**", node_name, f"/{node_name}"):
        entry = data.get(key)
        if entry is None:
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("ros__parameters", {}), dict):
            raise ConfigError(f"entry {key!r} must hold a 'ros__parameters' mapping")
        out.update(entry.get("ros__parameters", {}))
    return out


def from_dict(cls: type[T], values: dict, *, source: str = "config") -> T:
    """Build and validate dataclass ``cls`` from ``values``; unknown keys are an error."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{source}: unknown parameter(s) {unknown}; known: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in values.items():
        kwargs[name] = _coerce(hints[name], value, f"{source}.{name}")
    obj = cls(**kwargs)
    validate(obj, source=source)
    return obj


def validate(obj: Any, *, source: str = "config") -> None:
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        lo_hi = f.metadata.get("range")
        if lo_hi is not None:
            lo, hi = lo_hi
            if not (lo <= value <= hi):
                raise ConfigError(f"{source}.{f.name}={value!r} is out of range [{lo}, {hi}]")
        choices = f.metadata.get("choices")
        if choices is not None and value not in choices:
            raise ConfigError(f"{source}.{f.name}={value!r} is not one of {list(choices)}")


def load_config(cls: type[T], path: str | Path | None, node_name: str, overrides: dict | None = None) -> T:
    values = node_params(load_yaml(path), node_name) if path else {}
    values.update(overrides or {})
    return from_dict(cls, values, source=f"{path or 'defaults'}:{node_name}")


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where}: expected float, got {type(value).__name__} ({value!r})")
    if tp in (int, str, bool):
        if isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
            return value
        raise ConfigError(f"{where}: expected {tp.__name__}, got {type(value).__name__} ({value!r})")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        (item_tp, *_) = typing.get_args(tp) or (Any,)
        items = [v if item_tp is Any else _coerce(item_tp, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return list(items) if origin is list else tuple(items)
    return value
