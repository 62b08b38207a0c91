"""Video generation (PhysWorld III-A): backends behind one interface, and videos on disk.

See :mod:`physworld.video.base` for the interface and the honesty rule on ``GeneratedVideo.aux``.
"""

from .base import (
    GeneratedVideo,
    VideoGenerator,
    available_generators,
    make_generator,
    register_generator,
    validate_request,
)
from .io import load_video, save_video
from .sheet import contact_sheet, save_contact_sheet

__all__ = [
    "GeneratedVideo",
    "VideoGenerator",
    "available_generators",
    "contact_sheet",
    "load_video",
    "make_generator",
    "register_generator",
    "save_contact_sheet",
    "save_video",
    "validate_request",
]
