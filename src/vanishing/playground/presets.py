"""The playground's preset menu: classic failures of deep nets (run A) beside their fixes (run B)."""

from __future__ import annotations

from typing import Any

from ..config import RunConfig
from ..experiments.presets import DEMO_BROKEN, DEMO_FIXED

__all__ = ["PRESETS", "PLAYGROUND_DEFAULTS", "DEFAULT_PRESET"]

PLAYGROUND_DEFAULTS: dict[str, Any] = {name: f.default for name, f in RunConfig.model_fields.items()}
"""Every run setting's default (what a field left out of a link takes)."""

_SIGMOID30 = dict(depth=30, width=32, activation="sigmoid", init="xavier_normal", dataset="spirals",
                  optimizer="momentum", lr=0.01, batch_size=64, steps=1000, seed=0, record_every=10)
_GLOROT = dict(depth=6, width=128, activation="sigmoid", init="glorot_standard", dataset="digits",
               optimizer="sgd", lr=0.1, batch_size=32, steps=600, seed=0, record_every=10)
_HE30 = dict(depth=30, width=64, activation="relu", init="xavier_normal", dataset="digits",
             optimizer="sgd", lr=0.01, batch_size=64, steps=600, seed=0, record_every=10)
# tanh at σ_b² = 0.05: critical σ_w² ≈ 1.76 (theory.critical_sigma_w2); the ordered twin has σ_w² = 0.5
_EDGE = dict(depth=50, width=64, activation="tanh", init="critical:sigma_b2=0.05", bias_init="normal:std=0.2236",
             dataset="mnist1d", optimizer="momentum", lr=0.01, batch_size=64, steps=800, seed=0, record_every=10)

PRESETS: list[dict[str, Any]] = [
    {"name": "sigmoid30", "label": "30-layer sigmoid vs its ReLU + He twin (spirals)",
     "note": "Each sigmoid layer passes on at most a quarter of the gradient (σ′ ≤ 1/4): after 29 layers "
             "almost nothing reaches the first. ReLU (φ′ = 1 where active) with He init (σ_w² = 2) keeps it.",
     "A": _SIGMOID30, "B": {**_SIGMOID30, "activation": "relu", "init": "he_normal"}},
    {"name": "demo", "label": "the demo: 20-layer sigmoid, tiny weights vs ReLU + He",
     "note": "`vanishing demo`: weights drawn with std 0.01 shrink the gradient ~50× per layer.",
     "A": DEMO_BROKEN, "B": DEMO_FIXED},
    {"name": "glorot_bengio", "label": "Glorot & Bengio (2010): sigmoid, standard init vs tanh, normalized init",
     "note": "U[-1/√n, 1/√n] with sigmoid saturates the top layer and shrinks the gradient going down; "
             "the normalized (Xavier) init keeps the variance of signal and gradient through the layers.",
     "A": _GLOROT, "B": {**_GLOROT, "activation": "tanh", "init": "xavier_uniform"}},
    {"name": "he30", "label": "He et al. (2015): 30-layer ReLU under Xavier vs He init",
     "note": "ReLU zeroes half its inputs: Xavier's σ_w² = 1 halves the variance per layer (a gain of √½), "
             "He's σ_w² = 2 makes it 1.",
     "A": _HE30, "B": {**_HE30, "init": "he_normal"}},
    {"name": "edge_of_chaos", "label": "tanh at the edge of chaos vs in the ordered phase (50 layers)",
     "note": "Poole et al. (2016), Schoenholz et al. (2017): at χ₁ = 1 gradients neither vanish nor explode; "
             "at σ_w² = 0.5 (ordered) every layer multiplies them by √χ₁ < 1.",
     "A": {**_EDGE, "init": "variance_scaling:scale=0.5,mode=fan_in,distribution=normal"}, "B": _EDGE},
]
"""Preset name, menu label, a note shown on the page, and the settings of runs A and B."""

DEFAULT_PRESET = "sigmoid30"

for _p in PRESETS:  # a preset that does not validate is a bug here, not on a page
    for _side in ("A", "B"):
        RunConfig.make(_p[_side])
