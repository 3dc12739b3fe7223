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

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import VanishingError
from . import codec

__all__ = ["LayerInfo", "Trace", "FORMAT"]

FORMAT = "vanishing.trace/1"


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
    def from_dict(cls, d: dict[str, Any]) -> "LayerInfo":
        return cls(d["name"], d["type"], tuple(int(s) for s in d["shape"]), int(d["n_params"]),
                   d.get("activation"))


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
    def from_dict(cls, d: dict[str, Any]) -> "Trace":
        """Inverse of :meth:`to_dict`."""
        if d.get("format") != FORMAT:
            raise VanishingError(f"not a trace: format {d.get('format')!r}, expected {FORMAT!r}")
        layers = [LayerInfo.from_dict(x) for x in d["layers"]]
        shape = (len(d["steps"]), len(layers))
        return cls(
            steps=np.asarray(d["steps"], dtype=np.int64),
            layers=layers,
            data={k: codec.float_array(v).reshape(shape) for k, v in d["data"].items()},
            scalars={k: codec.float_array(v).reshape(shape[0]) for k, v in d["scalars"].items()},
            meta=codec.decode(d.get("meta", {})),
            time={k: codec.float_array(v) for k, v in d.get("time", {}).items()},
        )

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
        """Read a file written by :meth:`save`."""
        try:
            with np.load(Path(path), allow_pickle=False) as z:
                header = codec.loads(str(z["header"]))
                if header.get("format") != FORMAT:
                    raise VanishingError(f"{path}: format {header.get('format')!r}, expected {FORMAT!r}")
                return cls(
                    steps=z["steps"],
                    layers=[LayerInfo.from_dict(x) for x in header["layers"]],
                    data={k: z[f"data/{k}"] for k in header["data"]},
                    scalars={k: z[f"scalars/{k}"] for k in header["scalars"]},
                    meta=header["meta"],
                    time={k: z[f"time/{k}"] for k in header.get("time", [])},
                )
        except (OSError, KeyError, ValueError) as e:
            raise VanishingError(f"cannot read trace {path}: {e}") from e

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
