"""Reconstruction (PhysWorld III-A) per task: wall time, peak memory, pose-track and scene errors.

For each task a fresh process (spawn) builds the ground-truth scene, captures the first RGB-D
frame, generates the video (sim_rollout; not timed) and runs ``reconstruct`` twice on the same
inputs: ``cold`` is the first call in the process (lazy imports and first-use initialisation of
torch/open3d included, as a one-shot CLI run pays them), ``warm`` the second (as a running
world_model node pays it). Peak memory is the process's maximum resident set size
(``resource.getrusage``) after both calls. Errors come from ``evaluate_reconstruction`` on the
warm result. The load average of the machine is printed with the table: timings taken while other
processes compete for the cores are not the machine's best.

Usage: python benchmarks/bench_reconstruction.py [--tasks a,b] [--frames 50] [--size 320x240]
       [--artefacts blur,jitter] [--seed 0] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import time


def _one(task: str, frames: int, size: tuple[int, int], artefacts: str, seed: int, q) -> None:
    try:
        import resource

        from physworld.cli_reconstruct import sim_robot_mask
        from physworld.recon.pipeline import ReconstructionConfig, evaluate_reconstruction, reconstruct
        from physworld.sim.world import build_task_scene
        from physworld.video import make_generator

        with build_task_scene(task, seed, image_size=size) as scene:
            rgb, depth, _ = scene.render()
            cam = scene.camera
            mask = sim_robot_mask(scene)
            video = make_generator("sim_rollout", artefacts=artefacts).generate(rgb, scene.task.command, frames, seed)
            walls, results = [], []
            for _ in range(2):
                t0 = time.perf_counter()
                res = reconstruct(rgb, depth, cam.intrinsics, cam.T_world_optical, video, scene.task,
                                  ReconstructionConfig(), ignore_mask=mask)  # fmt: skip
                walls.append(time.perf_counter() - t0)
                results.append(res)
            m = evaluate_reconstruction(results[-1], scene, video)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        objs = [o for o in m["objects"].values() if o.get("matched")]
        q.put({
            "task": task, "cold_s": walls[0], "warm_s": walls[1], "peak_rss_mb": rss_mb,
            "stages_warm_s": results[-1].timings, "moved_track": m["moved_track"],
            "meets_track_target": m["meets_track_target"],
            "max_object_position_error_m": max(o["position_error_m"] for o in objs),
            "max_object_size_error_m": max(max(abs(v) for v in o["size_error_m"]) for o in objs),
            "missing_objects": m["missing_objects"], "found_objects": len(objs),
        })  # fmt: skip
    except Exception as exc:  # reported in the table, the other tasks go on
        q.put({"task": task, "error": f"{type(exc).__name__}: {exc}"})


def _machine() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, no GPU used"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", default="", help="comma list of task names (default: all)")
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--artefacts", default="")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="", help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    from physworld.sim.tasks import TASKS

    tasks = [t for t in args.tasks.split(",") if t] or list(TASKS)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    ctx = mp.get_context("spawn")
    load0 = os.getloadavg()
    rows = []
    for task in tasks:
        q = ctx.Queue()
        proc = ctx.Process(target=_one, args=(task, args.frames, size, args.artefacts, args.seed, q))
        proc.start()
        rows.append(q.get())
        proc.join()
        print(f"done {task}", flush=True)
    load1 = os.getloadavg()
    print(f"\nMachine: {_machine()}; load average (1/5/15 min) {load0[0]:.1f}/{load0[1]:.1f}/{load0[2]:.1f} at the "
          f"start, {load1[0]:.1f}/{load1[1]:.1f}/{load1[2]:.1f} at the end")  # fmt: skip
    print(f"Video: {args.frames} frames {args.size}, artefacts: {args.artefacts or 'none'}, seed {args.seed}\n")
    print(
        "| task | cold s | warm s | peak RSS MB | track pos mean/max cm | track rot mean deg | target | "
        "object pos err max cm | size err max cm | objects found |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['task']} | failed: {r['error']} ||||||||")
            continue
        found = f"{r['found_objects']}/{r['found_objects'] + len(r['missing_objects'])}"
        t = r["moved_track"]
        rot = t.get("track_mean_rotation_error_deg_axis", t["track_mean_rotation_error_deg"])
        sym = " (axis)" if "track_mean_rotation_error_deg_axis" in t else ""
        print(f"| {r['task']} | {r['cold_s']:.1f} | {r['warm_s']:.1f} | {r['peak_rss_mb']:.0f} | "
              f"{t['track_mean_position_error_m'] * 100:.2f} / {t['track_max_position_error_m'] * 100:.2f} | "
              f"{rot:.1f}{sym} | {'met' if r['meets_track_target'] else 'MISSED'} | "
              f"{r['max_object_position_error_m'] * 100:.1f} | {r['max_object_size_error_m'] * 100:.1f} | "
              f"{found} |")  # fmt: skip
    ok = [r for r in rows if "error" not in r]
    if ok:
        stages = {}
        for r in ok:
            for k, v in r["stages_warm_s"].items():
                stages.setdefault(k, []).append(v)
        print("\nMean warm stage times (s): " + ", ".join(f"{k} {sum(v) / len(v):.2f}" for k, v in stages.items()))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"machine": _machine(), "load": [load0, load1], "args": vars(args), "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
