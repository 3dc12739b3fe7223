"""`vanishing theory`: mean-field predictions for one activation and weight/bias variance."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from ..errors import ConfigError
from ..results import codec
from ..theory import (
    FIGURE_SUFFIXES,
    MeanField,
    critical_sigma_w2,
    mean_field,
    phase_diagram,
    plot_phase_diagram,
)
from ..activations import get_activation
from ._common import console, handle_errors, missing

__all__ = ["register"]


def _fmt(x: float | None, digits: int = 4) -> str:
    if x is None:
        return "—"
    return "∞" if math.isinf(x) else f"{x:.{digits}g}"


def _critical_or_none(activation: str, sigma_b2: float) -> float | None:
    try:
        return critical_sigma_w2(activation, sigma_b2)
    except ConfigError:
        return None


def _orders_lost(mf: MeanField, depth: int) -> float:
    """log10 of the gradient-norm ratio read-out / first layer over ``depth - 1`` layers at q*."""
    return -0.5 * (depth - 1) * math.log10(mf.chi1) if mf.chi1 > 0 else math.inf


def _sentence(mf: MeanField, depth: int | None, crit: float | None) -> str:
    per_layer = 0.5 * math.log10(mf.chi1) if mf.chi1 > 0 else -math.inf
    if mf.phase == "critical":
        text = "critical: gradients keep their size with depth"
        if abs(mf.depth_scale) < 1e6:
            text += f" (they change e-fold only over {abs(mf.depth_scale):.3g} layers)"
    else:
        verb = "shrink" if mf.phase == "ordered" else "grow"
        text = f"{mf.phase} phase: gradient norms {verb} by 10^{per_layer:.3g} (×{10 ** per_layer:.3g}) per layer"
        if depth is not None:
            orders = _orders_lost(mf, depth)
            text += (f"; over {depth} layers expect {abs(orders):.1f} orders of magnitude "
                     f"{'lost' if orders >= 0 else 'gained'}")
    if crit is None:
        return text + f"; {mf.activation} has no critical σ_w² at σ_b²={mf.sigma_b2:g}."
    return text + f"; critical σ_w² for σ_b²={mf.sigma_b2:g} is {crit:.3g}."


def _record(mf: MeanField, depth: int | None, crit: float | None, with_critical: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "activation": mf.activation, "sigma_w2": mf.sigma_w2, "sigma_b2": mf.sigma_b2,
        "q_star": mf.q_star, "chi1": mf.chi1, "depth_scale": mf.depth_scale,
        "phase": mf.phase, "c_star": mf.c_star, "chi_c": mf.chi_c, "xi_c": mf.xi_c,
    }
    if depth is not None:
        out["depth"] = depth
        out["orders_lost"] = _orders_lost(mf, depth)
    if with_critical:
        out["sigma_w2_critical"] = crit
    return out


def _quantity_table(title: str) -> Table:
    """A (quantity, value, meaning) table without a header."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("quantity", style="bold")
    table.add_column("value", justify="right")
    table.add_column("meaning", style="dim")
    return table


def _table(mf: MeanField, depth: int | None, crit: float | None) -> Table:
    table = _quantity_table(f"mean-field theory: {mf.activation}")
    table.add_row("σ_w²", _fmt(mf.sigma_w2), "weight variance × fan-in")
    table.add_row("σ_b²", _fmt(mf.sigma_b2), "bias variance")
    table.add_row("q*", _fmt(mf.q_star), "pre-activation variance, fixed point")
    table.add_row("χ₁", _fmt(mf.chi1), "per-layer factor on ‖grad‖²")
    table.add_row("ξ_∇", _fmt(mf.depth_scale), "layers per e-fold of ‖grad‖² (< 0: grows)")
    table.add_row("phase", mf.phase, "ordered: vanishing, chaotic: exploding")
    if mf.phase == "chaotic":
        table.add_row("c*", _fmt(mf.c_star), "correlation of two inputs, fixed point")
        table.add_row("ξ_c", _fmt(mf.xi_c), "layers over which inputs decorrelate")
    if depth is not None:
        table.add_row(f"orders lost ({depth} layers)", _fmt(_orders_lost(mf, depth), 3),
                      "log10 ‖grad‖ read-out / first layer")
    table.add_row("critical σ_w²", _fmt(crit), f"χ₁ = 1 at σ_b² = {mf.sigma_b2:g}")
    return table


def theory_command(
    activation: str = typer.Option("tanh", "--activation", "-a", metavar="SPEC", help="sigmoid, tanh, hardtanh, softsign, relu, leaky_relu[:negative_slope=..], elu[:alpha=..], selu, gelu, silu, softplus[:beta=..], linear."),
    sigma_w2: Optional[float] = typer.Option(None, "--sigma-w2", help="σ_w² = weight variance × fan-in (he_normal: 2, lecun/xavier on a square layer: 1)."),
    sigma_b2: float = typer.Option(0.0, "--sigma-b2", help="σ_b² = bias variance."),
    depth: Optional[int] = typer.Option(None, "--depth", help="Also predict the orders of magnitude lost over this many weight layers."),
    critical: bool = typer.Option(False, "--critical", help="Find the σ_w² at which χ₁ = 1 for this σ_b² (analysed there unless --sigma-w2 is given)."),
    as_json: bool = typer.Option(False, "--json", help="Print the numbers as one JSON object on stdout instead of a table (infinite → 'inf', as in every JSON file of vanishing)."),
    diagram: bool = typer.Option(False, "--phase-diagram", help="Draw the (σ_w², σ_b²) plane: depth scale heatmap and critical line (needs --out)."),
    out: Optional[Path] = typer.Option(None, "--out", metavar="FILE", help="Figure file for --phase-diagram: .png, .svg or .pdf."),
    rnn: bool = typer.Option(False, "--rnn", help="Through time: a vanilla RNN whose recurrent weights have this σ_w²; the time steps play the layers (Chen, Pennington & Schoenholz 2018)."),
    input_var: float = typer.Option(0.0, "--input-var", metavar="V", help="With --rnn: σ_u²·q_x, the variance each step's input adds to the pre-activations (input weights' σ_u² × the inputs' mean square)."),
    length: Optional[int] = typer.Option(None, "--length", metavar="T", help="With --rnn: also predict the orders of magnitude lost over T time steps."),
) -> None:
    """Predict from mean-field theory whether gradients vanish, explode or flow, before training."""
    get_activation(activation)  # a wrong value is reported before a missing one
    if rnn:
        _rnn(activation, sigma_w2, sigma_b2, input_var, length, as_json)
        return
    for flag, given in (("--input-var", input_var != 0.0), ("--length", length is not None)):
        if given:
            raise ConfigError(flag, input_var if flag == "--input-var" else length, "only with --rnn")
    figure = "a figure file ending in " + ", ".join(FIGURE_SUFFIXES)
    if diagram:
        if out is None:
            missing("--out", f"--phase-diagram draws {figure}")
        if out.suffix.lower() not in FIGURE_SUFFIXES:
            raise ConfigError("out", str(out), figure)
        mark = None if sigma_w2 is None else (sigma_w2, sigma_b2)
        path = plot_phase_diagram(phase_diagram(activation), out, mark=mark)
        console.print(f"phase diagram written to [bold]{path}[/]")
        return
    if depth is not None and depth < 1:
        raise ConfigError("depth", depth, "an integer >= 1")
    crit = critical_sigma_w2(activation, sigma_b2) if critical else None
    if sigma_w2 is None and crit is None:
        missing("--sigma-w2", "a number >= 0 (or use --critical or --phase-diagram)")
    mf = mean_field(activation, crit if sigma_w2 is None else sigma_w2, sigma_b2)
    if not critical:
        crit = _critical_or_none(mf.activation, mf.sigma_b2)
    if as_json:
        typer.echo(codec.dumps(_record(mf, depth, crit, critical)))
        return
    console.print(_table(mf, depth, crit))
    console.print(_sentence(mf, depth, crit), highlight=False, soft_wrap=True)


def _rnn(activation: str, sigma_w2: float | None, sigma_b2: float, input_var: float, length: int | None,
         as_json: bool) -> None:
    from ..theory.recurrent import predict_recurrent

    if sigma_w2 is None:
        missing("--sigma-w2", "a number >= 0: the recurrent weights' variance × hidden size (orthogonal: 1)")
    if length is not None and length < 2:
        raise ConfigError("length", length, "an integer >= 2 (time steps)")
    p = predict_recurrent(activation, sigma_w2, sigma_b2, sigma_u2=1.0, input_q=input_var)
    orders = p.orders_through_time(length) if length is not None else None
    if as_json:
        record = {k: v for k, v in p.to_dict().items() if k not in ("q", "log10_grad_norm", "sigma_u2", "input_q")}
        record.update(input_var=input_var, reach=p.reach(1e-6), reach_threshold=1e-6)
        if length is not None:
            record.update(length=length, orders_through_time=orders)
        typer.echo(codec.dumps(record))
        return
    table = _quantity_table(f"mean-field theory through time: vanilla {p.activation} RNN")
    table.add_row("σ_w²", _fmt(p.sigma_w2), "recurrent weight variance × hidden size")
    table.add_row("σ_u² q_x + σ_b²", _fmt(p.sigma_b2_effective), "variance the input and bias add per step")
    table.add_row("q*", _fmt(p.q_star), "pre-activation variance, fixed point")
    table.add_row("χ₁", _fmt(p.chi1), "per-step factor on ‖∂L/∂h_t‖²")
    table.add_row("ξ", _fmt(p.xi), "time steps per e-fold of ‖∂L/∂h_t‖ (< 0: grows)")
    table.add_row("reach", _fmt(p.reach(1e-6)), "time steps back before ‖∂L/∂h_t‖ falls to 1e-6")
    table.add_row("phase", p.phase, "ordered: vanishing, chaotic: exploding")
    if orders is not None:
        table.add_row(f"orders lost ({length} steps)", _fmt(orders, 3), "log10 ‖∂L/∂h_t‖ last / first time step")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("theory")(handle_errors(theory_command))
