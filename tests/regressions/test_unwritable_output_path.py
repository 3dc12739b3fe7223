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


@pytest.mark.parametrize("args,what", [
    (["run", "--depth", "2", "--width", "4", "--steps", "1", "--json", "{p}/r.json"], "cannot write result"),
    (["run", "--depth", "2", "--width", "4", "--steps", "1", "--report", "{p}/r.html"], "cannot write report"),
    (["demo", "--steps", "2", "--no-report", "--json-dir", "{p}"], "cannot write result"),
    (["demo", "--steps", "2", "--report", "{p}/demo.html"], "cannot write report"),
])
def test_unwritable_output_fails_before_any_training(blocked, args, what, monkeypatch):
    """The path is checked first: a run is never trained only to lose its result at the end."""
    import vanishing.cli.run_cmd as run_cmd

    def no_training(*a, **k):
        raise AssertionError("trained before checking the output path")

    monkeypatch.setattr(run_cmd, "run", no_training)
    res = CliRunner().invoke(app, [a.format(p=blocked) for a in args])
    assert res.exit_code == 2, res.output
    assert what in res.output and "Traceback" not in res.output


def test_diagnose_checks_its_json_path_before_loading_the_model(blocked, tmp_path):
    res = CliRunner().invoke(app, ["diagnose", f"{tmp_path}/missing.py:make", "--json", f"{blocked}/d.json"])
    assert res.exit_code == 2 and "cannot write diagnosis" in res.output, res.output


def test_the_check_leaves_no_file_and_keeps_an_existing_one(tmp_path):
    from vanishing._io import check_writable
    from vanishing.errors import VanishingError

    new = tmp_path / "sub" / "new.json"
    check_writable(new, "result")
    assert new.parent.is_dir() and not new.exists()
    old = tmp_path / "old.json"
    old.write_text("keep me")
    check_writable(old, "result")
    assert old.read_text() == "keep me"
    with pytest.raises(VanishingError, match="it is a folder"):
        check_writable(tmp_path, "result")
