"""`vanishing demo --rnn`, `vanishing run --try-fixes` on a recurrent net, and `vanishing plot --vs-length`,
through Typer's runner."""

import json

import pytest
from typer.testing import CliRunner

from vanishing.cli import app
from vanishing.cli.demo_cmd import DEMO_RNN_BROKEN, DEMO_RNN_FIXED

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args))


def test_demo_rnn_tells_the_story_through_time(tmp_path):
    report = tmp_path / "demo.html"
    res = invoke("demo", "--rnn", "--steps", "12", "--json-dir", str(tmp_path), "--report", str(report))
    assert res.exit_code == 0, res.output
    for needle in ("gradient through time at initialisation", "tanh RNN", "LSTM", "orders through time, step 0",
                   "ξ̂ (time steps per e-fold)", "CAUSE", "EFFECT", "REASON", "FIX", "Mean-field theory"):
        assert needle in res.output, needle
    broken = json.loads((tmp_path / "demo_rnn_broken.json").read_text())
    fixed = json.loads((tmp_path / "demo_rnn_fixed.json").read_text())
    assert broken["config"]["model"] == "rnn" and fixed["config"]["model"] == "lstm"
    assert broken["config"]["task"] == fixed["config"]["task"] == DEMO_RNN_BROKEN["task"]
    # the side-by-side numbers are those of the stored runs
    assert f"{broken['summary']['time_orders']:+.1f}" in res.output
    html = report.read_text()
    assert "Through time: the gradient over the time steps" in html and html.count("data:image/png") >= 4
    assert DEMO_RNN_FIXED["rnn_activation"] is None
    pngs = tmp_path / "png"
    res = invoke("report", str(tmp_path / "demo_rnn_fixed.json"), "--out", str(tmp_path / "r.html"),
                 "--png-dir", str(pngs))
    assert res.exit_code == 0, res.output
    assert (pngs / "time_heatmap.png").stat().st_size > 1000 and (pngs / "time_curves.png").exists()


def test_try_fixes_on_a_recurrent_net_compares_through_time():
    res = invoke("run", "--model", "rnn", "--task", "adding:T=12", "--hidden", "8", "--steps", "6",
                 "--record-every", "3", "--optimizer", "adam", "--lr", "0.01", "--try-fixes")
    assert res.exit_code == 0, res.output
    assert "vanishing_through_time" in res.output
    assert "fixes, verified by re-running (through time" in res.output
    assert "lstm: --model lstm" in res.output  # the change, as the flag that applies it


@pytest.mark.slow
def test_plot_vs_length_from_a_sweep_store(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("name: tiny\nbase: {model: rnn, task: 'adding:T=5', hidden: 4, steps: 3, record_every: 3}\n"
                    "grid:\n  task: ['adding:T=5', 'adding:T=9']\n  model: [rnn, gru]\nseeds: 1\n")
    store = tmp_path / "r.db"
    res = invoke("sweep", str(spec), "--executor", "sequential", "--store", str(store))
    assert res.exit_code == 0, res.output
    out = tmp_path / "p.png"
    res = invoke("plot", str(store), "--vs-length", "--value", "solved", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert "4 runs plotted" in res.output and out.stat().st_size > 1000
    res = invoke("plot", str(store), "--vs-length", "--value", "score_vs_baseline", "--by", "task", "--out", str(out))
    assert res.exit_code == 0, res.output
    res = invoke("plot", str(store), "--vs-length", "--x", "model", "--value", "solved", "--out", str(out))
    assert res.exit_code == 2 and "--vs-length" in res.output
