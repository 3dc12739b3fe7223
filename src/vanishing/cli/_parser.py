"""Help that teaches, errors on one line: the command and group classes of the ``vanishing`` app.

- Help shows readable metavars (``N``, ``X``, ``PATH``, the allowed values of a choice) instead of Python
  type names (``<int>``, ``<list[str]>``, ``<bool>``), and required arguments without braces.
- A usage error of the parser (bad number, unknown option, missing value or argument) is one line,
  ``error: --depth 'x': an integer``, on stderr with exit status 2, as every other error of ours.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence, get_args

import typer
from typer.core import TyperCommand, TyperGroup

try:  # typer >= 0.22 carries its own copy of click
    from typer._click import exceptions as _errors
except ImportError:  # pragma: no cover - older typer, on click itself
    from click import exceptions as _errors

from ..errors import one_line, safe_repr
from ._common import fail

__all__ = ["Command", "Group"]

# readable metavar by annotation, for options that name none of their own
_METAVARS = {int: "N", float: "X", str: "TEXT"}
_ALLOWED = {int: "an integer", float: "a number"}


def _choices(param: Any) -> list[str] | None:
    desc = getattr(param, "type_descriptor", None)
    choices = desc.choices if desc is not None else getattr(param.type, "choices", None)
    return None if choices is None else [str(getattr(c, "value", c)) for c in choices]


def _annotation(param: Any) -> Any:
    """The value type of a parameter (the item type of a repeatable one); None when unknown."""
    desc = getattr(param, "type_descriptor", None)
    if desc is None:
        return None
    return get_args(desc.annotation)[0] if desc.is_list else desc.annotation


def _readable_metavar(param: Any) -> str:
    if getattr(param, "is_flag", False):
        return ""
    choices = _choices(param)
    if choices is not None:
        return "|".join(choices)
    annotation = _annotation(param)
    if isinstance(annotation, type) and issubclass(annotation, Path):
        return "PATH"
    return _METAVARS.get(annotation, "TEXT")


def _no_type(ctx: Any) -> None:
    return None


class Command(TyperCommand):
    """A command whose help names values, not Python types."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        for param in params:
            if isinstance(param, typer.core.TyperOption):
                if param.metavar is None:
                    param.metavar = _readable_metavar(param)
            elif param.metavar is None:  # an argument is named by its metavar, its help says what it is
                param.metavar = param.name.upper()
            if isinstance(param, typer.core.TyperArgument):
                param.display_type_rich = _no_type  # typer would add <path>, <str> beside the name
        return params

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        # typer writes a required argument as {NAME}: a shell would read the braces
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in super().collect_usage_pieces(ctx)]


def _raw_value(args: Sequence[str], opts: Sequence[str]) -> str | None:
    """The last value given on the command line to an option named ``opts``."""
    found = None
    for i, arg in enumerate(args):
        for opt in opts:
            if arg == opt and i + 1 < len(args):
                found = args[i + 1]
            elif arg.startswith(opt + "="):
                found = arg[len(opt) + 1:]
    return found


def _allowed(param: Any, message: str) -> str:
    choices = _choices(param)
    if choices is not None:
        return "one of: " + ", ".join(choices)
    allowed = _ALLOWED.get(_annotation(param))
    if allowed is None:  # typer's own words, without its "Invalid value for '--x': " prefix
        return message.split(": ", 1)[-1]
    limits = param._get_number_range_help_str() if hasattr(param, "_get_number_range_help_str") else None
    return allowed + (f" {limits}" if limits else "")


def _name(param: Any) -> str:
    """``--flag`` of an option, ``NAME`` of an argument."""
    if isinstance(param, typer.core.TyperOption) and param.opts:
        return param.opts[0]
    return param.metavar or param.name.upper()


def usage_error_line(exc: Any, args: Sequence[str]) -> str:
    """One line for a parser error: the flag, the value given, what is allowed."""
    errors = _errors
    ctx = getattr(exc, "ctx", None)
    where = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
    if isinstance(exc, errors.NoSuchOption):
        near = ", ".join(sorted(exc.possibilities or ()))
        return f"{exc.option_name}: no such option{'; did you mean ' + near if near else ''}{where}"
    if isinstance(exc, errors.BadOptionUsage):
        return f"{exc.option_name}: needs a value{where}"
    if isinstance(exc, errors.MissingParameter) and exc.param is not None:
        return f"{_name(exc.param)}: missing; {one_line(exc.param.help or 'required')}"
    if isinstance(exc, errors.BadParameter) and exc.param is not None:
        opts = list(exc.param.opts) + list(getattr(exc.param, "secondary_opts", []))
        value = _raw_value(args, opts)
        shown = f" {safe_repr(value)}" if value is not None else ""
        return f"{_name(exc.param)}{shown}: {_allowed(exc.param, exc.format_message())}"
    return one_line(exc.format_message()).rstrip(".") + where


class Group(TyperGroup):
    """The ``vanishing`` app: parser errors become :func:`~vanishing.cli._common.fail` lines."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        given = list(sys.argv[1:] if args is None else args)
        errors = _errors
        try:
            code = super().main(given, prog_name, complete_var, standalone_mode=False, **extra)
        except errors.NoArgsIsHelpError:  # the help is already printed
            sys.exit(2)
        except errors.UsageError as exc:
            try:
                fail(usage_error_line(exc, given))
            except typer.Exit as done:
                sys.exit(done.exit_code)
        except errors.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except typer.Abort:
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)
