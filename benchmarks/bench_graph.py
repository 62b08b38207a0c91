"""The ROS 2 graph under its default parameters: joint_states and camera timing from sim_world, and
the task orchestrator's overhead per run_task.

1. ``physworld bringup sim`` runs as a subprocess (config/physworld.yaml: joint_states 100 Hz,
   camera 320x240 at each of ``--camera-rates``; rendered in sim_world's child process (default) or
   ``--render inline`` in its own process, where PyBullet's renderer holds the GIL and delays the
   physics/joint_states timer); this process subscribes to ``joint_states``
   and the colour topic for ``--seconds`` and reports the achieved rate, interval jitter (std and p99 of |interval -
   nominal|), the longest gap, and the latency receive time - header stamp.
2. In this process: sim_world + camera_capture + video_generation_client + task_orchestrator
   (stages capture, generate_video, sim_rollout, ``--frames`` frames); ``--trials`` run_task goals.
   Overhead = the client's wall time (goal sent -> result received) minus the sum of the stage
   times the orchestrator records in run.json (goal handling, run.json/report writing, result
   delivery); the part before the first stage is taken from run.json's start time.

The runs use their own ROS_DOMAIN_ID. Usage: python benchmarks/bench_graph.py [--seconds 20]
[--trials 3] [--frames 30] [--json results.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "config" / "physworld.yaml"


def _stats(stamps_ns: list[int], nominal_hz: float, seconds: float) -> dict:
    t = np.sort(np.asarray(stamps_ns, np.int64))
    dt = np.diff(t) * 1e-6
    nominal = 1e3 / nominal_hz
    return {
        "messages": int(t.size),
        "rate_hz": t.size / seconds,
        "interval_median_ms": float(np.median(dt)),
        "jitter_std_ms": float(dt.std()),
        "jitter_p99_ms": float(np.percentile(np.abs(dt - nominal), 99)),
        "max_gap_ms": float(dt.max()),
    }


def bench_sim_timing(
    seconds: float, warmup: float, camera_rate_hz: float | None = None, render_process: bool | None = None
) -> dict:
    """sim_world (full sim profile) in a subprocess; joint_states and colour timing seen from here.
    ``camera_rate_hz`` overrides the configured camera rate; ``render_process`` sim_world's choice of
    rendering in a child process (True) or in its own process, where the render holds the GIL (False)."""
    import rclpy
    import yaml
    from rclpy.node import Node
    from sensor_msgs.msg import Image, JointState

    from physworld.config import load_yaml, node_params

    params = load_yaml(PARAMS)
    if camera_rate_hz is not None:
        params["sim_world"]["ros__parameters"]["camera_rate_hz"] = float(camera_rate_hz)
    if render_process is not None:
        params["sim_world"]["ros__parameters"]["render_process"] = bool(render_process)
    params_file = Path(tempfile.mkdtemp(prefix="bench_graph_")) / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    sim = node_params(params, "sim_world")
    cmd = [sys.executable, "-m", "physworld.cli", "bringup", "sim", "--params", str(params_file), "--duration",
           str(seconds + warmup + 30)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    ctx = rclpy.context.Context()
    rclpy.init(context=ctx)
    node = Node("bench_graph_probe", context=ctx)
    data = {"joint_states": [], "color": []}  # (monotonic, header stamp ns, latency ms)

    def record(key):
        def cb(msg) -> None:
            recv = time.time_ns()
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            data[key].append((time.monotonic(), stamp, (recv - stamp) * 1e-6))

        return cb

    node.create_subscription(JointState, "joint_states", record("joint_states"), 50)
    node.create_subscription(Image, "camera/color/image_raw", record("color"), 5)
    executor = rclpy.executors.SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    try:
        t_start = time.monotonic()
        while not data["joint_states"] and time.monotonic() - t_start < 60:
            executor.spin_once(timeout_sec=0.1)
        if not data["joint_states"]:
            raise RuntimeError("no joint_states from the sim bringup within 60 s")
        t0 = time.monotonic() + warmup
        while time.monotonic() < t0 + seconds:
            executor.spin_once(timeout_sec=0.05)
    finally:
        executor.remove_node(node)
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
        proc.terminate()
        proc.wait(timeout=30)
    out = {}
    for key, rate in (("joint_states", sim["joint_state_rate_hz"]), ("color", sim["camera_rate_hz"])):
        rows = [r for r in data[key] if t0 <= r[0] < t0 + seconds]
        st = _stats([r[1] for r in rows], rate, seconds)
        lat = np.array([r[2] for r in rows])
        st.update(nominal_hz=rate, latency_p50_ms=float(np.median(lat)), latency_p99_ms=float(np.percentile(lat, 99)))
        out[key] = st
    out["camera_size"] = [sim["image_width"], sim["image_height"]]
    out["render_process"] = bool(sim.get("render_process", False))
    return out


def bench_orchestrator(trials: int, frames: int) -> list[dict]:
    from rclpy.node import Node

    from physworld.ros.action_client import ActionClient
    from physworld.ros.bringup import Bringup
    from physworld_interfaces.action import RunTask

    tmp = Path(tempfile.mkdtemp(prefix="bench_graph_"))
    overlay = tmp / "overlay.yaml"
    overlay.write_text(
        f"task_orchestrator:\n  ros__parameters:\n    stages: [capture, generate_video]\n    default_frames: {frames}\n"
        f"    run_root: {tmp / 'runs'}\nvideo_generation_client:\n  ros__parameters:\n    run_root: {tmp / 'v'}\n"
    )
    names = ["sim_world", "camera_capture", "video_generation_client", "task_orchestrator"]
    up = Bringup(names, PARAMS, extra_args=["--params-file", str(overlay)]).start()
    rows = []
    try:
        node = up.add_node(Node("bench_run_task_client", context=up.context))
        client = ActionClient(node, RunTask, "run_task")
        if not client.wait_for_server(timeout_sec=30.0):
            raise RuntimeError("no run_task server")
        for i in range(trials):
            run_dir = tmp / f"run{i}"
            done = threading.Event()
            t0, t0_unix = time.perf_counter(), time.time()
            send = client.send_goal_async(
                RunTask.Goal(task_text="put the lid on the pot", seed=0, run_dir=str(run_dir))
            )
            send.add_done_callback(
                lambda f, d=done: f.result().get_result_async().add_done_callback(lambda _r: d.set())
            )
            if not done.wait(600):
                raise RuntimeError("run_task did not finish in 600 s")
            wall = time.perf_counter() - t0
            run = json.loads((run_dir / "run.json").read_text())
            if not run["success"]:
                raise RuntimeError(f"run_task failed: {run['stages']}")
            stage_s = {s["stage"]: s["seconds"] for s in run["stages"]}
            # before: goal sent -> the orchestrator's record starts (goal transport, acceptance, checks)
            before = run["started_unix"] - t0_unix
            rows.append({"wall_s": wall, "stages_s": stage_s, "overhead_s": wall - sum(stage_s.values()),
                         "before_stages_s": before})  # fmt: skip
            print(f"  trial {i + 1}: wall {wall:.2f} s, stages {stage_s}", file=sys.stderr)
    finally:
        up.shutdown()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of joint_states/camera to measure")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds after the first message not counted")
    parser.add_argument("--camera-rates", type=float, nargs="+", default=[10.0, 1.0],
                        help="sim_world camera rates to measure joint_states under (10 = configured)")  # fmt: skip
    parser.add_argument(
        "--render",
        nargs="+",
        default=["process"],
        choices=["process", "inline"],
        help="sim_world rendering: in a child process (default) and/or inline (holds the GIL)",
    )
    parser.add_argument("--trials", type=int, default=3, help="run_task goals (0: skip the orchestrator part)")
    parser.add_argument("--frames", type=int, default=30, help="frames generated per run_task")
    parser.add_argument("--domain", type=int, default=None, help="ROS_DOMAIN_ID (default: own)")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    domain = args.domain if args.domain is not None else int(os.environ.get("ROS_DOMAIN_ID", "0")) % 100 + 101
    os.environ["ROS_DOMAIN_ID"] = str(domain)
    load0 = " ".join(f"{v:.2f}" for v in os.getloadavg())
    timings = []
    for render, rate in itertools.product(args.render, args.camera_rates):
        print(f"sim bringup timing, camera {rate} Hz rendered {render}, {args.seconds:.0f} s ...", file=sys.stderr)
        timings.append(bench_sim_timing(args.seconds, args.warmup, rate, render == "process"))
    orch = []
    if args.trials > 0:
        print(f"orchestrator, {args.trials} run_task goals ...", file=sys.stderr)
        orch = bench_orchestrator(args.trials, args.frames)
    load1 = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"\nload average before {load0}, after {load1} ({os.cpu_count()} CPUs)\n")
    print("| stream (sim bringup) | nominal | achieved | median interval | jitter std | jitter p99 | max gap | "
          "latency p50 / p99 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for timing, (key, label) in itertools.product(
        timings, (("joint_states", "joint_states (camera {} Hz, {})"), ("color", "camera/color/image_raw {}x{}"))
    ):
        s = timing[key]
        where = "render process" if timing["render_process"] else "inline render"
        label = label.format(*(timing["camera_size"] if key == "color" else [timing["color"]["nominal_hz"], where]))
        print(f"| {label} | {s['nominal_hz']:.0f} Hz | {s['rate_hz']:.1f} Hz | {s['interval_median_ms']:.2f} ms | "
              f"{s['jitter_std_ms']:.2f} ms | {s['jitter_p99_ms']:.2f} ms | {s['max_gap_ms']:.1f} ms | "
              f"{s['latency_p50_ms']:.2f} / {s['latency_p99_ms']:.2f} ms |")  # fmt: skip
    if args.json:
        Path(args.json).write_text(
            json.dumps({"timing": timings, "orchestrator": orch, "load": [load0, load1]}, indent=2)
        )
    if not orch:
        return 0
    print(f"\n| run_task (capture + generate_video, {args.frames} frames) | wall | capture | generate_video | "
          "overhead (wall - stages) | of which before the first stage |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for i, r in enumerate(orch):
        st = r["stages_s"]
        print(f"| trial {i + 1} | {r['wall_s']:.2f} s | {st['capture']:.2f} s | {st['generate_video']:.2f} s | "
              f"{r['overhead_s'] * 1e3:.0f} ms | {r['before_stages_s'] * 1e3:.0f} ms |")  # fmt: skip
    oh = np.array([r["overhead_s"] for r in orch]) * 1e3
    print(f"| median | | | | {np.median(oh):.0f} ms | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
