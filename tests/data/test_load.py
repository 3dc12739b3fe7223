"""The registry, the spec grammar and the Dataset contract, over every registered data set."""

import pytest
import torch

from vanishing.data import DATASETS, Dataset, check_dataset_spec, load_dataset
from vanishing.errors import ConfigError

# small but valid specs, one per data set that needs no files (idx: test_idx.py)
SPECS = {
    "digits": "digits",
    "mnist1d": "mnist1d:n=200",
    "spirals": "spirals:n=200,classes=3",
    "circles": "circles:n=200",
    "teacher": "teacher:n=100,dim=5,out=2",
}


def test_every_registered_set_is_covered():
    assert set(DATASETS.names()) == set(SPECS) | {"idx"}


@pytest.mark.parametrize("name", SPECS)
def test_contract(name, no_network):
    ds = load_dataset(SPECS[name], seed=0)
    assert isinstance(ds, Dataset) and ds.name == name
    assert ds.x_train.dtype == ds.x_test.dtype == torch.float32
    assert ds.x_train.dim() == 2 and ds.x_train.shape[1] == ds.x_test.shape[1] == ds.in_features
    assert len(ds.x_train) == len(ds.y_train) > 0 and len(ds.x_test) == len(ds.y_test) > 0
    assert torch.isfinite(ds.x_train).all() and torch.isfinite(ds.x_test).all()
    if ds.task == "classification":
        assert ds.y_train.dtype == ds.y_test.dtype == torch.int64
        assert ds.y_train.dim() == 1 and ds.out_features == ds.n_classes
        assert ds.y_train.min() >= 0 and max(ds.y_train.max(), ds.y_test.max()) < ds.n_classes
        assert 0 <= ds.majority_baseline <= 1
    else:
        assert ds.y_train.dtype == torch.float32 and ds.y_train.shape[1] == ds.out_features
        assert ds.n_classes is None and ds.majority_baseline is None
    assert ds.describe().startswith(ds.spec + ": ")
    assert check_dataset_spec(ds.spec) == ds.spec  # canonical is a fixed point


@pytest.mark.parametrize("name", SPECS)
def test_same_seed_same_data(name):
    a, b = load_dataset(SPECS[name], seed=3), load_dataset(SPECS[name], seed=3)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(a, field), getattr(b, field))


@pytest.mark.parametrize("name,depends", [("digits", False), ("mnist1d", False), ("spirals", True),
                                          ("circles", True), ("teacher", True)])
def test_seed_draws_the_sample_only_for_synthetic_sets(name, depends):
    a, b = load_dataset(SPECS[name], seed=0), load_dataset(SPECS[name], seed=1)
    assert torch.equal(a.x_train, b.x_train) != depends


def test_global_random_state_untouched():
    import random

    import numpy as np

    torch_state, np_state, py_state = torch.get_rng_state(), np.random.get_state(), random.getstate()
    for spec in SPECS.values():
        load_dataset(spec, seed=5)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert random.getstate() == py_state
    after = np.random.get_state()
    assert after[0] == np_state[0] and (after[1] == np_state[1]).all() and after[2:] == np_state[2:]


def test_describe():
    assert load_dataset("digits").describe() == "digits: 1437 train / 360 test, 64 features, 10 classes"
    assert load_dataset("teacher:n=50,out=1").describe() == "teacher:n=50: 40 train / 10 test, 10 features, 1 output"


@pytest.mark.parametrize("spec,canonical", [
    ("digits", "digits"),
    ("spirals:n=1000,classes=2", "spirals"),  # defaults dropped
    ("spirals:noise=0.3,classes=3", "spirals:classes=3,noise=0.3"),  # signature order
    ("spirals:noise=1", "spirals:noise=1.0"),
    ("mnist1d:shuffle_seq=TRUE", "mnist1d:shuffle_seq=true"),
    ("teacher:n=1e3", "teacher"),
])
def test_canonical_spec(spec, canonical):
    assert check_dataset_spec(spec) == canonical


def test_idx_path_is_made_absolute_and_kept_verbatim(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert check_dataset_spec("idx:path=007") == f"idx:path={tmp_path / '007'}"
    assert check_dataset_spec(f"idx:path={tmp_path},limit=5") == f"idx:path={tmp_path},limit=5"


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        load_dataset("cifar")
    msg = str(err.value)
    assert "cifar" in msg and all(name in msg for name in DATASETS.names())


def test_unknown_parameter_names_it_and_the_allowed_ones():
    with pytest.raises(ConfigError, match=r"'size'.*parameters allowed: n, classes, noise, turns"):
        load_dataset("spirals:size=3")
    with pytest.raises(ConfigError, match=r"'n'.*parameters allowed: none"):
        load_dataset("digits:n=3")


@pytest.mark.parametrize("spec,field,allowed", [
    ("spirals:n=-1", "dataset spirals n", "an integer >= 20"),
    ("spirals:n=1.5", "dataset spirals n", "an integer >= 20"),
    ("spirals:n=big", "dataset spirals n", "an integer"),
    ("spirals:classes=1", "dataset spirals classes", "an integer >= 2"),
    ("spirals:classes=200", "dataset spirals n", "an integer >= 2000 (10 per class)"),
    ("circles:noise=-0.1", "dataset circles noise", "a number >= 0"),
    ("circles:noise=nan", "dataset circles noise", "a number >= 0"),
    ("mnist1d:n=25", "dataset mnist1d n", "an integer >= 20 and <= 100000, a multiple of 10"),
    ("mnist1d:n=10000000", "dataset mnist1d n", "an integer >= 20 and <= 100000"),
    ("spirals:n=1000000000000", "dataset spirals n", "an integer >= 20 and <= 1000000"),
    ("circles:noise=1e308", "dataset circles noise", "a number >= 0 and <= 100"),
    ("teacher:dim=100000", "dataset teacher dim", "an integer >= 1 and <= 10000"),
    ("teacher:n=1000000,dim=10000", "dataset teacher n", "an integer <= 10000 for dim=10000"),
    ("teacher:teacher_seed=-1", "dataset teacher teacher_seed", "an integer >= 0 and <= 9223372036854775807"),
    ("mnist1d:shuffle_seq=3", "dataset mnist1d shuffle_seq", "true or false"),
    ("teacher:depth=0", "dataset teacher depth", "an integer >= 1"),
    ("idx:path=/x,limit=0", "dataset idx limit", "an integer >= 1"),
])
def test_bad_values_name_field_value_and_allowed(spec, field, allowed):
    with pytest.raises(ConfigError) as err:
        load_dataset(spec)
    assert err.value.field == field and err.value.allowed.startswith(allowed)


def test_required_parameter_and_malformed_spec():
    with pytest.raises(ConfigError, match="'path' is required"):
        load_dataset("idx")
    with pytest.raises(ConfigError, match="bad part"):
        load_dataset("spirals:n")


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_bad_seed(seed):
    with pytest.raises(ConfigError, match="seed"):
        load_dataset("spirals", seed=seed)


def test_numpy_integer_seed():
    import numpy as np

    assert torch.equal(load_dataset("circles:n=40", seed=np.int64(2)).x_train,
                       load_dataset("circles:n=40", seed=2).x_train)
