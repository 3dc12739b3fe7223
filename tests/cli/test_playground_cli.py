"""`vanishing playground` through Typer's runner: it serves, warns off-localhost, opens the page, fails in one line."""

import webbrowser

import httpx
import pytest
from typer.testing import CliRunner

from vanishing.cli import app
from vanishing.playground.server import Server

runner = CliRunner()


@pytest.fixture
def serve_once(monkeypatch):
    """Instead of serving until Ctrl-C: fetch the page once from the running server, then press Ctrl-C."""
    seen = {}

    def wait(self):
        seen["url"] = self.url
        seen["status"] = httpx.get(self.url + "api/options", timeout=30).status_code
        seen["runs"] = self.manager
        raise KeyboardInterrupt

    monkeypatch.setattr(Server, "wait", wait)
    opened = []
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: opened.append(url))
    return seen, opened


def test_serves_on_localhost_and_opens_the_page(serve_once):
    seen, opened = serve_once
    res = runner.invoke(app, ["playground", "--port", "0", "--max-depth", "30"])
    assert res.exit_code == 0, res.output
    assert seen["status"] == 200 and seen["url"].startswith("http://127.0.0.1:")
    assert seen["url"] in res.output and "warning" not in res.output
    assert seen["runs"].limits.max_depth == 30
    import time
    deadline = time.monotonic() + 5
    while not opened and time.monotonic() < deadline:  # opened from a thread
        time.sleep(0.01)
    assert opened == [seen["url"]]


def test_no_browser_and_a_warning_off_localhost(serve_once):
    seen, opened = serve_once
    res = runner.invoke(app, ["playground", "--host", "0.0.0.0", "--port", "0", "--no-browser"])
    assert res.exit_code == 0, res.output
    assert "warning" in res.output and "0.0.0.0" in res.output
    assert opened == []


@pytest.mark.parametrize("args,needle", [
    (["--port", "70000"], "invalid port 70000"),
    (["--max-runs", "0"], "invalid max_runs 0"),
    (["--host", "not a host"], "invalid host/port"),
])
def test_bad_settings_are_one_line_errors(serve_once, args, needle):
    res = runner.invoke(app, ["playground", "--no-browser", *args])
    assert res.exit_code == 2
    assert needle in res.output and "Traceback" not in res.output
