"""Sweep pictures: heatmap cells against independent means, facets, missing values, the phase diagram's
theory lines against vanishing.theory, and `vanishing plot` through the CLI runner."""

import math
import random
from collections import defaultdict

import numpy as np
import pytest
from matplotlib.patches import Rectangle
from typer.testing import CliRunner

import vanishing
from vanishing import theory
from vanishing.cli import app
from vanishing.errors import ConfigError, VanishingError
from vanishing.experiments.store import Store
from vanishing.report import sweep_plots

runner = CliRunner()

ACTS = ["tanh", "sigmoid", "relu"]  # not alphabetical: strings keep the order they appear in
INITS = ["xavier_normal", "normal:std=0.01"]
DEPTHS = [20, 5, 10]  # numbers are sorted


def _rows(seed=0, seeds=3):
    rng = random.Random(seed)
    rows = []
    for act in ACTS:
        for init in INITS:
            for depth in DEPTHS:
                for s in range(seeds):
                    rows.append({"activation": act, "init": init, "depth": depth, "width": 16, "seed": s,
                                 "lr": rng.choice([0.1, 0.01]),  # a field on no axis: averaged too
                                 "vanishing_orders": rng.uniform(-3, 6),
                                 "final_test_accuracy": rng.uniform(0, 1), "majority_baseline": 0.1,
                                 "diverged": False, "status": "done"})
    return rows


def _panels(fig):
    """Heatmap panels (not colour bars) by title."""
    return {ax.get_title(): ax for ax in fig.axes if ax.images}


def _means(rows, value, facet_value):
    cells = defaultdict(list)
    for r in rows:
        if r["activation"] == facet_value and r[value] is not None and math.isfinite(r[value]):
            cells[(r["depth"], r["init"])].append(r[value])
    return {k: sum(v) / len(v) for k, v in cells.items()}


def test_heatmap_cells_are_the_means_of_their_runs_one_panel_per_facet():
    rows = _rows()
    fig = sweep_plots.heatmap(rows, x="init", y="depth", value="vanishing_orders", facet="activation")
    panels = _panels(fig)
    assert list(panels) == [f"activation = {a}" for a in ACTS]
    for act in ACTS:
        ax = panels[f"activation = {act}"]
        img = np.ma.filled(ax.images[0].get_array(), np.nan)
        assert img.shape == (len(DEPTHS), len(INITS))
        assert [t.get_text() for t in ax.get_yticklabels()] == ["5", "10", "20"]
        assert [t.get_text() for t in ax.get_xticklabels()] == INITS
        want = _means(rows, "vanishing_orders", act)
        for i, d in enumerate(sorted(DEPTHS)):
            for j, init in enumerate(INITS):
                assert img[i, j] == pytest.approx(want[(d, init)], abs=1e-12)
    # the cells note how many runs each mean is over
    assert "each cell: mean of 3 runs" in fig.get_suptitle()


def test_one_shared_colour_scale_diverging_at_zero_for_orders_and_zero_to_one_for_accuracy():
    rows = _rows()
    fig = sweep_plots.heatmap(rows, "init", "depth", "vanishing_orders", facet="activation")
    norms = {(im.norm.vmin, im.norm.vmax) for ax in _panels(fig).values() for im in ax.images}
    assert len(norms) == 1
    lo, hi = norms.pop()
    assert lo == -hi and hi >= max(abs(r["vanishing_orders"]) for r in rows) / 2
    fig = sweep_plots.heatmap(rows, "init", "depth", "final_test_accuracy", facet="activation")
    assert {(im.norm.vmin, im.norm.vmax) for ax in _panels(fig).values() for im in ax.images} == {(0.0, 1.0)}
    colourbar = [ax for ax in fig.axes if not ax.images and ax not in _panels(fig).values()]
    assert any("majority baseline 0.10" in ax.get_ylabel() for ax in colourbar)


def test_several_metrics_stack_as_bands_each_with_its_means():
    rows = _rows()
    fig = sweep_plots.heatmap(rows, "init", "depth", ["vanishing_orders", "final_test_accuracy"], "activation")
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 2 * len(ACTS)
    tanh_acc = [ax for ax in panels if ax.get_title() == "activation = tanh"][1]
    img = np.ma.filled(tanh_acc.images[0].get_array(), np.nan)
    want = _means(rows, "final_test_accuracy", "tanh")
    assert img[0, 1] == pytest.approx(want[(5, INITS[1])])


def test_nan_and_diverged_runs_are_left_out_and_a_cell_without_values_is_hatched():
    rows = _rows(seeds=2)
    for r in rows:
        if r["activation"] == "relu" and r["depth"] == 20:
            r.update(vanishing_orders=None if r["init"] == INITS[0] else float("nan"), diverged=True)
        if r["activation"] == "tanh" and r["depth"] == 5 and r["seed"] == 0:
            r["vanishing_orders"] = float("nan")  # one of two runs: the cell is the other one
    fig = sweep_plots.heatmap(rows, "init", "depth", "vanishing_orders", "activation")
    panels = _panels(fig)
    relu = panels["activation = relu"]
    img = relu.images[0].get_array()
    assert np.ma.getmaskarray(img)[2].all() or np.isnan(np.ma.filled(img, np.nan)[2]).all()
    assert [t.get_text() for t in relu.texts].count("diverged") == 2
    assert sum(isinstance(p, Rectangle) and bool(p.get_hatch()) for p in relu.patches) == 2
    tanh = panels["activation = tanh"]
    img = np.ma.filled(tanh.images[0].get_array(), np.nan)
    (other,) = [r["vanishing_orders"] for r in rows
                if (r["activation"], r["depth"], r["init"], r["seed"]) == ("tanh", 5, INITS[0], 1)]
    assert img[0, 0] == pytest.approx(other)
    assert any("1/2 runs" in t.get_text() for t in tanh.texts)


def test_unknown_field_or_metric_names_the_allowed_ones():
    with pytest.raises(ConfigError, match="invalid value 'accuracy'.*final_test_accuracy"):
        sweep_plots.heatmap(_rows(), "init", "depth", "accuracy")
    with pytest.raises(ConfigError, match="invalid facet 'activaton'.*activation"):
        sweep_plots.heatmap(_rows(), "init", "depth", "vanishing_orders", facet="activaton")
    with pytest.raises(VanishingError, match="no runs"):
        sweep_plots.heatmap([], "init", "depth", "vanishing_orders")


# --- phase diagram ---------------------------------------------------------------------------------

SCALES = [0.5, 1.0, 1.5, 2.5, 4.0]
PD_DEPTHS = [5, 10, 30]
SIGMA_B2 = 0.05


def _pd_rows():
    rng = random.Random(1)
    return [{"activation": "tanh", "init": f"variance_scaling:scale={s}", "width": 32, "depth": d,
             "bias_init": f"normal:std={math.sqrt(SIGMA_B2)!r}", "seed": seed,
             "final_test_accuracy": rng.uniform(0, 1), "majority_baseline": 0.1, "diverged": False}
            for s in SCALES for d in PD_DEPTHS for seed in range(2)]


def test_sigma_w2_is_read_back_from_the_init_spec():
    assert sweep_plots.sigma_w2_of_row({"init": "variance_scaling:scale=1.5", "width": 64}) == pytest.approx(1.5)
    assert sweep_plots.sigma_w2_of_row({"init": "he_normal", "width": 64}) == pytest.approx(2.0)


def test_phase_diagram_cells_are_means_over_sigma_w2_and_depth():
    rows = _pd_rows()
    fig = sweep_plots.phase_diagram(rows)
    ax = fig.axes[0]
    (mesh,) = ax.collections
    img = np.asarray(mesh.get_array()).reshape(len(PD_DEPTHS), len(SCALES))
    for i, d in enumerate(PD_DEPTHS):
        for j, s in enumerate(SCALES):
            vals = [r["final_test_accuracy"] for r in rows if r["depth"] == d and r["init"].endswith(f"={s}")]
            assert img[i, j] == pytest.approx(sum(vals) / len(vals))
    assert list(ax.get_xticks()) == pytest.approx(SCALES)


def test_phase_diagram_theory_lines_equal_mean_field_depth_scales():
    fig = sweep_plots.phase_diagram(_pd_rows())
    ax = fig.axes[0]
    lines = {line.get_label().split()[0]: line for line in ax.get_lines()}
    sw = np.asarray(lines["6·ξ_c"].get_xdata())
    assert sw.min() < 1.0 and sw.max() > 4.0
    for k in range(0, len(sw), 9):
        # ξ_c = -1/ln χ_c and ξ_∇ = -1/ln χ₁ (Schoenholz et al. 2017, eqs. 8 and 15)
        xi_c = -1.0 / math.log(theory.chi_c("tanh", float(sw[k]), SIGMA_B2))
        xi_grad = -1.0 / math.log(theory.chi1("tanh", float(sw[k]), SIGMA_B2))
        assert lines["6·ξ_c"].get_ydata()[k] == pytest.approx(6 * xi_c, rel=1e-6)
        assert lines["|ξ_∇|"].get_ydata()[k] == pytest.approx(abs(xi_grad), rel=1e-6)
    crit = lines["critical"]
    assert crit.get_xdata()[0] == pytest.approx(theory.critical_sigma_w2("tanh", SIGMA_B2))
    assert crit.get_xdata()[0] == pytest.approx(1.76, abs=0.01)


def test_phase_diagram_needs_one_activation():
    rows = _pd_rows() + [{**_pd_rows()[0], "activation": "relu"}]
    with pytest.raises(VanishingError, match="one activation.*--where"):
        sweep_plots.phase_diagram(rows)


# --- CLI -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    """A store of 4 tiny real runs: sigmoid/tanh × depth 3/4."""
    path = tmp_path_factory.mktemp("store") / "runs.db"
    with Store(path) as store:
        for act in ("sigmoid", "tanh"):
            for depth in (3, 4):
                store.put(vanishing.run(vanishing.RunConfig.make(
                    depth=depth, width=8, steps=6, record_every=3, activation=act, device="cpu")))
    return path


def _one_line_error(r, *words):
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    for w in words:
        assert w in lines[0], lines[0]


def test_plot_cli_writes_a_png(store_path, tmp_path):
    out = tmp_path / "grid.png"
    r = runner.invoke(app, ["plot", str(store_path), "--x", "activation", "--y", "depth",
                            "--value", "vanishing_orders", "--value", "final_test_accuracy", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "4 runs plotted" in r.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_cli_phase_diagram_with_where(store_path, tmp_path):
    out = tmp_path / "pd.png"
    r = runner.invoke(app, ["plot", str(store_path), "--phase-diagram", "--where", "activation=tanh",
                            "--value", "final_test_accuracy", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "2 runs plotted" in r.output and out.exists()


@pytest.mark.parametrize("args, words", [
    (["--x", "activaton", "--y", "depth", "--value", "vanishing_orders"], ["activaton", "activation"]),
    (["--x", "activation", "--y", "depth", "--value", "acc"], ["acc", "final_test_accuracy"]),
    (["--y", "depth", "--value", "vanishing_orders"], ["--x"]),
    (["--x", "activation", "--y", "depth", "--value", "vanishing_orders", "--agg", "mode"], ["mode", "median"]),
    (["--x", "activation", "--y", "depth", "--value", "vanishing_orders", "--where", "depth>>3"], ["where"]),
    (["--phase-diagram", "--value", "final_test_accuracy"], ["one activation", "--where"]),
])
def test_plot_cli_bad_input_is_one_line_exit_2(store_path, tmp_path, args, words):
    r = runner.invoke(app, ["plot", str(store_path), *args, "--out", str(tmp_path / "x.png")])
    _one_line_error(r, *words)


def test_plot_cli_missing_store_and_bad_suffix(store_path, tmp_path):
    r = runner.invoke(app, ["plot", str(tmp_path / "none.db"), "--x", "activation", "--y", "depth",
                            "--value", "vanishing_orders", "--out", str(tmp_path / "x.png")])
    _one_line_error(r, "none.db")
    r = runner.invoke(app, ["plot", str(store_path), "--x", "activation", "--y", "depth",
                            "--value", "vanishing_orders", "--out", str(tmp_path / "x.txt")])
    _one_line_error(r, ".png")


def test_bands_of_orders_share_one_colour_scale():
    rows = _rows()
    for r in rows:
        r["signal_vanishing_orders"] = 3 * r["vanishing_orders"]
    fig = sweep_plots.heatmap(rows, "init", "depth", ["signal_vanishing_orders", "vanishing_orders"])
    norms = {(ax.images[0].norm.vmin, ax.images[0].norm.vmax) for ax in fig.axes if ax.images}
    assert len(norms) == 1
    cells = defaultdict(list)  # no facet: each cell averages every activation and seed
    for r in rows:
        cells[(r["depth"], r["init"])].append(r["signal_vanishing_orders"])
    widest = max(abs(sum(v) / len(v)) for v in cells.values())
    assert norms.pop() == pytest.approx((-widest, widest))


def test_order_puts_axis_values_as_the_sweep_lists_them():
    rows = _rows(seeds=1)
    fig = sweep_plots.heatmap(rows, "init", "depth", "vanishing_orders", "activation",
                              order={"init": INITS[::-1], "activation": ["relu"], "depth": [20, 10, 5]})
    panels = _panels(fig)
    assert list(panels) == ["activation = relu", "activation = tanh", "activation = sigmoid"]
    ax = panels["activation = relu"]
    assert [t.get_text() for t in ax.get_xticklabels()] == INITS[::-1]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["5", "10", "20"]  # numbers stay sorted
    img = np.ma.filled(ax.images[0].get_array(), np.nan)
    assert img[0, 0] == pytest.approx(_means(rows, "vanishing_orders", "relu")[(5, INITS[1])])


def test_plot_cli_follows_the_sweep_grid_order(tmp_path, monkeypatch):
    db = tmp_path / "s.db"
    base = "base: {depth: 3, width: 8, steps: 4, record_every: 2, device: cpu}\n"
    # sigmoid is stored first (by another sweep); the plot still follows sweep s's grid: tanh, sigmoid
    for name, grid in (("t", "[sigmoid]"), ("s", "[tanh, sigmoid]")):
        spec = tmp_path / f"{name}.yaml"
        spec.write_text(f"name: {name}\n{base}grid: {{activation: {grid}}}\n", encoding="utf-8")
        r = runner.invoke(app, ["sweep", str(spec), "--store", str(db), "--executor", "sequential"])
        assert r.exit_code == 0, r.output
    assert [row["activation"] for row in Store(db).rows()] == ["sigmoid", "tanh"]
    seen = {}
    real = sweep_plots.heatmap

    def spy(*args, **kwargs):
        fig = real(*args, **kwargs)
        seen["x"] = [t.get_text() for t in fig.axes[0].get_xticklabels()]
        return fig

    monkeypatch.setattr(sweep_plots, "heatmap", spy)
    out = tmp_path / "s.png"
    r = runner.invoke(app, ["plot", str(db), "--sweep", "s", "--x", "activation", "--y", "depth",
                            "--value", "vanishing_orders", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.exists() and seen["x"] == ["tanh", "sigmoid"]
