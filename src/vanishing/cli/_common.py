"""Shared CLI plumbing: one-line errors with exit status 2, a shared console."""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable, NoReturn, TypeVar

import typer
from rich.console import Console

from ..errors import VanishingError

__all__ = ["console", "err_console", "fail", "handle_errors"]

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on one line to stderr and exit with status 2."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


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
