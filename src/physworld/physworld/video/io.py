"""A generated video on disk. Layout of the directory (written atomically, complete or absent)::

video.json            metadata: n_frames, width, height, fps, task_text, seed, backend, meta, aux keys
frames/000000.png...  the RGB frames, lossless (the authoritative copy)
video.mp4             the same frames for viewing (OpenCV, mp4v codec; lossy)
aux.npz               sidecar arrays, if any: "depth" (T, H, W) float32 and "pose/<object>" (T, 7)
                      (see physworld.video.base: who may read which)
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import cv2
import numpy as np

from ..errors import ArtefactError
from ..io import atomic_dir, atomic_write_json, read_json
from .base import GeneratedVideo

FORMAT_VERSION = 1
META_FILE, FRAMES_DIR, MP4_FILE, AUX_FILE = "video.json", "frames", "video.mp4", "aux.npz"
POSE_PREFIX = "pose/"


def _aux_arrays(aux: dict) -> dict[str, np.ndarray]:
    arrays = {}
    for key, value in aux.items():
        if key == "object_poses":
            for name, poses in value.items():
                arrays[POSE_PREFIX + name] = np.asarray(poses)
        elif isinstance(value, np.ndarray):
            arrays[key] = value
        else:
            raise ArtefactError(f"aux[{key!r}] is a {type(value).__name__}; only arrays and 'object_poses' are saved")
    return arrays


def _write_mp4(frames: np.ndarray, fps: float, path: Path) -> bool:
    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
    if not writer.isOpened():
        return False
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path.is_file() and path.stat().st_size > 0


def save_video(video: GeneratedVideo, out_dir: str | os.PathLike) -> Path:
    """Write ``video`` to ``out_dir`` (replaced atomically if it exists); returns the path."""
    out_dir = Path(out_dir)
    arrays = _aux_arrays(video.aux)
    with atomic_dir(out_dir) as stage:
        (stage / FRAMES_DIR).mkdir()
        for i, frame in enumerate(video.frames):
            if not cv2.imwrite(str(stage / FRAMES_DIR / f"{i:06d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)):
                raise ArtefactError(f"could not write frame {i} to {out_dir}")
        has_mp4 = _write_mp4(video.frames, video.fps, stage / MP4_FILE)
        if arrays:
            np.savez_compressed(stage / AUX_FILE, **arrays)
        meta = {
            "format_version": FORMAT_VERSION,
            "n_frames": video.n_frames,
            "width": video.size[0],
            "height": video.size[1],
            "fps": float(video.fps),
            "task_text": video.task_text,
            "seed": int(video.seed),
            "backend": video.backend,
            "meta": video.meta,
            "aux_keys": sorted(arrays),
            "mp4": MP4_FILE if has_mp4 else None,
        }
        atomic_write_json(stage / META_FILE, meta)
    return out_dir


def _read_meta(d: Path) -> dict:
    meta = read_json(d / META_FILE)
    need = ("n_frames", "width", "height", "fps", "task_text", "seed", "backend")
    missing = [k for k in need if k not in meta]
    if missing:
        raise ArtefactError(f"{d / META_FILE}: missing fields {missing}")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ArtefactError(f"{d / META_FILE}: format version {meta['format_version']} is newer than this code")
    return meta


def _read_frames(d: Path, meta: dict) -> np.ndarray:
    fdir = d / FRAMES_DIR
    n, w, h = int(meta["n_frames"]), int(meta["width"]), int(meta["height"])
    frames = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        path = fdir / f"{i:06d}.png"
        if not path.is_file():
            raise ArtefactError(f"{d}: frame {path.name} is missing (video.json says {n} frames)")
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise ArtefactError(f"{path}: not a readable PNG image (corrupt file?)")
        if img.shape != (h, w, 3):
            raise ArtefactError(f"{path}: size {img.shape[1]}x{img.shape[0]}, video.json says {w}x{h}")
        frames[i] = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return frames


def _read_aux(d: Path, meta: dict, n: int) -> dict:
    keys = meta.get("aux_keys") or []
    if not keys:
        return {}
    path = d / AUX_FILE
    if not path.is_file():
        raise ArtefactError(f"{path}: missing (video.json lists aux arrays {keys})")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ArtefactError(f"{path}: not a readable .npz file ({exc})") from exc
    aux: dict = {}
    for key, arr in arrays.items():
        if len(arr) != n:
            raise ArtefactError(f"{path}: array {key!r} has {len(arr)} frames, the video {n}")
        if key.startswith(POSE_PREFIX):
            aux.setdefault("object_poses", {})[key[len(POSE_PREFIX) :]] = arr
        else:
            aux[key] = arr
    return aux


def load_video(video_dir: str | os.PathLike, *, load_aux: bool = True) -> GeneratedVideo:
    """Read a directory written by :func:`save_video` (ArtefactError if missing or corrupt)."""
    d = Path(video_dir)
    if not d.is_dir():
        raise ArtefactError(f"{d}: video directory not found")
    meta = _read_meta(d)
    frames = _read_frames(d, meta)
    aux = _read_aux(d, meta, len(frames)) if load_aux else {}
    try:
        return GeneratedVideo(
            frames, float(meta["fps"]), str(meta["task_text"]), int(meta["seed"]), str(meta["backend"]), aux,
            dict(meta.get("meta") or {}),
        )  # fmt: skip
    except (ValueError, TypeError) as exc:
        raise ArtefactError(f"{d / META_FILE}: invalid values ({exc})") from exc
