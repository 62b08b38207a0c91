"""Measure the ROS-side building blocks and print a Markdown table.

- image conversion (numpy <-> sensor_msgs/Image) for 640x480 rgb8 and 32FC1;
- arm_controller (pybullet_direct backend) over real DDS in one process: joint_states period and
  the hold latency after a command stream stalls (time from the last command until the arm stays
  within 1 mrad of where it stops);
- bag_player: replay lateness of a 100 Hz bag at rate 1.

Usage: python benchmarks/bench_arm_io.py [--trials 5]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def bench_conversions(rows: list) -> None:
    from physworld.ros.conversions import image_to_numpy, numpy_to_image

    for enc, arr in (
        ("rgb8", np.zeros((480, 640, 3), np.uint8)),
        ("32FC1", np.ones((480, 640), np.float32)),
    ):
        for name, fn in (("numpy_to_image", lambda a=arr, e=enc: numpy_to_image(a, e)),):
            times = []
            for _ in range(50):
                t = time.perf_counter()
                msg = fn()
                times.append(time.perf_counter() - t)
            rows.append((f"{name} 640x480 {enc}", f"{np.median(times) * 1e3:.2f} ms (median of 50)"))
        times = []
        for _ in range(50):
            t = time.perf_counter()
            image_to_numpy(msg, "bgr8" if enc == "rgb8" else "passthrough")
            times.append(time.perf_counter() - t)
        conv = "-> bgr8" if enc == "rgb8" else "passthrough"
        rows.append((f"image_to_numpy 640x480 {enc} {conv}", f"{np.median(times) * 1e3:.2f} ms (median of 50)"))


def bench_arm_controller(rows: list, trials: int) -> None:
    import rclpy
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    from physworld.control.kinematics import PANDA_ARM_JOINTS
    from physworld.ros.arm_controller import ArmControllerNode
    from physworld.ros.executor import MultiThreadedExecutor

    ctx = rclpy.context.Context()
    rclpy.init(context=ctx)
    params = [Parameter("backend", value="pybullet_direct"), Parameter("policy_failure_timeout_s", value=10.0)]
    arm = ArmControllerNode(context=ctx, parameter_overrides=params)
    probe = Node("bench_probe", context=ctx)
    states, lock = [], threading.Lock()

    def on_state(m):
        with lock:
            states.append((time.monotonic(), m.header.stamp.sec + m.header.stamp.nanosec * 1e-9, m.position[0]))

    probe.create_subscription(JointState, "joint_states", on_state, 100)
    pub = probe.create_publisher(JointTrajectory, "arm_controller/joint_command", 10)
    ex = MultiThreadedExecutor(num_threads=4, context=ctx)
    ex.add_node(arm)
    ex.add_node(probe)
    threading.Thread(target=ex.spin, daemon=True).start()
    try:
        time.sleep(2.0)
        with lock:
            stamps = np.array([s for _, s, _ in states])
        d = np.diff(stamps) * 1e3
        rows.append(
            ("joint_states period (100 Hz nominal)",
             f"median {np.median(d):.2f} ms, p95 {np.percentile(d, 95):.2f} ms, max {d.max():.1f} ms ({d.size} gaps)")
        )  # fmt: skip
        latencies, travel, decisions = [], [], []
        with lock:
            q_start = states[-1][2]
        for k in range(trials):
            sign = 1.0 if k % 2 == 0 else -1.0
            end, last = time.monotonic() + 0.6, 0.0
            while time.monotonic() < end:
                with lock:
                    q1 = states[-1][2]
                q = [q1 + sign * 0.6, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785]
                pub.publish(
                    JointTrajectory(joint_names=list(PANDA_ARM_JOINTS), points=[JointTrajectoryPoint(positions=q)])
                )
                last = time.monotonic()
                time.sleep(0.02)
            time.sleep(1.0)
            with arm._lock:
                decisions.append(arm.core.hold_since - arm.core.watchdogs["policy"].last_feed)
            with lock:
                after = [(t, q) for t, _, q in states if t >= last]
            final = after[-1][1]
            moving = [t for t, q in after if abs(q - final) > 1e-3]
            latencies.append((moving[-1] - last) if moving else 0.0)
            travel.append(abs(after[0][1] - q_start))
            q_start = final
        lat, dec = np.array(latencies) * 1e3, np.array(decisions) * 1e3
        rows.append(
            (f"hold decision after the last command ({trials} trials, watchdog 100 ms)",
             f"median {np.median(dec):.0f} ms, max {dec.max():.0f} ms (each: {', '.join(f'{v:.0f}' for v in dec)})")
        )  # fmt: skip
        rows.append(
            (f"arm settled (within 1 mrad of its rest position) after the last command ({trials} trials)",
             f"median {np.median(lat):.0f} ms, max {lat.max():.0f} ms (each: {', '.join(f'{v:.0f}' for v in lat)})")
        )  # fmt: skip
        rows.append(("joint 1 travel while streaming 0.6 s (velocity limit 1.09 rad/s)",
                     ", ".join(f"{v:.2f} rad" for v in travel)))  # fmt: skip
    finally:
        ex.shutdown()
        arm.destroy_node()
        probe.destroy_node()
        rclpy.try_shutdown(context=ctx)


def bench_player(rows: list) -> None:
    import rclpy
    from rclpy.parameter import Parameter

    from physworld.bag.convert import joint_state
    from physworld.bag.record import BagWriter
    from physworld.ros.bag_player import BagPlayerNode
    from physworld.ros.executor import MultiThreadedExecutor

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "b"
        with BagWriter(path) as bag:
            bag.add_topic("/bench_joint_states", "sensor_msgs/msg/JointState")
            for i in range(200):
                bag.write("/bench_joint_states", 10**12 + i * 10**7, joint_state(["j"], [i]))
        ctx = rclpy.context.Context()
        rclpy.init(context=ctx)
        node = BagPlayerNode(context=ctx, parameter_overrides=[Parameter("bag_path", value=str(path))])
        ex = MultiThreadedExecutor(num_threads=2, context=ctx)
        ex.add_node(node)
        threading.Thread(target=ex.spin, daemon=True).start()
        deadline = time.monotonic() + 10
        while node.last_lateness_ms is None and time.monotonic() < deadline:
            time.sleep(0.05)
        ex.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
    late = node.last_lateness_ms
    if late is None:
        rows.append(("bag_player lateness (200 msgs, 100 Hz, rate 1)", "did not finish within 10 s"))
        return
    rows.append(
        ("bag_player lateness (200 msgs, 100 Hz, rate 1)",
         f"p50 {np.percentile(late, 50):.2f} ms, p99 {np.percentile(late, 99):.2f} ms, max {late.max():.2f} ms")
    )  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=5)
    args = ap.parse_args()
    rows: list[tuple[str, str]] = []
    bench_conversions(rows)
    bench_arm_controller(rows, args.trials)
    bench_player(rows)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end\n")
    print("| measurement | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
