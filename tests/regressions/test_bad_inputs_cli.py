"""Regression: bad inputs that reach the CLI through the config gave tracebacks (a seed beyond 64 bits, a
repeated spec key, an overflowing activation parameter, a binary config file). Each is now one line,
``error: invalid <field> <value>; <allowed>``, with exit status 2."""

import pytest
from typer.testing import CliRunner

from vanishing.cli import app

runner = CliRunner()


@pytest.fixture
def binary_yaml(tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"depth: 3\n\xff\xfe\x00\x01\x1b[31m")
    return path


@pytest.mark.parametrize("args,needle", [
    (["run", "--seed", str(2**70)], f"invalid seed {2**70}; an integer >= 0 and <= {2**63 - 1}"),
    (["run", "--seed", str(2**63)], f"invalid seed {2**63}"),
    (["run", "--init", "normal:std=1:std=2"], "invalid init 'normal:std=1:std=2'; each key once (repeated 'std')"),
    (["run", "--init", "normal:std=1,std=2"], "repeated 'std'"),
    (["run", "--activation", "elu:alpha=1e300"], "invalid activation elu parameter alpha 1e+300; a finite number > 0"),
    (["run", "--init", "normal:std=1e300"], "invalid init normal std 1e+300; a finite number >= 0 and <= 100"),
    (["run", "--config", "{binary}"], "a UTF-8 YAML file"),
    (["run", "--depth", "100000"], "invalid depth 100000; an integer >= 1 and <= 10000"),
    (["run", "--activation", "relu\x1b[31m"], r"'relu\x1b[31m'"),
])
def test_bad_input_is_one_line_exit_2(binary_yaml, args, needle):
    res = runner.invoke(app, [a.format(binary=binary_yaml) for a in args] + ["--steps", "1"])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [line for line in res.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1, res.output
    assert needle in lines[0] and lines[0].startswith("error:"), lines[0]
    assert "\x1b[31m" not in res.output and "\xff" not in res.output
    if "{binary}" in args:
        assert str(binary_yaml) in lines[0]
