"""Replay evaluation of a recorded rosbag2 bag (ROS-free): score the recording, then run the
pipeline on its first synchronised RGB-D frame.

One pass over the bag (``scan_bag``) checks every camera frame (decodable, colour/depth paired by
header stamp, sizes agree with camera_info, enough valid depth), the camera_info stream
(one calibration, valid K) and the timing of ``joint_states`` (rate, jitter, gaps). The first
valid RGB-D pair is then the "captured" frame of the loop: a video is generated for the task
(``sim_rollout`` continues only images rendered from its own task scenes, so sim bags carry the
task and seed in metadata.yaml ``custom_data``: ``physworld.task``, ``physworld.seed``) and, when
``physworld.recon.pipeline`` is installed, the scene is reconstructed. For sim bags the ground
truth (the task scene re-built from task + seed) scores the recorded frame and the reconstruction.
``evaluate_bag`` writes ``report.md``, ``metrics.json`` and pictures into one directory atomically.
A missing or corrupt bag, or one without camera topics, raises ArtefactError.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .bag.convert import image_to_numpy, intrinsics_from_camera_info, stamp_ns
from .bag.play import BagReader
from .errors import ArtefactError, InputError
from .image_encoding import depth_to_metres
from .rgbd import RgbdPairer, validate_rgbd
from .sim.camera import CameraIntrinsics

COLOR, DEPTH, INFO, JOINTS = (
    "camera/color/image_raw",
    "camera/depth/image_raw",
    "camera/color/camera_info",
    "joint_states",
)
CUSTOM_TASK, CUSTOM_SEED, CUSTOM_SOURCE = "physworld.task", "physworld.seed", "physworld.source"
CUSTOM_JOINT_RATE = "physworld.joint_state_rate_hz"


def find_topic(topics, name: str) -> str | None:
    """The bag topic for relative ``name``: ``name``, ``/name`` or ``/<ns>/name`` (unique)."""
    hits = [t for t in topics if t.lstrip("/") == name or t.endswith("/" + name)]
    if len(hits) > 1:
        exact = [t for t in hits if t.lstrip("/") == name]
        if len(exact) == 1:
            return exact[0]
        raise InputError(f"several topics match {name!r}: {sorted(hits)}; record one namespace per bag")
    return hits[0] if hits else None


def timing_stats(t_ns) -> dict:
    """Rate and jitter of a stream from its time stamps (ns): jitter = spread of the intervals."""
    t = np.asarray(t_ns, dtype=np.int64)
    out: dict = {"count": int(t.size)}
    if t.size < 3:
        return out
    raw = np.diff(t)
    out["non_increasing"] = int((raw <= 0).sum())
    dt = np.diff(np.sort(t)) * 1e-6  # ms
    span = (t.max() - t.min()) * 1e-9
    med = float(np.median(dt))
    out.update(
        duration_s=float(span),
        rate_hz=float((t.size - 1) / span) if span > 0 else None,
        period_median_ms=med,
        jitter_std_ms=float(dt.std()),
        jitter_p99_ms=float(np.percentile(np.abs(dt - med), 99)),
        max_gap_ms=float(dt.max()),
        intervals_ms=dt,
    )
    return out


@dataclass
class RgbdFrame:
    rgb: np.ndarray  # HxWx3 uint8
    depth: np.ndarray  # HxW float32 metres, NaN = none
    intrinsics: CameraIntrinsics
    stamp_ns: int
    frame_id: str


@dataclass
class _Frame:
    stamp_ns: int
    size: tuple[int, int] | None  # (w, h); None = not decodable
    error: str = ""
    valid_depth: float = 1.0  # depth only: fraction of pixels with a reading


@dataclass
class CameraScan:
    """Accumulates the camera topics of a bag; keeps the first valid RGB-D pair."""

    tolerance_s: float = 0.02
    max_depth_m: float = 10.0
    min_valid_fraction: float = 0.05
    color: list[_Frame] = field(default_factory=list)
    depth: list[_Frame] = field(default_factory=list)
    infos: dict = field(default_factory=dict)  # calibration key -> count
    bad_infos: list[str] = field(default_factory=list)
    frame_ids: set = field(default_factory=set)
    first: RgbdFrame | None = None
    first_rejected: list[str] = field(default_factory=list)

    def __post_init__(self):
        self._pairer = RgbdPairer(self.tolerance_s, history=10)
        self._intr: CameraIntrinsics | None = None
        self._tried_ns = -1

    def add_color(self, msg) -> None:
        t = stamp_ns(msg)
        self.frame_ids.add(msg.header.frame_id)
        try:
            rgb = image_to_numpy(msg, "rgb8")
        except (InputError, ValueError) as exc:
            self.color.append(_Frame(t, None, str(exc)))
            return
        self.color.append(_Frame(t, (rgb.shape[1], rgb.shape[0])))
        if self.first is None:
            self._pairer.add_color(t, (rgb, msg.header.frame_id))
            self._try_first()

    def add_depth(self, msg) -> None:
        t = stamp_ns(msg)
        try:
            depth = depth_to_metres(image_to_numpy(msg), msg.encoding, self.max_depth_m)
        except (InputError, ValueError) as exc:
            self.depth.append(_Frame(t, None, str(exc), 0.0))
            return
        valid = float(np.isfinite(depth).mean()) if depth.size else 0.0
        self.depth.append(_Frame(t, (depth.shape[1], depth.shape[0]), valid_depth=valid))
        if self.first is None:
            self._pairer.add_depth(t, depth)
            self._try_first()

    def add_info(self, msg) -> None:
        try:
            intr = intrinsics_from_camera_info(msg)
        except InputError as exc:
            self.bad_infos.append(str(exc))
            return
        key = (intr.width, intr.height, *np.round(np.asarray(msg.k, float), 6), msg.distortion_model,
               tuple(np.round(np.asarray(msg.d, float), 6)), msg.header.frame_id)  # fmt: skip
        self.infos[key] = self.infos.get(key, 0) + 1
        self._intr = self._intr or intr
        if self.first is None:
            self._try_first()

    def _try_first(self) -> None:
        if self._intr is None:
            return
        pair = self._pairer.latest_pair(newer_than_ns=self._tried_ns)
        if pair is None:
            return
        (rgb, frame_id), depth = pair[0].data, pair[1].data
        try:
            validate_rgbd(rgb, depth, self._intr, self.min_valid_fraction)
        except InputError as exc:
            self._tried_ns = pair[0].stamp_ns
            self.first_rejected.append(f"frame at {pair[0].stamp_ns} ns: {exc}")
            return
        self.first = RgbdFrame(rgb, depth, self._intr, pair[0].stamp_ns, frame_id)

    def summary(self) -> dict:
        info_size = next(iter(self.infos))[:2] if len(self.infos) == 1 else None
        ok_depth = sorted((f.stamp_ns, f) for f in self.depth if f.size is not None)
        stamps = np.array([s for s, _ in ok_depth], dtype=np.int64)
        tol = int(self.tolerance_s * 1e9)
        paired = valid = 0
        for c in self.color:
            if c.size is None or stamps.size == 0:
                continue
            i = int(np.argmin(np.abs(stamps - c.stamp_ns)))
            if abs(int(stamps[i]) - c.stamp_ns) > tol:
                continue
            paired += 1
            d = ok_depth[i][1]
            size_ok = d.size == c.size and (info_size is None or tuple(info_size) == c.size)
            valid += int(size_ok and d.valid_depth >= self.min_valid_fraction)
        errors = sorted({f.error for f in self.color + self.depth if f.error})
        return {
            "color_frames": len(self.color),
            "depth_frames": len(self.depth),
            "color_decoded": sum(f.size is not None for f in self.color),
            "depth_decoded": sum(f.size is not None for f in self.depth),
            "pairs": paired,
            "valid_pairs": valid,
            "valid_fraction": valid / len(self.color) if self.color else 0.0,
            "depth_valid_fraction_mean": float(np.mean([f.valid_depth for f in self.depth])) if self.depth else 0.0,
            "decode_errors": errors[:5],
            "camera_info_messages": sum(self.infos.values()) + len(self.bad_infos),
            "camera_info_calibrations": len(self.infos),
            "camera_info_invalid": len(self.bad_infos),
            "camera_info_size": list(info_size) if info_size else None,
            "image_sizes": sorted({f.size for f in self.color if f.size}),
            "frame_ids": sorted(self.frame_ids),
            "camera_timing": timing_stats([f.stamp_ns for f in self.color]),
        }


@dataclass
class BagScan:
    path: Path
    topics: dict[str, tuple[str, int]]
    duration_s: float
    custom_data: dict[str, str]
    camera: CameraScan
    joint_stamps_ns: np.ndarray  # header stamps
    joint_receive_ns: np.ndarray  # bag (receive) times
    joint_names: set  # distinct name lists seen
    joint_nonfinite: int


def scan_bag(path, tolerance_s: float = 0.02, max_depth_m: float = 10.0, progress: bool = True) -> BagScan:
    """One pass over the camera and joint_states topics of the bag at ``path``."""
    from tqdm import tqdm

    with BagReader(path) as bag:
        topics, custom = bag.topics, bag.custom_data
        names = {k: find_topic(topics, rel) for k, rel in (("color", COLOR), ("depth", DEPTH), ("info", INFO))}
        missing = [rel for k, rel in (("color", COLOR), ("depth", DEPTH), ("info", INFO)) if names[k] is None]
        if missing:
            raise ArtefactError(
                f"{bag.path}: no camera topic(s) {missing} in this bag (it has {sorted(topics)}); "
                "record the camera with 'physworld bag record' (default topics)"
            )
        joints = find_topic(topics, JOINTS)
        cam = CameraScan(tolerance_s, max_depth_m)
        handlers = {names["color"]: cam.add_color, names["depth"]: cam.add_depth, names["info"]: cam.add_info}
        stamps, recv, joint_names, nonfinite = [], [], set(), 0
        wanted = [*handlers, *([joints] if joints else [])]
        total = sum(topics[t][1] for t in wanted)
        for m in tqdm(bag.messages(wanted), total=total, desc="scanning bag", unit="msg", disable=not progress):
            msg = bag.deserialize(m)
            if m.topic == joints:
                stamps.append(stamp_ns(msg))
                recv.append(m.t_ns)
                joint_names.add(tuple(msg.name))
                nonfinite += int((~np.isfinite(np.asarray(msg.position, float))).sum())
            else:
                handlers[m.topic](msg)
        return BagScan(bag.path, topics, bag.duration_s, custom, cam, np.array(stamps, np.int64),
                       np.array(recv, np.int64), joint_names, nonfinite)  # fmt: skip


def joint_summary(scan: BagScan) -> dict:
    header = timing_stats(scan.joint_stamps_ns)
    receive = timing_stats(scan.joint_receive_ns)
    return {
        "messages": int(scan.joint_stamps_ns.size),
        "header": header,
        "receive": receive,
        "name_sets": len(scan.joint_names),
        "joints": len(next(iter(scan.joint_names))) if len(scan.joint_names) == 1 else None,
        "nonfinite_positions": scan.joint_nonfinite,
    }


def resolve_run(custom: dict, task: str | None, seed: int | None):
    """Task spec and seed: the arguments win over the bag's custom_data; (None, seed) if no task."""
    from .sim.tasks import resolve_task

    name = task or custom.get(CUSTOM_TASK)
    if seed is None:
        try:
            seed = int(custom.get(CUSTOM_SEED, 0))
        except ValueError as exc:
            raise ArtefactError(f"bag custom_data {CUSTOM_SEED}={custom[CUSTOM_SEED]!r} is not an integer") from exc
    return (resolve_task(name) if name else None), int(seed)


def _check(name: str, passed: bool | None, detail: str) -> dict:
    return {"name": name, "passed": passed, "detail": detail}


def score(cam: dict, joints: dict, stages, gt_frame: dict | None, gt_recon: dict | None,
          expected_joint_rate_hz: float | None) -> list[dict]:  # fmt: skip
    """Pass/fail checks of the recording and the stages (``passed`` None = not applicable)."""
    out = [
        _check("camera frames valid", cam["valid_fraction"] >= 0.9,
               f"{cam['valid_pairs']}/{cam['color_frames']} colour frames have a valid depth pair (need >= 90%)"),
        _check("camera_info consistent",
               cam["camera_info_calibrations"] == 1 and cam["camera_info_invalid"] == 0
               and len(cam["image_sizes"]) == 1 and tuple(cam["camera_info_size"] or ()) == cam["image_sizes"][0],
               f"{cam['camera_info_calibrations']} calibration(s), {cam['camera_info_invalid']} invalid, "
               f"camera_info size {cam['camera_info_size']}, image sizes {cam['image_sizes']}"),
    ]  # fmt: skip
    h = joints["header"]
    if joints["messages"] < 3:
        out.append(_check("joint_states recorded", False, f"{joints['messages']} joint_states message(s) in the bag"))
    else:
        clean = h["non_increasing"] == 0 and joints["nonfinite_positions"] == 0 and joints["name_sets"] == 1
        out.append(_check("joint_states well-formed", clean,
                          f"{h['non_increasing']} non-increasing stamps, {joints['nonfinite_positions']} non-finite "
                          f"positions, {joints['name_sets']} distinct joint name list(s)"))  # fmt: skip
        if expected_joint_rate_hz:
            rate = h.get("rate_hz") or 0.0
            err = abs(rate - expected_joint_rate_hz) / expected_joint_rate_hz
            out.append(_check("joint_states rate", err <= 0.1,
                              f"{rate:.1f} Hz against {expected_joint_rate_hz:.1f} Hz nominal ({err:.1%} off; "
                              f"p99 jitter {h['jitter_p99_ms']:.2f} ms)"))  # fmt: skip
    for st in stages:
        out.append(_check(f"stage {st.name}", None if st.status == "skipped" else st.status == "ok", st.message))
    if gt_frame:
        ok = gt_frame["rgb_mean_abs_diff"] <= 3.0 and (gt_frame["depth_median_abs_error_m"] or 0.0) <= 0.005
        out.append(_check("recorded frame matches ground truth", ok,
                          f"RGB mean abs diff {gt_frame['rgb_mean_abs_diff']:.2f} grey levels (<= 3), depth median "
                          f"abs error {gt_frame['depth_median_abs_error_m']} m (<= 0.005)"))  # fmt: skip
    if gt_recon:
        err_cm = (gt_recon.get("moved_track") or {}).get("track_mean_position_error_m", float("nan")) * 100
        detail = gt_recon.get("error") or (
            f"moved object track: mean position error {err_cm:.1f} cm"
            f" (target <= {gt_recon['targets']['track_mean_position_error_m'] * 100:.0f} cm and rotation <= "
            f"{gt_recon['targets']['track_mean_rotation_error_deg']:.0f} deg)"
        )
        out.append(_check("reconstruction meets the track target", bool(gt_recon.get("meets_track_target")), detail))
    return out


def _strip_arrays(d):
    if isinstance(d, dict):
        return {k: _strip_arrays(v) for k, v in d.items() if not isinstance(v, np.ndarray)}
    return d


def evaluate_bag(bag, out, task: str | None = None, task_text: str | None = None, seed: int | None = None,
                 backend: str = "sim_rollout", n_frames: int = 30, reconstruct: bool = True,
                 backend_config: dict | None = None, expected_joint_rate_hz: float | None = None,
                 overwrite: bool = False, device: str = "auto", progress: bool = True) -> dict:  # fmt: skip
    """Score ``bag``, run the pipeline on its first RGB-D frame, write the report into ``out``.

    ``task`` is a task name or command (``task_text`` the command given to the video generator,
    default the task's own); both default to the bag's custom_data. Returns the metrics."""
    from . import replay_report as rep
    from . import replay_stages as rs
    from .io import atomic_dir, atomic_write_json, atomic_write_text
    from .orchestration import save_capture

    out = Path(out)
    if out.exists() and not overwrite:
        raise ArtefactError(f"{out}: already exists; choose a new output directory (or overwrite)")
    t0 = time.monotonic()
    scan = scan_bag(bag, progress=progress)
    cam, joints = scan.camera.summary(), joint_summary(scan)
    spec, seed = resolve_run(scan.custom_data, task or task_text, seed)
    if expected_joint_rate_hz is None and CUSTOM_JOINT_RATE in scan.custom_data:
        expected_joint_rate_hz = float(scan.custom_data[CUSTOM_JOINT_RATE])
    frame = scan.camera.first
    is_sim = scan.custom_data.get(CUSTOM_SOURCE) == "sim_world" and spec is not None
    stages, gt_frame, gt_recon, scene = [], None, None, None
    with atomic_dir(out) as stage_dir:
        try:
            if frame is None:
                why = "; ".join(scan.camera.first_rejected[:3]) or "no colour/depth pair with matching stamps"
                stages.append(rs.Stage("capture", "failed", f"no valid synchronised RGB-D frame ({why})"))
            else:
                save_capture(stage_dir, frame.rgb, frame.depth, frame.intrinsics.to_dict())
                rep.plot_first_frame(frame, stage_dir / "first_frame.png")
                stages.append(rs.Stage("capture", "ok", f"{frame.rgb.shape[1]}x{frame.rgb.shape[0]} RGB-D frame "
                                       f"at stamp {frame.stamp_ns} ns ({frame.frame_id})"))  # fmt: skip
                if is_sim:
                    scene = rs.ground_truth_scene(spec, seed, (frame.rgb.shape[1], frame.rgb.shape[0]))
                    gt_frame = rs.frame_vs_ground_truth(frame, scene)
                text = task_text or (spec.command if spec else "")
                st, video = rs.generate_video_stage(frame, spec, text, seed, stage_dir, backend, n_frames,
                                                    backend_config)  # fmt: skip
                stages.append(st)
                if reconstruct:
                    T_wc = scene.camera.T_world_optical if scene is not None else None
                    mask = rs.robot_mask(scene) if scene is not None else None
                    st, result = rs.reconstruct_stage(frame, video, spec, stage_dir, T_wc, mask, device)
                    stages.append(st)
                    if result is not None and scene is not None:
                        gt_recon = rs.recon_vs_ground_truth(result, scene, video)
        finally:
            if scene is not None:
                scene.close()
        if joints["messages"] >= 3:
            rep.plot_joint_timing(joints, stage_dir / "joint_states_timing.png")
        checks = score(cam, joints, stages, gt_frame, gt_recon, expected_joint_rate_hz)
        metrics = {
            "bag": str(scan.path),
            "duration_s": scan.duration_s,
            "topics": {t: {"type": ty, "count": n} for t, (ty, n) in scan.topics.items()},
            "custom_data": scan.custom_data,
            "task": spec.name if spec else None,
            "seed": seed,
            "camera": _strip_arrays(cam),
            "joint_states": _strip_arrays(joints),
            "stages": [vars(s) for s in stages],
            "ground_truth": {"frame": gt_frame, "reconstruction": gt_recon} if is_sim else None,
            "checks": checks,
            "passed": all(c["passed"] is not False for c in checks),
            "evaluation_seconds": time.monotonic() - t0,
        }
        atomic_write_json(stage_dir / "metrics.json", metrics)
        atomic_write_text(stage_dir / "report.md", rep.markdown(metrics, stage_dir))
    return metrics
