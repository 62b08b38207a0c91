"""``physworld info``: what this environment has (versions, ROS 2, interfaces, device)."""

from __future__ import annotations

import os


def register(sub) -> None:
    p = sub.add_parser("info", help="show the environment: Python, ROS 2, interfaces, torch device")
    p.set_defaults(func=run)


def run(args) -> int:
    import importlib.metadata as md
    import platform

    rows = [("python", platform.python_version())]
    for dist in ("ros-rclpy", "torch", "pybullet", "open3d-cpu", "stable_baselines3", "gymnasium", "rosbags"):
        try:
            rows.append((dist, md.version(dist)))
        except md.PackageNotFoundError:
            rows.append((dist, "not installed"))
    try:
        import physworld_interfaces.action  # noqa: F401

        rows.append(("physworld_interfaces", "built"))
    except ImportError as exc:
        rows.append(("physworld_interfaces", f"NOT built ({exc}); run ./scripts/setup.sh"))
    for var in ("ROS_DOMAIN_ID", "RMW_IMPLEMENTATION", "ROS_AUTOMATIC_DISCOVERY_RANGE"):
        rows.append((var, os.environ.get(var, "(unset)")))
    try:
        from .device import resolve_device

        rows.append(("torch device (auto)", str(resolve_device("auto"))))
    except ImportError:
        rows.append(("torch device (auto)", "torch not installed"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0
