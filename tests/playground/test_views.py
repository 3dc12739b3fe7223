"""What the page draws, against hand computations."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from vanishing.config import RunConfig
from vanishing.data import load_dataset
from vanishing.playground.views import decision_boundary, points, theory_view, trace_rows
from vanishing.results import LayerInfo, Trace


def _trace():
    layers = [LayerInfo(f"l{i}", "Linear", (2, 2), 6) for i in range(3)]
    grad = np.array([[1e-9, 1e-3, 1.0], [np.nan, np.inf, 2.0]])
    return Trace(steps=[0, 10], layers=layers, data={"grad_norm": grad},
                 scalars={"loss": [2.5, np.nan], "test_accuracy": [0.1, 0.5]})


def test_rows_carry_each_recorded_step_input_side_first_with_nan_as_the_codec_writes_it():
    rows = trace_rows(_trace())
    assert rows == [
        {"step": 0, "grad_norm": [1e-9, 1e-3, 1.0], "loss": 2.5, "test_accuracy": 0.1},
        {"step": 10, "grad_norm": ["nan", "inf", 2.0], "loss": "nan", "test_accuracy": 0.5},
    ]
    assert trace_rows(_trace(), start=1) == rows[1:]
    assert trace_rows(_trace(), start=2) == []


def test_decision_boundary_is_the_argmax_of_the_model_on_the_grid():
    data = load_dataset("circles", seed=0)
    model = nn.Linear(2, 2)
    with torch.no_grad():  # class 1 where x > y: the boundary is the diagonal
        model.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
        model.bias.zero_()
    b = decision_boundary(model, data, resolution=9)
    x, y, label = np.array(b["x"]), np.array(b["y"]), np.array(b["label"])
    assert label.shape == (9, 9)
    lo, hi = data.x_train.min(0).values.numpy(), data.x_train.max(0).values.numpy()
    assert x[0] == pytest.approx(lo[0] - 0.25, rel=1e-6) and y[-1] == pytest.approx(hi[1] + 0.25, rel=1e-6)
    for i in range(9):
        for j in range(9):
            if abs(x[j] - y[i]) > 1e-6:
                assert label[i, j] == int(x[j] > y[i]), (i, j)
    assert model.training  # the mode is restored


def test_no_boundary_or_points_for_data_that_is_not_2d_classification():
    data = load_dataset("teacher", seed=0)
    assert decision_boundary(nn.Linear(data.in_features, data.out_features), data) is None
    assert points(data) is None
    p = points(load_dataset("spirals", seed=0), n=5)
    assert len(p["x"]) == len(p["label"]) == 5


def test_theory_of_relu_with_he_init_is_critical_and_flat():
    """ReLU: χ₁ = σ_w² · E[φ'²] = 2 · 1/2 = 1 (He et al. 2015), so no layer loses anything."""
    v = theory_view(RunConfig.make(depth=12, width=32, activation="relu", init="he_normal"), 64, 10)
    p = v["prediction"]
    assert p["phase"] == "critical" and p["chi1"] == pytest.approx(1.0, rel=1e-6)
    assert p["sigma_w2"] == pytest.approx(2.0) and len(p["log10_grad_norm"]) == 12
    assert max(abs(g) for g in p["log10_grad_norm"][1:]) < 1e-6
    assert v["phase_diagram"]["activation"] == "relu"


def test_theory_of_a_linear_net_loses_log10_of_sigma_w_per_layer():
    """φ = identity: each layer multiplies ‖∂L/∂z‖ by √σ_w² exactly (no expectation to take)."""
    sw2 = 0.25
    c = RunConfig.make(depth=6, width=16, activation="linear",
                       init=f"variance_scaling:scale={sw2},mode=fan_in,distribution=normal")
    p = theory_view(c, 16, 16)["prediction"]
    expected = [(6 - 1 - l) * math.log10(math.sqrt(sw2)) for l in range(6)]
    assert p["log10_grad_norm"] == pytest.approx(expected, abs=1e-9)
    assert p["phase"] == "ordered"


def test_no_theory_with_norm_layers_and_the_page_is_told_why():
    v = theory_view(RunConfig.make(depth=5, norm="batch"), 64, 10)
    assert v["prediction"] is None and "norm" in v["reason"]


def test_the_phase_diagram_widens_to_show_settings_beyond_its_default_range():
    """ReLU's critical σ_w² is 2 (default range to 5): σ_w² = 12 and σ_b² = 1.5 must still be on the picture."""
    c = RunConfig.make(depth=4, width=8, activation="relu", bias_init="normal:std=1.2247",
                       init="variance_scaling:scale=12,mode=fan_in,distribution=normal")
    v = theory_view(c, 8, 8)
    d, p = v["phase_diagram"], v["prediction"]
    assert p["phase"] == "chaotic"
    assert max(d["sigma_w2"]) >= 12 and max(d["sigma_b2"]) >= 1.5
