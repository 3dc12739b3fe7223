"""The probe's record: numpy arrays [recorded steps × layers] per quantity, plus metadata.

Everything downstream (diagnosis, reports, storage) reads a :class:`Trace`, never live
modules, so a report can be rebuilt from disk.

Sequence models add ``time``: name → [recorded steps × time steps] (time index 0 = the first
input step), e.g. ``hidden_grad_norm`` = ‖∂L/∂h_t‖ (see :mod:`vanishing.results.timeaxis`).

File format (``save``/``load``): one ``.npz`` (a zip of ``.npy`` files, readable by numpy
or any zip + npy reader) holding ``steps``, ``data/<quantity>``, ``scalars/<name>``,
``time/<name>`` and ``header``: a JSON string with the format tag, the layers and ``meta``.
A file or dict without ``time`` (written before sequences were recorded) reads with ``time={}``.
"""

from __future__ import annotations

import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import ConfigError, VanishingError, safe_repr
from . import codec

__all__ = ["LayerInfo", "Trace", "FORMAT", "MAX_TRACE_BYTES"]

FORMAT = "vanishing.trace/1"
MAX_TRACE_BYTES = 1 << 30
"""The most bytes of arrays :meth:`Trace.load` decompresses from one file."""


@dataclass(frozen=True)
class LayerInfo:
    """One probed layer: ``name`` in the model, class name, main weight shape, parameter count,
    and the registered activation spec that follows it in the forward pass (or ``None``)."""

    name: str
    type: str
    shape: tuple[int, ...]
    n_params: int
    activation: str | None = None

    @classmethod
    def from_dict(cls, d: Any) -> "LayerInfo":
        """Inverse of the layer records of :meth:`Trace.to_dict`, checked field by field."""
        allowed = "{name: text, type: text, shape: [integers], n_params: integer, activation: text or null}"
        if not isinstance(d, Mapping):
            raise ConfigError("trace.layers entry", d, allowed)
        name, kind, shape, n_params, activation = (d.get(k) for k in ("name", "type", "shape", "n_params",
                                                                       "activation"))
        if not (isinstance(name, str) and isinstance(kind, str) and _is_int(n_params)
                and isinstance(shape, list) and all(_is_int(s) for s in shape)
                and (activation is None or isinstance(activation, str))):
            raise ConfigError("trace.layers entry", d, allowed)
        return cls(name, kind, tuple(int(x) for x in shape), int(n_params), activation)


@dataclass
class Trace:
    """Per-layer quantities at recorded steps.

    Attributes:
        steps: (S,) int64, increasing: every step at which anything was recorded.
        layers: the L probed layers, input side first (forward execution order).
        data: quantity name → (S, L) float64, NaN where not recorded or not applicable.
        scalars: name → (S,) float64 (loss, accuracy, ...), NaN where not logged.
        meta: JSON-able metadata (run config, probe settings).
        time: name → (S, T) float64 over the same recorded steps, time index 0 = the first input
            step, NaN where not recorded: ``hidden_grad_norm`` (‖∂L/∂h_t‖ of the top recurrent
            layer; ``hidden_grad_norm/l<k>`` per layer k of a stack), ``cell_grad_norm`` (LSTM c_t),
            ``input_grad_norm_t`` (‖∂L/∂x_t‖ from ``watch(time_axis=...)``), ``time_attr_recurrent``
            and ``time_attr_activation`` (log10 factors of the step t → t−1). Each name has its own T.
    """

    steps: np.ndarray
    layers: list[LayerInfo]
    data: dict[str, np.ndarray] = field(default_factory=dict)
    scalars: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    time: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.steps = np.asarray(self.steps, dtype=np.int64).reshape(-1)
        shape = (len(self.steps), len(self.layers))
        self.data = {k: np.asarray(v, dtype=np.float64).reshape(shape) for k, v in self.data.items()}
        self.scalars = {k: np.asarray(v, dtype=np.float64).reshape(shape[0]) for k, v in self.scalars.items()}
        self.time = {k: _time_array(v, shape[0]) for k, v in self.time.items()}

    @property
    def layer_names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    def __getitem__(self, name: str) -> np.ndarray:
        """The (S, L) array of quantity ``name``."""
        try:
            return self.data[name]
        except KeyError:
            raise VanishingError(
                f"quantity {name!r} is not in this trace; recorded: {', '.join(self.data) or 'none'}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self.data

    def recorded(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` restricted to the steps where ``name`` has at least one value.

        ``name`` may be a per-layer quantity (values (S', L)) or a scalar (values (S',)).
        """
        if name in self.scalars and name not in self.data:
            values = self.scalars[name]
            keep = ~np.isnan(values)
        else:
            values = self[name]
            keep = ~np.isnan(values).all(axis=1) if values.size else np.zeros(len(self.steps), bool)
        return self.steps[keep], values[keep]

    def recorded_time(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of the time-axis quantity ``name`` (values (S', T)) at the steps where it
        has at least one value."""
        try:
            values = self.time[name]
        except KeyError:
            raise VanishingError(
                f"time-axis quantity {name!r} is not in this trace; recorded: {', '.join(self.time) or 'none'}"
            ) from None
        keep = ~np.isnan(values).all(axis=1) if values.size else np.zeros(len(self.steps), bool)
        return self.steps[keep], values[keep]

    # --- JSON ----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (nested lists; non-finite numbers as :mod:`~vanishing.results.codec` writes them)."""
        return codec.encode({
            "format": FORMAT,
            "steps": self.steps,
            "layers": [_layer_dict(layer) for layer in self.layers],
            "data": self.data,
            "scalars": self.scalars,
            "time": self.time,
            "meta": self.meta,
        })

    @classmethod
    def from_dict(cls, d: Any) -> "Trace":
        """Inverse of :meth:`to_dict`, for data read from a file: every part is checked against the
        steps and the layer list (:class:`~vanishing.errors.ConfigError` naming the part, the value and
        the shape it must have), never reshaped to fit."""
        if not isinstance(d, Mapping):
            raise ConfigError("trace", d, "a JSON object (Trace.to_dict)")
        if d.get("format") != FORMAT:
            raise VanishingError(f"not a trace: format {safe_repr(d.get('format'))}, expected {FORMAT!r}")
        for key in ("steps", "layers", "data", "scalars"):
            if key not in d:
                raise VanishingError(f"not a trace (missing {key!r})")
        data, scalars = _mapping("trace.data", d["data"]), _mapping("trace.scalars", d["scalars"])
        time = _mapping("trace.time", d.get("time", {}))
        return cls._checked(_steps(d["steps"]), _layers(d["layers"]),
                            {k: _floats(f"trace.data.{k}", v) for k, v in data.items()},
                            {k: _floats(f"trace.scalars.{k}", v) for k, v in scalars.items()},
                            codec.decode(_mapping("trace.meta", d.get("meta", {}))),
                            {k: _floats(f"trace.time.{k}", v) for k, v in time.items()})

    @classmethod
    def _checked(cls, steps: np.ndarray, layers: list[LayerInfo], data: dict[str, np.ndarray],
                 scalars: dict[str, np.ndarray], meta: dict[str, Any],
                 time: dict[str, np.ndarray] | None = None) -> "Trace":
        """A Trace of parts read from a file, each part's shape checked against the steps and layers
        (a time-axis part: one row per recorded step, any number of time steps)."""
        shape = (len(steps), len(layers))
        for prefix, parts, want in (("trace.data", data, shape), ("trace.scalars", scalars, shape[:1])):
            for name, values in parts.items():
                if values.shape != want:
                    what = "recorded steps × layers" if len(want) == 2 else "one per recorded step"
                    raise ConfigError(f"{prefix}.{name} shape", values.shape, f"{want}: {what}")
        for name, values in (time or {}).items():
            if values.ndim != 2 or values.shape[0] != shape[0]:
                if not (values.size == 0 and values.ndim <= 2):
                    raise ConfigError(f"trace.time.{name} shape", values.shape,
                                      f"({shape[0]}, T): recorded steps × time steps")
        return cls(steps, layers, data, scalars, meta, time=dict(time or {}))

    # --- files ---------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write one ``.npz`` (suffix added when missing); returns the path written."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        header = {"format": FORMAT, "layers": [_layer_dict(x) for x in self.layers], "meta": self.meta,
                  "data": list(self.data), "scalars": list(self.scalars), "time": list(self.time)}
        arrays = {"steps": self.steps, "header": np.array(codec.dumps(header))}
        arrays.update({f"data/{k}": v for k, v in self.data.items()})
        arrays.update({f"scalars/{k}": v for k, v in self.scalars.items()})
        arrays.update({f"time/{k}": v for k, v in self.time.items()})
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            np.savez_compressed(f, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Trace":
        """Read a file written by :meth:`save`; arrays larger in all than :data:`MAX_TRACE_BYTES`
        (as the zip's directory states them, before anything is decompressed) are refused."""
        try:
            with zipfile.ZipFile(Path(path)) as zf:
                size = sum(info.file_size for info in zf.infolist())
            if size > MAX_TRACE_BYTES:  # zipfile never inflates an entry past its stated size
                raise ConfigError("trace file", str(path), f"at most {MAX_TRACE_BYTES >> 20} MiB of arrays "
                                                           f"(its arrays take {size} bytes)")
            with np.load(Path(path), allow_pickle=False) as z:
                header = _mapping("trace header", codec.loads(str(z["header"])))
                if header.get("format") != FORMAT:
                    raise VanishingError(f"format {safe_repr(header.get('format'))}, expected {FORMAT!r}")
                return cls._checked(
                    _steps(z["steps"]), _layers(header["layers"]),
                    {k: _floats(f"trace.data.{k}", z[f"data/{k}"]) for k in header["data"]},
                    {k: _floats(f"trace.scalars.{k}", z[f"scalars/{k}"]) for k in header["scalars"]},
                    _mapping("trace.meta", header["meta"]),
                    {k: _floats(f"trace.time.{k}", z[f"time/{k}"]) for k in header.get("time", [])})
        except (OSError, KeyError, ValueError, TypeError, VanishingError, zipfile.BadZipFile,
                RecursionError) as e:
            raise VanishingError(f"cannot read trace {safe_repr(str(path), 400)}: "
                                 f"{safe_repr(str(e), 300)[1:-1]}") from None

    # --- tables --------------------------------------------------------------
    def to_pandas(self):
        """A tidy long table: ``step, layer, layer_index, quantity, value``.

        Only steps where a quantity was recorded appear; scalars have ``layer=None`` and
        ``layer_index=-1``.
        """
        try:
            import pandas as pd
        except ImportError:
            raise VanishingError("Trace.to_pandas needs pandas: pip install pandas") from None
        names = np.asarray(self.layer_names, dtype=object)
        frames = []
        for q in self.data:
            steps, values = self.recorded(q)  # (S', L)
            n = len(steps)
            frames.append(pd.DataFrame({
                "step": np.repeat(steps, len(self.layers)),
                "layer": np.tile(names, n),
                "layer_index": np.tile(np.arange(len(self.layers)), n),
                "quantity": q,
                "value": values.reshape(-1),
            }))
        for q, v in self.scalars.items():
            keep = ~np.isnan(v)
            frames.append(pd.DataFrame({"step": self.steps[keep], "layer": None, "layer_index": -1,
                                        "quantity": q, "value": v[keep]}))
        columns = ["step", "layer", "layer_index", "quantity", "value"]
        if not frames:
            return pd.DataFrame(columns=columns)
        return pd.concat(frames, ignore_index=True)[columns]

    # --- experiment trackers (see vanishing.results.metrics for the keys, NaN/Inf as counts) -------
    def to_tensorboard(self, logdir: str | Path, prefix: str = "vanishing") -> Path:
        """Write every recorded value as TensorBoard scalars ``prefix/<quantity>/<NN>_<layer>`` at its step,
        plus ``prefix/nonfinite/...`` counts; returns ``logdir``. Needs ``vanishing[tensorboard]``.

        >>> trace.to_tensorboard("runs/deep-tanh")  # doctest: +SKIP
        """
        from .sinks import TensorBoardSink, write_rows

        sink = TensorBoardSink(logdir, prefix)
        try:
            write_rows(sink, self._metric_rows(prefix))
        finally:
            sink.close()
        return sink.logdir

    def to_mlflow(self, run_id: str | None = None, prefix: str = "vanishing") -> str:
        """Log every recorded value as MLflow metrics with explicit steps to ``run_id`` (default: the
        active run, started if none); returns the run id. Needs ``vanishing[mlflow]``."""
        from .sinks import MlflowSink, write_rows

        sink = MlflowSink(run_id, prefix)
        write_rows(sink, self._metric_rows(prefix))
        return sink.run_id

    def to_wandb(self, run: Any = None, prefix: str = "vanishing") -> int:
        """Log every recorded step to the W&B ``run`` (default: ``wandb.run``), plotted against
        ``prefix/step``; returns the number of steps logged. Needs ``vanishing[wandb]``."""
        from .sinks import WandbSink, write_rows

        return write_rows(WandbSink(run, prefix), self._metric_rows(prefix))

    def _metric_rows(self, prefix: str) -> list:
        from .metrics import metric_rows

        return metric_rows(self, prefix=prefix)

    def __repr__(self) -> str:
        return (f"Trace(steps={len(self.steps)}, layers={len(self.layers)}, "
                f"data=[{', '.join(self.data)}], scalars=[{', '.join(self.scalars)}]"
                + (f", time=[{', '.join(self.time)}]" if self.time else "") + ")")


def _time_array(v: Any, n_steps: int) -> np.ndarray:
    """(S, T) float64; an empty array of S rows has T = 0."""
    a = np.asarray(v, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != n_steps:
        if a.size == 0:
            return np.zeros((n_steps, 0))
        a = a.reshape(n_steps, -1)
    return a


def _layer_dict(layer: LayerInfo) -> dict[str, Any]:
    d = asdict(layer)
    d["shape"] = list(layer.shape)
    return d


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v < 2**63


def _mapping(field: str, v: Any) -> dict[str, Any]:
    if not isinstance(v, Mapping):
        raise ConfigError(field, v, "a JSON object")
    return dict(v)


def _steps(v: Any) -> np.ndarray:
    """The recorded steps: a flat list of integers >= 0."""
    allowed = "a list of integers >= 0 (the recorded steps)"
    if isinstance(v, list) and not all(_is_int(x) for x in v):
        raise ConfigError("trace.steps", v, allowed)
    arr = np.asarray(v) if isinstance(v, list) else v
    if not isinstance(arr, np.ndarray) or arr.ndim != 1 or not (arr.size == 0 or arr.dtype.kind in "iu"):
        raise ConfigError("trace.steps", v, allowed)
    if arr.size and (arr.min() < 0 or arr.max() >= 2**63):
        raise ConfigError("trace.steps", v, allowed)
    return arr.astype(np.int64)


def _layers(v: Any) -> list[LayerInfo]:
    if not isinstance(v, list):
        raise ConfigError("trace.layers", v, "a list of layer records, input side first")
    return [LayerInfo.from_dict(x) for x in v]


def _floats(field: str, v: Any) -> np.ndarray:
    """A float64 array of what :func:`codec.encode` wrote (numbers, "nan", "inf", "-inf", null)."""
    if isinstance(v, np.ndarray):
        if v.dtype.kind not in "fiu":
            raise ConfigError(field, v, "numbers")
        return v.astype(np.float64)
    try:
        return codec.float_array(v)
    except (ValueError, TypeError, OverflowError):  # ragged rows, text, a number beyond float range
        raise ConfigError(field, v, 'rows of numbers ("nan", "inf", "-inf" as text)') from None
