"""The task loop's stages and run directory (ROS-free): what the orchestrator runs, in which
order, where each stage writes, and the run report people look at first."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ConfigError, InputError
from .io import atomic_file, atomic_write_json, atomic_write_text

# Order of the loop (PhysWorld Fig. 2): capture -> generate -> reconstruct -> train -> execute.
STAGES = ("capture", "generate_video", "reconstruct_scene", "train_policy", "execute_task")


def check_stages(stages: list[str]) -> list[str]:
    """Stages must be known, unique, a prefix-free subset in loop order starting at capture."""
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ConfigError(f"unknown stage(s) {unknown}; stages are {list(STAGES)}")
    if not stages or stages[0] != "capture":
        raise ConfigError("the stage list must start with 'capture'")
    order = [STAGES.index(s) for s in stages]
    if order != sorted(set(order)):
        raise ConfigError(f"stages must be unique and in loop order {list(STAGES)}, got {stages}")
    return list(stages)


def check_task_text(text: str) -> str:
    text = " ".join((text or "").split())
    if not text:
        raise InputError("task text is empty: say what the robot should do, e.g. 'put the lid on the pot'")
    if len(text) > 500:
        raise InputError(f"task text is {len(text)} characters; keep it under 500")
    return text


@dataclass
class StageRecord:
    stage: str
    ok: bool
    message: str
    seconds: float
    outputs: dict = field(default_factory=dict)


@dataclass
class RunRecord:
    task_text: str
    run_dir: Path
    stages: list[StageRecord] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    @property
    def success(self) -> bool:
        return bool(self.stages) and all(s.ok for s in self.stages)

    def add(self, rec: StageRecord) -> None:
        self.stages.append(rec)
        self.save()

    def save(self) -> Path:
        data = {
            "task_text": self.task_text,
            "success": self.success,
            "started_unix": self.started,
            "stages": [vars(s) for s in self.stages],
        }
        return atomic_write_json(self.run_dir / "run.json", data)


def save_capture(run_dir: Path, rgb: np.ndarray, depth: np.ndarray, camera: dict) -> dict:
    """Write the captured RGB-D frame (PNG for people, .npy for the pipeline)."""
    import cv2

    out = run_dir / "capture"
    with atomic_file(out / "color.png") as tmp:
        cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    with atomic_file(out / "depth.npy") as tmp:
        np.save(tmp, depth.astype(np.float32))
    with atomic_file(out / "color.npy") as tmp:
        np.save(tmp, rgb)
    finite = np.isfinite(depth)
    vis = np.zeros(depth.shape, np.uint8)
    if finite.any():
        lo, hi = np.nanpercentile(depth[finite], [1, 99])
        vis[finite] = np.clip(255 * (depth[finite] - lo) / max(hi - lo, 1e-6), 0, 255).astype(np.uint8)
    with atomic_file(out / "depth.png") as tmp:
        cv2.imwrite(str(tmp), cv2.applyColorMap(vis, cv2.COLORMAP_VIRIDIS))
    atomic_write_json(out / "camera_info.json", camera)
    return {
        "color_png": str(out / "color.png"),
        "depth_png": str(out / "depth.png"),
        "depth_npy": str(out / "depth.npy"),
        "color_npy": str(out / "color.npy"),
    }


def write_report(record: RunRecord) -> Path:
    """Markdown report: one row per stage and the pictures each stage left."""
    lines = [
        f"# PhysWorld run: {record.task_text}",
        "",
        f"Result: **{'success' if record.success else 'FAILED'}**",
        "",
        "| stage | ok | seconds | message |",
        "|---|---|---|---|",
    ]
    for s in record.stages:
        lines.append(f"| {s.stage} | {'yes' if s.ok else 'NO'} | {s.seconds:.2f} | {s.message} |")
    lines.append("")
    for s in record.stages:
        pics = [v for k, v in s.outputs.items() if str(v).endswith(".png")]
        if pics:
            lines += (
                [f"## {s.stage}", ""]
                + [
                    f"![{Path(p).stem}]({Path(p).relative_to(record.run_dir)})"
                    for p in pics
                    if Path(p).is_relative_to(record.run_dir)
                ]
                + [""]
            )
    return atomic_write_text(record.run_dir / "report.md", "\n".join(lines) + "\n")
