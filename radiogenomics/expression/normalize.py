"""Max-normalisation (Cui et al. 2023): ``x_ij / max_i x_ij`` per column."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._logging import get_logger
from .._validation import InputError, check_float, check_table, format_names

log = get_logger(__name__)

__all__ = ["max_normalize", "unlog"]


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


def max_normalize(
    data: pd.DataFrame,
    *,
    unlog_base: float | None = None,
    unlog_offset: float = 0.0,
    name: str = "data",
) -> pd.DataFrame:
    """Divide every column by its maximum, as in Cui et al. 2023.

    Defined only for columns whose maximum is > 0: a column with a non-positive maximum
    would change sign (log-scale data with negative values must be un-logged first, which
    ``unlog_base`` does explicitly). Pearson r and mean ratios are invariant to it.

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
        Name of the table used in error messages.

    Returns
    -------
    pandas.DataFrame
        Values in ``(-inf, 1]`` with every column's maximum equal to 1.

    Raises
    ------
    InputError
        A NaN or inf value, or a column whose maximum is ≤ 0 (named in the message).
    """
    data = check_table(data, name=name)
    if unlog_base is not None:
        data = unlog(data, base=unlog_base, offset=unlog_offset)
    col_max = data.max(axis=0)
    bad = col_max.index[~(col_max > 0)]
    if len(bad):
        hint = (
            " The values look log-scale (negative values present): pass unlog_base (e.g. 2) to un-log first."
            if (data.to_numpy() < 0).any() and unlog_base is None
            else ""
        )
        raise InputError(
            f"{name}: max-normalisation needs every column's maximum > 0; column(s) "
            f"{format_names(bad)} have maximum ≤ 0.{hint}"
        )
    negative = data.columns[(data < 0).any(axis=0)]
    if len(negative):
        log.warning(
            "%s: %d column(s) hold negative values (%s); max-normalised values stay negative there. "
            "For log-scale data pass unlog_base.", name, len(negative), format_names(negative),
        )
    return data / col_max
