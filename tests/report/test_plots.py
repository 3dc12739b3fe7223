import math

import numpy as np
import pytest
from matplotlib.figure import Figure

from vanishing.errors import ConfigError, VanishingError
from vanishing.experiments.run import RunResult
from vanishing.report import plots
from vanishing.theory import predict


def _lines(ax):
    return {line.get_label(): np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()}


def test_gradient_flow_draws_first_middle_last_step_on_log_axis(result):
    steps, g = result.trace.recorded("grad_norm")
    fig = plots.gradient_flow(result)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    lines = _lines(ax)
    for i in (0, len(steps) // 2, len(steps) - 1):
        np.testing.assert_allclose(lines[f"step {int(steps[i])}"], g[i])


def test_gradient_flow_theory_is_shifted_to_meet_the_last_layer(result):
    g0 = result.trace.recorded("grad_norm")[1][0]
    theory = _lines(plots.gradient_flow(result).axes[0])["theory at init (mean field)"]
    expected = 10 ** predict(result.trace.meta["config"]).log10_grad_norm * g0[-1]
    np.testing.assert_allclose(theory, expected)
    assert theory[-1] == pytest.approx(g0[-1])


def test_gradient_flow_without_config_has_no_theory(result):
    trace = RunResult.from_dict(result.to_dict()).trace
    trace.meta = {}
    labels = _lines(plots.gradient_flow(trace).axes[0])
    assert not any("theory" in k for k in labels)


def test_heatmap_image_is_log10_grad_norm_layers_by_steps(result):
    steps, g = result.trace.recorded("grad_norm")
    fig = plots.heatmap(result)
    img = np.asarray(fig.axes[0].get_images()[0].get_array())
    assert img.shape == (g.shape[1], len(steps))
    np.testing.assert_allclose(img, np.log10(g).T)


def test_attribution_bars_and_cumulative(result):
    _, act = result.trace.recorded("attribution_activation")
    _, w = result.trace.recorded("attribution_weights")
    fig = plots.attribution(result)
    ax, ax2 = fig.axes
    heights = np.array([p.get_height() for p in ax.patches])
    n = act.shape[1]
    lost_a, lost_w = -np.nan_to_num(act[0]), -np.nan_to_num(w[0])
    np.testing.assert_allclose(heights[:n], lost_a)
    np.testing.assert_allclose(heights[n:2 * n], lost_w)
    cumulative = ax2.get_lines()[0].get_ydata()
    assert cumulative[-1] == pytest.approx(0)
    # the first layer's gap to the read-out is everything lost above it
    assert cumulative[0] == pytest.approx((lost_a + lost_w)[1:].sum())


def test_attribution_cumulative_matches_signal_gradients(result):
    """Reference: the cumulative loss equals log10 of the measured ‖∂L/∂z‖ ratio to the read-out."""
    _, sig = result.trace.recorded("signal_grad_norm")
    cumulative = plots.attribution(result).axes[1].get_lines()[0].get_ydata()
    np.testing.assert_allclose(cumulative, np.log10(sig[0, -1] / sig[0]), atol=1e-6)


def test_update_ratio_one_line_per_layer_and_the_band(result):
    steps, r = result.trace.recorded("update_ratio")
    ax = plots.update_ratio(result).axes[0]
    assert ax.get_yscale() == "log"
    ys = [np.asarray(line.get_ydata(), float) for line in ax.get_lines()[1:]]  # [0] is the 1e-3 line
    assert len(ys) == r.shape[1]
    for l, y in enumerate(ys):
        np.testing.assert_allclose(y, np.where(r[:, l] > 0, r[:, l], np.nan))
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [1e-3, 1e-3])
    band_y = ax.patches[0].get_path().transformed(ax.patches[0].get_patch_transform()).vertices[:, 1] \
        if hasattr(ax.patches[0], "get_patch_transform") else None
    assert band_y is not None
    assert np.min(band_y) == pytest.approx(plots.UPDATE_RATIO_BAND[0])
    assert np.max(band_y) == pytest.approx(plots.UPDATE_RATIO_BAND[1])


def test_saturation_plots_what_was_recorded(result, relu_result):
    steps, sat = result.trace.recorded("saturation")
    lines = _lines(plots.saturation(result).axes[0])
    key = [k for k in lines if k.startswith("saturated") and k.endswith(f"step {int(steps[-1])}")][0]
    np.testing.assert_allclose(lines[key], sat[-1])
    steps, dead = relu_result.trace.recorded("dead_fraction")
    lines = _lines(plots.saturation(relu_result).axes[0])
    key = [k for k in lines if k.startswith("dead") and k.endswith(f"step {int(steps[0])}")][0]
    np.testing.assert_allclose(lines[key], dead[0])


def test_curves_loss_and_accuracy(result):
    fig = plots.curves(result)
    ax, ax2 = fig.axes
    steps, loss = result.trace.recorded("loss")
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), steps)
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), loss)
    _, acc = result.trace.recorded("test_accuracy")
    np.testing.assert_allclose(_lines(ax2)["test accuracy"], acc)


def test_compare_shares_the_gradient_axis(result, relu_result):
    fig = plots.compare(result, relu_result)
    top_left, top_right = fig.axes[0], fig.axes[1]
    assert top_left.get_ylim() == top_right.get_ylim()
    g_b = relu_result.trace.recorded("grad_norm")[1]
    np.testing.assert_allclose(_lines(top_right)["step 0"], g_b[0])


@pytest.mark.parametrize("name", list(plots.PLOTS))
def test_every_plot_names_the_missing_quantity(result, name):
    trace = RunResult.from_dict(result.to_dict()).trace
    trace.data.clear()
    trace.scalars.clear()
    with pytest.raises(VanishingError, match="needs '"):
        plots.PLOTS[name][1](trace)


def test_a_quantity_with_no_values_is_reported(result):
    trace = RunResult.from_dict(result.to_dict()).trace
    trace.data["grad_norm"][:] = np.nan
    with pytest.raises(VanishingError, match="no values"):
        plots.gradient_flow(trace)


def test_all_plots_builds_every_plot(result):
    out = plots.all_plots(result)
    assert [n for n, _, _ in out] == list(plots.PLOTS)
    assert all(isinstance(f, Figure) for _, _, f in out)


@pytest.mark.parametrize("suffix,magic", [(".png", b"\x89PNG"), (".svg", b"<?xml")])
def test_save_by_suffix(result, tmp_path, suffix, magic):
    path = plots.save(plots.gradient_flow(result), tmp_path / f"g{suffix}")
    assert path.read_bytes().startswith(magic)


def test_save_rejects_unknown_suffix(result, tmp_path):
    with pytest.raises(ConfigError, match="figure file"):
        plots.save(plots.gradient_flow(result), tmp_path / "g.gif")


def test_attribution_parts_with_opposite_signs_are_not_stacked(relu_result):
    """ReLU loses to φ′ while He init gains it back in W: stacked bars would hide one behind the other."""
    ax = plots.attribution(relu_result).axes[0]
    n = len(relu_result.layers)
    act, w = ax.patches[:n], ax.patches[n:2 * n]
    assert all(a.get_x() + a.get_width() <= b.get_x() + 1e-9 for a, b in zip(act, w))
    assert all(b.get_y() == 0 for b in w)


def test_gradient_flow_draws_exact_zeros_and_infinities_off_the_log_axis(result):
    import copy

    r = copy.deepcopy(result)
    steps, g = r.trace.recorded("grad_norm")
    rows = np.flatnonzero(np.isin(r.trace.steps, steps))
    r.trace.data["grad_norm"][rows[-1], :] = 0.0  # the last step: every layer exactly 0
    r.trace.data["grad_norm"][rows[0], 1] = np.inf
    ax = plots.gradient_flow(r, theory=False).axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert f"step {int(steps[-1])} (all 0)" in labels and f"step {int(steps[0])} (1 layer ±inf)" in labels
    zeros = [line for line in ax.get_lines() if line.get_marker() == "v"]
    infs = [line for line in ax.get_lines() if line.get_marker() == "x"]
    assert len(zeros) == 1 and len(zeros[0].get_xdata()) == g.shape[1]
    assert np.allclose(zeros[0].get_ydata(), 0.02)  # the bottom edge, in axes units
    assert len(infs) == 1 and np.round(infs[0].get_xdata()).tolist() == [2]
    assert any("exactly 0" in t.get_text() for t in ax.texts)


def test_heatmap_marks_exact_zeros_and_infinities(result):
    import copy

    r = copy.deepcopy(result)
    steps, g = r.trace.recorded("grad_norm")
    rows = np.flatnonzero(np.isin(r.trace.steps, steps))
    r.trace.data["grad_norm"][rows[-1], :] = 0.0
    r.trace.data["grad_norm"][rows[0], 1] = np.inf
    ax = plots.heatmap(r).axes[0]
    zeros = [line for line in ax.get_lines() if line.get_marker() == "v"]
    infs = [line for line in ax.get_lines() if line.get_marker() == "x"]
    assert zeros[0].get_xdata().tolist() == [len(steps) - 1] * g.shape[1]
    assert sorted(zeros[0].get_ydata().tolist()) == list(range(1, g.shape[1] + 1))  # layer numbers
    assert infs[0].get_xdata().tolist() == [0] and infs[0].get_ydata().tolist() == [2]
    assert any("exactly 0" in t.get_text() and "±inf" in t.get_text() for t in ax.texts)
