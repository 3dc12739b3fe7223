"""`vanishing demo`: the whole story in one command — a deep net whose gradients vanish, and its fix."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.panel import Panel
from rich.table import Table

from .._io import check_writable
from ..config import RunConfig
from ..experiments.presets import DEMO_BROKEN, DEMO_FIXED
from ..results import RunResult
from ..report.story import story
from ..report.terminal import fmt_pct, fmt_sci, gradient_flow_table, layer_labels
from ._common import console, handle_errors, print_command, threads_option, training_threads
from .run_cmd import run_with_progress

__all__ = ["register", "DEMO_BROKEN", "DEMO_FIXED"]


def _side_by_side(before: RunResult, after: RunResult) -> Table:
    t = Table(title="the two runs", title_justify="left", box=None, pad_edge=False)
    t.add_column("", style="bold")
    t.add_column(f"{before.config['activation']} + {before.config['init']}", justify="right")
    t.add_column(f"{after.config['activation']} + {after.config['init']}", justify="right")
    sb, sa = before.summary, after.summary
    rows = [
        ("first-layer ‖∂L/∂W‖ at step 0", fmt_sci(sb["first_layer_grad_norm"]), fmt_sci(sa["first_layer_grad_norm"])),
        ("last-layer ‖∂L/∂W‖ at step 0", fmt_sci(sb["last_layer_grad_norm"]), fmt_sci(sa["last_layer_grad_norm"])),
        ("weight-gradient orders (step 0)", f"{sb['vanishing_orders']:+.1f}", f"{sa['vanishing_orders']:+.1f}"),
        ("final loss", f"{sb['final_loss']:.3f}", f"{sa['final_loss']:.3f}"),
        ("final test accuracy", fmt_pct(sb["final_test_accuracy"]), fmt_pct(sa["final_test_accuracy"])),
    ]
    for r in rows:
        t.add_row(*r)
    return t


def demo_command(
    steps: int = typer.Option(DEMO_BROKEN["steps"], help="Training steps for each of the two runs."),
    seed: int = typer.Option(0, help="Seed shared by both runs."),
    json_dir: Optional[Path] = typer.Option(None, metavar="DIR", help="Also write both results as JSON into this folder."),
    report: Optional[Path] = typer.Option(Path("vanishing-demo.html"), metavar="FILE", help="HTML report comparing the two runs (plots, story, commands)."),
    no_report: bool = typer.Option(False, "--no-report", help="Do not write the HTML report."),
    threads: Optional[int] = threads_option(),
) -> None:
    """Watch gradients vanish in a 20-layer sigmoid net, then see ReLU + He init fix it (about 10 s on 2 CPU cores)."""
    broken = RunConfig.make(DEMO_BROKEN, steps=steps, seed=seed)
    fixed = RunConfig.make(DEMO_FIXED, steps=steps, seed=seed)
    if json_dir is not None:  # before training: an unwritable path must not cost the runs
        for name in ("broken", "fixed"):
            check_writable(json_dir / f"demo_{name}.json", "result")
    if report is not None and not no_report:
        check_writable(report, "report")
    console.rule("[bold]vanishing demo[/]: the vanishing gradient problem, measured")
    console.print(f"Training two {broken.depth}-layer networks on handwritten digits ({steps} steps each)…\n")
    with training_threads(threads, broken, fixed):
        before = run_with_progress(broken, f"{broken.activation} + {broken.init}")
        after = run_with_progress(fixed, f"{fixed.activation} + {fixed.init}")
    g_b, g_a = before.trace.recorded("grad_norm")[1], after.trace.recorded("grad_norm")[1]
    console.print(gradient_flow_table(
        [(f"{broken.activation}", g_b[0]), (f"{fixed.activation}", g_a[0])],
        layer_labels(g_b.shape[1]), title="gradient flow at initialisation: ‖∂L/∂W‖ per layer (log scale)"))
    console.print()
    console.print(_side_by_side(before, after))
    console.print()
    for heading, text in story(before, after):
        console.print(Panel(text, title=f"[bold]{heading}[/]", title_align="left", expand=True))
    if json_dir is not None:
        for name, res in (("broken", before), ("fixed", after)):
            path = res.save_json(json_dir / f"demo_{name}.json")
            console.print(f"{name} run written to [bold]{path}[/]")
    console.print("\nreproduce either run:")
    for command in (before.command, after.command):
        print_command(command)
    if report is not None and not no_report:
        from ..report.html import write_compare  # matplotlib only when a report is written

        title = (f"vanishing demo: {before.config['activation']} + {before.config['init']} "
                 f"vs {after.config['activation']} + {after.config['init']}")
        path = write_compare(before, after, report, story=story(before, after), title=title)
        console.print(f"\nreport written to [bold]{path.resolve()}[/] (open it in a browser; it works offline)",
                      highlight=False)


def register(app: typer.Typer) -> None:
    app.command("demo")(handle_errors(demo_command))
