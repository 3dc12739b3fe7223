"""Regression ("The first five minutes"): the rendered story may not contradict the trace or itself.

A healthy ReLU run's summary said "−0.06 orders" while its diagnosis said "+0.47" (two measures, neither
named); a finding said "the first layer is −0.0 orders below the last … the early layers hardly learn";
a dead network's bars were blank; one fix was printed four times. Here every number that a terminal,
markdown or HTML output prints next to a measure's name is checked against that measure recomputed
from the trace's arrays with numpy (the reference), for a healthy, a vanishing and a dead run.
"""

from __future__ import annotations

import html as html_lib
import math
import re

import numpy as np
import pytest
from rich.console import Console

import vanishing
from vanishing import RunConfig
from vanishing.diagnose import THRESHOLDS, diagnose
from vanishing.diagnose.render import diagnosis_renderable
from vanishing.report import html
from vanishing.report.terminal import run_summary

BASE = dict(width=16, steps=12, record_every=4, device="cpu", seed=0)
RUNS = {
    "healthy": dict(depth=6, activation="relu", init="he_normal"),
    "vanishing": dict(depth=20, activation="sigmoid", init="normal:std=0.01"),
    "dead": dict(depth=6, activation="relu", init="zeros"),  # every weight gradient exactly 0
}
NAMES = {"weight-gradient orders": "grad_norm", "signal orders": "signal_grad_norm"}


@pytest.fixture(scope="module", params=list(RUNS))
def case(request):
    result = vanishing.run(RunConfig.make({**BASE, **RUNS[request.param]}))
    return request.param, result, diagnose(result)


def _reference(result, quantity: str, step: int) -> float:
    """log10(last / first layer) of ``quantity`` at ``step``, straight from the trace's arrays."""
    steps, values = result.trace.recorded(quantity)
    row = values[list(steps).index(step)]
    first, last = row[0], row[-1]
    if first == 0 and last == 0:
        return math.nan
    with np.errstate(divide="ignore"):
        return float(np.log10(last) - np.log10(first))


def _flat(text: str) -> str:
    """The text a reader sees, with panel borders and line wraps taken out."""
    return " ".join(text.replace("│", " ").replace("╭", " ").replace("╰", " ").split())


def _terminal(result, d) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(run_summary(result))
    console.print(diagnosis_renderable(d))
    return console.export_text()


def _html(result) -> str:
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", html.diagnosis_sections(result)))


def _outputs(result, d) -> dict[str, str]:
    return {"terminal": _flat(_terminal(result, d)), "markdown": _flat(d.to_markdown()), "html": _flat(_html(result))}


_NAMED = re.compile(r"(weight-gradient orders|signal orders) at step (\d+): ([+-](?:\d+\.\d+|all))")


def _check_named_numbers(text: str, result) -> int:
    """Every "<measure> at step N: ±x.xx" in ``text`` equals the reference; returns how many were checked."""
    found = _NAMED.findall(text)
    for name, step, value in found:
        ref = _reference(result, NAMES[name], int(step))
        if value.endswith("all"):
            assert ref == (math.inf if value[0] == "+" else -math.inf), (name, step, value, ref)
        else:
            assert float(value) == pytest.approx(ref, abs=0.006), (name, step, value, ref)
    return len(found)


def test_every_named_number_matches_the_trace(case):
    kind, result, d = case
    for where, text in _outputs(result, d).items():
        assert _check_named_numbers(text, result) >= (1 if kind == "dead" else 2), (where, text)


def test_the_terminal_summary_rows_match_the_trace(case):
    kind, result, d = case
    text = _terminal(result, d)
    steps, _ = result.trace.recorded("grad_norm")
    (row,) = [line for line in text.splitlines() if line.startswith("weight-gradient orders")]
    shown = dict((int(s), v) for v, s in re.findall(r"([+-]\d+\.\d\d|n/a(?: \([^)]*\))?) at step (\d+)", row))
    assert set(shown) == {int(steps[0]), int(steps[-1])}
    for step, value in shown.items():
        ref = _reference(result, "grad_norm", step)
        assert value.startswith("n/a") if math.isnan(ref) else float(value) == pytest.approx(ref, abs=0.006)


def test_a_vanishing_verdict_is_backed_by_the_number_it_prints(case):
    kind, result, d = case
    for f in d.findings:
        if f.kind != "vanishing_gradients":
            continue
        name, step, value = _NAMED.match(f.effect).groups()  # the finding leads with its measure
        ref = _reference(result, NAMES[name], int(step))
        assert ref >= THRESHOLDS["vanishing_warning"]
        if "hardly learn" in f.effect:  # a claim about learning needs the weight gradients to show it
            assert any(_reference(result, "grad_norm", s) >= THRESHOLDS["vanishing_warning"]
                       for s in (f.numbers["vanishing_orders_step"], f.numbers["vanishing_orders_final_step"]))
    if d.healthy:
        for name, q in NAMES.items():
            steps, _ = result.trace.recorded(q)
            assert _reference(result, q, int(steps[0])) < THRESHOLDS["vanishing_warning"]
    assert (d.verdict == "vanishing_gradients") == (kind == "vanishing")


def test_each_fix_once_and_numbered_lists_in_order(case):
    kind, result, d = case
    outputs = _outputs(result, d)
    for where, text in outputs.items():
        for fx in d.fixes:
            assert text.count(fx.text) == 1, (where, fx.text)
    md = d.to_markdown().splitlines()
    numbered = [line for line in md if re.match(r"\d+\. ", line)]
    assert [int(line.split(".")[0]) for line in numbered] == list(range(1, len(d.fixes) + 1))
    assert html.diagnosis_sections(result).count("<ol>") == (1 if d.fixes else 0)
    term = [int(m) for m in re.findall(r"^\s*│?\s+(\d+)\. ", _terminal(result, d), re.M)]
    assert term == list(range(1, len(d.fixes) + 1))


def test_a_dead_network_is_shown_and_named(case):
    kind, result, d = case
    steps, g = result.trace.recorded("grad_norm")
    dead_from = next((int(steps[i]) for i in range(len(steps)) if np.all(g[i:] == 0)), None)
    text = _terminal(result, d)
    if kind != "dead":
        assert dead_from is None and "dead_network" not in {f.kind for f in d.findings}
        return
    assert dead_from == int(steps[0])  # the reference: zeros weights pass no gradient from the start
    (f,) = [f for f in d.findings if f.kind == "dead_network"]
    assert f.numbers["step"] == dead_from
    assert f"exactly 0 at every recorded step ({dead_from} to {int(steps[-1])}): the network is dead" in _flat(text)
    bars = [line for line in text.splitlines() if re.match(r"\d+( in| out)?\s+0\.0e\+00\s+0\s", line)]
    assert len(bars) == g.shape[1]  # every layer's bar says 0, not blank
    assert f"step {int(steps[0])}: every layer's gradient is exactly 0" in text
