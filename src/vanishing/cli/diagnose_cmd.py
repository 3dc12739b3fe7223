"""`vanishing diagnose package.module:factory`: train a user's model a few steps and diagnose it."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .._io import check_writable, write_text
from ..diagnose.model import UserCodeError, call_factory, diagnose_model, load_factory, resolve_factory
from ..diagnose.render import diagnosis_renderable
from ..results import codec
from ._common import console, err_console, fail, handle_errors

__all__ = ["register"]


def diagnose_command(
    factory: str = typer.Argument(..., help="package.module:function (or file.py:function) returning a model, (model, batch) or (model, batch, loss_fn)."),
    steps: int = typer.Option(50, help="Training steps with the probe."),
    lr: float = typer.Option(1e-3, help="Learning rate of the Adam optimizer used for the probe run."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write {verdict, findings, layers, ...} as JSON here."),
    traceback: bool = typer.Option(False, "--traceback", help="When your factory, model or loss raises, show the full Python traceback too."),
) -> None:
    """Train your model a few steps with the probe and say whether its gradients vanish, where, why, and what fixes it."""
    if json_path is not None:  # before training: an unwritable path must not cost the run
        check_writable(json_path, "diagnosis")
    fn = load_factory(factory)
    try:
        case = resolve_factory(call_factory(fn, factory))
        diagnosis, trace = diagnose_model(case, steps=steps, lr=lr)
    except UserCodeError as exc:  # one paragraph; the user's own trace only when asked for
        if traceback:
            _print_trace(exc.original)
        fail(str(exc))
    console.print(diagnosis_renderable(diagnosis))
    if json_path is not None:
        out = {**diagnosis.to_dict(), "factory": factory, "steps": steps, "trace": trace.to_dict()}
        write_text(json_path, codec.dumps(out, indent=1), "diagnosis")
        console.print(f"diagnosis written to [bold]{json_path}[/]", highlight=False)


def _print_trace(exc: BaseException) -> None:
    import traceback as tb

    err_console.print("".join(tb.format_exception(exc)), highlight=False, markup=False, end="")


def register(app: typer.Typer) -> None:
    app.command("diagnose")(handle_errors(diagnose_command))
