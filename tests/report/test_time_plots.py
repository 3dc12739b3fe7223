"""Plots through time on hand-made traces that follow the Trace.time contract."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vanishing.errors import VanishingError
from vanishing.report import time_plots
from vanishing.results import LayerInfo, Trace

T = 30
STEPS = np.array([0, 10, 20])


def make(time=None, meta=None) -> Trace:
    rows = np.stack([np.exp(-(T - 1 - np.arange(T)) / xi) for xi in (3.0, 6.0, 12.0)])
    layers = [LayerInfo("cells.0", "RNNCell", (8, 8), 144), LayerInfo("readout", "Linear", (1, 8), 9)]
    cfg = {"model": "rnn", "task": f"adding:T={T}", "hidden": 8, "rnn_activation": "tanh",
           "recurrent_init": "orthogonal"}
    return Trace(STEPS, layers, {"grad_norm": np.ones((3, 2))}, {}, {"config": cfg, **(meta or {})},
                 time={"hidden_grad_norm": rows} if time is None else time)


def test_heatmap_draws_log10_of_every_cell():
    tr = make()
    fig = time_plots.time_heatmap(tr)
    img = fig.axes[0].images[0].get_array()
    assert img.shape == (T, 3)  # time up, training steps across
    assert np.allclose(img, np.log10(tr.time["hidden_grad_norm"]).T)
    lo, hi = fig.axes[0].images[0].get_clim()
    # whole decades around the data: exp(-29/3) = 10^-4.2 is the smallest value
    assert (lo, hi) == (math.floor(-29 / 3 / math.log(10)), 0)


def test_curves_label_the_measured_time_scale_and_overlay_theory():
    tr = make(meta={"input_q": 0.25, "in_features": 2})
    fig = time_plots.time_curves(tr)
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:3] == ["step 0: ξ̂ = 3 steps, +4.2 orders", "step 10: ξ̂ = 6 steps, +2.1 orders",
                          "step 20: ξ̂ = 12 steps, +1.0 orders"]
    assert "mean-field theory at init" in labels
    assert ax.get_yscale() == "log"
    # chosen steps: the nearest recorded ones
    fig = time_plots.time_curves(tr, at=[9, 19], theory=False)
    assert [line.get_label().split(":")[0] for line in fig.axes[0].get_lines()] == ["step 10", "step 20"]


def test_zero_and_inf_are_marked_not_dropped_silently():
    rows = np.ones((3, T))
    rows[1, :4] = 0.0
    rows[2, 0] = np.inf
    fig = time_plots.time_heatmap(make(time={"hidden_grad_norm": rows}))
    assert "▼ exactly 0; ✕ ±inf" in [t.get_text() for t in fig.axes[0].texts]


def test_missing_time_axis_says_what_is_needed():
    tr = make(time={})
    with pytest.raises(VanishingError, match="hidden_grad_norm"):
        time_plots.time_heatmap(tr)
    assert time_plots.all_time_plots(tr) == []


def test_watch_time_axis_is_drawn_too(tmp_path):
    tr = make(time={"input_grad_norm_t": np.tile(np.linspace(0.1, 1.0, T), (3, 1))})
    names = [name for name, _, fig in time_plots.all_time_plots(tr) if not isinstance(fig, VanishingError)]
    assert names == ["time_heatmap", "time_curves"]
    path = time_plots.save(time_plots.time_curves(tr), tmp_path / "c.png")
    assert path.stat().st_size > 1000


def test_terminal_section_through_time():
    from rich.console import Console

    from vanishing.report.terminal_time import time_summary

    console = Console(width=120, record=True)
    console.print(time_summary(make()))
    text = console.export_text()
    assert "log10 ‖∂L/∂h_t‖ over time steps (up) and training steps (across)" in text
    assert f"t={T} (last)" in text and "t=1 (first)" in text and "time step" in text
    # the fitted numbers of the first and last recorded step, by a hand computation
    assert f"orders lost {(T - 1) / 12 / math.log(10):+.1f}" in text and "ξ̂ = 12 steps per e-fold" in text
    assert time_summary(make(time={})) is None
