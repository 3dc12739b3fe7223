"""Named run settings shared by the demo and the playground: the classic failures and their fixes."""

from __future__ import annotations

from typing import Any

__all__ = ["DEMO_BROKEN", "DEMO_FIXED", "DEMO_RNN_BROKEN", "DEMO_RNN_FIXED"]

DEMO_BROKEN: dict[str, Any] = dict(depth=20, width=64, activation="sigmoid", init="normal:std=0.01",
                                   dataset="digits", optimizer="momentum", lr=0.01, batch_size=64, steps=600,
                                   seed=0, record_every=20)
"""The classic failure: a deep sigmoid net, weights far too small (each layer keeps ~2 % of the gradient)."""

DEMO_FIXED: dict[str, Any] = {**DEMO_BROKEN, "activation": "relu", "init": "he_normal"}
"""The same depth, repaired: ReLU with He initialisation."""

DEMO_RNN_BROKEN: dict[str, Any] = dict(model="rnn", task="adding:T=30", hidden=32, rnn_activation="tanh",
                                       optimizer="adam", lr=0.01, batch_size=64, steps=600, seed=0,
                                       record_every=50)
"""Through time: a tanh RNN on the adding problem over 30 steps, its gradient gone after a few steps."""

DEMO_RNN_FIXED: dict[str, Any] = {**DEMO_RNN_BROKEN, "model": "lstm", "rnn_activation": None}
"""The same task, sizes and training for an LSTM, which solves it (test MSE < 0.01) in the same 600 steps."""
