"""Reports: terminal rendering, plots of stored runs, and self-contained HTML.

The plotting modules (``plots``, ``sweep_plots``, ``time_plots``) and the HTML writers load matplotlib; they are
imported on first use, so the terminal reports (and every CLI command that only prints) start
without it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .terminal import gradient_flow_table, run_summary

if TYPE_CHECKING:  # what type checkers see; at run time these load on first use (see __getattr__)
    from . import plots, sweep_plots, time_plots
    from .html import render_compare, render_report, write_compare, write_report

__all__ = ["plots", "sweep_plots", "time_plots", "render_compare", "render_report", "write_compare", "write_report",
           "gradient_flow_table", "run_summary"]

_LAZY = {"plots": ("plots", None), "sweep_plots": ("sweep_plots", None), "time_plots": ("time_plots", None),
         "render_compare": ("html", "render_compare"), "render_report": ("html", "render_report"),
         "write_compare": ("html", "write_compare"), "write_report": ("html", "write_report")}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr = _LAZY[name]
    mod = importlib.import_module(f"{__name__}.{module}")
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value
