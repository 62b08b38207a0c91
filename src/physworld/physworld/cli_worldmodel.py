"""``physworld worldmodel pretrain|adapt|evaluate|table``: the 4D world model of paper 000."""

from __future__ import annotations

import json
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("worldmodel", help="4D world model: synthetic pre-training, sim-to-real adaptation, metrics")
    wsub = p.add_subparsers(dest="wm_command", metavar="ACTION")

    def common(q, out_help: str) -> None:
        q.add_argument(
            "--config",
            help="YAML with sections model, sim_data, pretrain, adapt, real_only, "
            "depth_estimator, experiment (defaults: physworld.worldmodel.config)",
        )
        q.add_argument("--out", required=True, help=out_help)
        q.add_argument("--device", help="auto | cpu | cuda | cuda:N (overrides the config)")
        q.add_argument("--quiet", action="store_true", help="no progress bars")

    q = wsub.add_parser("pretrain", help="stage 1: train theta_syn on labelled synthetic clips")
    common(q, "run directory (checkpoint syn.pt, report, loss curve)")
    q.add_argument("--data", default="sim", help="labelled clips: sim (default) or npz:PATH")
    q.add_argument("--steps", type=int, help="override pretrain.steps")
    q.add_argument("--resume", action="store_true", help="continue from OUT/syn.pt")
    q.set_defaults(func=run_pretrain)

    q = wsub.add_parser("adapt", help="stage 2: adapt theta_syn to real video (eq. 4)")
    common(q, "run directory (checkpoint adapted.pt, report, loss curve)")
    q.add_argument("--init", required=True, help="stage-1 checkpoint (theta_syn)")
    q.add_argument(
        "--data", default="sim-real", help="real clips: sim-real (default), npz:, kitti:, vkitti2:, rosbag2:DIR[@TOPIC]"
    )
    q.add_argument("--lambda-p", type=float, help="override adapt.lambda_p")
    q.add_argument("--lambda-a", type=float, help="override adapt.lambda_a")
    q.add_argument("--steps", type=int, help="override adapt.steps")
    q.add_argument("--resume", action="store_true", help="continue from OUT/adapted.pt")
    q.set_defaults(func=run_adapt)

    q = wsub.add_parser("evaluate", help="FVD and Geo-C of one checkpoint on reference clips")
    common(q, "directory for metrics.json and rollouts.png")
    q.add_argument("--checkpoint", required=True, help="world-model or 2D-baseline checkpoint")
    q.add_argument("--data", default="sim-test", help="reference clips (default sim-test)")
    q.add_argument(
        "--depth-model",
        default="",
        help="Geo-C depth: a depth_estimator checkpoint (.pt from "
        "'table') or a TorchScript depth model; empty: rendered depth only",
    )
    q.set_defaults(func=run_evaluate)

    q = wsub.add_parser("table", help="reproduce Table I + ablations at small scale (table.json, table.md, PNGs)")
    common(q, "experiment directory")
    q.add_argument("--threads", type=int, help="torch CPU threads (overrides experiment.threads)")
    q.set_defaults(func=run_table)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _settings(args, **section_overrides):
    from .worldmodel.config import load_settings

    overrides: dict = {k: dict(v) for k, v in section_overrides.items() if v}
    if getattr(args, "device", None):
        for stage in ("pretrain", "adapt", "real_only", "depth_estimator"):
            overrides.setdefault(stage, {})["device"] = args.device
    return load_settings(args.config, overrides)


def _report(out: Path, name: str, res, extra: dict) -> None:
    from .io import atomic_write_json, atomic_write_text
    from .worldmodel.plots import save_loss_png

    last = res.history[-1] if res.history else {}
    info = {
        "checkpoint": str(res.checkpoint),
        "steps": res.steps,
        "train_seconds": round(res.seconds, 1),
        "samples_per_s": round(res.samples_per_s, 3),
        "peak_memory_mb": round(res.peak_memory_mb, 1),
        "perceptual": res.perceptual,
        "last_losses": last,
        **extra,
    }
    atomic_write_json(out / f"{name}_report.json", info)
    png = save_loss_png(out / f"{name}_losses.png", res.history, f"{name} losses")
    lines = [f"# {name}", "", f"- perceptual term: {res.perceptual}"]
    lines += [f"- {k}: {v}" for k, v in info.items() if k not in ("last_losses", "perceptual")]
    lines += [f"- last losses: {json.dumps({k: round(v, 5) for k, v in last.items()})}", f"- loss curve: {png.name}"]
    atomic_write_text(out / f"{name}_report.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def run_pretrain(args) -> int:
    from .worldmodel.sources import open_source
    from .worldmodel.train import pretrain

    s = _settings(args, pretrain={"steps": args.steps} if args.steps else None)
    out = Path(args.out)
    data = open_source(args.data, s, s.experiment.syn_clips, s.experiment.seed * 10 + 1, not args.quiet)
    res = pretrain(s, data, out / "syn.pt", resume=args.resume, progress=not args.quiet)
    _report(out, "pretrain", res, {"data": data.source, "clips": len(data)})
    return 0


def run_adapt(args) -> int:
    from .worldmodel.sources import open_source
    from .worldmodel.train import adapt

    ov = {
        k: v
        for k, v in (("lambda_p", args.lambda_p), ("lambda_a", args.lambda_a), ("steps", args.steps))
        if v is not None
    }
    s = _settings(args, adapt=ov)
    out = Path(args.out)
    data = open_source(args.data, s, s.experiment.real_clips, s.experiment.seed * 10 + 2, not args.quiet)
    res = adapt(s, args.init, data, out / "adapted.pt", resume=args.resume, progress=not args.quiet)
    _report(
        out,
        "adapt",
        res,
        {
            "data": data.source,
            "clips": len(data),
            "init": args.init,
            "lambda_p": s.adapt.lambda_p,
            "lambda_a": s.adapt.lambda_a,
        },
    )
    return 0


def _depth_model(path: str, device):
    from .errors import ArtefactError
    from .worldmodel.checkpoint import load_model, read_checkpoint
    from .worldmodel.metrics import TorchScriptDepth

    if not path:
        return None
    if path.endswith(".pt"):
        try:
            read_checkpoint(path)
        except ArtefactError:  # not a PhysWorld checkpoint: try TorchScript
            return TorchScriptDepth(path).to(device)
        model, _ = load_model(path, expect_kind="depth_estimator", device=device)
        model.name = f"depth_estimator checkpoint {path}"
        return model
    return TorchScriptDepth(path).to(device)


def run_evaluate(args) -> int:
    from .device import resolve_device
    from .io import atomic_write_json
    from .worldmodel.evaluate import evaluate_checkpoint, reference_rgb
    from .worldmodel.metrics import make_video_features
    from .worldmodel.plots import save_rollout_png
    from .worldmodel.sources import open_source

    s = _settings(args)
    out = Path(args.out)
    device = resolve_device(s.adapt.device)
    ref = open_source(args.data, s, s.experiment.test_clips, s.experiment.seed * 10 + 3, not args.quiet)
    fvd_net = make_video_features(s.experiment.fvd_features, s.experiment.fvd_feature_dim, s.experiment.seed)
    row, gen = evaluate_checkpoint(
        args.checkpoint,
        ref,
        fvd_net,
        _depth_model(args.depth_model, device),
        s.adapt.device,
        s.experiment.geo_min_pixels,
    )
    row["data"] = ref.source
    atomic_write_json(out / "metrics.json", row)
    examples = list(range(min(s.experiment.rollout_examples, len(ref))))
    save_rollout_png(out / "rollouts.png", Path(args.checkpoint).name, reference_rgb(ref), gen, None, examples)
    print(json.dumps(row, indent=2))
    return 0


def run_table(args) -> int:
    from .worldmodel.experiment import markdown_table, run_experiment

    s = _settings(args, experiment={"threads": args.threads} if args.threads else None)
    result = run_experiment(s, args.out, progress=not args.quiet)
    print(markdown_table(result))
    print(f"wrote {Path(args.out) / 'table.json'} ({result['total_seconds']} s)")
    return 0
