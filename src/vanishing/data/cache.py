"""An on-disk cache of generated arrays (``.npz``), keyed by the arguments that made them.

The cache lives in ``platformdirs.user_cache_dir("vanishing")``; the environment
variable ``VANISHING_CACHE_DIR`` moves it (the tests point it at a temporary folder).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

__all__ = ["cache_dir", "cached_arrays"]

ENV_VAR = "VANISHING_CACHE_DIR"


def cache_dir() -> Path:
    """Where generated data sets are kept (not created here)."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("vanishing"))


def cache_key(key: Mapping[str, Any]) -> str:
    """A short stable digest of a JSON-serialisable mapping."""
    text = json.dumps(key, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_arrays(prefix: str, key: Mapping[str, Any],
                  make: Callable[[], Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Arrays stored under ``prefix-<digest of key>.npz``; ``make()`` them on a miss.

    A file that cannot be read (partial, corrupt) counts as a miss and is rewritten.
    Writes are atomic (temporary file + rename), so parallel runs never see half a file.
    A cache folder that cannot be written only costs the regeneration next time.
    """
    path = cache_dir() / f"{prefix}-{cache_key(key)}.npz"
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        pass  # missing or unreadable: (re)generate below
    arrays = dict(make())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        warnings.warn(f"could not cache {prefix} data in {path.parent}: {exc}", RuntimeWarning, stacklevel=2)
    return arrays
