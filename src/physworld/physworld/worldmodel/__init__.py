"""4D generative world model with physics-guided sim-to-real adaptation (paper 000).

Modules: ``config`` (settings), ``model`` (encoder E, dynamics D, renderer R), ``networks2d``
(PatchGAN discriminator, real-only 2D baseline, Geo-C depth estimator), ``sim_data`` /
``domain_shift`` / ``real_data`` / ``clips`` / ``sources`` (data), ``losses`` / ``objectives`` /
``train`` (stages 1 and 2), ``checkpoint``, ``metrics`` (FVD, Geo-C), ``evaluate``, ``experiment``
(Table I), ``plots``. Heavy imports (torch, pybullet) happen in those modules, not here.
"""

from __future__ import annotations


def load_world_model(path, device: str = "auto"):
    """A trained world-model (or 2D baseline) checkpoint as an eval-mode module, plus its payload."""
    from ..device import resolve_device
    from .checkpoint import load_model

    return load_model(path, expect_kind=("world_model_4d", "video_2d"), device=resolve_device(device))
