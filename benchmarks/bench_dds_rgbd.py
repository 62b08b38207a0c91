"""RGB-D through DDS between two processes: achieved rate and latency, per Fast DDS transport.

A publisher subprocess sends 640x480 ``rgb8`` colour and ``32FC1`` depth images
(``camera/color/image_raw``, ``camera/depth/image_raw``, built with the project's
``physworld.ros.conversions.numpy_to_image``, header stamp = the time just before that message's publish) at 30 Hz; a
subscriber subprocess receives them (plain rclpy: a single-threaded executor, and a multi-threaded
one with a reentrant callback group as camera_capture uses) and measures latency
as receive time - header stamp (same machine clock). Both run once per transport setting: Fast DDS
defaults, and ``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA``. Goal: p99 <= 5 ms for colour and depth.
The first ``--warmup`` seconds are not counted. The runs use their own ROS_DOMAIN_ID (``--domain``)
so that other graphs on the machine do not see them.

Usage: python benchmarks/bench_dds_rgbd.py [--seconds 10] [--rate 30] [--transports default LARGE_DATA]
       [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

TOPICS = {"color": "camera/color/image_raw", "depth": "camera/depth/image_raw"}


def _now_ns() -> int:
    return time.time_ns()  # the ROS system clock (RCL_SYSTEM_TIME) is this clock


def run_publisher(args) -> None:
    import rclpy
    from rclpy.node import Node
    from sensor_msgs.msg import Image

    from physworld.ros.conversions import numpy_to_image

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (args.height, args.width, 3), dtype=np.uint8)
    depth = rng.uniform(0.3, 3.0, (args.height, args.width)).astype(np.float32)
    if args.depth_encoding == "16UC1":  # millimetres (REP 118), what RealSense drivers publish
        depth = np.round(depth * 1000.0).astype(np.uint16)
    rclpy.init()
    node = Node("bench_rgbd_publisher")
    pubs = {k: node.create_publisher(Image, t, 5) for k, t in TOPICS.items() if k in args.streams}
    sent = {"ticks": 0, "convert_s": []}

    def tick() -> None:
        t0 = time.perf_counter()
        msgs = {
            "color": numpy_to_image(rgb, "rgb8", "camera_color_optical_frame"),
            "depth": numpy_to_image(depth, args.depth_encoding, "camera_color_optical_frame"),
        }
        msgs = {k: msgs[k] for k in args.streams}
        sent["convert_s"].append(time.perf_counter() - t0)
        for key, msg in msgs.items():  # each stream's stamp is taken just before its publish
            stamp = _now_ns()
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
            pubs[key].publish(msg)
        sent["ticks"] += 1

    node.create_timer(1.0 / args.rate, tick)
    end = time.monotonic() + args.warmup + args.seconds + 2.0
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
    conv = np.array(sent["convert_s"]) * 1e3
    print(json.dumps({"ticks": sent["ticks"], "convert_ms_median": float(np.median(conv))}), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


def run_subscriber(args) -> None:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from sensor_msgs.msg import Image

    from physworld.ros.executor import MultiThreadedExecutor

    rclpy.init()
    node = Node("bench_rgbd_subscriber")
    samples: dict[str, list[tuple[float, float]]] = {k: [] for k in TOPICS if k in args.streams}

    def make_cb(key):
        def cb(msg: Image) -> None:
            recv = _now_ns()
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            samples[key].append((time.monotonic(), (recv - stamp) * 1e-6))

        return cb

    if args.executor == "multi":  # what camera_capture runs on: reentrant group, several threads
        from rclpy.callback_groups import ReentrantCallbackGroup

        executor, group = MultiThreadedExecutor(num_threads=4), ReentrantCallbackGroup()
    else:
        executor, group = SingleThreadedExecutor(), None
    executor.add_node(node)
    for k, t in TOPICS.items():
        if k not in args.streams:
            continue
        node.create_subscription(Image, t, make_cb(k), 5, callback_group=group)
    start = time.monotonic()
    while not all(samples.values()) and time.monotonic() - start < 30.0:  # discovery + first frames
        executor.spin_once(timeout_sec=0.05)
    t_measure = time.monotonic() + args.warmup
    t_end = t_measure + args.seconds
    while time.monotonic() < t_end:
        executor.spin_once(timeout_sec=0.05)
    out = {}
    for k, s in samples.items():
        lat = np.array([ms for t, ms in s if t_measure <= t < t_end])
        out[k] = {
            "received": int(lat.size),
            "rate_hz": lat.size / args.seconds,
            "p50_ms": float(np.percentile(lat, 50)) if lat.size else None,
            "p99_ms": float(np.percentile(lat, 99)) if lat.size else None,
            "max_ms": float(lat.max()) if lat.size else None,
        }
    print(json.dumps(out), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


def run_pair(args, transport: str, executor: str) -> dict:
    """One publisher and one subscriber process with the transport setting; their results."""
    env = dict(os.environ, ROS_DOMAIN_ID=str(args.domain))
    env.pop("FASTDDS_BUILTIN_TRANSPORTS", None)
    if transport != "default":
        env["FASTDDS_BUILTIN_TRANSPORTS"] = transport
    common = [sys.executable, __file__, "--seconds", str(args.seconds), "--rate", str(args.rate), "--warmup",
              str(args.warmup), "--width", str(args.width), "--height", str(args.height),
              "--streams", *args.streams, "--depth-encoding", args.depth_encoding]  # fmt: skip
    sub = subprocess.Popen(
        [*common, "--role", "sub", "--executor", executor], env=env, stdout=subprocess.PIPE, text=True
    )
    pub = subprocess.Popen([*common, "--role", "pub"], env=env, stdout=subprocess.PIPE, text=True)
    timeout = args.warmup + args.seconds + 60
    sub_out, _ = sub.communicate(timeout=timeout)
    pub_out, _ = pub.communicate(timeout=timeout)
    if sub.returncode or pub.returncode:
        raise RuntimeError(f"{transport}: subscriber exit {sub.returncode}, publisher exit {pub.returncode}")
    return {
        "subscriber": json.loads(sub_out.strip().splitlines()[-1]),
        "publisher": json.loads(pub_out.strip().splitlines()[-1]),
    }


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", choices=("run", "pub", "sub"), default="run", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per transport")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds received but not counted")
    parser.add_argument("--rate", type=float, default=30.0, help="frames per second")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--transports", nargs="+", default=["default", "LARGE_DATA"],
                        help="'default' (Fast DDS defaults) or a FASTDDS_BUILTIN_TRANSPORTS value")  # fmt: skip
    parser.add_argument(
        "--executors",
        nargs="+",
        choices=("single", "multi"),
        default=["single", "multi"],
        help="subscriber executor: single-threaded, or multi-threaded + reentrant (as camera_capture)",
    )
    parser.add_argument("--executor", default="single", help=argparse.SUPPRESS)
    parser.add_argument(
        "--streams",
        nargs="+",
        choices=tuple(TOPICS),
        default=list(TOPICS),
        help="which streams to send (colour alone: the single-stream case of the ROS 2 notes)",
    )
    parser.add_argument("--depth-encoding", choices=("32FC1", "16UC1"), default="32FC1",
                        help="depth as float metres (1.2 MB at 640x480) or uint16 millimetres (0.6 MB)")  # fmt: skip
    parser.add_argument("--domain", type=int, default=None, help="ROS_DOMAIN_ID for the runs (default: own)")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    if args.role == "pub":
        run_publisher(args)
        return 0
    if args.role == "sub":
        run_subscriber(args)
        return 0
    if args.domain is None:
        args.domain = int(os.environ.get("ROS_DOMAIN_ID", "0")) % 100 + 101
    results = {"load_before": load_average(), "cpus": os.cpu_count(), "runs": {}}
    for transport in args.transports:
        for executor in args.executors:
            print(f"[{transport}, {executor}] {args.seconds:.0f} s of {args.width}x{args.height} RGB-D at "
                  f"{args.rate:.0f} Hz ...", file=sys.stderr)  # fmt: skip
            results["runs"][f"{transport}/{executor}"] = run_pair(args, transport, executor)
    results["load_after"] = load_average()
    print(f"\nRGB-D {args.width}x{args.height} at {args.rate:.0f} Hz through DDS, two processes, {args.seconds:.0f} s "
          f"per transport; load average before {results['load_before']}, after {results['load_after']} "
          f"({results['cpus']} CPUs)\n")  # fmt: skip
    print("| Fast DDS transports | subscriber executor | stream | rate (Hz) | latency p50 (ms) | p99 (ms) | "
          "max (ms) | p99 <= 5 ms |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results["runs"].items():
        transport, executor = name.split("/")
        for key, enc in (("color", "rgb8"), ("depth", args.depth_encoding)):
            if key not in r["subscriber"]:
                continue
            s = r["subscriber"][key]
            ok = "yes" if s["p99_ms"] is not None and s["p99_ms"] <= 5.0 else "no"
            f = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
            print(f"| {transport} | {executor} | {key} ({enc}) | {s['rate_hz']:.1f} | {f(s['p50_ms'])} | "
                  f"{f(s['p99_ms'])} | {f(s['max_ms'])} | {ok} |")  # fmt: skip
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
