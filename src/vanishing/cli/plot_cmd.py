"""`vanishing plot`: a heatmap (or the trainability phase diagram) of a sweep store."""

from __future__ import annotations

from numbers import Real
from pathlib import Path
from typing import Any, Optional

import typer

from ..config import RunConfig
from ..errors import ConfigError
from ..experiments.store import Store
from ..report import sweep_plots
from ..theory import FIGURE_SUFFIXES
from ._common import console, handle_errors, missing

__all__ = ["register"]


def _metrics(rows: list[dict[str, Any]], flags: bool = False) -> list[str]:
    """The fields of ``rows`` that hold a number (or, with ``flags``, a yes/no such as ``solved``) and are
    not a setting of the run: what --value can draw."""
    numeric = {k for r in rows for k, v in r.items() if isinstance(v, Real) and (flags or not isinstance(v, bool))}
    return sorted(numeric - set(RunConfig.model_fields))


def plot_command(
    store: Path = typer.Argument(..., metavar="STORE", help="A results database written by `vanishing sweep --store`."),
    value: list[str] = typer.Option(..., "--value", "-v", metavar="METRIC", help="Numeric metric of each cell, e.g. vanishing_orders, final_test_accuracy (a wrong name lists those in the store); repeat for one band of panels per metric."),
    x: Optional[str] = typer.Option(None, "--x", metavar="FIELD", help="Field across (e.g. init; sigma_w2 = σ_w² read from the init spec)."),
    y: Optional[str] = typer.Option(None, "--y", metavar="FIELD", help="Field up (e.g. depth)."),
    facet: Optional[str] = typer.Option(None, "--facet", metavar="FIELD", help="One panel per value of this field."),
    where: list[str] = typer.Option([], "--where", metavar="'FIELD OP VALUE'", help="Keep runs where FIELD OP VALUE holds, e.g. depth>=10 (repeatable)."),
    sweep: Optional[str] = typer.Option(None, "--sweep", metavar="NAME", help="Only the runs of this sweep (its name)."),
    phase_diagram: bool = typer.Option(False, "--phase-diagram", help="σ_w² × depth with mean-field depth scales (Schoenholz et al. 2017); --x/--y default to sigma_w2/depth."),
    vs_length: bool = typer.Option(False, "--vs-length", help="The metric against the sequence length T of each run's task, one line per value of --by (e.g. --value solved: the fraction of seeds that solved it)."),
    by: str = typer.Option("model", "--by", metavar="FIELD", help="With --vs-length: the field that makes the lines (model, rnn_activation, recurrent_init, ...)."),
    agg: str = typer.Option("mean", "--agg", metavar="|".join(sweep_plots.AGGREGATES), help="Aggregate over the runs of a cell: " + ", ".join(sweep_plots.AGGREGATES)),
    title: Optional[str] = typer.Option(None, "--title", help="Figure title."),
    out: Path = typer.Option(..., "--out", "-o", metavar="FILE", help="Image file to write (" + ", ".join(FIGURE_SUFFIXES) + ")."),
) -> None:
    """Draw a metric of stored runs over two fields (cells average seeds and the other fields), or against
    the sequence length of their task (--vs-length)."""
    if out.suffix.lower() not in FIGURE_SUFFIXES:
        raise ConfigError("--out", str(out), "a file name ending in " + ", ".join(FIGURE_SUFFIXES))
    if agg not in sweep_plots.AGGREGATES:
        raise ConfigError("--agg", agg, list(sweep_plots.AGGREGATES))
    if vs_length and (phase_diagram or x is not None or y is not None or facet is not None):
        raise ConfigError("--vs-length", True, "alone: no --x, --y, --facet or --phase-diagram (T is across, "
                          "--by makes the lines)")
    if not phase_diagram and not vs_length and (x is None or y is None):
        missing("--x" if x is None else "--y", "a field name, e.g. depth (or use --phase-diagram)")
    if phase_diagram and facet is not None:
        raise ConfigError("--facet", facet, "no facet with --phase-diagram (select one slice with --where)")
    with Store(store, create=False) as db:
        rows = db.rows(where, sweep)
        # axes follow the order the sweep specs list their grid values in
        order: dict[str, list] = {}
        for s in db.sweeps():
            if sweep is None or s["name"] == sweep:
                for field, values in ((s.get("spec") or {}).get("grid") or {}).items():
                    order.setdefault(field, list(values))
    if rows:  # an empty selection is reported by the plot itself
        metrics = _metrics(rows, flags=vs_length)
        for name in value:
            if name not in metrics:
                raise ConfigError("--value", name, metrics)
    if vs_length:
        if len(value) != 1:
            raise ConfigError("--value", value, "one metric with --vs-length")
        from ..report.length_plots import success_vs_length

        fig = success_vs_length(rows, value[0], by=by, agg=agg, title=title)
    elif phase_diagram:
        if len(value) != 1:
            raise ConfigError("--value", value, "one metric with --phase-diagram")
        fig = sweep_plots.phase_diagram(rows, value[0], depth=y or "depth", sigma_w2=x or sweep_plots.SIGMA_W2,
                                        agg=agg, title=title)
    else:
        assert x is not None and y is not None
        fig = sweep_plots.heatmap(rows, x, y, value, facet, agg=agg, title=title, order=order)
    path = sweep_plots.save(fig, out)
    console.print(f"{len(rows)} runs plotted to [bold]{path}[/]", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("plot")(handle_errors(plot_command))
