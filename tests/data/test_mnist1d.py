"""mnist1d: the package's own generator, cached, never downloaded."""

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from vanishing.data import cache_dir, load_dataset
from vanishing.data import mnist1d as loader


@pytest.fixture(autouse=True)
def no_download(monkeypatch):
    """The package's get_dataset() is the function that can download: it must never run."""
    import mnist1d.data

    def refuse(*args, **kwargs):
        raise AssertionError("mnist1d.data.get_dataset called")

    monkeypatch.setattr(mnist1d.data, "get_dataset", refuse)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VANISHING_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_matches_the_package_generator_standardised(cache, no_network):
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = 200
    ref = make_dataset(args)
    ds = load_dataset("mnist1d:n=200")
    assert ds.x_train.shape == (160, 40) and ds.x_test.shape == (40, 40) and ds.n_classes == 10
    np.testing.assert_array_equal(ds.y_train.numpy(), ref["y"])
    np.testing.assert_array_equal(ds.y_test.numpy(), ref["y_test"])
    scaler = StandardScaler().fit(ref["x"])
    np.testing.assert_allclose(ds.x_train.numpy(), scaler.transform(ref["x"]), atol=1e-5)
    np.testing.assert_allclose(ds.x_test.numpy(), scaler.transform(ref["x_test"]), atol=1e-5)


def test_our_defaults_are_the_package_defaults():
    from mnist1d.data import get_dataset_args

    package = get_dataset_args(as_dict=True)
    package.pop("url")
    assert loader.DEFAULT_ARGS == package


def test_second_load_comes_from_the_cache(cache, monkeypatch, no_network):
    first = load_dataset("mnist1d:n=100")
    files = list(cache.glob("mnist1d-*.npz"))
    assert len(files) == 1 and cache_dir() == cache

    def fail(args):
        raise AssertionError("regenerated despite the cache")

    monkeypatch.setattr(loader, "_generate", fail)
    second = load_dataset("mnist1d:n=100")
    assert np.array_equal(first.x_train.numpy(), second.x_train.numpy())
    with pytest.raises(AssertionError, match="regenerated"):
        load_dataset("mnist1d:n=110")  # other generator args: another cache entry


def test_cache_key_covers_the_arguments(cache):
    load_dataset("mnist1d:n=100")
    load_dataset("mnist1d:n=100,shuffle_seq=true")
    assert len(list(cache.glob("mnist1d-*.npz"))) == 2


def test_corrupt_cache_file_is_regenerated(cache):
    good = load_dataset("mnist1d:n=100")
    (path,) = cache.glob("mnist1d-*.npz")
    path.write_bytes(b"not an npz")
    again = load_dataset("mnist1d:n=100")
    assert np.array_equal(good.x_test.numpy(), again.x_test.numpy())
    assert path.stat().st_size > 100


def test_unwritable_cache_only_warns(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("VANISHING_CACHE_DIR", str(blocker / "cache"))
    with pytest.warns(RuntimeWarning, match="could not cache"):
        ds = load_dataset("mnist1d:n=100")
    assert len(ds.x_train) == 80


def test_default_cache_dir_is_the_user_cache(monkeypatch):
    import platformdirs

    monkeypatch.delenv("VANISHING_CACHE_DIR")
    assert str(cache_dir()) == platformdirs.user_cache_dir("vanishing")
