"""`vanishing run` and `vanishing demo` through Typer's runner."""

import json

import pytest
from typer.testing import CliRunner

from vanishing.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args))


def test_run_prints_the_flow_and_writes_json(tmp_path):
    out = tmp_path / "r.json"
    res = invoke("run", "--depth", "4", "--width", "8", "--steps", "10", "--record-every", "5",
                 "--activation", "leaky_relu:negative_slope=0.2", "--json", str(out))
    assert res.exit_code == 0, res.output
    assert "gradient flow" in res.output and "orders of magnitude" in res.output
    d = json.loads(out.read_text())
    assert d["config"]["activation"] == "leaky_relu:negative_slope=0.2"
    assert d["diagnosis"]["verdict"] in res.output  # the diagnosis printed is the one in the file
    assert d["command"].startswith("vanishing run --depth 4 --width 8")


def test_config_file_and_flag_override(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("depth: 3\nwidth: 8\nsteps: 4\nactivation: tanh\n")
    out = tmp_path / "r.json"
    res = invoke("run", "--config", str(cfg), "--width", "6", "--json", str(out))
    assert res.exit_code == 0, res.output
    c = json.loads(out.read_text())["config"]
    assert (c["depth"], c["width"], c["activation"]) == (3, 6, "tanh")


@pytest.mark.parametrize("args,needle", [
    (["--depth", "0"], "invalid depth 0"),
    (["--width", "-1"], "invalid width -1"),
    (["--activation", "swish"], "one of: sigmoid"),
    (["--init", "xavier"], "one of: zeros"),
    (["--init", "normal:std=-1"], "std -1"),
    (["--init", "normal:std"], "invalid init 'normal:std'"),
    (["--dataset", "cifar10"], "invalid dataset 'cifar10'"),
    (["--dataset", "idx:path=/nonexistent"], "/nonexistent"),
    (["--optimizer", "rmsprop"], "sgd, momentum, adam"),
    (["--lr", "0"], "invalid lr 0"),
    (["--lr", "-1"], "invalid lr -1"),
    (["--config", "/nonexistent.yaml"], "invalid config '/nonexistent.yaml'"),
])
def test_bad_input_is_one_line_exit_2(args, needle):
    res = invoke("run", "--steps", "1", *args)
    assert res.exit_code == 2, res.output
    assert needle in res.output
    assert "Traceback" not in res.output
    assert len([l for l in res.output.strip().splitlines() if l.strip()]) == 1, res.output


def test_unknown_config_key_and_malformed_yaml(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("depht: 3\n")
    res = invoke("run", "--config", str(p))
    assert res.exit_code == 2 and "invalid config key 'depht'" in res.output
    p.write_text("depth: [3\n")
    res = invoke("run", "--config", str(p))
    assert res.exit_code == 2 and "valid YAML" in res.output


def test_diverged_run_still_writes_json(tmp_path):
    out = tmp_path / "r.json"
    res = invoke("run", "--depth", "4", "--width", "16", "--steps", "200", "--init", "normal:std=3",
                 "--activation", "linear", "--lr", "10", "--json", str(out))
    assert res.exit_code == 0, res.output
    assert "diverged" in res.output
    assert json.loads(out.read_text())["summary"]["diverged"] is True


def test_demo_tells_the_story(tmp_path):
    res = invoke("demo", "--steps", "60", "--json-dir", str(tmp_path))
    assert res.exit_code == 0, res.output
    for word in ("CAUSE", "EFFECT", "REASON", "FIX", "weight-gradient orders (step 0)"):
        assert word in res.output
    broken = json.loads((tmp_path / "demo_broken.json").read_text())["summary"]
    fixed = json.loads((tmp_path / "demo_fixed.json").read_text())["summary"]
    assert broken["vanishing_orders"] > 10 > 2 > fixed["vanishing_orders"]
