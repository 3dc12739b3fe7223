"""The playground's service through FastAPI's TestClient: options, validation, limits, streams, downloads."""

import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from vanishing.activations import ACTIVATIONS
from vanishing.config import RunConfig
from vanishing.experiments import run
from vanishing.inits import INITS
from vanishing.playground import PRESETS, Limits, create_app, plotly_js_path
from vanishing.results import RunResult

SMALL = {"depth": 4, "width": 8, "dataset": "circles", "steps": 20, "record_every": 5, "seed": 1}


@pytest.fixture
def client():
    with TestClient(create_app(Limits(max_runs=2, orphan_grace_s=60, updates_per_s=20))) as c:
        yield c


def events(client, run_id, timing=None):
    """Every (event, data) of a run's stream, read to its end (``timing``: gets its duration in seconds)."""
    out, event = [], None
    t0 = time.monotonic()
    with client.stream("GET", f"/api/runs/{run_id}/stream") as s:
        assert s.headers["content-type"].startswith("text/event-stream")
        for line in s.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                out.append((event, json.loads(line[6:])))
    if timing is not None:
        timing.append(time.monotonic() - t0)
    return out


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_options_offer_every_registered_choice(client):
    o = client.get("/api/options").json()
    assert o["activations"] == list(ACTIVATIONS.names())
    assert set(INITS.names()) | {"critical"} == set(o["inits"])
    assert {"spirals", "circles", "digits", "mnist1d", "teacher"} <= set(o["datasets"])
    assert o["limits"]["max_runs"] == 2 and o["default_preset"] in {p["name"] for p in o["presets"]}
    assert {p["name"] for p in o["presets"]} >= {"demo", "glorot_bengio", "he30", "edge_of_chaos"}


@pytest.mark.parametrize("config,field,needle", [
    ({"activation": "sigmoidd"}, "activation", "one of: sigmoid"),
    ({"depth": 101}, "depth", "<= 100"),
    ({"depth": "deep"}, "depth", "an integer"),
    ({"lr": -1}, "lr", "> 0"),
    ({"init": "critical", "activation": "relu", "depth": 3, "bias_init": "normal:std=0.1"}, None, None),
])
def test_a_bad_setting_is_422_naming_the_field_and_what_is_allowed(client, config, field, needle):
    r = client.post("/api/theory", json={"config": config})
    if field is None:
        assert r.status_code == 200
        return
    assert r.status_code == 422
    d = r.json()["detail"]
    assert d["field"] == field and needle in d["allowed"] and d["message"].startswith(f"invalid {field}")
    assert client.post("/api/runs", json={"config": config}).status_code == 422


def test_a_run_streams_its_rows_and_ends_as_the_cli_run_does(client):
    r = client.post("/api/runs", json={"config": SMALL})
    assert r.status_code == 201
    run_id = r.json()["id"]
    duration = []
    ev = events(client, run_id, duration)
    assert ev[-1] == ("end", {"id": run_id, "state": "finished"})
    updates = [d for e, d in ev if e == "update"]
    assert len(updates) <= 20 * duration[0] + 2  # the page gets at most updates_per_s (20 here) a second
    rows = [row for d in updates for row in d["rows"]]
    reference = run(RunConfig.make(SMALL))  # the same settings through the run command's path
    assert [row["step"] for row in rows] == reference.trace.steps.tolist()
    np.testing.assert_array_equal(np.array([row["grad_norm"] for row in rows], float), reference.trace["grad_norm"])
    assert any("diagnosis" in d for d in updates) and any("boundary" in d for d in updates)
    # the downloads are the run command's files
    result = RunResult.from_dict(client.get(f"/api/runs/{run_id}/result.json").json())
    np.testing.assert_array_equal(result.trace["grad_norm"], reference.trace["grad_norm"])
    assert result.config == reference.config and result.command == reference.command
    html = client.get(f"/api/runs/{run_id}/report.html")
    assert html.status_code == 200 and "vanishing report" in html.text and "<img" in html.text


def test_controls_pause_step_and_stop_a_run(client):
    run_id = client.post("/api/runs", json={"config": SMALL, "play": False}).json()["id"]
    live = client.app.state.manager.get(run_id)
    wait_for(lambda: live.state == "paused" and live.rows)  # step 0 trained, then paused
    assert client.get(f"/api/runs/{run_id}/result.json").status_code == 409  # not ended yet
    assert client.post(f"/api/runs/{run_id}/control", json={"action": "step"}).status_code == 200
    wait_for(lambda: live.state == "paused" and len(live.rows) == 2)
    r = client.post(f"/api/runs/{run_id}/control", json={"action": "jump"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "action"
    assert client.post(f"/api/runs/{run_id}/control", json={"action": "stop"}).status_code == 200
    assert live.join(30) and live.state == "stopped"
    assert client.get(f"/api/runs/{run_id}/result.json").json()["summary"]["interrupted"] is True
    assert client.post("/api/runs/nope/control", json={"action": "play"}).status_code == 404


def test_concurrent_runs_are_limited_per_server(client):
    ids = [client.post("/api/runs", json={"config": SMALL, "play": False}).json()["id"] for _ in range(2)]
    r = client.post("/api/runs", json={"config": SMALL})
    assert r.status_code == 429 and "--max-runs" in r.json()["detail"]["message"]
    client.delete(f"/api/runs/{ids[0]}")
    assert client.post("/api/runs", json={"config": SMALL, "play": False}).status_code == 201


def test_a_run_nobody_watches_is_stopped():
    """No page listening (never opened, or closed): stopped after orphan_grace_s, no orphaned training.
    Through a real server (uvicorn) and HTTP client: a closed connection is what a closed page is."""
    import httpx

    from vanishing.playground import serve

    # far more steps than it can train before the grace ends (a small net trains 5000 steps in ~2 s)
    config = {**SMALL, "steps": 1_000_000, "record_every": 1000}
    with serve(Limits(orphan_grace_s=2.0, max_steps=1_000_000)) as server, \
            httpx.Client(base_url=server.url) as client:
        manager = server.manager
        watched = client.post("/api/runs", json={"config": config, "play": False}).json()["id"]
        with client.stream("GET", f"/api/runs/{watched}/stream") as s:
            lines = s.iter_lines()  # kept: a generator dropped closes the response, as a closed page does
            next(lines)  # the page is open
            never = client.post("/api/runs", json={"config": config}).json()["id"]
            wait_for(lambda: manager.get(never).state == "stopped")
            assert manager.get(watched).state == "paused" and manager.get(watched).listeners == 1
        wait_for(lambda: manager.get(watched).state == "stopped")  # the page closed
        assert manager.get(watched).result.outcome.interrupted
        assert manager.get(never).result.outcome.interrupted


def test_closing_the_server_stops_its_runs():
    with TestClient(create_app(Limits())) as c:
        run_id = c.post("/api/runs", json={"config": {**SMALL, "steps": 5000}, "play": False}).json()["id"]
        live = c.app.state.manager.get(run_id)
    assert live.join(10) and live.state == "stopped"


class _Urls(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        self.urls += [v for k, v in attrs if k in ("src", "href", "action", "srcset", "data") and v]


def test_the_page_loads_nothing_from_the_network(client):
    page = client.get("/")
    assert page.status_code == 200
    parser = _Urls()
    parser.feed(page.text)
    assert "/static/plotly.min.js" in parser.urls and "/static/app.js" in parser.urls
    external = [u for u in parser.urls if re.match(r"^(https?:)?//", u) or ":" in u.split("/")[0] and
                not u.startswith("data:")]
    assert external == []
    for name in ("app.js", "style.css"):
        text = client.get(f"/static/{name}").text
        assert not re.search(r"https?://|url\(|@import|//[a-z0-9.-]+\.[a-z]{2,}/", text), name
    assert not re.search(r"<link[^>]+https?:|@font-face", page.text)
    # plotly.js is the installed package's own file, byte for byte
    assert client.get("/static/plotly.min.js").content == Path(plotly_js_path()).read_bytes()
    assert client.get("/static/secret.py").status_code == 404


def test_every_preset_validates_within_the_default_limits(client):
    for p in PRESETS:
        for side in ("A", "B"):
            assert client.post("/api/theory", json={"config": p[side]}).status_code == 200, (p["name"], side)
