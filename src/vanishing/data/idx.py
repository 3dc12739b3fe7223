"""``idx:path=DIR``: MNIST / Fashion-MNIST in the IDX format, from files the user already has.

IDX (LeCun et al., http://yann.lecun.com/exdb/mnist/): a 4-byte magic number
``0x00 0x00 <type code> <number of dimensions>``, then each dimension as a big-endian
uint32, then the values, big-endian, in C order. Files may be gzipped.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from ._prep import standardize
from .dataset import Arrays
from .load import Range, dataset

__all__ = ["IDX_DTYPES", "FILES", "read_idx", "find_idx_files"]

# type code → big-endian numpy dtype
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"idx file {path}: cannot read it ({exc.strerror or exc})") from None
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"idx file {path}: broken gzip data ({exc})") from None


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in one IDX file (gzipped or not), in native byte order.

    Raises:
        DataError: unreadable file, bad magic number, unknown type code, or a size that
            does not match the header (truncated or trailing bytes).
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataError(f"idx file {path}: truncated ({len(raw)} bytes, too short for the 4-byte magic number)")
    zero, code, ndim = raw[0:2], raw[2], raw[3]
    if zero != b"\x00\x00" or code not in IDX_DTYPES:
        raise DataError(f"idx file {path}: bad magic number 0x{raw[:4].hex()} (an IDX file starts with "
                        f"0x0000, a type code in {', '.join(f'0x{c:02x}' for c in IDX_DTYPES)}, "
                        "and the number of dimensions)")
    if ndim == 0:
        raise DataError(f"idx file {path}: bad magic number 0x{raw[:4].hex()} (0 dimensions)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"idx file {path}: truncated header ({len(raw)} bytes, {ndim} dimensions need {header})")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = IDX_DTYPES[code]
    expected = math.prod(dims) * dtype.itemsize
    got = len(raw) - header
    if got != expected:
        what = "truncated" if got < expected else "longer than its header says"
        raise DataError(f"idx file {path}: {what} (shape {dims} of {dtype.name} needs {expected} data bytes, "
                        f"found {got})")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _candidates(base: str) -> list[str]:
    dotted = base.replace("-idx", ".idx")  # the spelling of some mirrors, e.g. train-images.idx3-ubyte
    return [base, base + ".gz", dotted, dotted + ".gz"]


def find_idx_files(directory: Path) -> dict[str, Path]:
    """The four MNIST-layout files in ``directory`` (plain or ``.gz``); DataError naming what is missing."""
    if not directory.exists():
        raise DataError(f"idx path {directory}: no such directory")
    if not directory.is_dir():
        raise DataError(f"idx path {directory}: not a directory (give the folder holding the IDX files)")
    found, missing = {}, []
    for role, base in FILES.items():
        hit = next((directory / c for c in _candidates(base) if (directory / c).is_file()), None)
        if hit is None:
            missing.append(f"{base}[.gz]")
        else:
            found[role] = hit
    if missing:
        raise DataError(f"idx path {directory}: missing {', '.join(missing)}")
    return found


def _images(path: Path) -> np.ndarray:
    x = read_idx(path)
    if x.ndim < 2:
        raise DataError(f"idx file {path}: expected images (count, rows, cols), found shape {x.shape}")
    flat = x.reshape(len(x), -1)
    # bytes are pixel intensities: scale to [0, 1] before standardising
    return flat.astype(np.float32) / 255.0 if x.dtype == np.uint8 else flat.astype(np.float32)


def _labels(path: Path) -> np.ndarray:
    y = read_idx(path)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataError(f"idx file {path}: expected integer labels (count,), found {y.dtype.name} of shape {y.shape}")
    if len(y) and y.min() < 0:
        raise DataError(f"idx file {path}: negative label {int(y.min())}")
    return y.astype(np.int64)


def _pair(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    x, y = _images(images), _labels(labels)
    if len(x) != len(y):
        raise DataError(f"idx path {images.parent}: {images.name} has {len(x)} images but "
                        f"{labels.name} has {len(y)} labels")
    return x, y


@dataset("idx", limit=Range(lo=1))
def idx(seed: int, path: Path, limit: int | None = None) -> Arrays:
    """MNIST-layout IDX files in folder ``path`` (e.g. MNIST, Fashion-MNIST), 784 features.

    Pixels are scaled to [0, 1], then standardised with training statistics. ``limit`` keeps the
    first ``limit`` training samples (all if there are fewer); the test set stays whole.
    """
    files = find_idx_files(path)
    x_tr, y_tr = _pair(files["train_images"], files["train_labels"])
    x_te, y_te = _pair(files["test_images"], files["test_labels"])
    if x_tr.shape[1] != x_te.shape[1]:
        raise DataError(f"idx path {path}: train images have {x_tr.shape[1]} pixels, test images {x_te.shape[1]}")
    if len(x_tr) == 0:
        raise DataError(f"idx path {path}: {files['train_images'].name} holds no images")
    if limit is not None:
        x_tr, y_tr = x_tr[:limit], y_tr[:limit]
    n_classes = int(max(y_tr.max(), y_te.max(initial=0))) + 1
    x_tr, x_te = standardize(x_tr, x_te)
    return Arrays(x_tr, y_tr, x_te, y_te, n_classes=n_classes)
