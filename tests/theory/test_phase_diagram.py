import numpy as np
import pytest

from vanishing.errors import ConfigError
from vanishing.theory import chi1, phase_diagram, plot_phase_diagram


def test_grid_agrees_with_pointwise_theory():
    d = phase_diagram("tanh", sigma_w2_max=3.0, sigma_b2_max=0.5, resolution=(6, 4))
    assert d.chi1.shape == (4, 6) and d.depth_scale.shape == (4, 6)
    for i, j in [(0, 0), (2, 3), (3, 5)]:
        assert d.chi1[i, j] == pytest.approx(chi1("tanh", d.sigma_w2[j], d.sigma_b2[i]), rel=1e-8)
    assert len(d.critical) == 25 and d.critical[0].tolist() == pytest.approx([1.0, 0.0])
    for sw, sb in d.critical[::6]:
        assert chi1("tanh", sw, sb) == pytest.approx(1.0, rel=1e-9)


def test_relu_has_one_critical_point_and_default_range():
    d = phase_diagram("relu", resolution=(5, 3))
    assert d.critical.tolist() == [[2.0, 0.0]]
    assert d.sigma_w2[-1] == pytest.approx(5.0)  # 2.5 × the critical σ_w²


def test_plot(tmp_path):
    d = phase_diagram("gelu", resolution=(5, 4))
    path = plot_phase_diagram(d, tmp_path / "sub" / "gelu.png", mark=(1.5, 0.3))
    assert path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ConfigError, match="invalid out .*x.jpg'; a file name ending in .png, .svg, .pdf"):
        plot_phase_diagram(d, tmp_path / "x.jpg")


@pytest.mark.parametrize("kwargs,match", [
    (dict(sigma_w2_max=-1.0), "invalid sigma_w2_max -1.0"),
    (dict(sigma_b2_max=float("inf")), "invalid sigma_b2_max inf"),
    (dict(resolution=(1, 5)), "invalid resolution"),
])
def test_bad_ranges(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        phase_diagram("tanh", **kwargs)
