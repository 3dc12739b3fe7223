"""The playground in a real browser (Playwright driving Debian's chromium): the learner's path end to end.

Load the page, press play on the sigmoid preset and see the first layer's gradient fall below 1e-6 on the
chart; apply the diagnosis' fix and see run B's first layer stay within 10× of its last; reload from the
copied link and get the same controls. The screenshots are written to a temporary folder, or to the
folder named by VANISHING_SCREENSHOTS (``VANISHING_SCREENSHOTS=docs pytest -m browser`` refreshes the
pictures docs/playground.md shows), so a test run never changes tracked files.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"

@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    named = os.environ.get("VANISHING_SCREENSHOTS")
    return Path(named) if named else tmp_path_factory.mktemp("screenshots")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no chromium at {CHROMIUM} (apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

FIELDS = ("depth", "width", "activation", "init", "bias_init", "norm", "dataset", "optimizer", "lr", "batch_size",
          "steps", "record_every", "seed")
TIMEOUT_MS = 120_000  # two shared CPU cores: generous, the runs themselves take seconds


@pytest.fixture(scope="module")
def server():
    from vanishing.playground import Limits, serve

    with serve(Limits(max_runs=4)) as s:
        yield s


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    yield page
    page.close()
    assert errors == []


def controls(page, side: str) -> dict[str, str]:
    values = {f: page.input_value(f"#panel-{side} [name={f}]") for f in FIELDS}
    values["residual"] = page.is_checked(f"#panel-{side} [name=residual]")
    return values


def grad(page, side: str) -> tuple[float, float]:
    """First- and last-layer ‖∂L/∂W‖ the chart shows now (the chart element's data attributes)."""
    chart = page.locator(f"#{side}-grad")
    return float(chart.get_attribute("data-first-grad")), float(chart.get_attribute("data-last-grad"))


def test_watch_it_vanish_apply_the_fix_and_share_the_link(server, page, browser, shots):
    page.goto(server.url)
    page.wait_for_selector("body[data-ready=true]")
    page.select_option("#preset", "sigmoid30")
    page.fill("#panel-A [name=steps]", "60")
    page.dispatch_event("#panel-A [name=steps]", "change")
    page.click("#panel-A .play")
    page.wait_for_selector("#panel-A[data-state=finished]", timeout=TIMEOUT_MS)
    page.wait_for_function("document.querySelector('#A-grad').dataset.step === '59'", timeout=TIMEOUT_MS)
    first, last = grad(page, "A")
    assert first < 1e-6 < last  # the early layers went dark; the read-out did not
    # the phase diagram is drawn when the page's theory request (sent on every change of a control) answers
    page.wait_for_selector("#A-phase[data-phase=ordered]", state="attached", timeout=TIMEOUT_MS)
    page.wait_for_selector("#panel-A .apply-fix.primary", timeout=TIMEOUT_MS)
    page.screenshot(path=str(shots / "playground_vanishing.png"), full_page=False)

    page.click("#panel-A .apply-fix.primary")  # starts the fixed config as run B
    page.wait_for_selector("#panel-B[data-state=finished]", timeout=TIMEOUT_MS)
    page.wait_for_function("document.querySelector('#B-grad').dataset.step === '59'", timeout=TIMEOUT_MS)
    b = controls(page, "B")
    assert (b["activation"], b["init"]) == ("relu", "he_normal")  # the diagnosis' first fix
    first, last = grad(page, "B")
    assert 0.1 <= first / last <= 10
    page.wait_for_timeout(300)
    page.screenshot(path=str(shots / "playground_fixed.png"), full_page=True)

    link = page.input_value("#link")
    assert link == page.url and "B.activation=relu" in link
    other = browser.new_page()
    try:
        other.goto(link)
        other.wait_for_selector("body[data-ready=true]")
        for side in ("A", "B"):
            assert controls(other, side) == controls(page, side)
        assert other.input_value("#preset") == "sigmoid30"
    finally:
        other.close()


def test_a_bad_value_is_shown_next_to_its_control(server, page):
    page.goto(server.url)
    page.wait_for_selector("body[data-ready=true]")
    page.fill("#panel-A [name=init]", "he_normall")
    page.dispatch_event("#panel-A [name=init]", "change")
    err = page.locator("#panel-A [name=init] ~ .field-err")
    err.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function(
        "document.querySelector('#panel-A [name=init] ~ .field-err').textContent.includes('he_normal')",
        timeout=TIMEOUT_MS)
    page.click("#panel-A .play")
    page.wait_for_timeout(500)
    assert page.get_attribute("#panel-A", "data-state") == "idle"  # nothing started
