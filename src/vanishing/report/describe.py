"""One-line descriptions of a run's network, shared by the terminal summary, the HTML report and plot titles."""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["model_line", "model_title"]


def model_line(c: Mapping[str, Any]) -> str:
    """The network of a run config (a ``RunConfig.model_dump()`` dict) in one line.

    >>> model_line({"model": "lstm", "hidden": 64, "rnn_layers": 1, "chrono": True, "clip": 1.0})
    'lstm, 1 layer(s) × hidden 64, recurrent init the cell default, chrono init, clip 1'
    """
    if c.get("model", "mlp") == "mlp":
        return (f"{c.get('depth')} weight layers × width {c.get('width')}, activation {c.get('activation')}, "
                f"init {c.get('init')}, norm {c.get('norm')}, residual {'yes' if c.get('residual') else 'no'}")
    parts = [f"{c['model']}, {c.get('rnn_layers', 1)} layer(s) × hidden {c.get('hidden')}"]
    if c.get("rnn_activation"):
        parts.append(f"activation {c['rnn_activation']}")
    parts.append(f"recurrent init {c.get('recurrent_init') or 'the cell default'}")
    if c["model"] == "lstm":
        parts.append("chrono init" if c.get("chrono") else f"forget bias {c.get('forget_bias')}")
    if c.get("clip") is not None:
        parts.append(f"clip {c['clip']:g}")
    return ", ".join(parts)


def model_title(c: Mapping[str, Any]) -> str:
    """A short title: ``"10 layers, sigmoid + xavier_normal"`` or ``"lstm × 64, adding:T=100"``."""
    if c.get("model", "mlp") == "mlp":
        return f"{c.get('depth')} layers, {c.get('activation')} + {c.get('init')}"
    return f"{c['model']} × {c.get('hidden')}, {c.get('task')}"
