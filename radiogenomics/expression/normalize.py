"""Max-normalisation (Cui et al. 2023): ``x_ij / max_i x_ij`` per column, and its one rule for maxima <= 0.

The rule, the same in the API (:func:`radiogenomics.associate` with ``max_normalize=True``,
:func:`radiogenomics.expression.merge_series`), the CLI and the workflow:

* a column whose maximum is > 0 is divided by that maximum (the paper's normalisation; its
  maximum becomes 1);
* a column whose maximum is <= 0 (radiomic features that are negative by nature, such as
  ``glcm_Imc1``; a gene at the detection floor of a log-scale series, after un-logging) is left
  as it is (divided by 1): dividing by a negative maximum would flip its sign, and dividing by
  its largest absolute value would blow rounding noise around 0 up to -1.

Every column is therefore divided by a positive constant, so Pearson r, ranks and ratios of
means are unchanged; what was done to each column is returned by :func:`max_scales` and
recorded by the stages that normalise (``parameters["max_normalization"]``), and the report
says it. NaN and inf values are refused (they have no maximum).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._logging import get_logger
from .._validation import check_float, check_table, format_names

log = get_logger(__name__)

__all__ = ["max_normalize", "max_scales", "normalization_record", "unlog", "MAX_RULES"]

#: What :func:`max_normalize` does to a column, by its maximum (the ``rule`` column of :func:`max_scales`).
MAX_RULES = {
    "divided by maximum": "maximum > 0: x / max (the paper)",
    "left unchanged": "maximum <= 0: x / 1 (dividing by a negative maximum would flip the sign)",
}


def unlog(data: pd.DataFrame, *, base: float = 2.0, offset: float = 0.0) -> pd.DataFrame:
    """Undo a log transform: ``base ** x - offset``.

    Parameters
    ----------
    data
        Log-scale table (rows = samples).
    base
        Logarithm base of the data (2 for log2 FPKM).
    offset
        Pseudo-count that was added before taking the log (e.g. 0.1 for SCAN-B's
        ``log2(FPKM + 0.1)``); it is subtracted after exponentiation.

    Returns
    -------
    pandas.DataFrame
        Linear-scale values, same shape and labels.
    """
    check_float(base, "base", owner="unlog", min_value=1.0, closed="neither")
    check_float(offset, "offset", owner="unlog", min_value=0.0)
    return np.power(base, data) - offset


def max_scales(data: pd.DataFrame, *, name: str = "data") -> pd.DataFrame:
    """What max-normalisation does to each column (see the module docstring for the rule).

    Parameters
    ----------
    data
        Table with rows = samples (finite values).
    name
        Name of the table used in error messages.

    Returns
    -------
    pandas.DataFrame
        Indexed by column: ``maximum``, ``divisor`` (the maximum, or 1) and ``rule``
        (``"divided by maximum"`` or ``"left unchanged"``).
    """
    data = check_table(data, name=name)
    col_max = data.max(axis=0)
    positive = col_max > 0
    out = pd.DataFrame({"maximum": col_max.astype(float), "divisor": col_max.where(positive, 1.0).astype(float),
                        "rule": np.where(positive, "divided by maximum", "left unchanged")}, index=data.columns)
    out.index.name = "column"
    return out


def normalization_record(scales: pd.DataFrame) -> dict[str, Any]:
    """A short record of :func:`max_scales` for a result's parameters and the report.

    Parameters
    ----------
    scales
        Output of :func:`max_scales`.

    Returns
    -------
    dict
        ``rule`` (the rule in words), ``divided_by_maximum`` (number of columns) and
        ``left_unchanged`` (the columns whose maximum is <= 0, by name).
    """
    unchanged = [str(c) for c in scales.index[scales["rule"] == "left unchanged"]]
    return {"rule": "x / max for columns with max > 0; columns with max <= 0 left unchanged",
            "divided_by_maximum": int((scales["rule"] == "divided by maximum").sum()),
            "left_unchanged": unchanged}


def max_normalize(
    data: pd.DataFrame,
    *,
    unlog_base: float | None = None,
    unlog_offset: float = 0.0,
    name: str = "data",
) -> pd.DataFrame:
    """Divide every column by its maximum, as in Cui et al. 2023 (columns with maximum <= 0 left unchanged).

    Pearson r and mean ratios are invariant to it (every column is divided by a positive
    constant). Log-scale expression must be un-logged first, which ``unlog_base`` does
    explicitly (a series declared ``scale: log2`` is un-logged by the merge).

    Parameters
    ----------
    data
        Table with rows = samples, columns = features or genes.
    unlog_base
        If given, the data are log-scale with this base and are un-logged first
        (``unlog_base ** x - unlog_offset``).
    unlog_offset
        Pseudo-count subtracted after un-logging.
    name
        Name of the table used in messages.

    Returns
    -------
    pandas.DataFrame
        Every column with a positive maximum has maximum 1; the others are unchanged.

    Raises
    ------
    InputError
        A NaN or inf value (named in the message).
    """
    data = check_table(data, name=name)
    if unlog_base is not None:
        data = unlog(data, base=unlog_base, offset=unlog_offset)
    scales = max_scales(data, name=name)
    unchanged = scales.index[scales["rule"] == "left unchanged"]
    if len(unchanged):
        log.info("%s: %d column(s) with maximum <= 0 left unchanged by max-normalisation (%s)", name, len(unchanged),
                 format_names(unchanged))
    return data / scales["divisor"]
