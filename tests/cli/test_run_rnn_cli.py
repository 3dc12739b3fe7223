"""`vanishing run --model ... --task ...` through Typer's runner: success, --config, --json, bad input."""

import json

import pytest
from typer.testing import CliRunner

from vanishing.cli import app

runner = CliRunner()
FAST = ["--task", "adding:T=5,n=32,n_test=16", "--hidden", "4", "--steps", "3", "--record-every", "2",
        "--batch-size", "8"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_run_lstm_prints_the_score_and_the_decay_and_writes_json(tmp_path):
    out = tmp_path / "r.json"
    res = invoke("run", "--model", "lstm", *FAST, "--clip", "0.5", "--chrono", "--json", out)
    assert res.exit_code == 0, res.output
    assert "vs baseline" in res.output and "of the baseline" in res.output and "ξ̂ =" in res.output
    d = json.loads(out.read_text())
    assert d["config"]["model"] == "lstm" and d["config"]["chrono"] is True and d["config"]["clip"] == 0.5
    assert d["summary"]["baseline"] == pytest.approx(1 / 6) and "clipped_steps" in d["summary"]
    assert len(d["trace"]["time"]["hidden_grad_norm"]) == 2  # steps 0 and 2 (the last)
    assert d["command"].startswith("vanishing run --optimizer sgd") and "--model lstm" in d["command"]


def test_config_file_with_recurrent_settings(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: irnn\ntask: adding:T=4,n=16,n_test=10\nhidden: 4\nsteps: 2\nrecurrent-init: identity:gain=0.5\n")
    out = tmp_path / "r.json"
    res = invoke("run", "--config", cfg, "--hidden", "3", "--json", out)
    assert res.exit_code == 0, res.output
    c = json.loads(out.read_text())["config"]
    assert (c["model"], c["hidden"], c["recurrent_init"]) == ("irnn", 3, "identity:gain=0.5")


@pytest.mark.parametrize("args,needle", [
    (["--model", "lstm"], "invalid task None; a sequence task for model lstm"),
    (["--model", "rnn", "--task", "adding"], "the parameter 'T' is required"),
    (["--model", "rnn", "--task", "adding:T=5", "--depth", "3"], "invalid depth 3; only with --model mlp"),
    (["--task", "adding:T=5"], "only with a recurrent model"),
    (["--model", "lstm", "--task", "adding:T=5", "--rnn-activation", "relu"], "only with model rnn or irnn"),
    (["--model", "rnn", "--task", "copy:T=5", "--clip", "0"], "invalid clip 0"),
    (["--model", "rnn", "--task", "copy:T=5", "--recurrent-init", "eye"], "identity"),
])
def test_bad_input_is_one_line_exit_2(args, needle):
    res = invoke("run", *args)
    assert res.exit_code == 2, res.output
    assert needle in res.output and "Traceback" not in res.output
