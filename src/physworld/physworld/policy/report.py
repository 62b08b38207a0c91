"""Tables and figures of the ground-truth benchmark: success per task (Fig. 4), failure breakdown
(Fig. 6) and learning curves residual vs scratch (Fig. 7)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import atomic_file, atomic_write_text
from .rollout import REASONS


def final_tracking(curve: list[dict], tail: int = 3) -> float:
    """Final tracking reward of a learning curve: the mean of its last ``tail`` points (NaN if empty)."""
    if not curve:
        return float("nan")
    return float(np.nanmean([c["tracking"] for c in curve[-tail:]]))


def steps_to_level(curve: list[dict], level: float) -> int | None:
    """First env step at which the tracking reward reaches ``level`` (None: never within the curve)."""
    hit = [c["steps"] for c in curve if c["tracking"] >= level]
    return int(hit[0]) if hit else None


def learning_speed(residual: list[dict], scratch: list[dict], frac: float = 0.9, tail: int = 3) -> dict:
    """Fig. 7's claim as a number: env steps each method needs to reach ``frac`` of the better final
    tracking reward of the two (the residual's, unless scratch ends higher). Scratch held to its *own*
    final would call a flat curve that never learns "fast"; one common level avoids that. When scratch
    never reaches the level within its budget, the ratio is a lower bound (``bounded``)."""
    fr, fs = final_tracking(residual, tail), final_tracking(scratch, tail)
    out = {"final_residual": fr, "final_scratch": fs, "level": None, "residual_steps": None,
           "scratch_steps": None, "ratio": None, "bounded": False}  # fmt: skip
    if not residual or not scratch or not np.isfinite(max(fr, fs)):
        return out
    level = frac * max(fr, fs)
    a, b = steps_to_level(residual, level), steps_to_level(scratch, level)
    out.update(level=level, residual_steps=a, scratch_steps=b)
    if a and b:
        out["ratio"] = b / a
    elif a and b is None:  # scratch never got there: its budget is a lower bound on its steps
        out["ratio"], out["bounded"] = scratch[-1]["steps"] / a, True
    return out


def success_table(results: dict) -> str:
    methods = list(results["config"]["methods"])
    lines = ["| task | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for task, r in results["tasks"].items():
        cells = [f"{r['methods'][m]['successes']}/{r['methods'][m]['rollouts']}" for m in methods]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    summ = results.get("summary", {})
    lines.append("| **mean success** | " + " | ".join(f"**{100 * summ[m]['mean_success_rate']:.0f}%**"
                                                     for m in methods) + " |")  # fmt: skip
    return "\n".join(lines)


def failure_table(results: dict) -> str:
    methods = list(results["config"]["methods"])
    lines = ["| method | " + " | ".join(REASONS) + " |", "|---|" + "---|" * len(REASONS)]
    for m in methods:
        f = results["summary"][m]["failure_fractions"]
        lines.append(f"| {m} | " + " | ".join(f"{100 * f.get(k, 0.0):.0f}%" for k in REASONS) + " |")
    return "\n".join(lines)


def learning_table(results: dict) -> str:
    lines = ["| task | level (90% of the better final) | residual: steps to level | scratch: steps to level | "
             "speed-up | final tracking residual / scratch | train wall s residual / scratch |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for task, r in results["tasks"].items():
        ms = r["methods"]
        if not ms.get("residual", {}).get("curve") or not ms.get("scratch", {}).get("curve"):
            continue
        sp = learning_speed(ms["residual"]["curve"], ms["scratch"]["curve"])
        budget = ms["scratch"]["curve"][-1]["steps"]
        b = sp["scratch_steps"] if sp["scratch_steps"] is not None else f"never (> {budget})"
        ratio = "n/a" if sp["ratio"] is None else f"{'>= ' if sp['bounded'] else ''}{sp['ratio']:.1f}x"
        lines.append(
            f"| {task} | {sp['level']:.3f} | {sp['residual_steps']} | {b} | {ratio} | "
            f"{sp['final_residual']:.3f} / {sp['final_scratch']:.3f} | "
            f"{ms['residual'].get('train_wall_s', 0):.0f} / {ms['scratch'].get('train_wall_s', 0):.0f} |"
        )
    return "\n".join(lines)


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def plot_success(results: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    methods = list(results["config"]["methods"])
    tasks = list(results["tasks"])
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(tasks) + 2), 3.5))
    w = 0.8 / len(methods)
    for i, m in enumerate(methods):
        ys = [100 * results["tasks"][t]["methods"][m]["success_rate"] for t in tasks]
        ax.bar(np.arange(len(tasks)) + i * w, ys, w, label=m)
    ax.set_xticks(np.arange(len(tasks)) + w * (len(methods) - 1) / 2, tasks, rotation=30, ha="right")
    ax.set_ylabel("success rate (%)")
    ax.set_ylim(0, 105)
    ax.legend()
    ax.set_title("Success in the ground-truth sim")
    _save(fig, path)


def plot_failures(results: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    methods = list(results["config"]["methods"])
    fig, ax = plt.subplots(figsize=(5, 3.5))
    bottom = np.zeros(len(methods))
    for k in REASONS:
        ys = np.array([100 * results["summary"][m]["failure_fractions"].get(k, 0.0) for m in methods])
        ax.bar(methods, ys, bottom=bottom, label=k)
        bottom += ys
    ax.set_ylabel("failed rollouts (% of all)")
    ax.legend(fontsize=8)
    ax.set_title("Failure breakdown")
    _save(fig, path)


def plot_curves(results: dict, path: Path) -> bool:
    import matplotlib.pyplot as plt

    tasks = [t for t, r in results["tasks"].items() if r["methods"].get("residual", {}).get("curve")
             or r["methods"].get("scratch", {}).get("curve")]  # fmt: skip
    if not tasks:
        return False
    cols = min(3, len(tasks))
    rows = int(np.ceil(len(tasks) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, t in zip(axes.ravel(), tasks):
        for m in ("residual", "scratch"):
            c = results["tasks"][t]["methods"].get(m, {}).get("curve", [])
            if c:
                ax.plot([p["steps"] for p in c], [p["tracking"] for p in c], label=m)
        ax.set_title(t, fontsize=9)
        ax.set_xlabel("env steps")
        ax.set_ylabel("tracking reward / step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes.ravel()[len(tasks) :]:
        ax.axis("off")
    _save(fig, path)
    return True


def _seed_range(c: dict) -> str:
    first = c.get("first_seed", 10_000)  # results.json written before first_seed existed started there
    return f"{first}..{first + c['seeds'] - 1}"


def write_report(out_dir: str | Path, results: dict) -> str:
    """results.md + success.png + failures.png + curves.png; returns the Markdown text."""
    import matplotlib

    matplotlib.use("Agg")
    out_dir = Path(out_dir)
    plot_success(results, out_dir / "success.png")
    plot_failures(results, out_dir / "failures.png")
    has_curves = plot_curves(results, out_dir / "curves.png")
    c = results["config"]
    text = "\n\n".join([
        "# PhysWorld benchmark in the ground-truth sim",
        f"World model: {c['world_model']}; scene seed {c['scene_seed']}; {c['seeds']} rollout seeds per task and "
        f"method ({_seed_range(c)}); training budget {c['train_steps']} env steps per policy; perturbations per "
        f"rollout: {c['rand']}.",
        "## Success (Fig. 4)", success_table(results), "![success](success.png)",
        "## Failure breakdown (Fig. 6)", failure_table(results), "![failures](failures.png)",
        "## Learning: residual vs scratch (Fig. 7)", learning_table(results),
        "![curves](curves.png)" if has_curves else "(no learning curves)",
    ])  # fmt: skip
    atomic_write_text(out_dir / "results.md", text + "\n")
    return text
