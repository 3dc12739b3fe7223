"""The probe's record, :class:`Trace`: it lives in :mod:`vanishing.results.trace` (numpy only, no
torch), so reports and the store read it without loading the probe."""

from ..results.trace import FORMAT, LayerInfo, Trace

__all__ = ["LayerInfo", "Trace", "FORMAT"]
