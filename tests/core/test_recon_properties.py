import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from physworld.errors import BackendError, ConfigError, InputError
from physworld.recon.properties import (
    FALLBACK,
    TABLE,
    make_property_estimator,
    normalise_category,
)

TASK_CATEGORIES = [
    "lid", "pot", "spoon", "pan", "book", "shelf", "shoe", "shoebox", "cup", "candy", "plate", "scrap",
    "dustpan", "brush", "sponge", "board", "can", "flower pot", "tomato", "block", "table", "background",
]  # fmt: skip
SIM_CATEGORIES = ["box", "paper", "ink", "whiteboard", "water", "flower_pot", "watering_can", "fish"]


def test_table_covers_the_task_objects():
    est = make_property_estimator("table")
    for cat in TASK_CATEGORIES + SIM_CATEGORIES:
        p = est.estimate(cat)
        assert "fallback" not in p.source, cat
        assert 0.0 <= p.friction <= 2.0 and 0.0 <= p.restitution <= 1.0
        assert p.mass >= 0.0
    for static in ("shelf", "table", "background"):
        assert est.estimate(static).static
    assert not est.estimate("cup").static
    # commonsense ordering, not tuned values
    assert est.estimate("candy").mass < est.estimate("spoon").mass < est.estimate("cup").mass < est.estimate("pot").mass
    assert est.estimate("sponge").friction > est.estimate("whiteboard").friction


def test_category_normalisation_and_aliases():
    assert normalise_category("Flower Pot") == "flower_pot"
    assert normalise_category("candies") == "candy"
    assert normalise_category("tomatoes") == "tomato"
    assert normalise_category("Books") == "book"
    assert normalise_category("brushes") == "brush"
    assert normalise_category("cans") == "watering_can"
    assert normalise_category("glasses") == "glasses"  # unknown: left as it is
    assert normalise_category("board") == "whiteboard"
    assert normalise_category("glass") == "glass"
    with pytest.raises(InputError, match="non-empty"):
        normalise_category("  ")


def test_mass_from_volume_for_solid_items_only():
    est = make_property_estimator("table")
    block = est.estimate("block", volume=0.05**3)
    assert block.mass == pytest.approx(600.0 * 0.05**3)
    assert "density" in block.source
    huge = est.estimate("block", volume=0.01)  # a bad hull: clipped to 4x the typical mass
    assert huge.mass == pytest.approx(4 * TABLE["block"].mass)
    assert est.estimate("pot", volume=0.004).mass == TABLE["pot"].mass  # hollow: hull volume is air
    assert est.estimate("table", volume=1.0).mass == 0.0
    with pytest.raises(InputError, match="volume"):
        est.estimate("block", volume=-1.0)


def test_unknown_category_fallback_is_flagged():
    est = make_property_estimator("table")
    p = est.estimate("hair dryer")
    assert "fallback" in p.source and p.mass == FALLBACK.mass and p.friction == FALLBACK.friction
    assert est.estimate("hair dryer", volume=0.001).mass == pytest.approx(0.5)


def test_table_overrides_and_factory_errors():
    est = make_property_estimator("table", overrides={"Hair Dryer": {"mass": 0.6, "friction": 0.4}})
    p = est.estimate("hair dryer")
    assert p.mass == 0.6 and "fallback" not in p.source
    with pytest.raises(ConfigError, match="override"):
        make_property_estimator("table", overrides={"x": {"weight": 1.0}})
    with pytest.raises(ConfigError, match="unknown property backend"):
        make_property_estimator("oracle")
    with pytest.raises(ConfigError, match="bad options"):
        make_property_estimator("table", url="http://x")
    with pytest.raises(ConfigError, match="http"):
        make_property_estimator("vlm", url="localhost:1234")


class _Handler(BaseHTTPRequestHandler):
    calls: list = []

    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Handler.calls.append(req)
        cat = req["category"]
        if cat == "slow":
            time.sleep(1.0)
        if cat == "error":
            self.send_response(500)
            self.end_headers()
            return
        answers = {
            "cup": {"mass_kg": 0.3, "friction": 0.55},
            "ball": {"mass_kg": 0.4, "friction": 0.6, "restitution": 0.8},
            "bad": {"mass_kg": -2.0, "friction": 0.5},
            "slippery": {"mass_kg": 1.0, "friction": 7.0},
            "partial": {"mass_kg": 1.0},
        }
        body = b"not json" if cat == "garbage" else json.dumps(answers.get(cat, answers["cup"])).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout test)

    def log_message(self, *args):
        pass


@pytest.fixture
def vlm_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Handler.calls = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/properties"
    finally:
        server.shutdown()
        server.server_close()


def test_vlm_client_round_trip_and_cache(vlm_server):
    est = make_property_estimator("vlm", url=vlm_server, timeout_s=5.0)
    p = est.estimate("cup", volume=0.0005)
    assert (p.mass, p.friction, p.restitution) == (0.3, 0.55, 0.1)
    assert p.source.startswith("vlm:")
    assert _Handler.calls == [{"category": "cup", "volume_m3": 0.0005}]
    est.estimate("Cup", volume=0.0005)  # same normalised category: cached
    assert len(_Handler.calls) == 1
    assert est.estimate("ball").restitution == 0.8


@pytest.mark.parametrize(
    "category, match",
    [("bad", "mass_kg=-2.0"), ("slippery", "friction=7.0"), ("partial", "invalid answer"),
     ("garbage", "invalid answer"), ("error", "HTTP 500")],
)  # fmt: skip
def test_vlm_client_rejects_bad_answers(vlm_server, category, match):
    est = make_property_estimator("vlm", url=vlm_server, timeout_s=5.0)
    with pytest.raises(BackendError, match=match):
        est.estimate(category)


def test_vlm_client_timeout_and_unreachable(vlm_server):
    est = make_property_estimator("vlm", url=vlm_server, timeout_s=0.2)
    with pytest.raises(BackendError, match="timed out"):
        est.estimate("slow")
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(BackendError, match="unreachable"):
        make_property_estimator("vlm", url=f"http://127.0.0.1:{port}/", timeout_s=1.0).estimate("cup")
