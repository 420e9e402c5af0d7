"""Max-normalisation (Cui et al. 2023) and its guards."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiogenomics._validation import InputError
from radiogenomics.expression.normalize import max_normalize


def test_max_normalize_divides_by_column_max_and_guards():
    df = pd.DataFrame({"a": [1.0, 2.0, 4.0], "b": [0.5, 0.25, 1.0]}, index=["x", "y", "z"])
    out = max_normalize(df)
    np.testing.assert_array_equal(out["a"], [0.25, 0.5, 1.0])
    np.testing.assert_array_equal(out["b"], [0.5, 0.25, 1.0])
    with pytest.raises(InputError, match="'neg'"):
        max_normalize(df.assign(neg=[-1.0, -2.0, -0.5]))
    with pytest.raises(InputError, match="NaN"):
        max_normalize(df.assign(a=[1.0, np.nan, 2.0]))
    with pytest.raises(InputError, match="inf"):
        max_normalize(df.assign(a=[1.0, np.inf, 2.0]))
    logged = pd.DataFrame({"g": [-1.0, -2.0, -3.0]}, index=["x", "y", "z"])  # log2 of values < 1
    with pytest.raises(InputError, match="unlog_base"):
        max_normalize(logged)
    np.testing.assert_allclose(max_normalize(logged, unlog_base=2)["g"], [1.0, 0.5, 0.25])


def test_max_normalize_keeps_pearson_and_ratios():
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.lognormal(size=(30, 3)), columns=list("abc"))
    out = max_normalize(df)
    np.testing.assert_allclose(out.corr().to_numpy(), df.corr().to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(out["a"][:10].mean() / out["a"][10:].mean(), df["a"][:10].mean() / df["a"][10:].mean())


