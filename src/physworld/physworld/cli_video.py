"""``physworld generate`` (a task video from the task's first RGB-D frame) and ``physworld tasks``."""

from __future__ import annotations

import argparse


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, e.g. 320x240, got {text!r}") from None
    return w, h


def register(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="render a task scene's first RGB-D frame and generate the task video from it",
        description="Builds the ground-truth scene of a task (seeded), captures its first RGB-D frame, runs a "
        "video generator on it and writes the video directory (frames/, video.mp4, aux.npz, video.json), the "
        "captured observation (observation.npz) and a contact sheet (contact_sheet.png).",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--task", help="task name, e.g. lid_on_pot (see 'physworld tasks')")
    what.add_argument("--text", help='task command, e.g. "put the lid on the pot"')
    p.add_argument("--seed", type=int, default=0, help="scene randomisation seed (default 0)")
    p.add_argument("--frames", type=int, default=30, help="number of video frames, 2..500 (default 30)")
    p.add_argument("--out", required=True, help="output directory (replaced if it exists)")
    p.add_argument("--artefacts", default="", help="comma list of blur,jitter,drift,occluder (default none)")
    p.add_argument("--backend", default="sim_rollout", help="video generator backend (default sim_rollout)")
    p.add_argument("--url", default="", help="server URL for --backend http")
    p.add_argument("--size", type=_size, default=(320, 240), help="image size WxH (default 320x240)")
    p.set_defaults(func=run_generate)

    t = sub.add_parser("tasks", help="list the task suite with commands and success tolerances")
    t.add_argument("-v", "--verbose", action="store_true", help="also show objects and success tolerances")
    t.set_defaults(func=run_tasks)


def run_tasks(args) -> int:
    from .sim.tasks import list_tasks

    tasks = list_tasks()
    width = max(len(t.name) for t in tasks)
    for t in tasks:
        print(f"{t.name:<{width}}  {t.command}")
        if args.verbose:
            print(f"{'':<{width}}  moves: {t.moved_object}; objects: {', '.join(t.object_names)}")
            print(f"{'':<{width}}  success: {t.tolerance}")
    return 0


def _generator_config(args) -> dict:
    if args.backend == "sim_rollout":
        return {"artefacts": args.artefacts}
    if args.backend == "http":
        return {"url": args.url}
    return {}


def run_generate(args) -> int:
    from pathlib import Path

    import numpy as np
    from tqdm import tqdm

    from .io import atomic_file
    from .sim.tasks import resolve_task
    from .sim.world import build_task_scene
    from .video import make_generator, save_contact_sheet, save_video

    task = resolve_task(args.task or args.text)
    text = args.text or task.command
    generator = make_generator(args.backend, **_generator_config(args))
    with build_task_scene(task, args.seed, image_size=args.size) as scene:
        rgb, depth, _ = scene.render()
        cam = scene.camera
    with tqdm(total=args.frames, desc=f"{args.backend}: {task.name}", unit="frame") as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        video = generator.generate(rgb, text, args.frames, args.seed, progress=progress)
    out = save_video(video, args.out)
    with atomic_file(Path(out) / "observation.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(
                f, rgb=rgb, depth=depth, K=cam.intrinsics.K, T_world_optical=cam.T_world_optical,
                intrinsics=np.array([cam.intrinsics.width, cam.intrinsics.height, cam.intrinsics.fx,
                                     cam.intrinsics.fy, cam.intrinsics.cx, cam.intrinsics.cy]),
            )  # fmt: skip
    sheet = save_contact_sheet(video, Path(out) / "contact_sheet.png")
    print(f"task      {task.name} ({text!r}), seed {args.seed}, backend {args.backend}")
    print(f"video     {out}/  ({video.n_frames} frames {video.size[0]}x{video.size[1]} at {video.fps:.2f} fps)")
    print(f"          frames/*.png, video.mp4, video.json{', aux.npz' if video.aux else ''}")
    print(f"capture   {Path(out) / 'observation.npz'}  (first RGB-D frame + camera intrinsics/extrinsics)")
    print(f"sheet     {sheet}")
    return 0
