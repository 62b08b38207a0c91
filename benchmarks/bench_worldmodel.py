"""Benchmark of the 4D world model (paper 000): training throughput, peak memory, rollout speed.

    python benchmarks/bench_worldmodel.py [--size 64] [--grid 32] [--steps 5] [--device auto] [--threads N]
        [--json out.json]

Training = one stage-1 step (rollout of a clip, render every frame, RGB + SSIM + depth + opacity
losses, backward, Adam) on synthetic PyBullet clips; samples/s counts clips. Peak memory: CUDA
``max_memory_allocated`` on a GPU, else the process's peak resident set size (includes Python,
torch and PyBullet, so it is an upper bound on what the model needs). Rollout: frames/s of
``WorldModel4D.rollout`` under ``no_grad`` (encode once, then dynamics + render per frame).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from physworld.device import resolve_device
from physworld.worldmodel.clips import to_batch
from physworld.worldmodel.config import load_settings
from physworld.worldmodel.losses import make_perceptual
from physworld.worldmodel.model import WorldModel4D
from physworld.worldmodel.objectives import Stage1Objective
from physworld.worldmodel.sim_data import generate_sim_clips
from physworld.worldmodel.train import peak_memory_mb


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(size: int, grid: int, channels: int, batch: int, clip_len: int, steps: int, device_name: str) -> dict:
    device = resolve_device(device_name)
    s = load_settings(
        None,
        {
            "model": {
                "image_size": [size, size],
                "grid_size": [grid] * 3,
                "channels": channels,
                "render_samples": grid,
            },
            "sim_data": {"clip_len": clip_len},
        },
    )
    clips = generate_sim_clips(s.sim_data, s.model, batch, seed=0, progress=False)
    torch.manual_seed(0)
    model = WorldModel4D(s.model).to(device)
    obj = Stage1Objective(model, s.pretrain, make_perceptual().to(device))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    b = to_batch(clips, list(range(batch)), device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def step():
        loss = obj.generator_losses(b)["total"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    train_s = (time.perf_counter() - t0) / steps
    model.eval()
    with torch.no_grad():
        x, a = b["rgb"][:1, 0], b["actions"][:1]
        model.rollout(x, a, clip_len)
        _sync(device)
        t0 = time.perf_counter()
        reps = max(1, steps)
        for _ in range(reps):
            model.rollout(x, a, clip_len)
        _sync(device)
        roll_s = (time.perf_counter() - t0) / reps
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch_threads": torch.get_num_threads(),
        "image": f"{size}x{size}",
        "grid": f"{grid}^3 x {channels} ch",
        "render_samples": grid,
        "batch_clips": batch,
        "clip_len": clip_len,
        "train_step_s": round(train_s, 3),
        "train_samples_per_s": round(batch / train_s, 2),
        "train_frames_per_s": round(batch * clip_len / train_s, 1),
        "peak_memory_mb": round(peak_memory_mb(device), 1),
        "peak_memory_kind": "CUDA max_memory_allocated" if device.type == "cuda" else "process peak RSS",
        "rollout_frames_per_s": round(clip_len / roll_s, 1),
        "params": sum(p.numel() for p in model.parameters()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--grid", type=int, default=32)
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--clip-len", type=int, default=6)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    ap.add_argument("--json", help="also write the result here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    r = bench(args.size, args.grid, args.channels, args.batch, args.clip_len, args.steps, args.device)
    print("| " + " | ".join(r) + " |")
    print("|" + "---|" * len(r))
    print("| " + " | ".join(str(v) for v in r.values()) + " |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(r, f, indent=2)


if __name__ == "__main__":
    main()
