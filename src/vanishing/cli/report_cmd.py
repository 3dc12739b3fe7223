"""`vanishing report` and `vanishing compare`: one self-contained HTML file from stored results."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..config import RunConfig
from ..errors import ConfigError, VanishingError, safe_repr
from ..results import RunResult
from ._common import console, handle_errors

__all__ = ["register"]


def _load(path: Path) -> RunResult:
    """A result file whose config is also a valid run config (reports name its settings)."""
    result = RunResult.load_json(path)
    try:
        RunConfig.make(result.config)
    except ConfigError as exc:
        raise VanishingError(f"result file {safe_repr(str(path), 400)}: config: {exc}") from None
    return result


def report_command(
    result_file: Path = typer.Argument(..., metavar="RESULT.json", help="A result written by `vanishing run --json`."),
    out: Path = typer.Option(Path("report.html"), "--out", "-o", help="HTML file to write."),
    png_dir: Optional[Path] = typer.Option(None, "--png-dir", metavar="DIR", help="Also write every plot of the report as a PNG into this folder (NAME.png; a recurrent run's time_heatmap.png and time_curves.png too)."),
) -> None:
    """Write one HTML file (plots, diagnosis, config, command) for a stored run; works offline."""
    from ..report.html import write_report  # matplotlib: only when a report is written

    result = _load(result_file)
    path = write_report(result, out)
    console.print(f"report written to [bold]{path}[/]", highlight=False)
    if png_dir is not None:
        from ..report import plots, time_plots

        written = []
        for name, _, fig in [*plots.all_plots(result), *time_plots.all_time_plots(result)]:
            if not isinstance(fig, VanishingError):  # a plot the run has no data for is skipped, as in the HTML
                written.append(plots.save(fig, png_dir / f"{name}.png").name)
        console.print(f"{len(written)} plots written to [bold]{png_dir}[/]: {', '.join(written)}", highlight=False)


def compare_command(
    a: Path = typer.Argument(..., metavar="A.json", help="First result (`vanishing run --json`)."),
    b: Path = typer.Argument(..., metavar="B.json", help="Second result."),
    out: Path = typer.Option(Path("compare.html"), "--out", "-o", help="HTML file to write."),
) -> None:
    """Write one HTML file comparing two stored runs on shared scales."""
    from ..report.html import write_compare

    path = write_compare(_load(a), _load(b), out)
    console.print(f"comparison written to [bold]{path}[/]", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("report")(handle_errors(report_command))
    app.command("compare")(handle_errors(compare_command))
