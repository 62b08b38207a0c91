"""ament_python package: the ROS-free core (`physworld`), the nodes (`physworld.ros`) and the
launch/config/urdf files (symlinked from the repository's top level) installed to share/physworld."""

import os
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "physworld"

# One executable per node (ros2 run physworld <node>), plus the CLI.
NODES = [
    "sim_world",
    "camera_capture",
    "video_generation_client",
    "task_orchestrator",
    "world_model",
    "arm_controller",
    "teleop",
    "bag_recorder",
    "bag_player",
    "residual_policy",
]


def share_files(folder: str, pattern: str = "*") -> tuple[str, list[str]]:
    files = [f for f in glob(os.path.join(folder, "**", pattern), recursive=True) if os.path.isfile(f)]
    return files


def data_files() -> list[tuple[str, list[str]]]:
    out = [
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ]
    for folder in ("launch", "config", "urdf"):
        by_dir: dict[str, list[str]] = {}
        for f in share_files(folder):
            by_dir.setdefault(os.path.dirname(f), []).append(f)
        for d, files in sorted(by_dir.items()):
            out.append((f"share/{PACKAGE}/{d}", sorted(files)))
    return out


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "tests"]),
    data_files=data_files(),
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="PhysWorld developers",
    maintainer_email="physworld-dev@example.com",
    description="PhysWorld: robot learning from a physical world model.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [f"{n} = physworld.ros.{n}:main" for n in NODES] + ["physworld = physworld.cli:main"],
    },
)
