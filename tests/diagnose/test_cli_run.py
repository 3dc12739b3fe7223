"""`vanishing run` shows the diagnosis and writes it into --json."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from vanishing.cli import app

runner = CliRunner()
FLAGS = ["run", "--depth", "8", "--width", "16", "--steps", "30", "--record-every", "10", "--device", "cpu"]


def test_run_prints_and_writes_the_diagnosis(tmp_path):
    out = tmp_path / "r.json"
    res = runner.invoke(app, FLAGS + ["--activation", "sigmoid", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "verdict: vanishing_gradients" in res.output
    d = json.loads(out.read_text())["diagnosis"]
    assert d["verdict"] == "vanishing_gradients"
    f = d["findings"][0]
    assert set(f) >= {"kind", "severity", "layers", "numbers", "cause", "effect", "reason", "fix"}


def test_run_healthy_says_so():
    res = runner.invoke(app, FLAGS + ["--depth", "3", "--activation", "relu", "--init", "he_normal", "--steps", "60"])
    assert res.exit_code == 0, res.output
    assert "verdict: healthy" in res.output


def test_try_fixes_reruns_and_prints_before_after():
    res = runner.invoke(app, FLAGS + ["--activation", "sigmoid", "--steps", "40", "--try-fixes"])
    assert res.exit_code == 0, res.output
    assert "fixes, verified by re-running" in res.output
    assert "as given" in res.output and "relu_he" in res.output
    assert "--activation relu --init he_normal" in res.output
