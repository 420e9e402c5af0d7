"""Max-normalisation (Cui et al. 2023) and its guards."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiogenomics._validation import InputError
from radiogenomics.expression.normalize import max_normalize, max_scales, normalization_record


def test_max_normalize_divides_by_column_max_and_guards():
    df = pd.DataFrame({"a": [1.0, 2.0, 4.0], "b": [0.5, 0.25, 1.0]}, index=["x", "y", "z"])
    out = max_normalize(df)
    np.testing.assert_array_equal(out["a"], [0.25, 0.5, 1.0])
    np.testing.assert_array_equal(out["b"], [0.5, 0.25, 1.0])
    with pytest.raises(InputError, match="NaN"):
        max_normalize(df.assign(a=[1.0, np.nan, 2.0]))
    with pytest.raises(InputError, match="inf"):
        max_normalize(df.assign(a=[1.0, np.inf, 2.0]))
    logged = pd.DataFrame({"g": [-1.0, -2.0, -3.0]}, index=["x", "y", "z"])  # log2 of values < 1
    np.testing.assert_allclose(max_normalize(logged, unlog_base=2)["g"], [1.0, 0.5, 0.25])


def test_columns_with_maximum_at_most_zero_follow_the_one_rule():
    # glcm_Imc1 is negative by nature; a zero column has maximum 0; mixed signs with max > 0 are divided
    df = pd.DataFrame({"imc1": [-0.30, -0.12, -0.05], "zero": [0.0, 0.0, 0.0], "mixed": [-2.0, 1.0, 4.0]},
                      index=["x", "y", "z"])
    out = max_normalize(df)
    np.testing.assert_array_equal(out["imc1"], df["imc1"])  # left unchanged: no sign flip
    np.testing.assert_array_equal(out["zero"], df["zero"])
    np.testing.assert_array_equal(out["mixed"], [-0.5, 0.25, 1.0])
    scales = max_scales(df)
    assert scales["rule"].to_dict() == {"imc1": "left unchanged", "zero": "left unchanged",
                                        "mixed": "divided by maximum"}
    assert scales["divisor"].tolist() == [1.0, 1.0, 4.0]
    record = normalization_record(scales)
    assert record["divided_by_maximum"] == 1 and record["left_unchanged"] == ["imc1", "zero"]
    # every column is divided by a positive constant: Pearson r and ranks are those of the raw table
    np.testing.assert_allclose(out[["imc1", "mixed"]].corr().to_numpy(), df[["imc1", "mixed"]].corr().to_numpy())


def test_max_normalize_keeps_pearson_and_ratios():
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.lognormal(size=(30, 3)), columns=list("abc"))
    out = max_normalize(df)
    np.testing.assert_allclose(out.corr().to_numpy(), df.corr().to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(out["a"][:10].mean() / out["a"][10:].mean(), df["a"][:10].mean() / df["a"][10:].mean())


