"""The CLI's bars draw what the library reports (on a terminal only)."""

import io

from rich.console import Console

from vanishing.cli import _progress


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=terminal, width=100), buf


def test_sweep_bar_shows_runs_and_steps_on_a_terminal(monkeypatch):
    console, buf = _console(True)
    monkeypatch.setattr(_progress, "err_console", console)
    with _progress.sweep_progress() as report:
        report(0, 40, 0, 2)
        report(20, 40, 1, 2)
        report(40, 40, 2, 2)
    text = buf.getvalue()
    assert "runs 2/2" in text and "100%" in text and "ETA" in text


def test_no_bar_off_a_terminal(monkeypatch):
    console, buf = _console(False)
    monkeypatch.setattr(_progress, "err_console", console)
    with _progress.sweep_progress() as report:
        report(0, 40, 0, 2)
        report(40, 40, 2, 2)
    with _progress.training_progress("training", 10) as update:
        update(10)
    assert buf.getvalue() == ""
