"""PPO training of the residual (or from-scratch) policy in the world model (stable-baselines3).

Output directory::

    policy.zip / policy.json   final SB3 model + metadata (task, bundle, observation layout, action
                               scales, configs, steps, wall time) needed to run it
    plan.npz / plan.json       the baseline plan the residual acts on
    checkpoint.zip / .json     the last good checkpoint (written atomically, only with finite weights)
    curve.json                 learning curve: env steps -> mean episode tracking reward / return
    train_report.md, curve.png

Training stops with :class:`TrainingDiverged` when the weights or rewards become non-finite; the
last good checkpoint is kept and ``resume=True`` continues from it (step counter included).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ArtefactError, ConfigError, PhysWorldError
from ..io import atomic_file, atomic_write_json, atomic_write_text, read_json
from .baseline import BaselinePlan
from .env import EnvConfig, PhysWorldEnv, layout_slices, observation_layout
from .selection import SelectionEpisodes, Selector
from .world import WorldSource

POLICY_FORMAT = 1


class TrainingDiverged(PhysWorldError):
    """PPO produced non-finite weights or the environment non-finite rewards."""


# PPO exploration noise, as TrainConfig fields. gsde (SB3's generalised state-dependent exploration,
# the default): the noise is a linear map of the policy's latent features, drawn once per rollout
# (sde_sample_freq -1), so one episode explores ONE consistent offset; log std -3 per feature weight.
# gaussian: independent noise per step, std 0.1 (~3 mm); it averages out within an episode and left
# the policy at its start on all 11 tasks (docs/policy.md, "Exploration").
EXPLORATION = {
    "gsde": {"use_sde": True, "log_std_init": -3.0},
    "gaussian": {"use_sde": False, "log_std_init": -2.3},
}


@dataclass(frozen=True)
class TrainConfig:
    total_steps: int = 40_000
    n_envs: int = 2
    vec: str = "subproc"  # "subproc" (one process per env) or "dummy" (in-process, for tests)
    seed: int = 0
    n_steps: int = 512  # per env per rollout
    batch_size: int = 256
    n_epochs: int = 10
    learning_rate: float = 3e-4
    gamma: float = 0.97
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.0
    # exploration: EXPLORATION["gsde"] (the defaults below) or EXPLORATION["gaussian"]
    log_std_init: float = -3.0
    net_arch: tuple[int, ...] = (128, 128)
    use_sde: bool = True
    sde_sample_freq: int = -1  # gSDE: steps between new noise matrices (-1: once per rollout; 0: the plan's horizon)
    critic_warmup_steps: int = 2048  # actor frozen while the value function learns the baseline's returns
    # residual mode: the action head starts at zero weights and bias, so the untrained policy's mean
    # action is exactly 0 (the baseline plan), as in residual policy learning (Silver et al. 2018)
    zero_init_residual: bool = True
    checkpoint_every: int = 8192  # env steps
    select_every: int = 4096  # env steps between model-selection evaluations in the world model (0 = off)
    select_episodes: int = 10  # deterministic episodes (fixed seeds) per selection evaluation
    device: str = "auto"
    progress_bar: bool = True

    def __post_init__(self):
        if self.vec not in ("subproc", "dummy"):
            raise ConfigError(f"vec must be 'subproc' or 'dummy', got {self.vec!r}")
        if self.total_steps <= 0 or self.n_envs <= 0 or self.n_steps <= 0:
            raise ConfigError("total_steps, n_envs and n_steps must be positive")
        if (self.n_steps * self.n_envs) % self.batch_size:
            raise ConfigError(f"n_steps * n_envs ({self.n_steps * self.n_envs}) must be a multiple of batch_size")


@dataclass
class TrainResult:
    out_dir: Path
    steps: int
    wall_s: float
    curve: list[dict] = field(default_factory=list)


def _env_factory(source: WorldSource, plan: BaselinePlan, env_cfg: EnvConfig, seed: int, slot: int, n_slots: int):
    def make():
        from stable_baselines3.common.monitor import Monitor

        env = Monitor(PhysWorldEnv(source, plan, env_cfg), info_keywords=("episode_tracking",))
        env = SelectionEpisodes(env, lambda: PhysWorldEnv(source, plan, env_cfg), slot, n_slots)
        env.reset(seed=seed)
        return env

    return make


def make_vec_env(source: WorldSource, plan: BaselinePlan, env_cfg: EnvConfig, cfg: TrainConfig):
    """The training envs (one process each with ``vec="subproc"``), each of which also hosts its share
    of the model-selection episodes (:class:`~physworld.policy.selection.SelectionEpisodes`)."""
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    n = cfg.n_envs
    fns = [_env_factory(source, plan, env_cfg, cfg.seed * 1000 + i, i, n) for i in range(n)]
    if cfg.vec == "subproc" and cfg.n_envs > 1:
        return SubprocVecEnv(fns, start_method="forkserver")
    return DummyVecEnv(fns)


def zero_action_head(model) -> None:
    """Zero the weights and bias of the policy's action head: the deterministic action is then 0 for
    every observation. SB3's orthogonal init (gain 0.01) left the untrained residual at small
    observation-dependent actions (up to 0.4 mm and 0.002 rad on book_in_shelf and pour_fish); when
    the model selection kept the start of training, that was delivered instead of the baseline it was
    scored as, and the ground-truth outcome differed from the open-loop plan's on up to 2 of 10
    rollouts, either way. gSDE exploration does not depend on this layer, and its gradient (the
    latent features) is not zero, so learning starts as before."""
    import torch

    with torch.no_grad():
        model.policy.action_net.weight.zero_()
        model.policy.action_net.bias.zero_()


def params_finite(model) -> bool:
    import torch

    return all(bool(torch.isfinite(p).all()) for p in model.policy.parameters())


# a training episode "reaches the target" in the world model when the object ends this close to the
# plan's final target (the evaluation's tracking thresholds, physworld.policy.rollout.FailureRule)
MODEL_SUCCESS_POS = 0.03  # m
MODEL_SUCCESS_ROT = float(np.deg2rad(20.0))
PROGRESS_EVERY = 256  # env steps between progress(None-curve) calls (lets a caller cancel promptly)


def _callback(
    out_dir: Path,
    cfg: TrainConfig,
    meta: dict,
    curve: list,
    t0: float,
    wall0: float,
    progress=None,
    selector: Selector | None = None,
):
    from stable_baselines3.common.callbacks import BaseCallback

    class Monitor(BaseCallback):
        """Learning curve, NaN watch and atomic checkpoints at rollout boundaries."""

        def __init__(self):
            super().__init__()
            self.last_ckpt = 0
            self.last_select = 0
            self.tracking, self.returns, self.reached = [], [], []

        def _on_training_start(self) -> None:
            self._set_actor_trainable(self.model.num_timesteps >= cfg.critic_warmup_steps)
            if selector is not None:
                selector.update(self.model)
                self.last_select = self.model.num_timesteps

        def _set_actor_trainable(self, on: bool) -> None:
            pol = self.model.policy
            for mod in (pol.action_net, pol.mlp_extractor.policy_net):
                for prm in mod.parameters():
                    prm.requires_grad_(on)
            pol.log_std.requires_grad_(on)

        def _on_rollout_start(self) -> None:
            self._set_actor_trainable(self.model.num_timesteps >= cfg.critic_warmup_steps)

        def _on_step(self) -> bool:
            rewards = self.locals.get("rewards")
            if rewards is not None and not np.all(np.isfinite(rewards)):
                raise TrainingDiverged(f"non-finite reward at step {self.num_timesteps}")
            for info in self.locals.get("infos", []):
                ep = info.get("episode")
                if ep is not None:
                    self.returns.append(float(ep["r"]))
                    self.tracking.append(float(info.get("episode_tracking", np.nan)))
                    self.reached.append(
                        info.get("final_pos_err", np.inf) <= MODEL_SUCCESS_POS
                        and info.get("final_rot_err", np.inf) <= MODEL_SUCCESS_ROT
                    )
            if progress is not None and self.num_timesteps % PROGRESS_EVERY < self.training_env.num_envs:
                progress({"steps": int(self.num_timesteps)})
            return True

        def _on_rollout_end(self) -> None:
            if not params_finite(self.model):
                raise TrainingDiverged(
                    f"policy weights became non-finite before step {self.num_timesteps}; the last good checkpoint "
                    f"({out_dir / 'checkpoint.zip'}) is kept"
                )
            if self.returns:
                curve.append(
                    dict(steps=int(self.num_timesteps), tracking=float(np.nanmean(self.tracking)),
                         ret=float(np.mean(self.returns)), episodes=len(self.returns),
                         model_success=float(np.mean(self.reached)), wall_s=wall0 + time.perf_counter() - t0)
                )  # fmt: skip
                self.tracking, self.returns, self.reached = [], [], []
                if progress is not None:
                    progress(dict(curve[-1]))
            if selector is not None and self.num_timesteps - self.last_select >= cfg.select_every:
                selector.update(self.model)
                self.last_select = self.num_timesteps
            if self.num_timesteps - self.last_ckpt >= cfg.checkpoint_every:
                save_checkpoint(self.model, out_dir, meta, curve, wall0 + time.perf_counter() - t0)
                self.last_ckpt = self.num_timesteps

    return Monitor()


def save_checkpoint(model, out_dir: Path, meta: dict, curve: list, wall_s: float) -> None:
    """Write checkpoint.zip + .json atomically, and only when the weights are finite."""
    if not params_finite(model):
        raise TrainingDiverged("refusing to checkpoint non-finite policy weights")
    with atomic_file(out_dir / "checkpoint.zip") as tmp:
        model.save(tmp)
    atomic_write_json(out_dir / "checkpoint.json", dict(meta, steps=int(model.num_timesteps), wall_s=wall_s))
    atomic_write_json(out_dir / "curve.json", curve)


def policy_metadata(task: str, bundle: str | None, source: WorldSource, env_cfg: EnvConfig, cfg: TrainConfig) -> dict:
    layout = observation_layout(env_cfg.mode)
    return {
        "format": POLICY_FORMAT,
        "task": task,
        "bundle": bundle,
        "world_source": asdict(source),
        "mode": env_cfg.mode,
        "observation": {
            "size": sum(n for _, n in layout),
            "layout": [list(x) for x in layout],
            "slices": layout_slices(layout),
        },  # fmt: skip
        "action": _action_doc(env_cfg),
        "env_config": asdict(env_cfg),
        "train_config": asdict(cfg),
        "plan": "plan.npz",
    }


def _action_doc(env_cfg: EnvConfig) -> dict:
    if env_cfg.mode == "residual":
        return {
            "size": 6,
            "layout": [["residual_pos", 3], ["residual_rotvec", 3]],
            "scale": [env_cfg.max_residual_pos] * 3 + [env_cfg.max_residual_rot] * 3,
            "meaning": "eq. 7: p = p_base + a[:3]*scale, R = exp(a[3:]*scale) R_base; gripper from the plan",
        }
    return {"size": 7, "layout": [["delta_pos", 3], ["delta_rotvec", 3], ["gripper", 1]],
            "scale": [env_cfg.scratch_step_pos] * 3 + [env_cfg.scratch_step_rot] * 3 + [1.0],
            "meaning": "commanded EE pose moved by a bounded delta per step; gripper closes when a[6] > 0"}  # fmt: skip


def train_policy(
    source: WorldSource,
    plan: BaselinePlan,
    out_dir: str | Path,
    task: str,
    bundle: str | None = None,
    cfg: TrainConfig = TrainConfig(),
    env_cfg: EnvConfig = EnvConfig(),
    resume: bool = False,
    overwrite: bool = False,
    progress=None,
) -> TrainResult:
    """Train with PPO and write the policy directory (see the module doc). ``progress(dict)``, if given,
    is called every ``PROGRESS_EVERY`` env steps with ``{"steps"}`` and after each rollout with the new
    learning-curve entry (``steps, tracking, ret, episodes, model_success, wall_s``); an exception it
    raises stops training (e.g. a cancelled ROS goal) and propagates."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.logger import Logger

    from ..device import resolve_device

    out_dir = Path(out_dir)
    ckpt = out_dir / "checkpoint.zip"
    if ckpt.exists() and not (resume or overwrite):
        raise ConfigError(f"{out_dir} already holds a training run; pass resume to continue it or overwrite to restart")
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = policy_metadata(task, bundle, source, env_cfg, cfg)
    device = resolve_device(cfg.device)
    torch.set_num_threads(1)
    curve: list = []
    wall0 = 0.0
    venv = make_vec_env(source, plan, env_cfg, cfg)
    try:
        if resume and ckpt.exists():
            model, done, curve, wall0 = _load_checkpoint(out_dir, meta, venv, device)
        else:
            plan.save(out_dir / "plan.npz")
            model = PPO(
                "MlpPolicy", venv, n_steps=cfg.n_steps, batch_size=cfg.batch_size, n_epochs=cfg.n_epochs,
                learning_rate=cfg.learning_rate, gamma=cfg.gamma, gae_lambda=cfg.gae_lambda,
                clip_range=cfg.clip_range, ent_coef=cfg.ent_coef, seed=cfg.seed, device=device, verbose=0,
                use_sde=cfg.use_sde, sde_sample_freq=cfg.sde_sample_freq or plan.horizon,
                policy_kwargs=dict(net_arch=list(cfg.net_arch), log_std_init=cfg.log_std_init),
            )  # fmt: skip
            if env_cfg.mode == "residual" and cfg.zero_init_residual:
                zero_action_head(model)
            done = 0
        # our own curve/report replace SB3's logger; without this it makes a /tmp/SB3-<date> folder per run
        model.set_logger(Logger(folder=None, output_formats=[]))
        t0 = time.perf_counter()
        remaining = cfg.total_steps - done
        if remaining > 0:
            selector = Selector(venv if cfg.select_every > 0 else None, cfg.select_episodes)
            cb = _callback(out_dir, cfg, meta, curve, t0, wall0, progress, selector)
            try:
                model.learn(remaining, callback=cb, reset_num_timesteps=False, progress_bar=cfg.progress_bar)
            except PhysWorldError:
                raise
            except Exception as exc:  # NaN actions from NaN weights surface as env errors in workers
                if not params_finite(model):
                    raise TrainingDiverged(
                        f"training diverged (non-finite weights) near step {model.num_timesteps}; last good "
                        f"checkpoint kept at {ckpt}"
                    ) from exc
                raise
        save_checkpoint(model, out_dir, meta, curve, wall0 + time.perf_counter() - t0)  # what --resume continues
        selection = None
        if remaining > 0 and selector.active:
            selector.update(model)
            selection = selector.restore_best(model)
        wall = wall0 + time.perf_counter() - t0
        with atomic_file(out_dir / "policy.zip") as tmp:
            model.save(tmp)
        final = dict(meta, steps=int(model.num_timesteps), wall_s=wall, completed=time.strftime("%Y-%m-%dT%H:%M:%S"),
                     selection=selection)  # fmt: skip
        atomic_write_json(out_dir / "policy.json", final)
        write_train_report(out_dir, final, curve)
        return TrainResult(out_dir, int(model.num_timesteps), wall, curve)
    finally:
        venv.close()


def _load_checkpoint(out_dir: Path, meta: dict, venv, device):
    from stable_baselines3 import PPO

    info = read_json(out_dir / "checkpoint.json")
    for key in ("task", "mode", "observation"):
        if info.get(key) != json.loads(json.dumps(meta[key])):
            raise ArtefactError(
                f"{out_dir / 'checkpoint.json'}: checkpoint was made for a different {key} "
                f"({info.get(key)!r} vs {meta[key]!r}); start a new run with overwrite"
            )
    try:
        model = PPO.load(out_dir / "checkpoint.zip", env=venv, device=device)
    except Exception as exc:
        raise ArtefactError(
            f"{out_dir / 'checkpoint.zip'}: corrupt checkpoint ({exc}); restart with overwrite"
        ) from exc
    if not params_finite(model):
        raise ArtefactError(f"{out_dir / 'checkpoint.zip'}: checkpoint holds non-finite weights")
    curve = read_json(out_dir / "curve.json") if (out_dir / "curve.json").exists() else []
    return model, int(model.num_timesteps), curve, float(info.get("wall_s", 0.0))


def load_policy(policy_dir: str | Path):
    """(SB3 model, metadata, plan) of a trained policy directory; errors name what is missing."""
    from stable_baselines3 import PPO

    policy_dir = Path(policy_dir)
    meta = read_json(policy_dir / "policy.json")
    if meta.get("format") != POLICY_FORMAT:
        raise ArtefactError(f"{policy_dir / 'policy.json'}: policy format {meta.get('format')!r} not supported")
    if not (policy_dir / "policy.zip").is_file():
        raise ArtefactError(f"{policy_dir / 'policy.zip'}: policy weights missing; train again")
    try:
        model = PPO.load(policy_dir / "policy.zip", device="cpu")
    except Exception as exc:
        raise ArtefactError(f"{policy_dir / 'policy.zip'}: cannot load the policy ({exc})") from exc
    if model.observation_space.shape[0] != meta["observation"]["size"]:
        raise ArtefactError(f"{policy_dir}: policy input size does not match its observation layout")
    plan = BaselinePlan.load(policy_dir / meta["plan"])
    return model, meta, plan


def env_config_from_meta(meta: dict) -> EnvConfig:
    """Rebuild the :class:`EnvConfig` a policy was trained with."""
    from .control import ControlConfig
    from .env import RandomizationConfig, RewardConfig

    d = dict(meta["env_config"])
    d["reward"] = RewardConfig(**d["reward"])
    d["rand"] = RandomizationConfig(**d["rand"])
    d["control"] = ControlConfig(**d["control"])
    names = {f.name for f in dataclasses.fields(EnvConfig)}
    return EnvConfig(**{k: v for k, v in d.items() if k in names})


def write_train_report(out_dir: Path, meta: dict, curve: list) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if curve:
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.plot([c["steps"] for c in curve], [c["tracking"] for c in curve], label=meta["mode"])
        ax.set_xlabel("env steps")
        ax.set_ylabel("mean tracking reward / step")
        ax.set_title(f"{meta['task']} ({meta['mode']})")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        with atomic_file(out_dir / "curve.png") as tmp:
            fig.savefig(tmp, dpi=100)
        plt.close(fig)
    last = curve[-1] if curve else {}
    lines = [
        f"# Training: {meta['task']} ({meta['mode']})",
        "",
        f"- world model: {meta['world_source']}",
        f"- env steps: {meta['steps']}, wall time: {meta['wall_s']:.1f} s",
        f"- final mean tracking reward per step: {last.get('tracking', float('nan')):.3f}",
        f"- observation size {meta['observation']['size']}, action size {meta['action']['size']}",
        "",
        "![curve](curve.png)" if curve else "(no finished episodes recorded)",
        "",
    ]
    atomic_write_text(out_dir / "train_report.md", "\n".join(lines))
