"""Data source specs used by the CLI: one string names where clips come from.

``sim``       clean synthetic clips (labelled: depth, segmentation, flow)
``sim-real``  the default "real" set: textured + camera-effect sim clips
``sim-test``  held-out "real" test clips (objects at rest, sideways camera motion)
``npz:PATH``  a saved ClipSet
``kitti:DIR`` / ``vkitti2:DIR``  KITTI / Virtual KITTI 2 folder layouts
``rosbag2:DIR[@TOPIC]``  a rosbag2 recording (image topic, default /camera/color/image_raw)
"""

from __future__ import annotations

from ..errors import ConfigError
from .clips import ClipSet, load_clips
from .config import WorldModelSettings
from .experiment import test_sim_config
from .real_data import load_kitti, load_rosbag2, load_vkitti2
from .sim_data import generate_sim_clips

SPEC_HELP = "sim | sim-real | sim-test | npz:PATH | kitti:DIR | vkitti2:DIR | rosbag2:DIR[@TOPIC]"


def open_source(spec: str, settings: WorldModelSettings, n_clips: int, seed: int, progress: bool = True) -> ClipSet:
    m, sd = settings.model, settings.sim_data
    kind, _, arg = spec.partition(":")
    if spec == "sim":
        return generate_sim_clips(sd, m, n_clips, seed, textured=False, progress=progress)
    if spec == "sim-real":
        return generate_sim_clips(sd, m, n_clips, seed, textured=True, progress=progress)
    if spec == "sim-test":
        return generate_sim_clips(test_sim_config(sd), m, n_clips, seed, textured=True, progress=progress)
    if kind == "npz" and arg:
        return load_clips(arg)
    if kind == "kitti" and arg:
        return load_kitti(arg, m.image_size, sd.clip_len, action_dim=m.action_dim)
    if kind == "vkitti2" and arg:
        return load_vkitti2(arg, m.image_size, sd.clip_len, action_dim=m.action_dim)
    if kind == "rosbag2" and arg:
        path, _, topic = arg.partition("@")
        return load_rosbag2(
            path, m.image_size, sd.clip_len, image_topic=topic or "/camera/color/image_raw", action_dim=m.action_dim
        )
    raise ConfigError(f"data source {spec!r} not understood; use {SPEC_HELP}")
