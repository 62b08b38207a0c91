"""``world_model`` video backend: the trained 4D world model of paper 000 (or its 2D baseline)
predicts future frames (and, for the 4D model, rendered depth) from the first frame and actions.

The first frame is resized to the checkpoint's ``model.image_size`` and the generated frames are
resized back to the request's resolution (aspect ratio is not preserved in between). The model
has no language conditioning: the task text is recorded but does not steer the motion; the motion
comes from the per-frame ``action`` (camera ego-motion in metres per frame, the model's action
space; zeros = still camera). The 4D model's rendered depth goes to ``aux["world_model_depth"]``
(a model prediction, not ground truth; it is not ``aux["depth"]``).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ..errors import ConfigError
from .base import GeneratedVideo, ProgressFn, VideoGenerator


class WorldModelGenerator(VideoGenerator):
    name = "world_model"

    def __init__(
        self,
        checkpoint: str = "",
        device: str = "auto",
        fps: float = 10.0,
        action: list[float] | tuple[float, ...] = (),
    ):
        from ..device import resolve_device
        from ..worldmodel.checkpoint import load_model

        if not checkpoint:
            raise ConfigError("world_model backend: option 'checkpoint' (a trained world-model .pt) is required")
        if not fps > 0:
            raise ConfigError(f"world_model backend: fps must be > 0, got {fps}")
        self.device = resolve_device(device)
        self.model, payload = load_model(checkpoint, expect_kind=("world_model_4d", "video_2d"), device=self.device)
        self.checkpoint, self.kind, self.fps = str(checkpoint), payload["kind"], float(fps)
        a_dim = self.model.cfg.action_dim
        action = list(action) if len(action) else [0.0] * a_dim
        if len(action) != a_dim:
            raise ConfigError(
                f"world_model backend: action has {len(action)} values but the checkpoint's model.action_dim is {a_dim}"
            )
        self.action = torch.tensor(action, dtype=torch.float32, device=self.device)

    @torch.no_grad()
    def _generate(
        self, first_rgb: np.ndarray, task_text: str, n_frames: int, seed: int, progress: ProgressFn
    ) -> GeneratedVideo:
        h, w = self.model.cfg.image_size
        small = cv2.resize(first_rgb, (w, h), interpolation=cv2.INTER_AREA)
        x = torch.from_numpy(small).to(self.device).permute(2, 0, 1)[None].float() / 255.0
        torch.manual_seed(seed)
        frames, depths = [], []
        state = self.model.encode(x)
        for t in range(n_frames):
            if t:
                state = self.model.step(state, self.action[None])
            if self.kind == "world_model_4d":
                out = self.model.render(state)
                rgb, depth = out["rgb"], out["depth"][0].cpu().numpy()
                depths.append(cv2.resize(depth, first_rgb.shape[1::-1], interpolation=cv2.INTER_NEAREST))
            else:
                rgb = self.model.decode(state)
            img = (rgb[0].permute(1, 2, 0).clamp(0, 1).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
            frames.append(cv2.resize(img, first_rgb.shape[1::-1], interpolation=cv2.INTER_LINEAR))
            progress(t + 1, n_frames)
        aux = {"world_model_depth": np.stack(depths).astype(np.float32)} if depths else {}
        meta = {
            "checkpoint": self.checkpoint,
            "model_kind": self.kind,
            "model_image_size": [h, w],
            "action": self.action.tolist(),
            "note": "task text is not used by this model (no language conditioning)",
        }
        return GeneratedVideo(np.stack(frames), self.fps, task_text, seed, self.name, aux=aux, meta=meta)
