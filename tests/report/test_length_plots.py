"""Success vs sequence length from store-like rows."""

from __future__ import annotations

import numpy as np
import pytest

from vanishing.errors import ConfigError, VanishingError
from vanishing.report.length_plots import sequence_length, success_vs_length


def rows():
    out = []
    # rnn: 2/2 solved at T=10, 1/2 at 50, 0/2 at 200; lstm solves everything
    for model, solved in (("rnn", {10: [1, 1], 50: [1, 0], 200: [0, 0]}), ("lstm", {10: [1, 1], 50: [1, 1], 200: [1, 1]})):
        for t, flags in solved.items():
            for seed, flag in enumerate(flags):
                out.append({"model": model, "task": f"adding:T={t}", "seed": seed, "solved": bool(flag),
                            "score_vs_baseline": 0.01 if flag else 0.9 + 0.05 * seed})
    out.append({"model": "mlp", "task": None, "seed": 0, "solved": None, "score_vs_baseline": None})  # no task: left out
    return out


def test_fraction_solved_per_model_and_length():
    fig = success_vs_length(rows())
    ax = fig.axes[0]
    lines = {l.get_label(): l for l in ax.get_lines() if not l.get_label().startswith("_")}
    assert set(lines) == {"lstm", "rnn"}
    # drawn side by side around each T (a few % apart on the log axis), in the order of the T values
    assert list(lines["rnn"].get_xdata()) == pytest.approx([10, 50, 200], rel=0.05)
    assert list(lines["rnn"].get_ydata()) == [1.0, 0.5, 0.0]
    assert list(lines["lstm"].get_ydata()) == [1.0, 1.0, 1.0]
    assert ax.get_xscale() == "log" and "12 runs, 2 per point" in ax.get_title()
    failed = rows() + [{"model": "lstm", "task": "adding:T=200", "seed": 2, "solved": None, "score_vs_baseline": None}]
    ax = success_vs_length(failed).axes[0]
    lstm = next(l for l in ax.get_lines() if l.get_label() == "lstm")
    assert lstm.get_ydata()[-1] == pytest.approx(2 / 3)  # the failed run counts as not solved
    assert {"2/3", "2/2", "1/2", "0/2"} <= {t.get_text() for t in ax.texts}  # unequal counts: each point says its own


def test_score_vs_baseline_on_a_log_axis_with_every_run():
    fig = success_vs_length(rows(), value="score_vs_baseline", agg="median")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    rnn = next(l for l in ax.get_lines() if l.get_label() == "rnn")
    assert rnn.get_ydata()[2] == pytest.approx(np.median([0.9, 0.95]))
    assert "baseline (memoryless answer)" in [l.get_label() for l in ax.get_lines()]


def test_lengths_and_refusals():
    assert sequence_length("adding:T=100") == 100 and sequence_length("copy:T=30") == 30
    assert sequence_length("digits_seq") == 8 and sequence_length(None) is None
    with pytest.raises(ConfigError, match="agg"):
        success_vs_length(rows(), agg="mode")
    with pytest.raises(ConfigError, match="--by"):
        success_vs_length(rows(), by="colour")
    with pytest.raises(VanishingError, match="no run has a sequence task"):
        success_vs_length([{"model": "mlp", "task": None, "solved": None}])
