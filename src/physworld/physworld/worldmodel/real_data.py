"""Loaders of real video into ``ClipSet``: rosbag2 camera recordings, KITTI and Virtual KITTI 2 folders.

Every frame is centre-cropped to the requested aspect ratio and resized to ``image_size`` [H, W]
(RGB: area interpolation; depth: nearest). The crop keeps the vertical field of view, so set
``model.fov_y_deg`` to the camera's (KITTI / VKITTI2 ~29 deg). Within one sequence all frames must
share a resolution; a frame that does not raises ``InputError`` naming the file/message.

Layouts:
* rosbag2: a bag directory; ``sensor_msgs/msg/Image`` (rgb8, bgr8, rgba8, bgra8, mono8) or
  ``CompressedImage`` on ``image_topic``; optional depth ``Image`` (32FC1 metres or 16UC1 mm) on
  ``depth_topic``, paired by nearest stamp. Actions are zeros (no ego-motion in the bag).
* KITTI raw: ``<date>/<drive>_sync/image_02/data/*.png``; KITTI odometry:
  ``sequences/<nn>/image_2/*.png`` with optional ``poses/<nn>.txt`` (3x4 camera poses) -> actions.
* Virtual KITTI 2: ``<Scene>/<variation>/frames/rgb/Camera_0/rgb_%05d.jpg``, depth
  ``frames/depth/Camera_0/depth_%05d.png`` (uint16 cm, 65535 = sky -> NaN) and ``extrinsic.txt``
  (world -> camera per frame) -> actions.
Actions are the camera's translation from frame t to t+1 in the camera frame at t (metres).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from .clips import ClipSet


def _crop_box(h: int, w: int, size: tuple[int, int]) -> tuple[int, int, int, int]:
    th, tw = size
    if w * th >= h * tw:  # too wide: crop columns
        cw = max(1, round(h * tw / th))
        x0 = (w - cw) // 2
        return 0, h, x0, x0 + cw
    ch = max(1, round(w * th / tw))
    y0 = (h - ch) // 2
    return y0, y0 + ch, 0, w


def resize_rgb(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    y0, y1, x0, x1 = _crop_box(img.shape[0], img.shape[1], size)
    return cv2.resize(np.ascontiguousarray(img[y0:y1, x0:x1]), (size[1], size[0]), interpolation=cv2.INTER_AREA)


def resize_depth(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    y0, y1, x0, x1 = _crop_box(depth.shape[0], depth.shape[1], size)
    return cv2.resize(np.ascontiguousarray(depth[y0:y1, x0:x1]), (size[1], size[0]), interpolation=cv2.INTER_NEAREST)


class _Sequence:
    """Frames of one recording, checked for a constant resolution."""

    def __init__(self, name: str):
        self.name, self.rgb, self.depth, self.shape, self.first = name, [], [], None, ""

    def add(self, rgb: np.ndarray, where: str, size, depth: np.ndarray | None = None) -> None:
        if self.shape is None:
            self.shape, self.first = rgb.shape[:2], where
        elif rgb.shape[:2] != self.shape:
            raise InputError(
                f"{where}: resolution {rgb.shape[1]}x{rgb.shape[0]} differs from {self.first} "
                f"({self.shape[1]}x{self.shape[0]}) in sequence {self.name}; one sequence must have one resolution"
            )
        if depth is not None and depth.shape[:2] != rgb.shape[:2]:
            raise InputError(
                f"{where}: depth {depth.shape[1]}x{depth.shape[0]} does not match the image "
                f"{rgb.shape[1]}x{rgb.shape[0]}"
            )
        self.rgb.append(resize_rgb(rgb, size))
        if depth is not None:
            self.depth.append(resize_depth(depth.astype(np.float32), size))


def _to_clipset(
    seqs: list[_Sequence],
    actions: list[np.ndarray | None],
    clip_len: int,
    stride: int,
    action_dim: int,
    source: str,
    where: Path,
) -> ClipSet:
    rgb, depth, act = [], [], []
    with_depth = all(len(s.depth) == len(s.rgb) for s in seqs)
    for seq, a in zip(seqs, actions):
        n = len(seq.rgb)
        for start in range(0, n - clip_len + 1, stride):
            rgb.append(np.stack(seq.rgb[start : start + clip_len]))
            if with_depth:
                depth.append(np.stack(seq.depth[start : start + clip_len]))
            clip_a = np.zeros((clip_len - 1, action_dim), np.float32)
            if a is not None and action_dim:
                k = min(action_dim, a.shape[1])
                clip_a[:, :k] = a[start : start + clip_len - 1, :k]
            act.append(clip_a)
    if not rgb:
        raise InputError(f"{where}: no sequence has {clip_len} frames (found {[len(s.rgb) for s in seqs]})")
    return ClipSet(
        np.stack(rgb).astype(np.uint8), np.stack(act), np.stack(depth) if with_depth else None, source=source
    )


def _read_image(path: Path, flags=cv2.IMREAD_COLOR) -> np.ndarray:
    img = cv2.imread(str(path), flags)
    if img is None:
        raise InputError(f"{path}: not a readable image")
    return img[..., ::-1] if img.ndim == 3 else img


def _translations_from_poses(T_world_cam: np.ndarray) -> np.ndarray:
    """(N, 4, 4) camera poses -> (N-1, 3) translation t -> t+1 in the camera frame at t."""
    rel = np.linalg.inv(T_world_cam[:-1]) @ T_world_cam[1:]
    return rel[:, :3, 3].astype(np.float32)


def load_kitti(
    root: str | Path,
    image_size,
    clip_len: int,
    stride: int | None = None,
    action_dim: int = 3,
    camera: str = "image_02",
) -> ClipSet:
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: KITTI folder not found")
    odo_cam = {"image_02": "image_2", "image_03": "image_3"}.get(camera, camera)
    dirs = sorted(
        {*root.rglob(f"{camera}/data"), *(p for p in root.rglob(odo_cam) if p.parent.parent.name == "sequences")}
    )
    seqs, actions = [], []
    for d in dirs:
        files = sorted(d.glob("*.png"))
        if not files:
            continue
        seq = _Sequence(str(d))
        for f in files:
            seq.add(_read_image(f), str(f), image_size)
        poses = None
        pose_file = root / "poses" / f"{d.parent.name}.txt" if d.parent.parent.name == "sequences" else None
        if pose_file is not None and pose_file.is_file():
            m = np.loadtxt(pose_file, ndmin=2)
            if m.shape != (len(files), 12):
                raise InputError(f"{pose_file}: expected {len(files)} rows of 12 numbers, got {m.shape}")
            T = np.tile(np.eye(4), (len(files), 1, 1))
            T[:, :3, :] = m.reshape(-1, 3, 4)
            poses = _translations_from_poses(T)
        seqs.append(seq)
        actions.append(poses)
    if not seqs:
        raise InputError(
            f"{root}: no KITTI images found (expected <drive>/{camera}/data/*.png or sequences/<nn>/{odo_cam}/*.png)"
        )
    return _to_clipset(seqs, actions, clip_len, stride or clip_len, action_dim, f"kitti:{root}", root)


def _vkitti_extrinsics(path: Path, camera_id: int) -> dict[int, np.ndarray]:
    if not path.is_file():
        return {}
    out = {}
    for i, line in enumerate(path.read_text().splitlines()[1:], start=2):
        parts = line.split()
        if len(parts) != 18:
            raise InputError(f"{path}:{i}: expected 18 fields (frame cameraID + 16 matrix values), got {len(parts)}")
        if int(parts[1]) == camera_id:
            out[int(parts[0])] = np.asarray(parts[2:], np.float64).reshape(4, 4)
    return out


def load_vkitti2(
    root: str | Path,
    image_size,
    clip_len: int,
    stride: int | None = None,
    action_dim: int = 3,
    camera: str = "Camera_0",
) -> ClipSet:
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: Virtual KITTI 2 folder not found")
    seqs, actions = [], []
    for rgb_dir in sorted(root.rglob(f"frames/rgb/{camera}")):
        files = sorted(rgb_dir.glob("rgb_*.jpg")) + sorted(rgb_dir.glob("rgb_*.png"))
        if not files:
            continue
        variation = rgb_dir.parent.parent.parent
        depth_dir = variation / "frames" / "depth" / camera
        seq = _Sequence(str(rgb_dir))
        frames = []
        for f in files:
            frames.append(int(f.stem.split("_")[-1]))
            dpath = depth_dir / f"depth_{frames[-1]:05d}.png"
            depth = None
            if depth_dir.is_dir():
                raw = _read_image(dpath, cv2.IMREAD_UNCHANGED) if dpath.is_file() else None
                if raw is None:
                    raise InputError(f"{dpath}: depth frame missing for {f.name}")
                depth = np.where(raw >= 65535, np.nan, raw.astype(np.float32) / 100.0)
            seq.add(_read_image(f), str(f), image_size, depth)
        ext = _vkitti_extrinsics(variation / "extrinsic.txt", int(camera.split("_")[-1]))
        acts = None
        if ext:
            missing = [i for i in frames if i not in ext]
            if missing:
                raise InputError(f"{variation / 'extrinsic.txt'}: no pose for frame(s) {missing[:5]}")
            acts = _translations_from_poses(np.linalg.inv(np.stack([ext[i] for i in frames])))
        seqs.append(seq)
        actions.append(acts)
    if not seqs:
        raise InputError(
            f"{root}: no Virtual KITTI 2 frames found (expected <Scene>/<variation>/frames/rgb/{camera}/rgb_00000.jpg)"
        )
    return _to_clipset(seqs, actions, clip_len, stride or clip_len, action_dim, f"vkitti2:{root}", root)


def _decode_ros_image(msg, msgtype: str, where: str) -> np.ndarray:
    if msgtype.endswith("CompressedImage"):
        img = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise InputError(f"{where}: compressed image could not be decoded")
        return img[..., ::-1] if img.ndim == 3 else img
    enc, h, w, step = msg.encoding, msg.height, msg.width, msg.step
    buf = np.frombuffer(bytes(msg.data), np.uint8)
    if buf.size < h * step:
        raise InputError(f"{where}: image data has {buf.size} bytes, expected {h}*{step}")
    rows = buf[: h * step].reshape(h, step)
    if enc in ("rgb8", "bgr8", "rgba8", "bgra8", "mono8"):
        ch = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}[enc]
        img = rows[:, : w * ch].reshape(h, w, ch)
        if enc == "mono8":
            return np.repeat(img, 3, axis=2)
        img = img[..., :3]
        return img[..., ::-1] if enc.startswith("bgr") else img
    if enc == "32FC1":
        return rows[:, : w * 4].copy().view("<f4").reshape(h, w).astype(np.float32)
    if enc == "16UC1":
        d = rows[:, : w * 2].copy().view("<u2").reshape(h, w).astype(np.float32) / 1000.0
        return np.where(d > 0, d, np.nan)
    raise InputError(f"{where}: unsupported image encoding {enc!r} (rgb8, bgr8, rgba8, bgra8, mono8, 32FC1, 16UC1)")


def load_rosbag2(
    path: str | Path,
    image_size,
    clip_len: int,
    image_topic: str = "/camera/color/image_raw",
    depth_topic: str = "",
    stride: int | None = None,
    action_dim: int = 3,
) -> ClipSet:
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_typestore

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: rosbag2 not found")
    store = get_typestore(Stores.LATEST)
    try:
        reader = Reader(path)
        reader.open()
    except Exception as exc:
        raise InputError(f"{path}: not a readable rosbag2 ({exc})") from exc
    try:
        conns = {c.topic: c for c in reader.connections}
        if image_topic not in conns:
            raise InputError(f"{path}: no topic {image_topic!r}; topics: {sorted(conns)}")
        if depth_topic and depth_topic not in conns:
            raise InputError(f"{path}: no depth topic {depth_topic!r}; topics: {sorted(conns)}")
        images, depths = [], []
        wanted = [conns[image_topic]] + ([conns[depth_topic]] if depth_topic else [])
        for i, (conn, stamp, raw) in enumerate(reader.messages(connections=wanted)):
            where = f"{path} message {i} on {conn.topic}"
            msg = store.deserialize_cdr(raw, conn.msgtype)
            (images if conn.topic == image_topic else depths).append(
                (stamp, _decode_ros_image(msg, conn.msgtype, where), where)
            )
    finally:
        reader.close()
    if not images:
        raise InputError(f"{path}: topic {image_topic!r} has no messages")
    seq = _Sequence(f"{path}:{image_topic}")
    d_stamps = np.array([s for s, _, _ in depths]) if depths else None
    for stamp, img, where in images:
        depth = depths[int(np.argmin(np.abs(d_stamps - stamp)))][1] if depths else None
        seq.add(img, where, image_size, depth)
    return _to_clipset([seq], [None], clip_len, stride or clip_len, action_dim, f"rosbag2:{path}:{image_topic}", path)
