"""Help that teaches (defaults, values, no Python type names) and parser errors on one line, through the runner."""

import io
import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from vanishing.cli import _common, app

runner = CliRunner()
WIDE = {"COLUMNS": "200", "TERMINAL_WIDTH": "200"}
COMMANDS = ["run", "demo", "theory", "diagnose", "report", "compare", "plot", "sweep", "results"]
TYPE_NAMES = re.compile(r"<(bool|int|float|str|path|text|list\[[a-z]+\])>|\{[A-Za-z_.]+\}", re.I)


def invoke(*args, env=None):
    return runner.invoke(app, list(args), env=env)


def lines(text):
    return [line for line in text.strip().splitlines() if line.strip()]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_names_values_not_python_types(command):
    res = invoke(command, "--help", env=WIDE)
    assert res.exit_code == 0, res.output
    assert TYPE_NAMES.search(res.output) is None, TYPE_NAMES.search(res.output)


@pytest.mark.parametrize("command,shown", [
    ("run", ["[default: 10]", "[default: sigmoid]", "[default: no-residual]", "[default: 0.1]",
             "$VANISHING_THREADS"]),
    ("demo", ["[default: 600]", "[default: vanishing-demo.html]"]),
    ("theory", ["[default: tanh]", "[default: 0.0]"]),
    ("sweep", ["[default: batched]", "sequential|batched|processes|ray", "[default: results.db]"]),
    ("results", ["[default: table]", "table|csv|parquet"]),
    ("plot", ["[default: mean]", "mean|median|min|max"]),
])
def test_help_shows_defaults_and_allowed_values(command, shown):
    out = invoke(command, "--help", env=WIDE).output
    for text in shown:
        assert text in out, text


@pytest.mark.parametrize("args,expected", [
    (["run", "--depth", "x"], "error: --depth 'x': an integer"),
    (["run", "--lr=fast"], "error: --lr 'fast': a number"),
    (["theory", "--sigma-w2", "big"], "error: --sigma-w2 'big': a number"),
    (["run", "--bogus"], "error: --bogus: no such option"),
    (["run", "--depth"], "error: --depth: needs a value"),
    (["sweep"], "error: SPEC.yaml: missing"),
    (["plot", "x.db", "--out", "x.png"], "error: --value: missing"),
    (["results", "x.db", "--format", "xlsx"], "error: invalid format 'xlsx'; one of: table, csv, parquet"),
    (["sweep", "x.yaml", "--executor", "gpu"], "error: invalid executor 'gpu'; one of:"),
    (["run", "--threads", "0"], "error: invalid threads 0; an integer >= 1"),
    (["nosuch"], "error: No such command 'nosuch'"),
])
def test_usage_errors_are_one_line_exit_2(args, expected):
    res = invoke(*args)
    assert res.exit_code == 2, res.output
    assert lines(res.output) == [lines(res.output)[0]] and lines(res.output)[0].startswith(expected), res.output
    assert "╭" not in res.output and "│" not in res.output and "Traceback" not in res.output


def test_thread_count_from_the_environment_is_checked():
    res = invoke("run", "--steps", "1", env={"VANISHING_THREADS": "many"})
    assert res.exit_code == 2
    assert lines(res.output) == ["error: invalid VANISHING_THREADS 'many'; an integer >= 1 and <= 1024 (or unset: "
                                 "chosen from the work and the free cores)"]


def test_commands_for_copying_are_never_wrapped(monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr(_common, "console", Console(file=buf, width=30, force_terminal=True))
    command = "vanishing run --depth 20 --width 64 --activation leaky_relu:negative_slope=0.2 --init he_normal"
    _common.print_command(command)
    assert buf.getvalue() == f"  {command}\n"


@pytest.mark.parametrize("value", ["config_hash", "error", "depth"])
def test_plot_value_is_a_numeric_metric_of_the_store(value, tmp_path):
    store = Path(__file__).parents[1] / "fixtures" / "store_v1.db"
    res = invoke("plot", str(store), "--value", value, "--x", "depth", "--y", "activation", "--out", str(tmp_path / "p.png"))
    assert res.exit_code == 2
    line, = lines(res.output)
    assert line.startswith(f"error: invalid --value '{value}'; one of: ") and "vanishing_orders" in line
    assert "config_hash" not in line.split("one of:")[1] and " error" not in line.split("one of:")[1]
