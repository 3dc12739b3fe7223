"""`vanishing run`: one experiment from flags or a YAML config."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .._io import check_writable
from ..config import RunConfig, load_config_file
from ..experiments.run import RunResult, run
from ..diagnose import diagnose
from ..diagnose.render import diagnosis_renderable
from ..report.terminal import run_summary
from ._common import console, handle_errors, threads_option, training_threads
from ._progress import training_progress

__all__ = ["register", "run_with_progress"]


def run_with_progress(config: RunConfig, label: str = "training") -> RunResult:
    with training_progress(label, config.steps) as update:
        return run(config, on_step=update)


def run_command(
    config_file: Optional[Path] = typer.Option(None, "--config", help="YAML file of settings (keys = these flags with underscores); flags override it."),
    depth: Optional[int] = typer.Option(None, help="Number of weight layers (hidden layers + read-out). [default: 10]"),
    width: Optional[int] = typer.Option(None, help="Units per hidden layer. [default: 64]"),
    activation: Optional[str] = typer.Option(None, help="sigmoid, tanh, hardtanh, softsign, relu, leaky_relu[:negative_slope=..], elu[:alpha=..], selu, gelu, silu, softplus, linear. [default: sigmoid]"),
    init: Optional[str] = typer.Option(None, help="Weight init spec, e.g. he_normal, xavier_normal, normal:std=0.01, orthogonal:gain=1. [default: xavier_normal]"),
    bias_init: Optional[str] = typer.Option(None, help="Bias init spec, e.g. zeros, normal:std=0.2236. [default: zeros]"),
    norm: Optional[str] = typer.Option(None, help="none, batch or layer normalisation after each hidden layer. [default: none]"),
    residual: Optional[bool] = typer.Option(None, "--residual/--no-residual", help="Identity skip around each hidden block. [default: no]"),
    dataset: Optional[str] = typer.Option(None, help="digits, mnist1d, spirals, circles, teacher, idx:path=DIR. [default: digits]"),
    optimizer: Optional[str] = typer.Option(None, help="sgd, momentum or adam. [default: sgd]"),
    lr: Optional[float] = typer.Option(None, help="Learning rate. [default: 0.1]"),
    batch_size: Optional[int] = typer.Option(None, help="Mini-batch size. [default: 64]"),
    steps: Optional[int] = typer.Option(None, help="Optimizer steps. [default: 500]"),
    seed: Optional[int] = typer.Option(None, help="Seed for init, data order and synthetic data. [default: 0]"),
    record_every: Optional[int] = typer.Option(None, help="Record per-layer quantities every N steps (and at step 0 and the last step). [default: 10]"),
    device: Optional[str] = typer.Option(None, help="auto (cuda when available), cpu, cuda, cuda:N. [default: auto]"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the full result (config, summary, diagnosis, per-layer trace) as JSON here."),
    report_path: Optional[Path] = typer.Option(None, "--report", help="Also write a self-contained HTML report (plots, diagnosis, config) here."),
    try_fixes: bool = typer.Option(False, "--try-fixes", help="Re-run with the diagnosis' top 2 fixes and print before/after."),
    threads: Optional[int] = threads_option(),
) -> None:
    """Train one deep network and show how its gradients flow, layer by layer."""
    values = load_config_file(config_file) if config_file is not None else {}
    config = RunConfig.make(values, depth=depth, width=width, activation=activation, init=init,
                            bias_init=bias_init, norm=norm, residual=residual, dataset=dataset,
                            optimizer=optimizer, lr=lr, batch_size=batch_size, steps=steps, seed=seed,
                            record_every=record_every, device=device)
    for path, what in ((json_path, "result"), (report_path, "report")):
        if path is not None:  # before training: an unwritable path must not cost the run
            check_writable(path, what)
    with training_threads(threads, config):
        result = run_with_progress(config)
        console.print(run_summary(result))
        console.print(diagnosis_renderable(diagnose(result)))
        if try_fixes:
            _try_fixes(config, result)
    if json_path is not None:
        path = result.save_json(json_path)
        console.print(f"result written to [bold]{path}[/]")
    if report_path is not None:
        from ..report.html import write_report  # matplotlib only when a report is asked for

        console.print(f"report written to [bold]{write_report(result, report_path)}[/]", highlight=False)


def _try_fixes(config: RunConfig, result: RunResult) -> None:
    from ..diagnose.verify import before_after_table, fix_configs

    diagnosis = diagnose(result)
    rows = [("as given", result, diagnosis)]
    for fx, fixed in fix_configs(config, diagnosis, n=2):
        after = run_with_progress(fixed, label=fx.name)
        rows.append((fx.name, after, diagnose(after)))
        console.print(f"{fx.name}: " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in fx.changes.items()),
                      highlight=False)
    if len(rows) == 1:
        console.print("no fix to try: the diagnosis has no config change to suggest")
    else:
        console.print(before_after_table(rows))


def register(app: typer.Typer) -> None:
    app.command("run")(handle_errors(run_command))
