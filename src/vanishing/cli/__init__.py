"""The ``vanishing`` command line: one Typer app composed from one module per command.

Each module in ``_COMMANDS`` exposes ``register(app)`` and adds its command(s).
"""

from __future__ import annotations

import importlib

import typer

from ._parser import Command, Group

__all__ = ["app", "main"]

app = typer.Typer(
    name="vanishing",
    help="See, measure, explain and fix the vanishing gradient problem.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    cls=Group,
)

_COMMANDS: list[str] = [
    "run_cmd",
    "demo_cmd",
    "theory_cmd",
    "diagnose_cmd",
    "report_cmd",
    "plot_cmd",
    "sweep_cmd",
    "playground_cmd",
]

for _name in _COMMANDS:
    importlib.import_module(f"{__name__}.{_name}").register(app)
for _info in app.registered_commands:  # every command's help names values, not Python types
    _info.cls = Command


def main() -> None:
    """Entry point of the console script."""
    app()
