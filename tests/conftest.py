import os

import pytest
import torch

EPS32 = torch.finfo(torch.float32).eps


def fp32_norm_rtol(n: int, computations: int = 1) -> float:
    """A bound on the relative error of a Euclidean norm of ``n`` float32 entries accumulated in float32.

    With unit roundoff u = eps/2: each square rounds once (u), any order of summing ``n`` non-negative
    terms adds at most (n − 1)·u, and the square root halves the relative error of the sum and rounds
    once more — (n/2 + 1)·u to first order, whatever order a CPU's vector units sum in. Comparing two
    such float32 computations with each other (``computations=2``) doubles it; a ratio of two norms too.
    """
    return computations * (n / 2 + 1) * EPS32 / 2


@pytest.fixture
def fp32_rtol():
    """:func:`fp32_norm_rtol`, for tests comparing float32-accumulated norms with a reference."""
    return fp32_norm_rtol

# torch's thread count is the environment's (OMP_NUM_THREADS): .ci/run runs the suite with one thread
# and with torch's default, so no test depends on how a CPU splits a reduction between threads


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Data caches (mnist1d) go to a per-session temp dir, never the user's cache."""
    cache = tmp_path_factory.getbasetemp() / "vanishing-cache"
    monkeypatch.setenv("VANISHING_CACHE_DIR", str(cache))
    yield
