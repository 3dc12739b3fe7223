import json

import pytest
from typer.testing import CliRunner

from vanishing.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, ["theory", *args])


def test_table_and_plain_english():
    r = invoke("--activation", "tanh", "--sigma-w2", "1.5", "--sigma-b2", "0.05", "--depth", "20")
    assert r.exit_code == 0, r.output
    for text in ("q*", "χ₁", "ξ_∇", "ordered", "orders lost (20 layers)"):
        assert text in r.output
    assert "ordered phase: gradient norms shrink by 10^-0.0138 (×0.969) per layer" in r.output
    assert "over 20 layers expect 0.3 orders of magnitude lost" in r.output
    assert "critical σ_w² for σ_b²=0.05 is 1.76." in r.output


def test_chaotic_shows_correlations():
    r = invoke("-a", "tanh", "--sigma-w2", "2.5", "--sigma-b2", "0.05")
    assert r.exit_code == 0, r.output
    assert "c*" in r.output and "ξ_c" in r.output and "chaotic phase: gradient norms grow" in r.output


def test_json_keys():
    r = invoke("-a", "relu", "--sigma-w2", "2", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert {"activation", "sigma_w2", "sigma_b2", "q_star", "chi1", "depth_scale", "phase", "c_star",
            "xi_c"} <= set(d)
    assert d["activation"] == "relu" and d["chi1"] == 1.0 and d["phase"] == "critical"
    assert d["depth_scale"] == "inf"  # infinite, written as the codec writes it
    assert "sigma_w2_critical" not in d


def test_critical():
    r = invoke("-a", "tanh", "--sigma-b2", "0.05", "--critical", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["sigma_w2_critical"] == pytest.approx(1.76, abs=0.005)
    assert d["sigma_w2"] == d["sigma_w2_critical"] and d["chi1"] == pytest.approx(1.0)
    r = invoke("-a", "elu:alpha=0.5", "--sigma-b2", "0.1", "--critical")
    assert r.exit_code == 0 and "critical" in r.output


def test_depth_json():
    d = json.loads(invoke("-a", "sigmoid", "--sigma-w2", "1", "--depth", "10", "--json").output)
    assert d["depth"] == 10 and d["orders_lost"] > 5


@pytest.mark.parametrize("suffix,magic", [(".png", b"\x89PNG"), (".svg", b"<?xml")])
def test_phase_diagram_writes_a_figure(tmp_path, suffix, magic):
    out = tmp_path / f"tanh{suffix}"
    r = invoke("--phase-diagram", "-a", "relu", "--sigma-w2", "1.5", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert out.read_bytes().startswith(magic) and str(out.name) in r.output.replace("\n", "")


@pytest.mark.parametrize("args,match", [
    (["-a", "swish", "--sigma-w2", "1"], "invalid activation 'swish'; one of: sigmoid, tanh"),
    (["--sigma-w2", "-1"], "invalid sigma_w2 -1.0; a number from 0 to 1e6"),
    (["--sigma-w2", "1", "--sigma-b2", "-0.1"], "invalid sigma_b2 -0.1; a number from 0 to 1e6"),
    (["--sigma-w2", "1e7"], "invalid sigma_w2 10000000.0; a number from 0 to 1e6"),
    (["-a", "relu", "--sigma-b2", "0.1", "--critical"], "invalid sigma_b2 0.1; 0 for relu"),
    (["-a", "softplus", "--critical"], "softplus has a critical point"),
    ([], "--sigma-w2 is missing: a number >= 0"),
    (["-a", "foo"], "invalid activation 'foo'"),  # the wrong value before the missing one
    (["--sigma-w2", "1", "--depth", "0"], "invalid depth 0; an integer >= 1"),
    (["--phase-diagram"], "--out is missing: --phase-diagram draws a figure file ending in .png"),
    (["--phase-diagram", "--out", "x.gif"], "invalid out 'x.gif'"),
])
def test_bad_input_is_one_line_and_exit_2(args, match):
    r = invoke(*args)
    assert r.exit_code == 2
    out = r.output.strip()
    assert match in out and "\n" not in out and "Traceback" not in out
