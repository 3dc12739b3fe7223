"""The playground: a local web page where gradients vanish live, the knobs turn and the fix is tried.

``vanishing playground`` serves it; :class:`Server` and :func:`serve` start the same server from Python
(``with serve() as s: print(s.url)``). Every run it trains is a :func:`vanishing.experiments.run` in a
background thread, validated by the same :class:`~vanishing.config.RunConfig` as the command line.
Names load on first use: the command line imports this package without loading the web framework.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .limits import LOCAL_HOST, PLAYGROUND_DATASETS, Limits, check_config
    from .live import LiveRun
    from .presets import DEFAULT_PRESET, PRESETS
    from .server import Busy, RunManager, Server, create_app, plotly_js_path, serve

__all__ = ["Busy", "DEFAULT_PRESET", "LOCAL_HOST", "Limits", "LiveRun", "PLAYGROUND_DATASETS", "PRESETS", "RunManager",
           "Server", "check_config", "create_app", "plotly_js_path", "serve"]

_LAZY = {"LOCAL_HOST": "limits", "PLAYGROUND_DATASETS": "limits", "Limits": "limits", "check_config": "limits",
         "LiveRun": "live", "DEFAULT_PRESET": "presets", "PRESETS": "presets", "Busy": "server",
         "RunManager": "server", "Server": "server", "create_app": "server", "plotly_js_path": "server",
         "serve": "server"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value
