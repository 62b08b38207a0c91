"""Backend ``http``: a remote image-to-video server (Veo3 / CogVideoX / Cosmos style).

Protocol (docs/video_http_protocol.md): ``POST /v1/jobs`` creates a job from a PNG image and a
prompt, ``GET /v1/jobs/{id}`` reports its status, ``GET /v1/jobs/{id}/frames`` returns the frames
(JSON list of base64 PNGs, or an MP4 body). The API key comes from the environment variable named
by ``api_key_env`` and is sent as ``Authorization: Bearer <key>``; it is never logged and never
put in an error message. Transient failures (connection errors, timeouts, HTTP 5xx, 429) are
retried ``max_retries`` times with exponential backoff; everything else fails at once with a
BackendError that says what went wrong.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import cv2
import numpy as np

from ..errors import BackendError, ConfigError
from .base import GeneratedVideo, ProgressFn, VideoGenerator

log = logging.getLogger(__name__)
RETRY_STATUS = {429, 500, 502, 503, 504}


def _safe_url(url: str) -> str:
    """The URL without user info or query (which may carry credentials), for messages."""
    p = urllib.parse.urlsplit(url)
    host = p.hostname or ""
    if p.port:
        host = f"{host}:{p.port}"
    return urllib.parse.urlunsplit((p.scheme, host, p.path, "", ""))


class HttpVideoGenerator(VideoGenerator):
    name = "http"

    def __init__(
        self,
        url: str = "",
        api_key_env: str = "PHYSWORLD_VIDEO_API_KEY",
        timeout_s: float = 600.0,
        request_timeout_s: float = 30.0,
        poll_interval_s: float = 2.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        max_response_mb: float = 512.0,
        fps: float = 8.0,
    ):
        if not url or urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ConfigError(f"http video backend needs the server's base URL (http:// or https://), got {url!r}")
        for key, value in (("timeout_s", timeout_s), ("request_timeout_s", request_timeout_s), ("fps", fps)):
            if not value > 0:
                raise ConfigError(f"{key} must be > 0, got {value}")
        if poll_interval_s < 0 or backoff_s < 0 or max_retries < 0 or max_response_mb <= 0:
            raise ConfigError("poll_interval_s, backoff_s, max_retries must be >= 0 and max_response_mb > 0")
        self.url = url.rstrip("/")
        self.api_key_env = api_key_env
        self.timeout_s, self.request_timeout_s = float(timeout_s), float(request_timeout_s)
        self.poll_interval_s, self.max_retries, self.backoff_s = float(poll_interval_s), int(max_retries), backoff_s
        self.max_bytes = int(max_response_mb * 2**20)
        self.fps = float(fps)

    def __repr__(self) -> str:
        return f"HttpVideoGenerator(url={_safe_url(self.url)!r}, api_key_env={self.api_key_env!r})"

    # -- transport --------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json, video/mp4"}
        key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _request(self, method: str, path: str, body: dict | None = None) -> tuple[str, bytes]:
        """(content type, body) of a successful response; retries transient failures."""
        data = None if body is None else json.dumps(body).encode()
        headers = self._headers()
        if data is not None:
            headers["Content-Type"] = "application/json"
        what = f"{method} {_safe_url(self.url)}{path}"
        last = "no attempt"
        for attempt in range(self.max_retries + 1):
            if attempt:
                delay = self.backoff_s * 2 ** (attempt - 1)
                log.info("video server: retry %d/%d of %s in %.1fs (%s)", attempt, self.max_retries, what, delay, last)
                time.sleep(delay)
            req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
            try:
                with urllib.request.urlopen(req, timeout=self.request_timeout_s) as resp:
                    payload = resp.read(self.max_bytes + 1)
                    if len(payload) > self.max_bytes:
                        raise BackendError(f"{what}: response larger than the limit of {self.max_bytes} bytes")
                    log.debug("video server: %s -> %d (%d bytes)", what, resp.status, len(payload))
                    return resp.headers.get("Content-Type", ""), payload
            except urllib.error.HTTPError as exc:
                exc.close()
                if exc.code in RETRY_STATUS:
                    last = f"HTTP {exc.code}"
                    continue
                if exc.code in (401, 403):
                    raise BackendError(
                        f"{what}: HTTP {exc.code}, the server refused the API key "
                        f"(check the environment variable {self.api_key_env!r})"
                    ) from None
                raise BackendError(f"{what}: HTTP {exc.code} {exc.reason}") from None
            except TimeoutError:
                last = f"no response within {self.request_timeout_s}s"
            except (urllib.error.URLError, ConnectionError) as exc:
                last = f"connection failed ({getattr(exc, 'reason', exc)})"
        raise BackendError(f"{what}: failed after {self.max_retries + 1} attempts, last: {last}")

    def _json(self, method: str, path: str, body: dict | None = None) -> dict:
        ctype, payload = self._request(method, path, body)
        try:
            obj = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise BackendError(
                f"{method} {path}: the server returned invalid JSON ({len(payload)} bytes, content type {ctype!r})"
            ) from None
        if not isinstance(obj, dict):
            raise BackendError(f"{method} {path}: expected a JSON object, got {type(obj).__name__}")
        return obj

    # -- protocol -----------------------------------------------------------------------------------
    def _submit(self, first_rgb, task_text, n_frames, seed) -> str:
        ok, png = cv2.imencode(".png", cv2.cvtColor(first_rgb, cv2.COLOR_RGB2BGR))
        if not ok:
            raise BackendError("could not encode the first image as PNG")
        body = {
            "image_png_b64": base64.b64encode(png.tobytes()).decode("ascii"),
            "prompt": task_text,
            "n_frames": n_frames,
            "seed": seed,
            "width": int(first_rgb.shape[1]),
            "height": int(first_rgb.shape[0]),
        }
        job_id = self._json("POST", "/v1/jobs", body).get("job_id")
        if not isinstance(job_id, str) or not job_id or "/" in job_id:
            raise BackendError(f"POST /v1/jobs: the server returned no usable job_id ({job_id!r})")
        return job_id

    def _wait(self, job_id: str, n_frames: int, progress: ProgressFn, deadline: float) -> None:
        reported = -1
        while True:
            st = self._json("GET", f"/v1/jobs/{job_id}")
            status = st.get("status")
            if status == "failed":
                raise BackendError(
                    f"video job {job_id} failed on the server: {str(st.get('error') or 'no reason')[:500]}"
                )
            if status not in ("queued", "running", "done"):
                raise BackendError(f"GET /v1/jobs/{job_id}: unknown status {status!r}")
            try:
                done = int(np.clip(float(st.get("progress") or 0.0), 0.0, 1.0) * n_frames)
            except (TypeError, ValueError):
                done = 0
            if status == "done":
                return
            if done != reported:
                progress(min(done, n_frames - 1), n_frames)
                reported = done
            if time.monotonic() + self.poll_interval_s > deadline:
                self._cancel(job_id)
                raise BackendError(f"video job {job_id} not done within {self.timeout_s}s (last status {status!r})")
            time.sleep(self.poll_interval_s)

    def _cancel(self, job_id: str) -> None:
        try:
            self._request("DELETE", f"/v1/jobs/{job_id}")
        except BackendError as exc:  # best effort
            log.info("video server: could not cancel job %s (%s)", job_id, exc)

    def _frames(self, job_id: str) -> np.ndarray:
        ctype, payload = self._request("GET", f"/v1/jobs/{job_id}/frames")
        if "video/mp4" in ctype or payload[4:8] == b"ftyp":
            return _decode_mp4(payload)
        try:
            items = json.loads(payload.decode("utf-8"))["frames_png_b64"]
            blobs = [base64.b64decode(s, validate=True) for s in items]
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise BackendError(f"GET /v1/jobs/{job_id}/frames: expected JSON with 'frames_png_b64' or an MP4") from None
        frames = []
        for i, blob in enumerate(blobs):
            img = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_COLOR)
            if img is None:
                raise BackendError(f"GET /v1/jobs/{job_id}/frames: frame {i} is not a decodable image")
            frames.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        if not frames:
            raise BackendError(f"GET /v1/jobs/{job_id}/frames: no frames")
        shapes = {f.shape for f in frames}
        if len(shapes) != 1:
            raise BackendError(f"GET /v1/jobs/{job_id}/frames: frames of different sizes {sorted(shapes)}")
        return np.stack(frames)

    def _generate(self, first_rgb, task_text, n_frames, seed, progress: ProgressFn) -> GeneratedVideo:
        deadline = time.monotonic() + self.timeout_s
        job_id = self._submit(first_rgb, task_text, n_frames, seed)
        log.info("video server: job %s submitted (%d frames)", job_id, n_frames)
        try:
            self._wait(job_id, n_frames, progress, deadline)
        except BackendError:
            raise
        except BaseException:  # cancelled by the progress callback, interrupted...
            self._cancel(job_id)
            raise
        frames = self._frames(job_id)
        h, w = first_rgb.shape[:2]
        if frames.shape[1:3] != (h, w):
            raise BackendError(
                f"video job {job_id}: the server returned {frames.shape[2]}x{frames.shape[1]} frames, "
                f"the request was {w}x{h}"
            )
        if len(frames) != n_frames:
            raise BackendError(f"video job {job_id}: the server returned {len(frames)} frames, {n_frames} requested")
        progress(n_frames, n_frames)
        return GeneratedVideo(
            frames, self.fps, task_text, seed, self.name, aux={}, meta={"job_id": job_id, "server": _safe_url(self.url)}
        )


def _decode_mp4(payload: bytes) -> np.ndarray:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "video.mp4"
        path.write_bytes(payload)
        cap = cv2.VideoCapture(str(path))
        frames = []
        while True:
            ok, img = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        cap.release()
    if not frames:
        raise BackendError("the server's MP4 could not be decoded (no frames)")
    return np.stack(frames)
