"""HTTP video backend against a small local server (127.0.0.1, random port)."""

import base64
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest

from physworld.errors import BackendError, ConfigError
from physworld.video import make_generator

KEY = "sk-test-SECRET-4f9a1c"
ENV = "PHYSWORLD_TEST_VIDEO_KEY"
H, W = 24, 32


def _png_b64(img):
    ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return base64.b64encode(buf.tobytes()).decode()


class FakeServer:
    """Behaviour knobs: post_fail (list of statuses to return before success), polls_until_done,
    job_status ('done'|'failed'|'running' forever), garbage (which endpoint returns non-JSON),
    frame_size, post_delay_s, mp4."""

    def __init__(self, **behaviour):
        self.b = dict(post_fail=[], polls_until_done=2, job_status="done", garbage=None, frame_size=None,
                      post_delay_s=0.0, mp4=False)  # fmt: skip
        self.b.update(behaviour)
        self.requests: list[tuple[str, str, dict]] = []
        self.body = None
        self.polls = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code, obj=None, raw=None, ctype="application/json"):
                data = raw if raw is not None else json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                server.requests.append(("POST", self.path, dict(self.headers)))
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if server.b["post_delay_s"]:
                    time.sleep(server.b["post_delay_s"])
                if server.b["post_fail"]:
                    return self._send(server.b["post_fail"].pop(0), {"error": "busy"})
                if server.b["garbage"] == "post":
                    return self._send(200, raw=b"<html>not json")
                server.body = json.loads(body)
                self._send(201, {"job_id": "job1"})

            def do_DELETE(self):
                server.requests.append(("DELETE", self.path, dict(self.headers)))
                self._send(200, {})

            def do_GET(self):
                server.requests.append(("GET", self.path, dict(self.headers)))
                if self.path == "/v1/jobs/job1":
                    if server.b["garbage"] == "status":
                        return self._send(200, raw=b"{{{")
                    server.polls += 1
                    st = server.b["job_status"]
                    if st == "failed":
                        return self._send(200, {"status": "failed", "error": "GPU out of memory"})
                    if st == "running" or server.polls < server.b["polls_until_done"]:
                        return self._send(200, {"status": "running", "progress": 0.5})
                    return self._send(200, {"status": "done", "progress": 1.0})
                if self.path == "/v1/jobs/job1/frames":
                    n = server.body["n_frames"]
                    h, w = server.b["frame_size"] or (server.body["height"], server.body["width"])
                    frames = [np.full((h, w, 3), 10 * i, np.uint8) for i in range(n)]
                    if server.b["mp4"]:
                        return self._send(200, raw=_mp4(frames), ctype="video/mp4")
                    return self._send(200, {"frames_png_b64": [_png_b64(f) for f in frames]})
                self._send(404, {"error": "no such path"})

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):  # a client that timed out: not a failure here
                pass

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _mp4(frames):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "v.mp4"
        wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 8.0, frames[0].shape[1::-1])
        for f in frames:
            wr.write(f)
        wr.release()
        return path.read_bytes()


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv(ENV, KEY)


def _gen(server, **kw):
    cfg = dict(url=server.url, api_key_env=ENV, poll_interval_s=0.01, backoff_s=0.01, request_timeout_s=2.0)
    cfg.update(kw)
    return make_generator("http", **cfg)


IMG = np.random.default_rng(0).integers(0, 255, (H, W, 3), dtype=np.uint8)


def test_happy_path_sends_the_request_and_returns_frames(caplog):
    caplog.set_level(logging.DEBUG)
    calls = []
    with FakeServer(polls_until_done=3) as srv:
        video = _gen(srv).generate(IMG, "put the lid on the pot", 5, 7, progress=lambda d, t: calls.append((d, t)))
    assert video.frames.shape == (5, H, W, 3) and video.frames.dtype == np.uint8
    assert video.frames[3].mean() == 30 and video.backend == "http" and video.aux == {}
    assert srv.body["prompt"] == "put the lid on the pot" and srv.body["n_frames"] == 5 and srv.body["seed"] == 7
    sent = cv2.imdecode(np.frombuffer(base64.b64decode(srv.body["image_png_b64"]), np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(cv2.cvtColor(sent, cv2.COLOR_BGR2RGB), IMG)
    assert srv.requests[0][2]["Authorization"] == f"Bearer {KEY}"
    assert calls[-1] == (5, 5) and all(t == 5 for _, t in calls)
    assert KEY not in caplog.text


def test_mp4_response():
    with FakeServer(mp4=True) as srv:
        video = _gen(srv).generate(IMG, "pour fish", 4, 0)
    assert video.frames.shape == (4, H, W, 3)


def test_server_never_finishes_times_out_and_cancels():
    with FakeServer(job_status="running") as srv:
        with pytest.raises(BackendError, match="not done within"):
            _gen(srv, timeout_s=0.3, poll_interval_s=0.05).generate(IMG, "wipe", 3, 0)
    assert ("DELETE", "/v1/jobs/job1") in [(m, p) for m, p, _ in srv.requests]


def test_slow_server_request_timeout_is_retried_then_fails():
    with FakeServer(post_delay_s=0.5) as srv:
        with pytest.raises(BackendError, match="failed after 2 attempts.*no response"):
            _gen(srv, request_timeout_s=0.1, max_retries=1).generate(IMG, "wipe", 3, 0)


@pytest.mark.parametrize("where", ["post", "status"])
def test_garbage_json(where):
    with FakeServer(garbage=where) as srv:
        with pytest.raises(BackendError, match="invalid JSON"):
            _gen(srv).generate(IMG, "wipe", 3, 0)


def test_failed_job_reports_the_server_error():
    with FakeServer(job_status="failed") as srv:
        with pytest.raises(BackendError, match="failed on the server: GPU out of memory"):
            _gen(srv).generate(IMG, "wipe", 3, 0)


def test_wrong_frame_size():
    with FakeServer(frame_size=(H, W + 8)) as srv:
        with pytest.raises(BackendError, match=f"returned {W + 8}x{H} frames, the request was {W}x{H}"):
            _gen(srv).generate(IMG, "wipe", 3, 0)


def test_retry_on_5xx_then_success():
    with FakeServer(post_fail=[503, 502]) as srv:
        video = _gen(srv, max_retries=3).generate(IMG, "wipe", 3, 0)
    assert video.n_frames == 3
    assert [m for m, _, _ in srv.requests].count("POST") == 3


def test_retries_are_bounded():
    with FakeServer(post_fail=[503] * 10) as srv:
        with pytest.raises(BackendError, match="failed after 3 attempts, last: HTTP 503"):
            _gen(srv, max_retries=2).generate(IMG, "wipe", 3, 0)
    assert [m for m, _, _ in srv.requests].count("POST") == 3


def test_key_is_never_logged_or_in_errors(caplog):
    caplog.set_level(logging.DEBUG)
    messages = []
    for behaviour in (dict(post_fail=[401]), dict(post_fail=[503] * 5), dict(job_status="failed"), {}):
        with FakeServer(**behaviour) as srv:
            gen = _gen(srv, max_retries=1)
            messages.append(repr(gen))
            try:
                gen.generate(IMG, "wipe", 3, 0)
            except BackendError as exc:
                messages.append(str(exc))
    assert any(ENV in m and "API key" in m for m in messages)  # the 401 names the variable...
    assert all(KEY not in m for m in messages)  # ...never its value
    assert KEY not in caplog.text


def test_oversized_response_is_rejected():
    with FakeServer() as srv:
        with pytest.raises(BackendError, match="larger than the limit"):
            _gen(srv, max_response_mb=1e-5).generate(IMG, "wipe", 3, 0)


def test_configuration_errors():
    with pytest.raises(ConfigError, match="base URL"):
        make_generator("http")
    with pytest.raises(ConfigError, match="base URL"):
        make_generator("http", url="ftp://example.org")
    with pytest.raises(ConfigError, match="no option"):
        make_generator("http", url="http://127.0.0.1:1", colour="red")


def test_unreachable_server():
    with FakeServer() as srv:
        url = srv.url
    with pytest.raises(BackendError, match="connection failed"):
        make_generator("http", url=url, max_retries=1, backoff_s=0.01, request_timeout_s=0.5).generate(IMG, "x", 3, 0)
