import os

import pytest
import torch

# keep the suite polite on 2-core machines
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Data caches (mnist1d) go to a per-session temp dir, never the user's cache."""
    cache = tmp_path_factory.getbasetemp() / "vanishing-cache"
    monkeypatch.setenv("VANISHING_CACHE_DIR", str(cache))
    yield
