"""A trace as metric rows: keys, finite values, NaN/Inf counted on the steps they were due — checked
against rows written out by hand for a hand-made trace."""

import math

import numpy as np
import pytest

from vanishing.results import LayerInfo, Trace
from vanishing.results.metrics import layer_keys, metric_key, metric_rows

nan, inf = math.nan, math.inf
LAYERS = [LayerInfo("fc1", "Linear", (4, 2), 12), LayerInfo("fc2", "Linear", (4, 4), 16),
          LayerInfo("head", "Linear", (1, 4), 4)]
E10 = "every(n=10)"


def hand_made() -> Trace:
    """Steps 0, 5, 10, 15. Most quantities every 5 steps; signal/input norms every 10 steps."""
    return Trace(
        steps=np.array([0, 5, 10, 15]),
        layers=LAYERS,
        data={
            "grad_norm": [[1e-3, 2e-2, 0.5], [inf, nan, 1.0], [nan, nan, nan], [1.0, 2.0, 3.0]],
            # fc2 has no bias: never a value, so it never counts
            "bias_grad_norm": [[0.1, nan, 0.2], [-inf, nan, 0.3], [nan, nan, nan], [0.4, nan, 0.5]],
            "nonfinite_grads": [[0, 0, 0], [3, 1, 0], [8, 16, 4], [0, 0, 0]],
            "signal_grad_norm": [[0.7, 0.8, 0.9], [nan] * 3, [nan] * 3, [nan] * 3],
            "input_grad_norm": [[0.6, 0.5, 0.4], [nan] * 3, [0.3, 0.2, 0.1], [nan] * 3],
        },
        scalars={"loss": [0.5, inf, nan, 0.25]},
        meta={"probe": {"quantities": {"grad_norm": "every(n=5)", "bias_grad_norm": "every(n=5)",
                                       "nonfinite_grads": "every(n=5)", "signal_grad_norm": E10,
                                       "input_grad_norm": E10}}},
    )


def k(q, layer):
    return f"vanishing/{q}/{layer}"


EXPECTED = [
    (0, {k("grad_norm", "01_fc1"): 1e-3, k("grad_norm", "02_fc2"): 2e-2, k("grad_norm", "03_head"): 0.5,
         k("bias_grad_norm", "01_fc1"): 0.1, k("bias_grad_norm", "03_head"): 0.2,
         k("nonfinite_grads", "01_fc1"): 0.0, k("nonfinite_grads", "02_fc2"): 0.0, k("nonfinite_grads", "03_head"): 0.0,
         k("signal_grad_norm", "01_fc1"): 0.7, k("signal_grad_norm", "02_fc2"): 0.8,
         k("signal_grad_norm", "03_head"): 0.9,
         k("input_grad_norm", "01_fc1"): 0.6, k("input_grad_norm", "02_fc2"): 0.5, k("input_grad_norm", "03_head"): 0.4,
         "vanishing/loss": 0.5,
         "vanishing/nonfinite/grad_norm": 0.0, "vanishing/nonfinite/bias_grad_norm": 0.0,
         "vanishing/nonfinite/nonfinite_grads": 0.0, "vanishing/nonfinite/signal_grad_norm": 0.0,
         "vanishing/nonfinite/input_grad_norm": 0.0, "vanishing/nonfinite/loss": 0.0, "vanishing/nonfinite/any": 0.0}),
    # inf and NaN in grad_norm (2 layers), -inf in fc1's bias (fc2 has none), an infinite loss
    (5, {k("grad_norm", "03_head"): 1.0, k("bias_grad_norm", "03_head"): 0.3,
         k("nonfinite_grads", "01_fc1"): 3.0, k("nonfinite_grads", "02_fc2"): 1.0, k("nonfinite_grads", "03_head"): 0.0,
         "vanishing/nonfinite/grad_norm": 2.0, "vanishing/nonfinite/bias_grad_norm": 1.0,
         "vanishing/nonfinite/nonfinite_grads": 0.0, "vanishing/nonfinite/loss": 1.0,
         "vanishing/nonfinite/any": 1.0}),
    # every gradient NaN: due (nonfinite_grads of the same schedule has values), so counted;
    # signal_grad_norm is due (input_grad_norm of its schedule has values) and NaN in all 3 layers
    (10, {k("nonfinite_grads", "01_fc1"): 8.0, k("nonfinite_grads", "02_fc2"): 16.0,
          k("nonfinite_grads", "03_head"): 4.0,
          k("input_grad_norm", "01_fc1"): 0.3, k("input_grad_norm", "02_fc2"): 0.2,
          k("input_grad_norm", "03_head"): 0.1,
          "vanishing/nonfinite/grad_norm": 3.0, "vanishing/nonfinite/bias_grad_norm": 2.0,
          "vanishing/nonfinite/nonfinite_grads": 0.0, "vanishing/nonfinite/signal_grad_norm": 3.0,
          "vanishing/nonfinite/input_grad_norm": 0.0, "vanishing/nonfinite/any": 1.0}),
    # signal/input norms not due at 15 (their schedule has no value there): no key at all
    (15, {k("grad_norm", "01_fc1"): 1.0, k("grad_norm", "02_fc2"): 2.0, k("grad_norm", "03_head"): 3.0,
          k("bias_grad_norm", "01_fc1"): 0.4, k("bias_grad_norm", "03_head"): 0.5,
          k("nonfinite_grads", "01_fc1"): 0.0, k("nonfinite_grads", "02_fc2"): 0.0,
          k("nonfinite_grads", "03_head"): 0.0, "vanishing/loss": 0.25,
          "vanishing/nonfinite/grad_norm": 0.0, "vanishing/nonfinite/bias_grad_norm": 0.0,
          "vanishing/nonfinite/nonfinite_grads": 0.0, "vanishing/nonfinite/loss": 0.0,
          "vanishing/nonfinite/any": 0.0}),
]


def test_rows_equal_the_hand_written_ones():
    assert metric_rows(hand_made()) == EXPECTED


def test_no_value_is_non_finite_and_none_is_lost():
    """Every finite entry of the trace is written once; every written value is finite."""
    t = hand_made()
    rows = dict(metric_rows(t))
    written = sum(1 for row in rows.values() for key, v in row.items() if "/nonfinite/" not in key)
    finite = sum(int(np.isfinite(v).sum()) for v in t.data.values()) + sum(
        int(np.isfinite(v).sum()) for v in t.scalars.values())
    assert written == finite
    assert all(math.isfinite(v) for row in rows.values() for v in row.values())


def test_rows_read_in_pieces_equal_rows_read_at_once():
    t = hand_made()
    pieces = metric_rows(t, None, 5) + metric_rows(t, 5, 11) + metric_rows(t, 11, 12) + metric_rows(t, 12, None)
    assert pieces == metric_rows(t)
    assert metric_rows(t, 16) == [] and metric_rows(t, 6, 6) == []


def test_a_due_callable_decides_which_all_nan_rows_count():
    """With the schedules known, signal_grad_norm's all-NaN row at step 5 is due too; grad_norm's at 10 is not."""
    t = hand_made()
    due = {"signal_grad_norm": {5, 10}, "input_grad_norm": {0, 10}, "grad_norm": {0, 5, 15},
           "bias_grad_norm": {0, 5, 15}, "nonfinite_grads": {0, 5, 10, 15}}
    rows = dict(metric_rows(t, due=lambda q, step: step in due[q]))
    assert rows[5]["vanishing/nonfinite/signal_grad_norm"] == 3.0
    assert "vanishing/nonfinite/grad_norm" not in rows[10]
    assert "vanishing/nonfinite/bias_grad_norm" not in rows[10]


def test_without_schedules_in_the_meta_every_quantity_shares_one():
    t = hand_made()
    t.meta = {}
    rows = dict(metric_rows(t))
    # nonfinite_grads has values at every step, so every all-NaN row is counted
    assert rows[15]["vanishing/nonfinite/signal_grad_norm"] == 3.0
    assert rows[5]["vanishing/nonfinite/input_grad_norm"] == 3.0


def test_a_nan_scalar_is_not_logged_and_an_all_nan_quantity_never_counts():
    t = Trace(np.array([0, 1]), LAYERS[:2], data={"bias_grad_norm": [[nan, nan], [nan, nan]],
                                                  "grad_norm": [[1.0, 2.0], [3.0, 4.0]]},
              scalars={"loss": [nan, 2.0]})
    rows = dict(metric_rows(t))
    assert "vanishing/loss" not in rows[0] and rows[1]["vanishing/loss"] == 2.0
    assert rows[0]["vanishing/nonfinite/bias_grad_norm"] == 0.0


@pytest.mark.parametrize("name, key", [
    ("fc1", "vanishing/grad_norm/01_fc1"),
    ("blocks.0/attn<q>", "vanishing/grad_norm/01_blocks.0_attn_q_"),
    ("", "vanishing/grad_norm/01"),
    ("..", "vanishing/grad_norm/01_.."),
    ("a:b é", "vanishing/grad_norm/01_a_b _"),
])
def test_layer_keys_keep_only_characters_every_tracker_takes(name, key):
    t = Trace(np.arange(1), [LayerInfo(name, "Linear", (1, 1), 1)])
    assert layer_keys(t, "grad_norm") == [key]


def test_keys_are_numbered_from_one_and_padded_to_the_layer_count():
    t = Trace(np.arange(1), [LayerInfo(f"l{i}", "Linear", (1, 1), 1) for i in range(120)])
    keys = layer_keys(t, "q", prefix="p")
    assert keys[0] == "p/q/001_l0" and keys[-1] == "p/q/120_l119" and keys == sorted(keys)


def test_a_part_made_of_dots_cannot_climb_out_of_its_key():
    assert metric_key("vanishing", "..", "a/b") == "vanishing/_/a_b"


def test_a_long_layer_name_keeps_its_end_within_mlflows_250_characters():
    name = "encoder." * 40 + "layers.11.attn"
    [key] = layer_keys(Trace(np.arange(1), [LayerInfo(name, "Linear", (1, 1), 1)]), "grad_norm")
    assert len(key) == 250 and key.startswith("vanishing/grad_norm/01_") and key.endswith("encoder.layers.11.attn")


def test_a_stored_result_with_non_finite_gradients_is_counted_where_they_are():
    """The v1 result fixture (grad_norm holds inf, -inf and NaN at one step): each counted at its step, the
    never-applicable dead_fraction (a tanh net) never counted, every finite value written."""
    from pathlib import Path

    from vanishing.results import RunResult

    t = RunResult.load_json(Path(__file__).parents[1] / "fixtures" / "result_v1.json").trace
    rows = dict(metric_rows(t))
    assert list(rows) == t.steps.tolist()
    inf_per_step = (~np.isfinite(t["grad_norm"])).sum(axis=1)
    assert inf_per_step.sum() > 0
    assert [rows[s]["vanishing/nonfinite/grad_norm"] for s in t.steps.tolist()] == inf_per_step.tolist()
    assert [rows[s]["vanishing/nonfinite/any"] for s in t.steps.tolist()] == (inf_per_step > 0).astype(float).tolist()
    assert all(rows[s]["vanishing/nonfinite/dead_fraction"] == 0 for s in rows)
    assert not any(k.startswith("vanishing/dead_fraction/") for row in rows.values() for k in row)
    for q, v in t.data.items():
        assert sum(1 for row in rows.values() for k in row if k.startswith(f"vanishing/{q}/")) == np.isfinite(v).sum()
