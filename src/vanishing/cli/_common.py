"""Shared CLI plumbing: one-line errors with exit status 2, a shared console, the ``--threads`` option."""

from __future__ import annotations

import functools
import sys
from contextlib import AbstractContextManager
from typing import Any, Callable, NoReturn, Optional, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import VanishingError, one_line
from ..threads import ENV_VAR, resolve_threads, run_work, torch_threads

__all__ = ["console", "err_console", "fail", "handle_errors", "missing", "print_command", "threads_option", "training_threads"]

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on one line to stderr and exit with status 2.

    The message is shown as text: a newline or control byte in it is escaped (:func:`one_line`), and
    brackets or ``:name:`` in a value are never read as rich markup or emoji codes.
    """
    err_console.print(f"[bold red]error:[/] {escape(one_line(message))}", highlight=False, soft_wrap=True,
                      emoji=False)
    raise typer.Exit(2)


def missing(flag: str, what: str) -> NoReturn:
    """Stop at a flag that was needed but not given: ``error: --out is missing: <what>``."""
    raise VanishingError(f"{flag} is missing: {what}")


def print_command(command: str, indent: str = "  ") -> None:
    """A command for copying: one line however narrow the terminal (never wrapped inside an argument)."""
    console.print(indent + command, markup=False, highlight=False, soft_wrap=True)


def handle_errors(fn: F) -> F:
    """Turn a :class:`VanishingError` raised by a command into :func:`fail` (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except VanishingError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            err_console.print("interrupted")
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def threads_option() -> Any:
    """The ``--threads N`` option of every command that trains."""
    return typer.Option(None, "--threads", metavar="N", show_default=False,
                        help=f"CPU threads for torch. \\[default: ${ENV_VAR} if set, else chosen from the network "
                             "size and the idle cores: 1 for small networks or a busy CPU]")


def training_threads(flag: Optional[int], *configs: Any, work: float = 0) -> AbstractContextManager[int]:
    """Train with ``flag`` threads, else ``$VANISHING_THREADS``, else as many as the largest of ``configs``
    (or ``work`` multiply-adds per product) and the idle cores pay for; restored afterwards."""
    work = max([work] + [run_work(c.batch_size, c.hidden if getattr(c, "recurrent", False) else c.width)
                         for c in configs])
    return torch_threads(resolve_threads(flag, work))
