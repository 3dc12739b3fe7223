"""Regression: an output path that cannot be written gave a Python traceback instead of a one-line error."""

import pytest
from typer.testing import CliRunner

from vanishing.cli import app


@pytest.fixture
def blocked(tmp_path):
    """A path whose parent is a regular file, so no folder can be made there (works as root too)."""
    f = tmp_path / "file"
    f.write_text("")
    return f / "sub"


@pytest.mark.parametrize("args,what", [
    (["run", "--depth", "2", "--width", "4", "--steps", "1", "--json", "{p}/r.json"], "cannot write result"),
    (["run", "--depth", "2", "--width", "4", "--steps", "1", "--report", "{p}/r.html"], "cannot write report"),
    (["theory", "--activation", "tanh", "--phase-diagram", "--out", "{p}/pd.png"], "cannot write phase diagram"),
    (["demo", "--steps", "2", "--no-report", "--json-dir", "{p}"], "cannot write result"),
])
def test_unwritable_output_is_a_one_line_error(blocked, args, what):
    res = CliRunner().invoke(app, [a.format(p=blocked) for a in args])
    assert res.exit_code == 2, res.output
    assert what in res.output and str(blocked) in res.output
    assert "Traceback" not in res.output
    assert res.output.strip().splitlines()[-1].startswith("error:")
