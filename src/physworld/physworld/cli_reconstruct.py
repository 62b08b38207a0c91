"""``physworld reconstruct``: the physical world model of a sim task from its generated video.

Builds the ground-truth scene of a task (seeded), captures its first RGB-D frame, generates the
task video (sim_rollout, optional artefacts), reconstructs the scene (PhysWorld III-A) and writes
into ``--out``: ``scene/`` (the bundle), ``video/`` (the generated video), ``report.png``,
``report.md`` and ``metrics.json`` (errors against the ground truth, stage timings).

What the reconstruction receives is what a robot has: the captured RGB-D frame and intrinsics, the
camera extrinsics as a hand-eye calibration would give them, the generated video and a robot
self-filter mask computed from the robot's model and joint positions. The ground truth is read
only afterwards, by the evaluation.
"""

from __future__ import annotations

import argparse


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, e.g. 320x240, got {text!r}") from None
    if w < 16 or h < 16:
        raise argparse.ArgumentTypeError(f"size must be at least 16x16, got {text!r}")
    return w, h


def register(sub) -> None:
    p = sub.add_parser(
        "reconstruct",
        help="reconstruct a task scene (physical world model) from its generated video and score it",
        description=__doc__.split("\n\n")[1],
    )
    p.add_argument("--task", required=True, help="task name or command, e.g. lid_on_pot (see 'physworld tasks')")
    p.add_argument("--seed", type=int, default=0, help="scene randomisation seed (default 0)")
    p.add_argument("--out", required=True, help="output directory (its scene/, video/ and report files are replaced)")
    p.add_argument("--frames", type=int, default=50, help="video frames, 2..500 (default 50)")
    p.add_argument("--artefacts", default="", help="comma list of blur,jitter,drift,occluder (default none)")
    p.add_argument("--size", type=_size, default=(320, 240), help="image size WxH (default 320x240)")
    p.add_argument("--uncalibrated", action="store_true",
                   help="do not give the camera extrinsics: world frame from the support plane only")  # fmt: skip
    p.add_argument("--config", default=None, help="parameter YAML (node 'world_model': ReconstructionConfig)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run_reconstruct)


def sim_robot_mask(scene):
    """The robot self-filter mask of a sim scene: its model, base and joint positions (what the robot
    knows about itself) rendered from the camera."""
    import pybullet as p

    from .recon.self_filter import robot_pixel_mask
    from .sim import assets
    from .sim.world import ROBOT_BASE

    if scene.robot is None:
        return None
    body, c = scene.robot.body_id, scene.client
    q = {}
    for j in range(p.getNumJoints(body, physicsClientId=c)):
        info = p.getJointInfo(body, j, physicsClientId=c)
        if info[2] != p.JOINT_FIXED:
            q[info[1].decode()] = p.getJointState(body, j, physicsClientId=c)[0]
    cam = scene.camera
    return robot_pixel_mask(assets.panda_urdf_path(), ROBOT_BASE, q, cam.intrinsics, cam.T_world_optical)


def _config(path):
    """ReconstructionConfig from the 'world_model' entry of a ROS 2 parameter file (its node-only
    parameters such as run_root are skipped), or the defaults."""
    import dataclasses

    from .config import from_dict, load_yaml, node_params
    from .recon.pipeline import ReconstructionConfig

    values = node_params(load_yaml(path), "world_model") if path else {}
    known = {f.name for f in dataclasses.fields(ReconstructionConfig)}
    values = {k: v for k, v in values.items() if k in known}
    return from_dict(ReconstructionConfig, values, source=f"{path}:world_model")


def run_reconstruct(args) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from .recon.pipeline import evaluate_reconstruction, reconstruct
    from .recon.report import write_report
    from .sim.tasks import resolve_task
    from .sim.world import build_task_scene
    from .video import make_generator, save_video

    cfg = _config(args.config)
    task = resolve_task(args.task)
    out = Path(args.out)
    with build_task_scene(task, args.seed, image_size=args.size) as scene:
        rgb, depth, _ = scene.render()
        cam = scene.camera
        mask = sim_robot_mask(scene)
        generator = make_generator("sim_rollout", artefacts=args.artefacts)
        with tqdm(total=args.frames, desc=f"video: {task.name}", unit="frame", disable=args.no_progress) as bar:
            video = generator.generate(rgb, task.command, args.frames, args.seed,
                                       progress=lambda d, t: bar.update(d - bar.n))  # fmt: skip
        bars: dict = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in bars:
                for b in bars.values():
                    b.close()
                bars.clear()
                bars[stage] = tqdm(total=total, desc=f"reconstruct: {stage}", unit="step", leave=False)
            bar = bars[stage]
            bar.total = total
            bar.update(done - bar.n)

        T_wc = None if args.uncalibrated else cam.T_world_optical
        try:
            result = reconstruct(rgb, depth, cam.intrinsics, T_wc, video, task, cfg,
                                 None if args.no_progress else progress, ignore_mask=mask)  # fmt: skip
        finally:
            for b in bars.values():
                b.close()
        bundle_dir = result.save(out / "scene")
        save_video(video, out / "video")
        metrics = evaluate_reconstruction(result, scene, video)
    write_report(out, result, bundle_dir, rgb, video, metrics)
    _print_summary(result, metrics, out)
    return 0


def _print_summary(result, metrics: dict, out) -> None:
    b = result.bundle
    print(f"{b.task_name}: {len(b.objects)} object(s) reconstructed -> {out / 'scene'}")
    for name, m in metrics["objects"].items():
        if m.get("matched"):
            print(f"  {name:<12} position error {m['position_error_m'] * 100:5.2f} cm, "
                  f"size error {max(abs(v) for v in m['size_error_m']) * 100:5.2f} cm (largest axis)")  # fmt: skip
    if metrics.get("missing_objects"):
        print(f"  not found: {', '.join(metrics['missing_objects'])}")
    t = metrics.get("moved_track") or {}
    if t:
        verdict = "meets" if t["meets_target"] else "MISSES"
        print(f"  pose track of '{metrics['moved_object']}': mean {t['track_mean_position_error_m'] * 100:.2f} cm, "
              f"{t['track_mean_rotation_error_deg']:.1f} deg ({verdict} the 1 cm / 5 deg target)")  # fmt: skip
    total = sum(result.timings.values())
    slow = max(result.timings, key=result.timings.get)
    print(f"  time {total:.1f} s (slowest stage: {slow} {result.timings[slow]:.1f} s); report: {out / 'report.md'}")
