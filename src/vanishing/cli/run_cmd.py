"""`vanishing run`: one experiment from flags or a YAML config."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .._io import check_writable
from ..config import RunConfig, load_config_file
from ..experiments.run import RunResult, run
from ..diagnose import Diagnosis, diagnose
from ..diagnose.render import diagnosis_renderable
from ..report.terminal import run_summary
from ._common import console, handle_errors, print_command, threads_option, training_threads
from ._progress import training_progress

__all__ = ["register", "run_with_progress"]


def _default(field: str) -> str:
    """`` [default: ...]`` of a run setting, read from :class:`RunConfig` (a flag left out takes it)."""
    value = RunConfig.model_fields[field].default
    if isinstance(value, bool):
        value = field if value else f"no-{field}"
    return f" \\[default: {value}]"  # "\\[": a bracket, not rich markup


def run_with_progress(config: RunConfig, label: str = "training") -> RunResult:
    with training_progress(label, config.steps) as update:
        return run(config, on_step=update)


def run_command(
    config_file: Optional[Path] = typer.Option(None, "--config", metavar="FILE", help="YAML file of settings (keys = these flags with underscores); flags override it."),
    depth: Optional[int] = typer.Option(None, help="Number of weight layers (hidden layers + read-out)." + _default("depth")),
    width: Optional[int] = typer.Option(None, help="Units per hidden layer." + _default("width")),
    activation: Optional[str] = typer.Option(None, metavar="SPEC", help="sigmoid, tanh, hardtanh, softsign, relu, leaky_relu[:negative_slope=..], elu[:alpha=..], selu, gelu, silu, softplus, linear." + _default("activation")),
    init: Optional[str] = typer.Option(None, metavar="SPEC", help="Weight init spec, e.g. he_normal, xavier_normal, normal:std=0.01, orthogonal:gain=1." + _default("init")),
    bias_init: Optional[str] = typer.Option(None, metavar="SPEC", help="Bias init spec, e.g. zeros, normal:std=0.2236." + _default("bias_init")),
    norm: Optional[str] = typer.Option(None, metavar="NAME", help="none, batch or layer normalisation after each hidden layer." + _default("norm")),
    residual: Optional[bool] = typer.Option(None, "--residual/--no-residual", help="Identity skip around each hidden block." + _default("residual")),
    dataset: Optional[str] = typer.Option(None, metavar="SPEC", help="digits, mnist1d, spirals, circles, teacher, idx:path=DIR." + _default("dataset")),
    optimizer: Optional[str] = typer.Option(None, metavar="NAME", help="sgd, momentum or adam." + _default("optimizer")),
    lr: Optional[float] = typer.Option(None, help="Learning rate." + _default("lr")),
    batch_size: Optional[int] = typer.Option(None, help="Mini-batch size." + _default("batch_size")),
    steps: Optional[int] = typer.Option(None, help="Optimizer steps." + _default("steps")),
    seed: Optional[int] = typer.Option(None, help="Seed for init, data order and synthetic data." + _default("seed")),
    record_every: Optional[int] = typer.Option(None, help="Record per-layer quantities every N steps (and at step 0 and the last step)." + _default("record_every")),
    device: Optional[str] = typer.Option(None, metavar="DEVICE", help="auto (cuda when available), cpu, cuda, cuda:N." + _default("device")),
    model: Optional[str] = typer.Option(None, metavar="NAME", help="mlp, or a recurrent net unrolled over time: rnn, irnn (relu, identity recurrent init), lstm, gru." + _default("model")),
    task: Optional[str] = typer.Option(None, metavar="SPEC", help="Sequence task of a recurrent model: adding:T=N, copy:T=N, mnist1d_seq, digits_seq."),
    hidden: Optional[int] = typer.Option(None, help="Hidden units per recurrent layer." + _default("hidden")),
    rnn_layers: Optional[int] = typer.Option(None, help="Stacked recurrent layers." + _default("rnn_layers")),
    rnn_activation: Optional[str] = typer.Option(None, metavar="NAME", help="tanh or relu (rnn; irnn is relu). \\[default: tanh]"),
    recurrent_init: Optional[str] = typer.Option(None, metavar="SPEC", help="Init of the recurrent weights, per gate: any init spec, orthogonal[:gain=..], identity[:gain=..]. \\[default: PyTorch's U(±1/√hidden); irnn: identity]"),
    input_init: Optional[str] = typer.Option(None, metavar="SPEC", help="Init of the input weights, per gate. \\[default: PyTorch's; irnn: normal:std=0.001]"),
    forget_bias: Optional[float] = typer.Option(None, help="LSTM forget-gate bias." + _default("forget_bias")),
    chrono: Optional[bool] = typer.Option(None, "--chrono/--no-chrono", help="LSTM chrono init (Tallec & Ollivier 2018), T_max from the task." + _default("chrono")),
    clip: Optional[float] = typer.Option(None, help="Clip the gradient's total norm to this before each update (counts the clipped steps). \\[default: off]"),
    json_path: Optional[Path] = typer.Option(None, "--json", metavar="FILE", help="Write the full result (config, summary, diagnosis, per-layer trace) as JSON here."),
    report_path: Optional[Path] = typer.Option(None, "--report", metavar="FILE", help="Also write a self-contained HTML report (plots, diagnosis, config) here."),
    try_fixes: bool = typer.Option(False, "--try-fixes", help="Re-run with the diagnosis' top 2 fixes and print before/after."),
    threads: Optional[int] = threads_option(),
) -> None:
    """Train one deep network and show how its gradients flow, layer by layer (and, for a recurrent
    --model on a --task, step by step through time)."""
    values = load_config_file(config_file) if config_file is not None else {}
    config = RunConfig.make(values, depth=depth, width=width, activation=activation, init=init,
                            bias_init=bias_init, norm=norm, residual=residual, dataset=dataset,
                            optimizer=optimizer, lr=lr, batch_size=batch_size, steps=steps, seed=seed,
                            record_every=record_every, device=device, model=model, task=task, hidden=hidden,
                            rnn_layers=rnn_layers, rnn_activation=rnn_activation, recurrent_init=recurrent_init,
                            input_init=input_init, forget_bias=forget_bias, chrono=chrono, clip=clip)
    for path, what in ((json_path, "result"), (report_path, "report")):
        if path is not None:  # before training: an unwritable path must not cost the run
            check_writable(path, what)
    with training_threads(threads, config):
        result = run_with_progress(config)
        console.print(run_summary(result))
        diagnosis = diagnose(result)
        console.print(diagnosis_renderable(diagnosis))
        if try_fixes:
            _try_fixes(config, result, diagnosis)
    if json_path is not None:
        path = result.save_json(json_path)
        console.print(f"result written to [bold]{path}[/]")
    if report_path is not None:
        from ..report.html import write_report  # matplotlib only when a report is asked for

        console.print(f"report written to [bold]{write_report(result, report_path)}[/]", highlight=False)


def _try_fixes(config: RunConfig, result: RunResult, diagnosis: Diagnosis) -> None:
    from ..diagnose.verify import before_after_table, fix_configs

    rows = [("as given", result, diagnosis)]
    for fx, fixed in fix_configs(config, diagnosis, n=2):
        after = run_with_progress(fixed, label=fx.name)
        rows.append((fx.name, after, diagnose(after)))
        if any(v is None for v in fx.changes.values()):  # back to a default: no flag says that, the whole command does
            print_command(f"{fx.name}: vanishing run {fixed.flags()}", indent="")
        else:
            print_command(f"{fx.name}: " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in fx.changes.items()),
                          indent="")
    if len(rows) == 1:
        console.print("no fix to try: the diagnosis has no config change to suggest")
    else:
        console.print(before_after_table(rows))


def register(app: typer.Typer) -> None:
    app.command("run")(handle_errors(run_command))
