import json

import pytest
from typer.testing import CliRunner

from vanishing.cli import app

runner = CliRunner()


def _one_line_error(r, *words):
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    assert "Traceback" not in r.output
    for w in words:
        assert w in lines[0]


def test_report_writes_html(result_files, tmp_path):
    out = tmp_path / "r.html"
    r = runner.invoke(app, ["report", str(result_files[0]), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "report written to" in r.output and str(out) in r.output.replace("\n", "")
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "https://" not in page and "http://" not in page


def test_report_default_out_is_report_html_in_cwd(result_files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["report", str(result_files[0])])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "report.html").exists()


def test_compare_writes_html(result_files, tmp_path):
    out = tmp_path / "c.html"
    r = runner.invoke(app, ["compare", *map(str, result_files), "-o", str(out)])
    assert r.exit_code == 0, r.output
    page = out.read_text(encoding="utf-8")
    assert "vanishing compare" in page and "class=diff" in page


@pytest.mark.parametrize("command", ["report", "compare"])
def test_missing_file(command, result_files, tmp_path):
    missing = str(tmp_path / "nope.json")
    args = [missing] if command == "report" else [str(result_files[0]), missing]
    _one_line_error(runner.invoke(app, [command, *args]), "nope.json", "readable file")


@pytest.mark.parametrize("content,words", [
    ("{not json", ("valid JSON",)),
    ("[1, 2]", ("JSON object",)),
    ('{"config": {}}', ("not a vanishing run result",)),
])
@pytest.mark.parametrize("command", ["report", "compare"])
def test_malformed_file(command, content, words, result_files, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    args = [str(bad)] if command == "report" else [str(bad), str(result_files[1])]
    _one_line_error(runner.invoke(app, [command, *args]), *words)


def test_report_to_an_unwritable_place(result_files, tmp_path):
    (tmp_path / "file").write_text("x")
    r = runner.invoke(app, ["report", str(result_files[0]), "--out", str(tmp_path / "file" / "r.html")])
    _one_line_error(r, "cannot write report")


def test_run_with_report(tmp_path):
    out = tmp_path / "run.html"
    r = runner.invoke(app, ["run", "--depth", "3", "--width", "8", "--steps", "6", "--record-every", "2",
                            "--report", str(out)])
    assert r.exit_code == 0, r.output
    assert "report written to" in r.output
    page = out.read_text(encoding="utf-8")
    assert "vanishing run --depth 3 --width 8" in page


def test_demo_writes_its_report_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["demo", "--steps", "4"])
    assert r.exit_code == 0, r.output
    assert "report written to" in r.output
    page = (tmp_path / "vanishing-demo.html").read_text(encoding="utf-8")
    assert "CAUSE" in page and "sigmoid" in page and "relu" in page


def test_demo_report_path_and_no_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["demo", "--steps", "2", "--no-report"])
    assert r.exit_code == 0, r.output
    assert not list(tmp_path.glob("*.html"))
    r = runner.invoke(app, ["demo", "--steps", "2", "--report", str(tmp_path / "d" / "x.html")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "d" / "x.html").exists()
