"""idx: small IDX files written here with struct (independently of the parser), plain and gzipped."""

import gzip
import struct

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from vanishing.data import load_dataset
from vanishing.data.idx import read_idx
from vanishing.errors import DataError

# numpy dtype → (IDX type code, struct format character)
CODES = {np.uint8: (0x08, "B"), np.int8: (0x09, "b"), np.int16: (0x0B, "h"), np.int32: (0x0C, "i"),
         np.float32: (0x0D, "f"), np.float64: (0x0E, "d")}
N_TRAIN, N_TEST = 30, 10


def idx_bytes(array: np.ndarray) -> bytes:
    code, char = CODES[array.dtype.type]
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + struct.pack(f">{array.size}{char}", *array.ravel().tolist())


def write(path, array=None, raw=None, gz=False):
    data = idx_bytes(array) if raw is None else raw
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def mnist_like(folder, gz=False, names=("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")):
    rng = np.random.default_rng(0)
    x_tr = rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8)
    x_te = rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8)
    x_tr[:, 0, 0] = 0  # a constant pixel, as MNIST's corners are
    y_tr, y_te = (np.arange(N_TRAIN) % 10).astype(np.uint8), (np.arange(N_TEST) % 10).astype(np.uint8)
    folder.mkdir(exist_ok=True)
    suffix = ".gz" if gz else ""
    for name, arr in zip(names, (x_tr, y_tr, x_te, y_te)):
        write(folder / (name + suffix), arr, gz=gz)
    return x_tr, y_tr, x_te, y_te


@pytest.mark.parametrize("gz", [False, True])
def test_loads_and_standardises(tmp_path, gz, no_network):
    x_tr, y_tr, x_te, y_te = mnist_like(tmp_path / "mnist", gz=gz)
    ds = load_dataset(f"idx:path={tmp_path / 'mnist'}")
    assert ds.name == "idx" and ds.in_features == 784 and ds.n_classes == 10
    assert ds.x_train.shape == (N_TRAIN, 784) and ds.x_test.shape == (N_TEST, 784)
    np.testing.assert_array_equal(ds.y_train.numpy(), y_tr)
    np.testing.assert_array_equal(ds.y_test.numpy(), y_te)
    flat_tr, flat_te = x_tr.reshape(N_TRAIN, -1) / 255.0, x_te.reshape(N_TEST, -1) / 255.0
    scaler = StandardScaler().fit(flat_tr)
    varying = scaler.var_ > 0
    np.testing.assert_allclose(ds.x_train.numpy()[:, varying], scaler.transform(flat_tr)[:, varying], atol=1e-5)
    np.testing.assert_allclose(ds.x_test.numpy()[:, varying], scaler.transform(flat_te)[:, varying], atol=1e-5)
    assert (ds.x_test.numpy()[:, ~varying] == 0).all()


def test_limit_takes_the_first_training_samples(tmp_path):
    x_tr, y_tr, *_ = mnist_like(tmp_path)
    ds = load_dataset(f"idx:path={tmp_path},limit=12")
    assert len(ds.x_train) == 12 and len(ds.x_test) == N_TEST
    np.testing.assert_array_equal(ds.y_train.numpy(), y_tr[:12])
    scaler = StandardScaler().fit(x_tr[:12].reshape(12, -1) / 255.0)
    varying = scaler.var_ > 0
    np.testing.assert_allclose(ds.x_train.numpy()[:, varying],
                               scaler.transform(x_tr[:12].reshape(12, -1) / 255.0)[:, varying], atol=1e-5)


def test_dotted_file_names(tmp_path):
    mnist_like(tmp_path, names=("train-images.idx3-ubyte", "train-labels.idx1-ubyte",
                                "t10k-images.idx3-ubyte", "t10k-labels.idx1-ubyte"))
    assert len(load_dataset(f"idx:path={tmp_path}").x_train) == N_TRAIN


@pytest.mark.parametrize("dtype", list(CODES))
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path, dtype, gz):
    array = (np.arange(2 * 3 * 4) - 7).reshape(2, 3, 4).astype(dtype) if dtype != np.uint8 \
        else np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    got = read_idx(write(tmp_path / "f", array, gz=gz))
    assert got.dtype == dtype and got.dtype.isnative
    np.testing.assert_array_equal(got, array)


def _one_line_about(err, *parts):
    msg = str(err.value)
    assert "\n" not in msg
    for part in parts:
        assert str(part) in msg, msg


GOOD_LABELS = np.zeros(5, np.uint8)


@pytest.mark.parametrize("raw,phrase", [
    (b"", "truncated"),
    (b"\x00\x00", "truncated"),
    (b"\x01\x00\x08\x01" + struct.pack(">I", 5) + bytes(5), "bad magic number 0x01000801"),
    (b"\x00\x00\x07\x01" + struct.pack(">I", 5) + bytes(5), "bad magic number 0x00000701"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
    (b"\x00\x00\x08\x03" + struct.pack(">I", 5), "truncated header"),
    (idx_bytes(GOOD_LABELS)[:-1], "truncated"),
    (idx_bytes(np.zeros((5, 4), np.int32))[:-3], "truncated"),
    (idx_bytes(GOOD_LABELS) + b"\x00", "longer than its header says"),
])
def test_malformed_file(tmp_path, raw, phrase):
    path = write(tmp_path / "bad", raw=raw)
    with pytest.raises(DataError) as err:
        read_idx(path)
    _one_line_about(err, path, phrase)


def test_broken_gzip(tmp_path):
    path = write(tmp_path / "bad.gz", raw=gzip.compress(idx_bytes(GOOD_LABELS))[:-6])
    with pytest.raises(DataError) as err:
        read_idx(path)
    _one_line_about(err, path, "broken gzip")


def test_missing_directory_and_not_a_directory(tmp_path):
    with pytest.raises(DataError) as err:
        load_dataset(f"idx:path={tmp_path / 'nowhere'}")
    _one_line_about(err, tmp_path / "nowhere", "no such directory")
    (tmp_path / "afile").write_text("")
    with pytest.raises(DataError) as err:
        load_dataset(f"idx:path={tmp_path / 'afile'}")
    _one_line_about(err, tmp_path / "afile", "not a directory")


def test_missing_files_are_all_named(tmp_path):
    mnist_like(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    (tmp_path / "train-images-idx3-ubyte").unlink()
    with pytest.raises(DataError) as err:
        load_dataset(f"idx:path={tmp_path}")
    _one_line_about(err, tmp_path, "missing train-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]")


@pytest.mark.parametrize("name,array,phrase", [
    ("train-labels-idx1-ubyte", np.zeros(N_TRAIN - 1, np.uint8), f"has {N_TRAIN} images but"),
    ("t10k-labels-idx1-ubyte", np.zeros(N_TEST + 1, np.uint8), f"has {N_TEST + 1} labels"),
    ("train-labels-idx1-ubyte", np.zeros((N_TRAIN, 2), np.uint8), "expected integer labels"),
    ("train-labels-idx1-ubyte", np.zeros(N_TRAIN, np.float32), "expected integer labels"),
    ("train-labels-idx1-ubyte", -np.ones(N_TRAIN, np.int8), "negative label -1"),
    ("train-images-idx3-ubyte", np.zeros(N_TRAIN, np.uint8), "expected images"),
    ("t10k-images-idx3-ubyte", np.zeros((N_TEST, 27, 28), np.uint8), "train images have 784 pixels, test images 756"),
])
def test_inconsistent_files(tmp_path, name, array, phrase):
    mnist_like(tmp_path)
    write(tmp_path / name, array)
    with pytest.raises(DataError) as err:
        load_dataset(f"idx:path={tmp_path}")
    _one_line_about(err, tmp_path, phrase)


def test_malformed_file_inside_a_folder_names_the_file(tmp_path):
    mnist_like(tmp_path, gz=True)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    write(path, raw=b"\x08\x08\x08\x08", gz=True)
    with pytest.raises(DataError) as err:
        load_dataset(f"idx:path={tmp_path}")
    _one_line_about(err, path, "bad magic number")
