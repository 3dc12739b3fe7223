"""What a page may ask for: the run config's validation first, then the server's limits."""

import pytest

from vanishing.config import RunConfig
from vanishing.data import DATASETS
from vanishing.errors import ConfigError
from vanishing.playground.limits import PLAYGROUND_DATASETS, Limits, check_config


def test_a_valid_config_is_the_run_commands_config():
    values = {"depth": 7, "width": 16, "activation": "tanh", "init": "critical:sigma_b2=0.05", "dataset": "spirals"}
    assert check_config(values, Limits()) == RunConfig.make(values)


@pytest.mark.parametrize("field,value,needle", [
    ("depth", 101, "<= 100"), ("width", 513, "<= 512"), ("steps", 5001, "<= 5000"), ("batch_size", 1025, "<= 1024"),
])
def test_past_a_limit_names_the_field_and_the_limit(field, value, needle):
    with pytest.raises(ConfigError) as e:
        check_config({field: value}, Limits())
    assert e.value.field == field and e.value.value == value and needle in e.value.allowed
    assert "--max-" in e.value.allowed  # says which server flag sets it


def test_limits_are_configurable():
    assert check_config({"depth": 150}, Limits(max_depth=200)).depth == 150


def test_the_config_models_errors_come_through_unchanged():
    with pytest.raises(ConfigError) as e:
        check_config({"activation": "nope"}, Limits())
    assert e.value.field == "activation" and "sigmoid" in e.value.allowed
    with pytest.raises(ConfigError) as e:
        check_config({"depth": 20, "colour": "red"}, Limits())
    assert e.value.field == "config key" and e.value.value == "colour"
    with pytest.raises(ConfigError):
        check_config([1, 2], Limits())


def test_every_data_set_but_the_server_side_path_one():
    assert set(PLAYGROUND_DATASETS) == set(DATASETS.names()) - {"idx"}
    with pytest.raises(ConfigError) as e:
        check_config({"dataset": "idx:path=/etc"}, Limits())
    assert e.value.field == "dataset"


@pytest.mark.parametrize("bad", [0, -1, float("nan"), True])
def test_limits_themselves_are_checked(bad):
    with pytest.raises(ConfigError):
        Limits(max_runs=bad)
