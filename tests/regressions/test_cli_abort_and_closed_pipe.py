"""An aborted command (Ctrl-C at a prompt, a closed output pipe) ends quietly: the parser's handler named an
exception class typer does not have, so any exception passing through it became an AttributeError traceback."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from vanishing.cli._parser import Group


def test_abort_exits_1_without_a_traceback() -> None:
    app = typer.Typer(cls=Group)

    @app.command()
    def stop() -> None:
        raise typer.Abort()

    @app.command()
    def other() -> None:  # two commands: a group, as the real app
        pass

    out = CliRunner().invoke(app, ["stop"])
    assert out.exit_code == 1, out.output
    assert not isinstance(out.exception, AttributeError) and "Traceback" not in out.output
