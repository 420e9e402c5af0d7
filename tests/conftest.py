"""Shared fixtures: the real data beside the repository (skipped when absent) and synthetic cohorts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
HAS_SHARED = SHARED.exists()
HAS_DEEP = importlib.util.find_spec("torch") is not None and importlib.util.find_spec("monai") is not None

needs_shared = pytest.mark.skipif(not HAS_SHARED, reason="../shared/data is absent (a user's clone has none)")
needs_deep = pytest.mark.skipif(not HAS_DEEP, reason="the [deep] extra (torch, monai) is not installed")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``../shared/data``; skips the test when it is absent."""
    if not HAS_SHARED:
        pytest.skip("../shared/data is absent (a user's clone has none)")
    return SHARED


@pytest.fixture(scope="session")
def scanb(shared_data: Path):
    """SCAN-B (GSE96058) subset: expression (rows = samples, log2 FPKM) and samples table."""
    import pandas as pd

    folder = shared_data / "scanb_gse96058"
    expr = pd.read_csv(folder / "expression_log2fpkm.csv.gz", index_col=0).T
    samples = pd.read_csv(folder / "samples.csv")
    return expr, samples
