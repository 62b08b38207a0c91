"""Pictures and the Markdown report of a replay evaluation (``physworld.replay_eval``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .io import atomic_file


def _figure(ncols: int, width: float, height: float):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width, height), squeeze=False)
    return plt, fig, axes[0]


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path


def plot_first_frame(frame, path: Path) -> Path:
    """The first synchronised RGB-D frame: colour, and depth in metres with a colour bar."""
    plt, fig, (a, b) = _figure(2, 9.0, 3.6)
    a.imshow(frame.rgb)
    a.set_title(f"colour {frame.rgb.shape[1]}x{frame.rgb.shape[0]}")
    im = b.imshow(np.ma.masked_invalid(frame.depth), cmap="viridis")
    b.set_title(f"depth (m), {np.isfinite(frame.depth).mean():.0%} valid")
    fig.colorbar(im, ax=b, fraction=0.046)
    for ax in (a, b):
        ax.axis("off")
    return _save(plt, fig, path)


def plot_joint_timing(joints: dict, path: Path) -> Path:
    """Histogram of joint_states intervals from the header stamps and from the bag's receive times."""
    plt, fig, axes = _figure(2, 9.0, 3.4)
    for ax, key, label in ((axes[0], "header", "header stamps"), (axes[1], "receive", "receive times (bag)")):
        st = joints[key]
        dt = st.get("intervals_ms")
        if dt is None or not len(dt):
            ax.set_title(f"{label}: too few messages")
            continue
        hi = np.percentile(dt, 99.5) * 1.2 if len(dt) > 10 else dt.max() * 1.2
        ax.hist(np.clip(dt, 0, hi), bins=60, color="tab:blue")
        ax.axvline(st["period_median_ms"], color="k", ls="--", lw=1, label=f"median {st['period_median_ms']:.2f} ms")
        ax.set_yscale("log")
        ax.set_xlabel("interval between joint_states (ms)")
        ax.set_ylabel("messages")
        rate = st.get("rate_hz") or 0.0
        ax.set_title(f"{label}: {rate:.1f} Hz, jitter std {st['jitter_std_ms']:.2f} ms")
        ax.legend(fontsize=8)
    return _save(plt, fig, path)


def _fmt(v, unit: str = "", digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}{unit}"
    return f"{v}{unit}"


def _timing_rows(name: str, st: dict) -> str:
    return (
        f"| {name} | {st.get('count', 0)} | {_fmt(st.get('rate_hz'), ' Hz', 1)} | "
        f"{_fmt(st.get('period_median_ms'), ' ms')} | {_fmt(st.get('jitter_std_ms'), ' ms')} | "
        f"{_fmt(st.get('jitter_p99_ms'), ' ms')} | {_fmt(st.get('max_gap_ms'), ' ms')} |"
    )


def markdown(m: dict, out_dir: Path) -> str:
    cam, js = m["camera"], m["joint_states"]
    mark = {True: "pass", False: "**FAIL**", None: "n/a"}
    lines = [
        f"# Replay evaluation: `{m['bag']}`",
        "",
        f"Result: **{'passed' if m['passed'] else 'FAILED'}** - task `{m['task']}`, seed {m['seed']}, "
        f"bag {m['duration_s']:.2f} s, {sum(t['count'] for t in m['topics'].values())} messages",
        "",
        "| check | result | detail |",
        "|---|---|---|",
        *[f"| {c['name']} | {mark[c['passed']]} | {c['detail']} |" for c in m["checks"]],
        "",
        "## Camera",
        "",
        f"- colour frames {cam['color_frames']} (decoded {cam['color_decoded']}), depth frames "
        f"{cam['depth_frames']} (decoded {cam['depth_decoded']}), synchronised pairs {cam['pairs']}, "
        f"valid pairs {cam['valid_pairs']}",
        f"- mean valid depth fraction {cam['depth_valid_fraction_mean']:.1%}; camera_info: "
        f"{cam['camera_info_messages']} messages, {cam['camera_info_calibrations']} calibration(s), "
        f"size {cam['camera_info_size']}; frame ids {cam['frame_ids']}",
        *[f"- decode error: {e}" for e in cam["decode_errors"]],
        "",
        "| stream | messages | rate | median period | jitter std | jitter p99 | max gap |",
        "|---|---|---|---|---|---|---|",
        _timing_rows("colour (header stamps)", cam["camera_timing"]),
        _timing_rows("joint_states (header stamps)", js["header"]),
        _timing_rows("joint_states (receive times)", js["receive"]),
        "",
        "Jitter: standard deviation of the intervals; p99: 99th percentile of |interval - median|.",
        "",
    ]
    for name in ("first_frame.png", "joint_states_timing.png"):
        if (out_dir / name).is_file():
            lines += [f"![{Path(name).stem}]({name})", ""]
    lines += ["## Pipeline", "", "| stage | status | seconds | message |", "|---|---|---|---|"]
    lines += [f"| {s['name']} | {s['status']} | {s['seconds']:.2f} | {s['message']} |" for s in m["stages"]]
    lines.append("")
    gt = m.get("ground_truth")
    if gt:
        lines += ["## Ground truth (sim bag: task scene re-built from task + seed)", ""]
        if gt.get("frame"):
            lines += [f"- recorded frame vs render: {k} = {_fmt(v, digits=4)}" for k, v in gt["frame"].items()]
        rec = gt.get("reconstruction")
        if rec and rec.get("error"):
            lines.append(f"- reconstruction scoring failed: {rec['error']}")
        elif rec:
            for name, e in rec["objects"].items():
                if e.get("matched"):
                    lines.append(f"- reconstructed `{name}`: position error {e['position_error_m'] * 100:.1f} cm "
                                 f"(bounding-box centres at the capture)")  # fmt: skip
            tr = rec.get("moved_track") or {}
            if tr:
                lines.append(
                    f"- moved object `{rec['moved_object']}` track: mean position error "
                    f"{tr['track_mean_position_error_m'] * 100:.1f} cm, mean rotation error "
                    f"{tr['track_mean_rotation_error_deg']:.1f} deg (true motion {tr['true_motion_m'] * 100:.1f} cm); "
                    f"meets target: {'yes' if rec['meets_track_target'] else 'no'}"
                )
            if rec.get("missing_objects"):
                lines.append(f"- objects not reconstructed: {rec['missing_objects']}")
        lines.append("")
    if m.get("custom_data"):
        lines += ["## Bag custom_data", ""] + [f"- `{k}`: {v}" for k, v in sorted(m["custom_data"].items())] + [""]
    return "\n".join(lines) + "\n"
