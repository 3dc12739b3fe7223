"""The one JSON codec of vanishing: result files, trace dicts and the results store all use it.

Convention: JSON has no NaN or infinity, so a non-finite float is written as the string ``"nan"``,
``"inf"`` or ``"-inf"``; ``null`` is ``None`` (a value that does not exist), never a number. NaN, +inf,
-inf and None therefore round-trip distinctly, and every file is strict JSON (RFC 8259) that any
parser reads; numpy arrays and scalars are written as lists and plain numbers.

Reading also accepts what earlier versions wrote: ``null`` inside a float array is NaN (trace dicts
wrote NaN as ``null``), and the non-standard tokens ``NaN``/``Infinity`` are parsed as floats.

>>> dumps({"loss": float("nan"), "gain": [1.0, float("inf")], "step": None})
'{"loss": "nan", "gain": [1.0, "inf"], "step": null}'
>>> loads('{"gain": [1.0, "-inf"]}')
{'gain': [1.0, -inf]}
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

__all__ = ["encode", "decode", "dumps", "loads", "float_array", "nesting_depth", "NONFINITE"]

NONFINITE: dict[str, float] = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _float(x: float) -> float | str:
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def encode(v: Any) -> Any:
    """A JSON-ready copy of ``v``: non-finite floats → ``"nan"``/``"inf"``/``"-inf"``, numpy → Python."""
    if isinstance(v, dict):
        return {str(k): encode(x) for k, x in v.items()}
    if isinstance(v, np.ndarray):
        if v.dtype.kind != "f":
            return encode(v.tolist())
        finite = np.isfinite(v)
        if finite.all():
            return v.tolist()
        # vectorised: traces are full of NaN (steps where a quantity was not recorded)
        out = v.astype(np.float64).astype(object)
        out[np.isnan(v)] = "nan"
        out[v == np.inf] = "inf"
        out[v == -np.inf] = "-inf"
        return out.tolist()
    if isinstance(v, (list, tuple)):
        return [encode(x) for x in v]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return _float(float(v))
    return v


def decode(v: Any) -> Any:
    """Inverse of :func:`encode`: the strings ``"nan"``, ``"inf"``, ``"-inf"`` become floats."""
    if isinstance(v, dict):
        return {k: decode(x) for k, x in v.items()}
    if isinstance(v, list):
        return [decode(x) for x in v]
    if isinstance(v, str) and v in NONFINITE:
        return NONFINITE[v]
    return v


def dumps(v: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`encode` (``kwargs``: ``indent``, ``sort_keys``, ...); always strict JSON."""
    try:  # one pass when there is nothing to encode (e.g. a dict that encode() already made)
        return json.dumps(v, allow_nan=False, default=_plain, **kwargs)
    except ValueError:  # a non-finite float somewhere
        return json.dumps(encode(v), allow_nan=False, **kwargs)


def _plain(v: Any) -> Any:
    """What ``json`` cannot write itself (numpy arrays and scalars other than float64), encoded."""
    if isinstance(v, (np.ndarray, np.generic)):
        return encode(v)
    raise TypeError(f"Object of type {type(v).__name__} is not JSON serializable")


def loads(text: str | bytes) -> Any:
    """``json.loads`` then :func:`decode`."""
    return decode(json.loads(text))


def nesting_depth(v: Any, limit: int) -> int:
    """How deep lists and dicts nest in ``v`` (a scalar: 0, ``[1]``: 1), counted without recursion;
    stops and returns ``limit + 1`` as soon as that depth is passed."""
    deepest = 0
    stack = [(v, 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, (list, dict)):
            continue
        if depth > limit:
            return limit + 1
        deepest = max(deepest, depth)
        stack.extend((x, depth + 1) for x in (node.values() if isinstance(node, dict) else node)
                     if isinstance(x, (list, dict)))
    return deepest


def float_array(v: Any) -> np.ndarray:
    """A (nested) list as written by :func:`encode` → float64 array; ``None`` (older files) → NaN."""
    def conv(x: Any) -> Any:
        if isinstance(x, list):
            return [conv(y) for y in x]
        if x is None:
            return math.nan
        if isinstance(x, str):
            return NONFINITE[x] if x in NONFINITE else float(x)
        return x

    return np.asarray(conv(v), dtype=np.float64)
