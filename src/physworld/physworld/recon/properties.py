"""Physical properties of scene parts (PhysWorld III-A, "physical property estimation").

The paper asks a VLM for typical mass and friction of each object category. A
:class:`PropertyEstimator` maps a category (and optionally the mesh volume) to
:class:`PhysicalProperties`. Backends (``make_property_estimator(name, **cfg)``):

``"table"`` (embedded default)
    A commonsense table (typical household items, not tuned to the simulator's values). Solid
    items carry a density and, given the mesh volume, get ``mass = density * volume`` (clipped to
    [0.25, 4] x the typical mass, since a hull of a noisy one-view reconstruction can be far off);
    hollow items (pots, cups, boxes: their closed hull is mostly air) always get the typical mass.
    Categories are normalised (lower case, spaces/hyphens -> "_", English plurals of known
    categories made singular) and looked up with aliases. Unknown categories fall back to a documented default:
    ``FALLBACK`` (0.2 kg or 500 kg/m^3 x volume, friction 0.5, restitution 0.1), flagged in
    ``source``. Background categories ("table", "background", ...) get mass 0 = static.
``"vlm"``
    HTTP client of a VLM server: ``POST <url>`` with JSON ``{"category": str, "volume_m3": float|null}``
    answered by ``{"mass_kg": float, "friction": float, "restitution": float (optional)}``. Values
    are range-checked; timeouts, HTTP errors and bad answers raise BackendError naming the server.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from dataclasses import dataclass

from ..errors import BackendError, ConfigError, InputError

MASS_RANGE = (1e-4, 200.0)  # kg, accepted for movable objects
FRICTION_RANGE = (0.0, 2.0)
RESTITUTION_RANGE = (0.0, 1.0)


@dataclass(frozen=True)
class PhysicalProperties:
    mass: float  # kg; 0 = static (fixed to the world), as in PyBullet
    friction: float  # lateral (Coulomb) friction coefficient
    restitution: float
    source: str  # which backend/rule produced the values

    @property
    def static(self) -> bool:
        return self.mass == 0.0


@dataclass(frozen=True)
class _Entry:
    mass: float  # typical mass, kg (0 = static)
    friction: float
    restitution: float = 0.1
    density: float | None = None  # kg/m^3 for solid items; None = hollow/thin: use the typical mass


# Commonsense values for everyday items (typical sizes), as a VLM would answer.
TABLE: dict[str, _Entry] = {
    "pot": _Entry(1.0, 0.5),  # steel cooking pot
    "lid": _Entry(0.3, 0.5),
    "pan": _Entry(0.8, 0.5),  # frying pan
    "spoon": _Entry(0.04, 0.4, 0.2),
    "book": _Entry(0.4, 0.5, 0.1, density=700.0),
    "shelf": _Entry(0.0, 0.5),  # furniture: static
    "shoe": _Entry(0.35, 0.8, 0.2),
    "shoebox": _Entry(0.3, 0.5),
    "box": _Entry(0.3, 0.5),  # cardboard box
    "cup": _Entry(0.25, 0.5),  # ceramic mug
    "candy": _Entry(0.005, 0.5, 0.2, density=1200.0),
    "plate": _Entry(0.4, 0.5),
    "scrap": _Entry(0.002, 0.4, 0.0),  # paper scrap
    "paper": _Entry(0.002, 0.4, 0.0),
    "dustpan": _Entry(0.2, 0.5),
    "brush": _Entry(0.1, 0.7, 0.1),
    "sponge": _Entry(0.02, 0.9, 0.0, density=30.0),
    "whiteboard": _Entry(1.5, 0.3),
    "ink": _Entry(0.001, 0.3, 0.0),  # a drawn mark
    "watering_can": _Entry(0.4, 0.5),  # empty plastic can
    "flower_pot": _Entry(1.0, 0.6),  # filled with soil
    "water": _Entry(0.002, 0.2, 0.0, density=1000.0),
    "tomato": _Entry(0.1, 0.6, 0.1, density=950.0),
    "fish": _Entry(0.15, 0.3, 0.0, density=1050.0),
    "block": _Entry(0.15, 0.6, 0.3, density=600.0),  # wooden toy block
    "table": _Entry(0.0, 0.5),
    "background": _Entry(0.0, 0.5),
    "floor": _Entry(0.0, 0.6),
    "ground": _Entry(0.0, 0.6),
}
ALIASES = {
    "board": "whiteboard",
    "can": "watering_can",
    "flowerpot": "flower_pot",
    "cooking_pot": "pot",
    "frying_pan": "pan",
    "mug": "cup",
    "shoe_box": "shoebox",
    "sweet": "candy",
    "tabletop": "table",
    "table_top": "table",
    "cube": "block",
}
FALLBACK = _Entry(0.2, 0.5, 0.1, density=500.0)


def normalise_category(category: str) -> str:
    if not isinstance(category, str) or not category.strip():
        raise InputError(f"object category must be a non-empty string, got {category!r}")
    c = "_".join(category.strip().lower().replace("-", " ").split())
    singulars = [c]
    if c.endswith("ies"):
        singulars.append(c[:-3] + "y")
    if c.endswith("es"):
        singulars.append(c[:-2])
    if c.endswith("s"):
        singulars.append(c[:-1])
    for cand in singulars:
        if cand in TABLE or cand in ALIASES:
            return ALIASES.get(cand, cand)
    return c


def _check_volume(volume: float | None) -> None:
    if volume is not None and not (volume > 0 and volume < 100.0):
        raise InputError(f"mesh volume must be in (0, 100) m^3, got {volume}")


class PropertyEstimator(ABC):
    name: str = "abstract"

    @abstractmethod
    def estimate(self, category: str, volume: float | None = None) -> PhysicalProperties:
        """Mass, friction and restitution of an object of ``category`` (mesh volume in m^3 optional)."""


class TablePropertyEstimator(PropertyEstimator):
    """Category -> properties from :data:`TABLE` (see module docstring)."""

    name = "table"

    def __init__(self, overrides: dict[str, dict] | None = None):
        self.table = dict(TABLE)
        for cat, vals in (overrides or {}).items():
            try:
                self.table[normalise_category(cat)] = _Entry(**vals)
            except TypeError as exc:
                raise ConfigError(
                    f"property override for {cat!r} must have mass/friction[/restitution/density]"
                ) from exc

    def estimate(self, category: str, volume: float | None = None) -> PhysicalProperties:
        _check_volume(volume)
        key = normalise_category(category)
        entry = self.table.get(key)
        source = f"table:{key}"
        if entry is None:
            entry, source = FALLBACK, f"table:fallback (unknown category {category!r})"
        mass = entry.mass
        if mass > 0 and entry.density is not None and volume is not None:
            m = entry.density * volume
            if entry is FALLBACK:
                mass = min(max(m, MASS_RANGE[0]), MASS_RANGE[1])
            else:
                mass = min(max(m, 0.25 * entry.mass), 4.0 * entry.mass)
            source += f" density {entry.density:g} kg/m^3 x volume"
        return PhysicalProperties(float(mass), entry.friction, entry.restitution, source)


class VlmPropertyEstimator(PropertyEstimator):
    """HTTP client of a VLM property server (see module docstring); answers are cached per category."""

    name = "vlm"

    def __init__(self, url: str, timeout_s: float = 10.0, default_restitution: float = 0.1):
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError(f"VLM server url must start with http:// or https://, got {url!r}")
        if not timeout_s > 0:
            raise ConfigError(f"timeout_s must be > 0, got {timeout_s}")
        self.url = url
        self.timeout_s = float(timeout_s)
        self.default_restitution = float(default_restitution)
        self._cache: dict[tuple[str, float | None], PhysicalProperties] = {}

    def estimate(self, category: str, volume: float | None = None) -> PhysicalProperties:
        _check_volume(volume)
        key = (normalise_category(category), volume)
        if key not in self._cache:
            self._cache[key] = self._query(category, volume)
        return self._cache[key]

    def _query(self, category: str, volume: float | None) -> PhysicalProperties:
        body = json.dumps({"category": category, "volume_m3": volume}).encode()
        req = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise BackendError(f"VLM server {self.url} answered HTTP {exc.code} for {category!r}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BackendError(
                f"VLM server {self.url} unreachable or timed out after {self.timeout_s} s ({reason}); "
                "start the server or use the 'table' property backend"
            ) from exc
        try:
            ans = json.loads(raw)
            mass, friction = float(ans["mass_kg"]), float(ans["friction"])
            restitution = float(ans.get("restitution", self.default_restitution))
        except (ValueError, KeyError, TypeError) as exc:
            raise BackendError(
                f"VLM server {self.url} gave an invalid answer for {category!r} "
                f"(need JSON with mass_kg and friction): {raw[:200]!r}"
            ) from exc
        for what, v, (lo, hi) in (
            ("mass_kg", mass, MASS_RANGE),
            ("friction", friction, FRICTION_RANGE),
            ("restitution", restitution, RESTITUTION_RANGE),
        ):
            if not lo <= v <= hi:
                raise BackendError(f"VLM server {self.url}: {what}={v} for {category!r} is outside [{lo}, {hi}]")
        return PhysicalProperties(mass, friction, restitution, f"vlm:{self.url}")


_BACKENDS = {"table": TablePropertyEstimator, "vlm": VlmPropertyEstimator}


def make_property_estimator(name: str, **cfg) -> PropertyEstimator:
    """Build a property backend by name; ``cfg`` are its constructor keywords."""
    if name not in _BACKENDS:
        raise ConfigError(f"unknown property backend {name!r}; choose one of {sorted(_BACKENDS)}")
    try:
        return _BACKENDS[name](**cfg)
    except TypeError as exc:
        raise ConfigError(f"property backend {name!r}: bad options {sorted(cfg)} ({exc})") from exc
