"""``idx:path=DIR``: MNIST / Fashion-MNIST in the IDX format, from files the user already has.

IDX (LeCun et al., http://yann.lecun.com/exdb/mnist/): a 4-byte magic number
``0x00 0x00 <type code> <number of dimensions>``, then each dimension as a big-endian
uint32, then the values, big-endian, in C order. Files may be gzipped.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import DataError
from ._prep import standardize
from .dataset import Arrays
from .load import Range, dataset

__all__ = ["IDX_DTYPES", "FILES", "MAX_IDX_BYTES", "read_idx", "find_idx_files"]

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

MAX_IDX_BYTES = 4 << 30
"""The most data one IDX file may hold (4 GiB; MNIST's training images are 47 MB, EMNIST's largest
set about 0.6 GB): a header claiming more is refused before anything is allocated."""

# deflate spends at least one bit per 258-byte match: no gzip stream expands more than ~1032×, so a
# header claiming more than that many times the file's size is lying (or the stream is a bomb)
_MAX_DEFLATE_RATIO = 1032


def _read(path: Path, f: BinaryIO, stored: int, gzipped: bool) -> np.ndarray:
    """Parse one IDX stream of a ``stored``-byte file; nothing beyond what the header announces
    (+1 byte, to notice trailing data) is ever read."""
    magic = f.read(4)
    if len(magic) < 4:
        raise DataError(f"idx file {path}: truncated ({len(magic)} bytes, too short for the 4-byte magic number)")
    zero, code, ndim = magic[0:2], magic[2], magic[3]
    if zero != b"\x00\x00" or code not in IDX_DTYPES:
        raise DataError(f"idx file {path}: bad magic number 0x{magic.hex()} (an IDX file starts with "
                        f"0x0000, a type code in {', '.join(f'0x{c:02x}' for c in IDX_DTYPES)}, "
                        "and the number of dimensions)")
    if ndim == 0:
        raise DataError(f"idx file {path}: bad magic number 0x{magic.hex()} (0 dimensions)")
    header = 4 + 4 * ndim
    raw_dims = f.read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DataError(f"idx file {path}: truncated header ({4 + len(raw_dims)} bytes, {ndim} dimensions "
                        f"need {header})")
    dims = struct.unpack(f">{ndim}I", raw_dims)
    dtype = IDX_DTYPES[code]
    expected = math.prod(dims) * dtype.itemsize
    # the most data the file can hold: what follows the header, or for gzip the deflate limit
    possible = stored * _MAX_DEFLATE_RATIO if gzipped else stored - header
    if expected > MAX_IDX_BYTES or (gzipped and expected > possible):
        limit = (f"the {MAX_IDX_BYTES >> 30} GiB limit" if expected > MAX_IDX_BYTES
                 else f"what {stored} gzip bytes can hold")
        raise DataError(f"idx file {path}: header claims shape {dims} of {dtype.name} ({expected} data bytes), "
                        f"more than {limit}")
    if not gzipped and possible != expected:  # known from the file's size: nothing to read
        got = possible
    else:
        data = f.read(expected + 1)
        got = len(data)
    if got != expected:
        what = "truncated" if got < expected else "longer than its header says"
        found = "more" if gzipped and got > expected else str(got)
        raise DataError(f"idx file {path}: {what} (shape {dims} of {dtype.name} needs {expected} data bytes, "
                        f"found {found})")
    return np.frombuffer(data, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in one IDX file (gzipped or not), in native byte order.

    The header's shape bounds what is read: a gzip file is decompressed only up to the size its header
    announces (plus one byte, to notice trailing data), and a header claiming more than
    :data:`MAX_IDX_BYTES`, or more than the file can hold, is refused before anything is allocated.

    Raises:
        DataError: unreadable file, bad magic number, unknown type code, a size that does not match
            the header (truncated, trailing bytes, a lying header) or broken gzip data.
    """
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            stored = os.fstat(raw.fileno()).st_size
            gzipped = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            if not gzipped:
                return _read(path, raw, stored, gzipped=False)
            with gzip.GzipFile(fileobj=raw) as f:
                return _read(path, f, stored, gzipped=True)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"idx file {path}: broken gzip data ({exc})") from None
    except OSError as exc:
        raise DataError(f"idx file {path}: cannot read it ({exc.strerror or exc})") from None


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
