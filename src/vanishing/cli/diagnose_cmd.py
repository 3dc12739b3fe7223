"""`vanishing diagnose package.module:factory`: train a user's model a few steps and diagnose it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer

from .._io import check_writable, write_text
from ..diagnose.model import UserCodeError, call_factory, diagnose_model, load_factory, resolve_factory
from ..diagnose.render import diagnosis_renderable
from ..errors import ConfigError
from ..results import codec
from ._common import console, err_console, fail, handle_errors, threads_option, training_threads

__all__ = ["register"]


def diagnose_command(
    factory: str = typer.Argument(..., help="package.module:function (or file.py:function) returning a model, (model, batch) or (model, batch, loss_fn)."),
    steps: int = typer.Option(50, help="Training steps with the probe."),
    lr: float = typer.Option(1e-3, help="Learning rate of the Adam optimizer used for the probe run."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write {verdict, findings, layers, ...} as JSON here."),
    traceback: bool = typer.Option(False, "--traceback", help="When your factory, model or loss raises, show the full Python traceback too."),
    threads: Optional[int] = threads_option(),
) -> None:
    """Train your model a few steps with the probe and say whether its gradients vanish, where, why, and what fixes it."""
    if not (math.isfinite(lr) and lr > 0):  # before any user code runs
        raise ConfigError("lr", lr, "a finite number > 0")
    if steps < 2:
        raise ConfigError("steps", steps, "an integer >= 2")
    if json_path is not None:  # before training: an unwritable path must not cost the run
        check_writable(json_path, "diagnosis")
    try:
        fn = load_factory(factory)  # imports and runs the module's top level: user code
        case = resolve_factory(call_factory(fn, factory))
        with training_threads(threads, work=_work(case)):
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


def _work(case) -> float:
    """Multiply-adds of the model's largest product per step: batch rows × the largest weight's entries."""
    x = case.first[0]
    rows = x.shape[0] if getattr(x, "dim", lambda: 0)() > 0 else 1
    return float(rows * max((p.numel() for p in case.model.parameters()), default=0))


def _print_trace(exc: BaseException) -> None:
    import traceback as tb

    err_console.print("".join(tb.format_exception(exc)), highlight=False, markup=False, end="")


def register(app: typer.Typer) -> None:
    app.command("diagnose")(handle_errors(diagnose_command))
