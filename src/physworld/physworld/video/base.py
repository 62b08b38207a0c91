"""Video generation interface (PhysWorld III-A): one RGB image + a task command -> a task video.

A :class:`VideoGenerator` backend turns the first RGB frame and the task text into a
:class:`GeneratedVideo`. Backends: ``sim_rollout`` (embedded default: the task carried out by a
scripted object motion in a simulator, rendered), ``http`` (a remote image-to-video server), and
any registered with :func:`register_generator` (e.g. the 4D world model).

HONESTY RULE for ``GeneratedVideo.aux``. ``aux`` holds sidecar data that the embedded simulated
backend knows but a real video generator would NOT provide:

- ``aux["depth"]``: (T, H, W) float32 metric depth of the rendered frames. It may be read ONLY by
  the embedded *simulated depth estimator* (which distorts it into the relative, noisy depth a
  monocular/video depth model returns). No other stage may read it.
- ``aux["object_poses"]``: dict name -> (T, 7) ground-truth poses per frame. It may be read ONLY
  by evaluation code (metrics: tracking error, success). Reconstruction, tracking and policy code
  must NEVER read ``aux["object_poses"]``.

Backends without such knowledge (``http``) leave ``aux`` empty; stages must work without it.
"""

from __future__ import annotations

import importlib
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, InputError

MIN_FRAMES, MAX_FRAMES = 2, 500
ProgressFn = Callable[[int, int], None]


@dataclass
class GeneratedVideo:
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    fps: float
    task_text: str
    seed: int
    backend: str
    aux: dict = field(default_factory=dict)  # see the module docstring: who may read what
    meta: dict = field(default_factory=dict)  # JSON-able extras (task name, artefacts, ...)

    def __post_init__(self):
        f = self.frames
        if not isinstance(f, np.ndarray) or f.ndim != 4 or f.shape[-1] != 3 or f.dtype != np.uint8 or len(f) < 1:
            shape = getattr(f, "shape", None)
            raise InputError(f"video frames must be a (T, H, W, 3) uint8 array with T >= 1, got {shape}")
        if not np.isfinite(self.fps) or self.fps <= 0:
            raise InputError(f"video fps must be > 0, got {self.fps}")

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)"""
        return int(self.frames.shape[2]), int(self.frames.shape[1])


def validate_request(first_rgb, task_text, n_frames, seed) -> tuple[np.ndarray, str, int, int]:
    """Check a generation request; raise InputError naming the problem."""
    if not isinstance(first_rgb, np.ndarray) or first_rgb.ndim != 3 or first_rgb.shape[2] != 3:
        raise InputError(f"first image must be an HxWx3 RGB array, got shape {getattr(first_rgb, 'shape', None)}")
    if first_rgb.dtype != np.uint8:
        raise InputError(f"first image must be uint8 (rgb8), got dtype {first_rgb.dtype}")
    if min(first_rgb.shape[:2]) < 16:
        raise InputError(f"first image is too small ({first_rgb.shape[1]}x{first_rgb.shape[0]}); need >= 16 px a side")
    if not isinstance(task_text, str) or not task_text.strip():
        raise InputError("task text is empty: give the command, e.g. 'put the lid on the pot'")
    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)):
        raise InputError(f"n_frames must be an integer, got {n_frames!r}")
    if not MIN_FRAMES <= n_frames <= MAX_FRAMES:
        raise InputError(f"n_frames must be in [{MIN_FRAMES}, {MAX_FRAMES}], got {n_frames}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    return np.ascontiguousarray(first_rgb), task_text.strip(), int(n_frames), int(seed)


class VideoGenerator(ABC):
    """A video generation backend. Subclasses implement :meth:`_generate`."""

    name = "abstract"

    def generate(
        self, first_rgb: np.ndarray, task_text: str, n_frames: int, seed: int, progress: ProgressFn | None = None
    ) -> GeneratedVideo:
        """``n_frames`` RGB frames continuing ``first_rgb`` while the task is carried out.

        ``progress(done, total)`` is called as frames are produced (it may raise to cancel)."""
        first_rgb, task_text, n_frames, seed = validate_request(first_rgb, task_text, n_frames, seed)
        video = self._generate(first_rgb, task_text, n_frames, seed, progress or (lambda done, total: None))
        if video.frames.shape[1:] != first_rgb.shape:
            raise InputError(
                f"backend {self.name!r} returned frames of shape {video.frames.shape[1:]}, expected {first_rgb.shape}"
            )
        return video

    @abstractmethod
    def _generate(
        self, first_rgb: np.ndarray, task_text: str, n_frames: int, seed: int, progress: ProgressFn
    ) -> GeneratedVideo: ...


# ---------------------------------------------------------------------------------------------
# registry: name -> factory (a class or "module:attr", imported on first use)

_REGISTRY: dict[str, Callable[..., VideoGenerator] | str] = {
    "sim_rollout": "physworld.video.sim_rollout:SimRolloutGenerator",
    "http": "physworld.video.http_client:HttpVideoGenerator",
    "world_model": "physworld.video.world_model_backend:WorldModelGenerator",
}


def register_generator(name: str, factory: Callable[..., VideoGenerator] | str) -> None:
    """Add a backend: ``factory(**config)`` returns a VideoGenerator (or "module:attr" of one)."""
    if not name or not name.replace("_", "").isalnum():
        raise ConfigError(f"generator name must be snake_case, got {name!r}")
    _REGISTRY[name] = factory


def available_generators() -> list[str]:
    return sorted(_REGISTRY)


def _resolve(factory):
    if isinstance(factory, str):
        module, attr = factory.split(":")
        return getattr(importlib.import_module(module), attr)
    return factory


def make_generator(name: str, **config) -> VideoGenerator:
    """The backend ``name`` configured with ``config`` (unknown name/option -> ConfigError)."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown video generator {name!r}; available: {', '.join(available_generators())}")
    factory = _resolve(_REGISTRY[name])
    params = inspect.signature(factory).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(config) - set(params))
        if unknown:
            raise ConfigError(f"video generator {name!r} has no option(s) {unknown}; options: {sorted(params)}")
    return factory(**config)
