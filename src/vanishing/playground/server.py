"""The playground's web service (FastAPI): the page, its options, runs it starts and their update streams.

Routes::

    GET  /                              the page (static/index.html); /static/* its files, plotly.js included
    GET  /api/options                   every choice the controls offer, the limits, the presets
    POST /api/theory                    {config} → mean-field prediction and χ₁ phase diagram (no training)
    POST /api/runs                      {config, play} → 201 {id}; 422 bad setting; 429 too many runs
    POST /api/runs/{id}/control         {action: play | pause | step | stop}
    GET  /api/runs/{id}/stream          server-sent events: "update" (≤ updates_per_s a second), then "end"
    GET  /api/runs/{id}/result.json     the same JSON as ``vanishing run --json`` (once the run has ended)
    GET  /api/runs/{id}/report.html     the same HTML report as ``vanishing run --report``
    DELETE /api/runs/{id}               stop and forget

A bad setting answers 422 with ``{"detail": {"field", "value", "allowed", "message"}}``, validated by
the same :class:`~vanishing.config.RunConfig` as the command line. A run lives while a page listens to
its stream: :attr:`Limits.orphan_grace_s` after the last stream closed, it is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import socket
import threading
import time
import uuid
from collections import OrderedDict
from importlib import resources
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

from fastapi import Body, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse

from ..activations import ACTIVATIONS
from ..config import OPTIMIZERS, RunConfig
from ..data import load_dataset
from ..errors import ConfigError, VanishingError
from ..inits import CRITICAL, INITS
from ..nets.mlp import NORMS
from ..results import codec
from .limits import LOCAL_HOST, PLAYGROUND_DATASETS, Limits, check_config
from .live import ACTIVE_STATES, LiveRun
from .presets import DEFAULT_PRESET, PLAYGROUND_DEFAULTS, PRESETS
from .views import theory_view

__all__ = ["create_app", "RunManager", "Busy", "Server", "serve", "plotly_js_path", "LOCAL_HOST", "KEEP_FINISHED"]

KEEP_FINISHED = 16  # ended runs kept for their downloads, oldest forgotten first
POLL_S = 0.02  # how often a stream looks for a new snapshot
HEARTBEAT_S = 1.0  # a paused run's stream still writes this often, to notice a closed page
STATIC = resources.files("vanishing.playground") / "static"


class Busy(VanishingError):
    """As many runs as the server allows are already active."""


def plotly_js_path() -> Path:
    """plotly.min.js of the installed ``plotly`` package: the page never loads a script from the network."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise VanishingError(f"plotly.min.js not found at {path}; reinstall plotly (pip install plotly)")
    return path


@functools.lru_cache(maxsize=16)
def _shape(dataset: str) -> tuple[int, int]:
    """(in_features, out_features) of a data set spec (a theory request needs them, not the data)."""
    data = load_dataset(dataset, seed=0)
    return data.in_features, data.out_features


class RunManager:
    """The runs of one server: at most ``limits.max_runs`` active at once; orphans stopped by :meth:`reap`."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.runs: "OrderedDict[str, LiveRun]" = OrderedDict()
        self._lock = threading.Lock()

    def active(self) -> list[LiveRun]:
        return [r for r in list(self.runs.values()) if r.state in ACTIVE_STATES]

    def create(self, config: RunConfig, play: bool = True) -> LiveRun:
        with self._lock:
            if len(self.active()) >= self.limits.max_runs:
                raise Busy(f"{self.limits.max_runs} runs are already training on this server (its limit, "
                           "--max-runs); stop one first")
            live = LiveRun(uuid.uuid4().hex[:12], config, self.limits.updates_per_s)
            self.runs[live.id] = live
            ended = [k for k, r in self.runs.items() if r.done]
            for k in ended[: max(0, len(ended) - KEEP_FINISHED)]:
                del self.runs[k]
        return live.start(play)

    def get(self, run_id: str) -> LiveRun:
        """The run ``run_id`` (``KeyError`` when this server has none)."""
        return self.runs[run_id]

    def forget(self, run_id: str) -> None:
        live = self.runs.pop(run_id, None)
        if live is not None:
            live.stop()

    def reap(self, now: float | None = None) -> list[str]:
        """Stop every active run no page has listened to for ``orphan_grace_s``; their ids."""
        now = time.monotonic() if now is None else now
        stopped = []
        for r in self.active():
            if r.orphan_since is not None and now - r.orphan_since >= self.limits.orphan_grace_s:
                r.stop()
                stopped.append(r.id)
        return stopped

    def stop_all(self, timeout: float = 10.0) -> None:
        for r in list(self.runs.values()):
            r.stop()
        for r in list(self.runs.values()):
            r.join(timeout)


def _options(limits: Limits) -> dict[str, Any]:
    inits = list(INITS.names()) + [CRITICAL]
    return {
        "activations": list(ACTIVATIONS.names()), "inits": inits,
        "bias_inits": ["zeros", "constant", "normal", "uniform"], "norms": list(NORMS),
        "datasets": list(PLAYGROUND_DATASETS), "optimizers": list(OPTIMIZERS),
        "limits": limits.to_dict(), "defaults": PLAYGROUND_DEFAULTS, "presets": PRESETS,
        "default_preset": DEFAULT_PRESET,
        "fields": list(RunConfig.model_fields),
    }


def _error(exc: ConfigError) -> dict[str, Any]:
    return {"field": exc.field, "value": codec.encode(exc.value) if isinstance(exc.value, (int, float, str, bool))
            else str(exc.value), "allowed": exc.allowed, "message": str(exc)}


def create_app(limits: Limits | None = None) -> FastAPI:
    """The FastAPI application of one playground (one :class:`RunManager`, stopped with the app)."""
    limits = limits or Limits()
    manager = RunManager(limits)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def reaper() -> None:
            while True:
                await asyncio.sleep(min(1.0, limits.orphan_grace_s / 2))
                manager.reap()

        task = asyncio.create_task(reaper())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.to_thread(manager.stop_all)

    app = FastAPI(title="vanishing playground", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.manager = manager

    @app.exception_handler(ConfigError)
    async def _bad_setting(request: Request, exc: ConfigError) -> JSONResponse:
        return JSONResponse({"detail": _error(exc)}, status_code=422)

    @app.exception_handler(Busy)
    async def _busy(request: Request, exc: Busy) -> JSONResponse:
        return JSONResponse({"detail": {"message": str(exc)}}, status_code=429)

    def _run(run_id: str) -> LiveRun:
        try:
            return manager.get(run_id)
        except KeyError:
            raise HTTPException(404, {"message": f"no run {run_id!r} on this server"}) from None

    def _static(name: str, media: str) -> Response:
        return Response((STATIC / name).read_bytes(), media_type=media, headers={"Cache-Control": "no-cache"})

    @app.get("/", response_class=HTMLResponse)
    def index() -> Response:
        return _static("index.html", "text/html; charset=utf-8")

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name == "plotly.min.js":
            return FileResponse(plotly_js_path(), media_type="text/javascript",
                                headers={"Cache-Control": "max-age=86400"})
        media = {"app.js": "text/javascript", "style.css": "text/css"}.get(name)
        if media is None:
            raise HTTPException(404, {"message": f"no file {name!r}"})
        return _static(name, media)

    @app.get("/api/options")
    def options() -> dict[str, Any]:
        return _options(limits)

    @app.post("/api/theory")
    def theory_(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        config = check_config(body.get("config", {}), limits)
        in_features, out_features = _shape(config.dataset)
        return {"config": config.model_dump(), **theory_view(config, in_features, out_features)}

    @app.post("/api/runs", status_code=201)
    def create(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        config = check_config(body.get("config", {}), limits)
        live = manager.create(config, play=bool(body.get("play", True)))
        return {"id": live.id, "config": config.model_dump()}

    @app.post("/api/runs/{run_id}/control")
    def control(run_id: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        live = _run(run_id)
        action = body.get("action")
        if action not in ("play", "pause", "step", "stop"):
            raise ConfigError("action", action, "one of: play, pause, step, stop")
        live.control(action)
        return {"id": live.id, "state": live.state, "step": live.steps_done}

    @app.post("/api/runs/{run_id}/stop")  # navigator.sendBeacon when the page goes away
    def beacon_stop(run_id: str) -> dict[str, Any]:
        live = _run(run_id)
        live.stop()
        return {"id": live.id, "state": live.state}

    @app.delete("/api/runs/{run_id}")
    def delete(run_id: str) -> dict[str, Any]:
        _run(run_id)
        manager.forget(run_id)
        return {"id": run_id}

    @app.get("/api/runs/{run_id}/stream")
    async def stream(run_id: str) -> StreamingResponse:
        live = _run(run_id)
        return StreamingResponse(_events(live, 1.0 / limits.updates_per_s),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    def _ended(run_id: str) -> Any:
        live = _run(run_id)
        if live.result is None:
            raise HTTPException(409, {"message": f"run {run_id} has not ended (state: {live.state}); "
                                                 "its files exist once it finishes or is stopped"})
        return live.result

    @app.get("/api/runs/{run_id}/result.json")
    def result_json(run_id: str) -> Response:
        result = _ended(run_id)
        return Response(codec.dumps(result.to_dict()), media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="vanishing-{run_id}.json"'})

    @app.get("/api/runs/{run_id}/report.html")
    async def report_html(run_id: str) -> Response:
        from ..report.html import render_report  # matplotlib only when a report is asked for

        result = _ended(run_id)
        html = await asyncio.to_thread(render_report, result)
        return Response(html, media_type="text/html; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="vanishing-{run_id}.html"'})

    return app


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'), allow_nan=False)}\n\n"


async def _events(live: LiveRun, interval: float) -> AsyncIterator[str]:
    """The update stream of one page: a snapshot whenever a new one is published, at most one per
    ``interval``; "end" once the run has ended and everything was sent. The run counts this page as
    its listener for as long as the stream is open. A comment line goes out every :data:`HEARTBEAT_S`
    when there is nothing new: writing to a closed page fails, which ends the stream (and the listener)."""
    live.attach_listener()
    sent_rows, sent_extras, version = 0, {}, -1
    last_sent = last_update = -float("inf")
    try:
        while True:
            # looked at every POLL_S, sent at most every interval: an update goes out within POLL_S of
            # being published, so the rate is the run's, up to 1 / interval
            if live.version != version and (time.monotonic() - last_update >= interval or live.done):
                version = live.version
                msg = live.message(sent_rows, sent_extras)
                sent_rows += len(msg["rows"])
                yield _sse("update", msg)
                last_sent = last_update = time.monotonic()
                if live.done and version == live.version:
                    yield _sse("end", {"id": live.id, "state": live.state})
                    return
            elif time.monotonic() - last_sent >= HEARTBEAT_S:
                yield ": keep-alive\n\n"
                last_sent = time.monotonic()
            await asyncio.sleep(min(POLL_S, interval))
    finally:
        live.detach_listener()


class Server:
    """A playground served by uvicorn in a background thread: ``with Server() as s: s.url``.

    ``port=0`` takes a free one. Leaving the ``with`` block (or :meth:`stop`) stops every run and the server.
    """

    def __init__(self, host: str = LOCAL_HOST, port: int = 0, limits: Limits | None = None):
        import uvicorn

        if not 0 <= port <= 65535:
            raise ConfigError("port", port, "an integer from 0 to 65535 (0: any free port)")
        self.host, self.limits = host, limits or Limits()
        self.app = create_app(self.limits)
        try:
            self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, port))
        except (OSError, UnicodeError) as exc:
            raise ConfigError("host/port", f"{host}:{port}", f"an address this machine can listen on "
                              f"({getattr(exc, 'strerror', None) or exc})") from None
        self.port = self.sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="on",
                                                     timeout_graceful_shutdown=2))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self.sock]},
                                        name="vanishing-playground-server", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def manager(self) -> RunManager:
        return self.app.state.manager

    def start(self, timeout: float = 30.0) -> "Server":
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise VanishingError(f"the playground server did not start on {self.url}")
            time.sleep(0.02)
        return self

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C in the CLI)."""
        while self._thread.is_alive():
            self._thread.join(0.5)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(15)
        self.sock.close()

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def serve(limits: Limits | None = None) -> Iterator[Server]:
    """A playground on a free port of 127.0.0.1 for the body of the ``with`` (tests, benchmarks)."""
    with Server(LOCAL_HOST, 0, limits) as server:
        yield server
