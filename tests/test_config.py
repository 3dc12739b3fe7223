import pytest

from vanishing.config import RunConfig, load_config_file, resolve_init
from vanishing.errors import ConfigError


def test_defaults_and_overrides():
    c = RunConfig.make({"depth": 5, "width": 16}, width=32, lr=None)
    assert (c.depth, c.width, c.lr) == (5, 32, 0.1)


def test_flags_round_trip_through_the_cli_parser():
    c = RunConfig.make(activation="leaky_relu:negative_slope=0.2", init="normal:std=0.01", residual=True)
    assert "--activation 'leaky_relu:negative_slope=0.2'" in c.flags()
    assert "--residual" in c.flags()


@pytest.mark.parametrize("values,match", [
    ({"depth": 0}, r"invalid depth 0; an integer >= 1"),
    ({"width": "wide"}, r"invalid width 'wide'; an integer"),
    ({"lr": 0}, r"invalid lr 0; a finite number > 0"),
    ({"lr": -0.1}, r"invalid lr -0.1"),
    ({"activation": "swish"}, r"invalid activation 'swish'; one of: sigmoid"),
    ({"init": "normal:std=-1"}, r"std -1"),
    ({"init": "normal:std"}, r"invalid init 'normal:std'"),
    ({"init": "gaussian"}, r"invalid init 'gaussian'; one of: zeros, .*, variance_scaling, critical"),
    ({"init": "critical:sigma_b2=0.1", "activation": "relu"}, r"invalid init critical sigma_b2 0.1; 0 for relu"),
    ({"init": "critical", "activation": "swish"}, r"invalid activation 'swish'"),
    ({"optimizer": "rmsprop"}, r"invalid optimizer 'rmsprop'; one of: sgd, momentum, adam"),
    ({"norm": "group"}, r"invalid norm 'group'"),
    ({"color": "red"}, r"invalid config key 'color'; one of: depth"),
    ({"steps": 0}, r"invalid steps 0"),
    ({"device": "tpu"}, r"invalid device 'tpu'"),
    ({"dataset": "cifar"}, r"invalid dataset 'cifar'; one of: digits"),
    ({"dataset": "spirals:size=3"}, r"size"),
])
def test_bad_values_are_one_line_errors(values, match):
    with pytest.raises(ConfigError, match=match) as info:
        RunConfig.make(values)
    assert "\n" not in str(info.value)


def test_critical_is_kept_as_written_and_resolved_for_the_network():
    c = RunConfig.make(activation="relu", init="critical")
    assert c.init == "critical" and "--init critical" in c.flags()
    assert c.network_init() == resolve_init("critical", "relu") == \
        "variance_scaling:scale=2.0,mode=fan_in,distribution=normal"  # He et al.'s σ_w² = 2 for ReLU
    assert RunConfig.make(init="he_normal").network_init() == "he_normal"


def test_config_file(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("depth: 4\nbias-init: normal:std=0.1\n")
    assert load_config_file(p) == {"depth": 4, "bias_init": "normal:std=0.1"}
    with pytest.raises(ConfigError, match="readable YAML"):
        load_config_file(tmp_path / "missing.yaml")
    p.write_text("depth: [1,\n")
    with pytest.raises(ConfigError, match="valid YAML"):
        load_config_file(p)
    p.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config_file(p)
