"""Reports: terminal rendering, plots of stored runs, and self-contained HTML."""

from . import plots, sweep_plots
from .html import render_compare, render_report, write_compare, write_report
from .terminal import gradient_flow_table, run_summary

__all__ = ["plots", "sweep_plots", "render_compare", "render_report", "write_compare", "write_report",
           "gradient_flow_table", "run_summary"]
