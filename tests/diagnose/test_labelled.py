"""A labelled set of small runs: every one must get its verdict; prints the confusion table."""

from __future__ import annotations

import collections
import warnings

import pytest

import vanishing
from vanishing import RunConfig
from vanishing.diagnose import diagnose

V, H, E, D, X = "vanishing_gradients", "healthy", "exploding_gradients", "dead_units", "divergence"
CRIT = dict(init="critical:sigma_b2=0.05", bias_init="normal:std=0.2236")

LABELLED: dict[str, tuple[str, dict]] = {
    # vanishing: saturating activations with small or Xavier init, Xavier on a deep ReLU net
    "sigmoid std=0.05 d8": (V, dict(depth=8, activation="sigmoid", init="normal:std=0.05")),
    "sigmoid xavier d12": (V, dict(depth=12, activation="sigmoid", init="xavier_normal")),
    "sigmoid xavier d8 spirals": (V, dict(depth=8, activation="sigmoid", init="xavier_normal", dataset="spirals")),
    "sigmoid xavier d10 spirals": (V, dict(depth=10, activation="sigmoid", init="xavier_normal", dataset="spirals")),
    "sigmoid he d10": (V, dict(depth=10, activation="sigmoid", init="he_normal")),
    "tanh std=0.05 d12": (V, dict(depth=12, activation="tanh", init="normal:std=0.05")),
    "tanh std=0.1 d8 spirals": (V, dict(depth=8, activation="tanh", init="normal:std=0.1", dataset="spirals")),
    "tanh std=0.08 d15": (V, dict(depth=15, activation="tanh", init="normal:std=0.08")),
    "softsign std=0.05 d10": (V, dict(depth=10, activation="softsign", init="normal:std=0.05")),
    "relu xavier d20": (V, dict(depth=20, activation="relu", init="xavier_normal")),
    # healthy: ReLU + He, tanh at its critical init, residual + norm, shallow nets
    "relu he d10": (H, dict(depth=10, activation="relu", init="he_normal")),
    "relu he d6 spirals": (H, dict(depth=6, activation="relu", init="he_normal", dataset="spirals")),
    "leaky_relu he d10": (H, dict(depth=10, activation="leaky_relu", init="he_normal")),
    "elu he d8": (H, dict(depth=8, activation="elu", init="he_normal")),
    "tanh critical d10": (H, dict(depth=10, activation="tanh", **CRIT)),
    "tanh critical d16": (H, dict(depth=16, activation="tanh", **CRIT)),
    "relu residual+layer d10": (H, dict(depth=10, activation="relu", init="he_normal", norm="layer", residual=True)),
    "relu residual+batch d10": (H, dict(depth=10, activation="relu", init="he_normal", norm="batch", residual=True)),
    "tanh residual+layer d10": (H, dict(depth=10, activation="tanh", norm="layer", residual=True)),
    "relu batch norm d10": (H, dict(depth=10, activation="relu", init="he_normal", norm="batch")),
    "sigmoid d2": (H, dict(depth=2, activation="sigmoid")),
    "tanh d3": (H, dict(depth=3, activation="tanh")),
    "relu d3 adam": (H, dict(depth=3, activation="relu", init="he_normal", optimizer="adam", lr=0.003)),
    "tanh d3 spirals": (H, dict(depth=3, activation="tanh", dataset="spirals")),
    # exploding: large init
    "tanh std=1 d10": (E, dict(depth=10, activation="tanh", init="normal:std=1.0")),
    "relu std=0.5 d10": (E, dict(depth=10, activation="relu", init="normal:std=0.5", lr=0.001)),
    "relu std=0.6 d12": (E, dict(depth=12, activation="relu", init="normal:std=0.6", lr=0.00001)),
    # dead ReLUs: negative bias, huge learning rate
    "relu bias=-1 d6": (D, dict(depth=6, activation="relu", init="he_normal", bias_init="constant:value=-1")),
    "relu bias=-1 d10 spirals": (D, dict(depth=10, activation="relu", init="he_normal", bias_init="constant:value=-1",
                                         dataset="spirals")),
    "relu bias=-2 d4": (D, dict(depth=4, activation="relu", init="he_normal", bias_init="constant:value=-2")),
    # a huge step kills units; Adam's bounded steps keep the loss finite (SGD at lr=50 dies or diverges by seed)
    "relu adam lr=1 d4": (D, dict(depth=4, activation="relu", init="he_normal", lr=1.0, optimizer="adam")),
    # divergence: NaN/Inf loss
    "relu momentum lr=100": (X, dict(depth=6, activation="relu", init="he_normal", lr=100.0, optimizer="momentum")),
    "relu std=1 d10": (X, dict(depth=10, activation="relu", init="normal:std=1.0", lr=0.1)),
    "linear std=0.5 d10": (X, dict(depth=10, activation="linear", init="normal:std=0.5", lr=0.0001)),
}
BASE = dict(width=32, steps=100, record_every=10, device="cpu", seed=0)


def _verdicts() -> dict[str, str]:
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for name, (_, kw) in LABELLED.items():
            out[name] = diagnose(vanishing.run(RunConfig.make({**BASE, **kw}))).verdict
    return out


def _confusion(got: dict[str, str]) -> str:
    labels = sorted({lab for lab, _ in LABELLED.values()} | set(got.values()))
    counts = collections.Counter((LABELLED[n][0], v) for n, v in got.items())
    w = max(len(x) for x in labels) + 2
    lines = ["label \\ verdict".ljust(w) + "".join(x[:12].rjust(14) for x in labels)]
    for a in labels:
        lines.append(a.ljust(w) + "".join(str(counts.get((a, b), 0)).rjust(14) for b in labels))
    return "\n".join(lines)


def test_labelled_set_is_large_enough():
    assert len(LABELLED) >= 30
    assert {lab for lab, _ in LABELLED.values()} == {V, H, E, D, X}


@pytest.mark.slow
def test_every_labelled_config_gets_its_verdict():
    got = _verdicts()
    print("\n" + _confusion(got))
    wrong = {n: (LABELLED[n][0], v) for n, v in got.items() if v != LABELLED[n][0]}
    assert not wrong, f"wrong verdicts (label, verdict): {wrong}"
