"""``physworld bag record|play|info|evaluate``: rosbag2 recordings of the graph and their replay.

``record`` brings up the simulated graph in this process (or, with ``--no-sim``, joins a graph
that is already running) and records it with the bag_recorder node; ``play`` replays a bag with
its original timing through the bag_player node; ``info`` prints what ``ros2 bag info`` prints;
``evaluate`` scores a bag and runs the pipeline on its first RGB-D frame (``physworld.replay_eval``).
rclpy is imported inside the ROS commands only.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from .bag.record import DEFAULT_TOPICS, STORAGES
from .errors import ArtefactError, InputError


def register(sub) -> None:
    bag = sub.add_parser("bag", help="record, replay, inspect and evaluate rosbag2 bags")
    cmds = bag.add_subparsers(dest="bag_command", metavar="BAG_COMMAND", required=True)

    r = cmds.add_parser("record", help="record camera, joint states and arm commands to a rosbag2 bag")
    r.add_argument("--out", type=Path, required=True, help="bag directory to create (must not exist)")
    r.add_argument("--duration", type=float, default=10.0, help="seconds to record (default 10)")
    r.add_argument("--storage", choices=STORAGES, default="sqlite3", help="rosbag2 storage plugin")
    r.add_argument("--topics", nargs="+", default=list(DEFAULT_TOPICS), help="topics (default: camera, joints, cmds)")
    r.add_argument("--no-sim", action="store_true", help="record a graph that is already running (no sim_world here)")
    r.add_argument("--task", default=None, help="sim task name or command (default: sim_world's parameter)")
    r.add_argument("--seed", type=int, default=None, help="sim scene seed (default: sim_world's parameter)")
    r.add_argument("--custom-data", nargs="*", default=[], metavar="KEY=VALUE", help="stored in metadata.yaml")
    r.add_argument("--params", type=Path, default=None, help="parameter YAML (default: config/physworld.yaml)")
    r.set_defaults(func=run_record)

    p = cmds.add_parser("play", help="publish a bag with its original timing (times --rate)")
    p.add_argument("bag", type=Path, help="bag directory (holds metadata.yaml)")
    p.add_argument("--rate", type=float, default=1.0, help="speed factor (1.0 = original timing)")
    p.add_argument("--loop", action="store_true", help="start over at the end (until Ctrl-C or --duration)")
    p.add_argument("--topics", nargs="+", default=[], help="only these topics (default: all)")
    p.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0 = end of bag)")
    p.add_argument("--params", type=Path, default=None, help="parameter YAML (default: config/physworld.yaml)")
    p.set_defaults(func=run_play)

    i = cmds.add_parser("info", help="topics, types, counts and duration of a bag (like ros2 bag info)")
    i.add_argument("bag", type=Path, help="bag directory (holds metadata.yaml)")
    i.set_defaults(func=run_info)

    e = cmds.add_parser("evaluate", help="score a bag and run the pipeline on its first RGB-D frame")
    e.add_argument("bag", type=Path, help="bag directory (holds metadata.yaml)")
    g = e.add_mutually_exclusive_group()
    g.add_argument("--task", default=None, help="task name (default: the bag's physworld.task custom data)")
    g.add_argument("--text", default=None, help='task command, e.g. "put the lid on the pot"')
    e.add_argument("--out", type=Path, required=True, help="report directory to create")
    e.add_argument("--seed", type=int, default=None, help="generation/scene seed (default: the bag's, else 0)")
    e.add_argument("--backend", default="sim_rollout", help="video generation backend (default sim_rollout)")
    e.add_argument("--frames", type=int, default=30, help="frames to generate (default 30)")
    e.add_argument("--no-recon", action="store_true", help="skip reconstruction")
    e.add_argument("--joint-rate", type=float, default=None, help="nominal joint_states rate to check (Hz)")
    e.add_argument("--device", default="auto", help="torch device for reconstruction: auto, cpu or cuda")
    e.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    e.set_defaults(func=run_evaluate)


# --------------------------------------------------------------------------------------- info


def bag_info(path) -> dict:
    """What ``ros2 bag info`` shows, from the bag's metadata and index."""
    import yaml

    from .bag.play import BagReader

    with BagReader(path) as bag:
        topics, count, start, dur, custom = bag.topics, bag.message_count, bag.start_ns, bag.duration_s, bag.custom_data
    meta = yaml.safe_load((Path(path) / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    files = [Path(path) / f for f in meta.get("relative_file_paths", [])]
    return {
        "path": str(path),
        "files": [f.name for f in files],
        "size_bytes": sum(f.stat().st_size for f in files if f.is_file()),
        "storage": meta.get("storage_identifier", "?"),
        "version": meta.get("version"),
        "ros_distro": meta.get("ros_distro", ""),
        "start_ns": start if count else None,
        "duration_s": dur,
        "messages": count,
        "topics": {t: {"type": ty, "count": n} for t, (ty, n) in sorted(topics.items())},
        "custom_data": custom,
    }


def _stamp(ns: int) -> str:
    dt = datetime.fromtimestamp(ns / 1e9, tz=UTC)
    return f"{dt:%b %d %Y %H:%M:%S}.{dt.microsecond // 1000:03d} UTC ({ns / 1e9:.3f})"


def format_info(info: dict) -> str:
    size = info["size_bytes"]
    unit = next(u for u, lim in (("B", 2**10), ("KiB", 2**20), ("MiB", 2**30), ("GiB", 2**80)) if size < lim)
    scaled = size / {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[unit]
    lines = [
        f"Files:             {', '.join(info['files'])}",
        f"Bag size:          {scaled:.1f} {unit}",
        f"Storage id:        {info['storage']} (rosbag2 version {info['version']})",
        f"ROS Distro:        {info['ros_distro']}",
        f"Duration:          {info['duration_s']:.3f}s",
    ]
    if info["start_ns"] is not None:
        end = info["start_ns"] + int(info["duration_s"] * 1e9)
        lines += [f"Start:             {_stamp(info['start_ns'])}", f"End:               {_stamp(end)}"]
    lines.append(f"Messages:          {info['messages']}")
    width = max((len(t) for t in info["topics"]), default=0)
    for k, (topic, t) in enumerate(info["topics"].items()):
        head = "Topic information: " if k == 0 else " " * 19
        lines.append(
            f"{head}Topic: {topic:<{width}} | Type: {t['type']} | Count: {t['count']} | Serialization Format: cdr"
        )
    for k, (key, value) in enumerate(sorted(info["custom_data"].items())):
        lines.append(f"{'Custom data:       ' if k == 0 else ' ' * 19}{key}: {value}")
    return "\n".join(lines)


def run_info(args) -> int:
    print(format_info(bag_info(args.bag)))
    return 0


# --------------------------------------------------------------------------------- ROS commands


def _write_overlay(directory: Path, nodes: dict) -> Path:
    import yaml

    from .io import atomic_write_text

    doc = {name: {"ros__parameters": values} for name, values in nodes.items()}
    return atomic_write_text(directory / "overrides.yaml", yaml.safe_dump(doc, sort_keys=True))


_BAR = "{desc}: {bar} {n:.1f}/{total:.1f} s"


def _node(up, name: str):
    return next(n for n in up.nodes if n.get_name() == name)


def _sim_run_data(params: Path, task: str | None, seed: int | None) -> tuple[dict, list[str]]:
    """sim_world overrides and the custom_data that lets replay evaluation rebuild the scene."""
    from .config import from_dict, load_yaml, node_params
    from .configs import SimWorldConfig
    from .sim.tasks import resolve_task

    cfg = from_dict(SimWorldConfig, node_params(load_yaml(params), "sim_world"), source=f"{params}:sim_world")
    name = resolve_task(task or cfg.task).name
    seed = cfg.seed if seed is None else seed
    custom = ["physworld.source=sim_world", f"physworld.task={name}", f"physworld.seed={seed}",
              f"physworld.joint_state_rate_hz={cfg.joint_state_rate_hz}"]  # fmt: skip
    return {"task": name, "seed": seed}, custom


def run_record(args) -> int:
    from tqdm import tqdm

    from .cli_ros import _default_params, _refuse_second_graph
    from .ros.bringup import PROFILES, Bringup

    out = args.out.resolve()
    if out.exists():
        raise ArtefactError(f"{out}: already exists; choose a new --out for the bag")
    if args.duration <= 0:
        raise InputError(f"--duration must be > 0 seconds, got {args.duration}")
    params = args.params or _default_params()
    custom = list(args.custom_data)
    nodes: dict = {}
    if not args.no_sim:
        nodes["sim_world"], sim_custom = _sim_run_data(params, args.task, args.seed)
        custom = sim_custom + custom
    nodes["bag_recorder"] = {"output": str(out), "storage": args.storage, "topics": list(args.topics),
                             "start_on_launch": False, "custom_data": custom}  # fmt: skip
    names = ([] if args.no_sim else PROFILES["sim"]) + ["bag_recorder"]
    with tempfile.TemporaryDirectory(prefix="physworld_bag_") as tmp:
        overlay = _write_overlay(Path(tmp), nodes)
        up = Bringup(names, params, extra_args=["--params-file", str(overlay)]).start()
    try:
        if not args.no_sim:
            _refuse_second_graph(up)
            print(f"sim graph up: task {nodes['sim_world']['task']}, seed {nodes['sim_world']['seed']}")
        recorder = _node(up, "bag_recorder")
        ok, msg = recorder.start()  # after the graph is up: the bag holds --duration seconds of it
        if ok:
            t0 = time.monotonic()
            with tqdm(total=args.duration, desc=f"recording {out.name}", unit="s", bar_format=_BAR) as bar:
                while (elapsed := time.monotonic() - t0) < args.duration:
                    bar.n = round(elapsed, 1)
                    bar.refresh()
                    time.sleep(0.25)
            ok, msg = recorder.stop()
    finally:
        up.shutdown()
    print(("recorded: " if ok else "recording failed: ") + msg)
    return 0 if ok else 1


def run_play(args) -> int:
    from .bag.play import BagReader
    from .cli_ros import _default_params
    from .ros.bringup import Bringup

    if not args.rate > 0:
        raise InputError(f"--rate must be > 0 (1.0 = original timing), got {args.rate}")
    with BagReader(args.bag) as bag:  # clear errors for a missing/corrupt bag before any ROS start
        n, dur = bag.message_count, bag.duration_s
        if args.topics:
            list(bag.messages(args.topics))  # unknown topics -> InputError naming them
    params = args.params or _default_params()
    values = {"bag_path": str(Path(args.bag).resolve()), "rate": args.rate, "loop": args.loop, "start_on_launch": True}
    if args.topics:
        values["topics"] = list(args.topics)
    with tempfile.TemporaryDirectory(prefix="physworld_bag_") as tmp:
        overlay = _write_overlay(Path(tmp), {"bag_player": values})
        up = Bringup(["bag_player"], params, extra_args=["--params-file", str(overlay)]).start()
    print(f"playing {n} messages ({dur:.2f} s at {args.rate}x) from {args.bag}; Ctrl-C to stop")
    player = _node(up, "bag_player")
    t_end = time.monotonic() + args.duration if args.duration > 0 else float("inf")
    try:
        while up.context.ok() and time.monotonic() < t_end:
            if not args.loop and player.last_lateness_ms is not None:
                break
            time.sleep(0.05)
    except KeyboardInterrupt:
        pass
    finally:
        late = player.last_lateness_ms
        up.shutdown()
    if late is not None:
        print(
            f"done: publish lateness p50 {_pct(late, 50):.2f} ms, p99 {_pct(late, 99):.2f} ms, max {late.max():.2f} ms"
        )
    return 0


def _pct(a, q: float) -> float:
    import numpy as np

    return float(np.percentile(a, q))


def run_evaluate(args) -> int:
    from .replay_eval import evaluate_bag

    if args.frames < 2:
        raise InputError(f"--frames must be >= 2, got {args.frames}")
    m = evaluate_bag(args.bag, args.out, task=args.task, task_text=args.text, seed=args.seed, backend=args.backend,
                     n_frames=args.frames, reconstruct=not args.no_recon, expected_joint_rate_hz=args.joint_rate,
                     overwrite=args.overwrite, device=args.device)  # fmt: skip
    mark = {True: "pass", False: "FAIL", None: "n/a "}
    for c in m["checks"]:
        print(f"  [{mark[c['passed']]}] {c['name']}: {c['detail']}")
    print(f"{'PASSED' if m['passed'] else 'FAILED'}; report: {Path(args.out) / 'report.md'}")
    return 0 if m["passed"] else 1
