"""One error hierarchy and the input checks every stage shares.

Every error the package raises on bad input is a subclass of :class:`RadiogenomicsError`
and also of the matching builtin (``ValueError``, ``TypeError``, ``FileNotFoundError``), so
callers can catch either. Messages name the file, sample, feature, gene or parameter at
fault and say what was expected, in scikit-learn's style::

    The 'min_hits' parameter of associate must be an int in the range [1, 75]. Got 0 instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "RadiogenomicsError",
    "InputError",
    "LabelError",
    "AlignmentError",
    "ParameterError",
    "DataFileError",
    "MissingDataFileError",
    "OptionalDependencyError",
    "excel_mangled_genes",
    "check_gene_symbols",
    "check_int",
    "check_float",
    "check_choice",
    "check_n_jobs",
    "BACKENDS",
    "check_table",
    "check_labels",
    "align_samples",
    "format_names",
]


class RadiogenomicsError(Exception):
    """Base class of every error raised by radiogenomics on bad input or configuration."""


class InputError(RadiogenomicsError, ValueError):
    """A table, file or value does not have the content that was expected."""


class LabelError(InputError):
    """HER2 labels are not 0/1, or are missing for a sample."""


class AlignmentError(InputError):
    """Two tables that must share samples (or genes) do not."""


class ParameterError(RadiogenomicsError, ValueError):
    """A parameter is outside its allowed values."""


class DataFileError(InputError):
    """A file exists but cannot be read or has the wrong layout."""


class MissingDataFileError(RadiogenomicsError, FileNotFoundError):
    """A file that must be provided locally (no network) is absent."""


class OptionalDependencyError(RadiogenomicsError, ImportError):
    """An optional extra (e.g. ``[deep]``) is needed but not installed."""


def format_names(names: Iterable[Any], *, limit: int = 5) -> str:
    """Format a list of names for an error message: the first ``limit`` and a count.

    Parameters
    ----------
    names
        The offending sample, feature or gene names.
    limit
        How many to show before summarising the rest.

    Returns
    -------
    str
        e.g. ``"'a', 'b', 'c' and 4 more"``.
    """
    names = [str(n) for n in names]
    shown = ", ".join(repr(n) for n in names[:limit])
    if len(names) > limit:
        shown += f" and {len(names) - limit} more"
    return shown


def check_int(
    value: Any,
    name: str,
    *,
    owner: str,
    min_value: int | None = None,
    max_value: int | None = None,
) -> int:
    """Check that ``value`` is an integer within ``[min_value, max_value]``.

    Parameters
    ----------
    value
        The value to check.
    name
        The parameter's name, used in the message.
    owner
        The function or class the parameter belongs to.
    min_value, max_value
        Inclusive bounds; ``None`` means unbounded.

    Returns
    -------
    int
        ``value`` as a Python int.
    """
    lo = "-inf" if min_value is None else str(min_value)
    hi = "inf" if max_value is None else str(max_value)
    ok = isinstance(value, Integral) and not isinstance(value, bool)
    if ok:
        ok = (min_value is None or value >= min_value) and (max_value is None or value <= max_value)
    if not ok:
        raise ParameterError(
            f"The {name!r} parameter of {owner} must be an int in the range [{lo}, {hi}]. "
            f"Got {value!r} instead."
        )
    return int(value)


def check_float(
    value: Any,
    name: str,
    *,
    owner: str,
    min_value: float | None = None,
    max_value: float | None = None,
    closed: str = "both",
) -> float:
    """Check that ``value`` is a finite real number within the given interval.

    Parameters
    ----------
    value
        The value to check.
    name
        The parameter's name, used in the message.
    owner
        The function or class the parameter belongs to.
    min_value, max_value
        Bounds; ``None`` means unbounded.
    closed
        Which bounds are inclusive: ``"both"``, ``"left"``, ``"right"`` or ``"neither"``.

    Returns
    -------
    float
        ``value`` as a Python float.
    """
    left_closed = closed in ("both", "left")
    right_closed = closed in ("both", "right")
    lo = "-inf" if min_value is None else str(min_value)
    hi = "inf" if max_value is None else str(max_value)
    interval = f"{'[' if left_closed else '('}{lo}, {hi}{']' if right_closed else ')'}"
    ok = isinstance(value, Real) and not isinstance(value, bool) and np.isfinite(value)
    if ok and min_value is not None:
        ok = value >= min_value if left_closed else value > min_value
    if ok and max_value is not None:
        ok = value <= max_value if right_closed else value < max_value
    if not ok:
        raise ParameterError(
            f"The {name!r} parameter of {owner} must be a float in the range {interval}. "
            f"Got {value!r} instead."
        )
    return float(value)


def check_choice(value: Any, name: str, *, owner: str, choices: Sequence[Any]) -> Any:
    """Check that ``value`` is one of ``choices``.

    Parameters
    ----------
    value
        The value to check.
    name
        The parameter's name, used in the message.
    owner
        The function or class the parameter belongs to.
    choices
        The allowed values.

    Returns
    -------
    Any
        ``value`` unchanged.
    """
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ParameterError(
            f"The {name!r} parameter of {owner} must be one of {allowed}. Got {value!r} instead."
        )
    return value


#: The parallel backends of the two heavy loops (image extraction, perturbation association).
BACKENDS = ("threads", "processes", "dask")


def check_n_jobs(value: Any, *, owner: str) -> int:
    """Check ``n_jobs`` (a positive int, or -1 for all cores) and resolve it to a worker count.

    Parameters
    ----------
    value
        The parameter's value.
    owner
        The function it belongs to, used in the message.

    Returns
    -------
    int
        Number of workers (>= 1); -1 becomes the number of usable cores.
    """
    ok = isinstance(value, Integral) and not isinstance(value, bool) and (value >= 1 or value == -1)
    if not ok:
        raise ParameterError(
            f"The 'n_jobs' parameter of {owner} must be a positive int or -1 (all cores). Got {value!r} instead."
        )
    if value == -1:
        import joblib

        return int(joblib.effective_n_jobs(-1))
    return int(value)


def check_table(
    data: pd.DataFrame,
    *,
    name: str,
    numeric: bool = True,
    allow_nan: bool = False,
    min_rows: int = 1,
) -> pd.DataFrame:
    """Validate a samples × variables table.

    Checks that ``data`` is a DataFrame with unique string-like sample ids (index) and
    unique column names, and, when ``numeric``, that every column is numeric and finite.

    Parameters
    ----------
    data
        Table with rows = samples and columns = features or genes.
    name
        What the table is (``"features"``, ``"expression"``, a file name), used in messages.
    numeric
        Require numeric, finite values.
    allow_nan
        Accept NaN (never inf) when ``numeric``.
    min_rows
        Minimum number of samples.

    Returns
    -------
    pandas.DataFrame
        The same table with the index and columns converted to ``str``.
    """
    if not isinstance(data, pd.DataFrame):
        raise InputError(
            f"{name} must be a pandas DataFrame with rows = samples; got {type(data).__name__}."
        )
    data = data.copy(deep=False)
    data.index = data.index.map(str)
    data.columns = data.columns.map(str)
    dup = data.index[data.index.duplicated()].unique()
    if len(dup):
        raise InputError(f"{name}: duplicated sample ids {format_names(dup)}; each row must be one sample.")
    dupc = data.columns[data.columns.duplicated()].unique()
    if len(dupc):
        raise InputError(f"{name}: duplicated column names {format_names(dupc)}.")
    if data.shape[0] < min_rows:
        raise InputError(f"{name}: has {data.shape[0]} samples; at least {min_rows} are needed.")
    if data.shape[1] == 0:
        raise InputError(f"{name}: has no columns.")
    if numeric:
        def _bad_dtype(t: Any) -> bool:
            return not pd.api.types.is_numeric_dtype(t) or pd.api.types.is_bool_dtype(t)

        bad_types = {t for t in set(data.dtypes) if _bad_dtype(t)}
        bad = [c for c, t in data.dtypes.items() if t in bad_types] if bad_types else []
        if bad:
            raise InputError(
                f"{name}: non-numeric column(s) {format_names(bad)}; expected numbers only "
                "(move annotations such as labels into a separate table)."
            )
        values = data.to_numpy(dtype=float)
        nan = np.isnan(values)
        inf = np.isinf(values)
        bad_mask = inf | (nan if not allow_nan else np.zeros_like(nan))
        if bad_mask.any():
            rows, cols = np.nonzero(bad_mask)
            what = "inf" if inf.any() else "NaN"
            cells = [f"({data.index[r]}, {data.columns[c]})" for r, c in zip(rows[:5], cols[:5])]
            raise InputError(
                f"{name}: {int(bad_mask.sum())} {what}/missing value(s), first at sample, column "
                f"{', '.join(cells)}; impute or remove them explicitly first."
            )
        if all(t == np.float64 for t in data.dtypes):
            # one memory layout whatever the table's origin (a Parquet file and an in-memory frame can
            # be C- or F-ordered): BLAS and numpy sum in the layout's order, so results would differ
            # in the last digits between the CLI and the API
            attrs = dict(data.attrs)
            data = pd.DataFrame(np.ascontiguousarray(values), index=data.index, columns=data.columns)
            data.attrs.update(attrs)
    return data


def check_labels(labels: pd.Series | pd.DataFrame, *, name: str = "labels") -> pd.Series:
    """Validate HER2 labels: a Series of 1 (positive) and 0 (negative) indexed by sample id.

    Parameters
    ----------
    labels
        Labels; a one-column DataFrame is accepted.
    name
        What the labels are, used in messages.

    Returns
    -------
    pandas.Series
        ``int8`` Series of 0/1 with a ``str`` index named as the input.
    """
    if isinstance(labels, pd.DataFrame):
        if labels.shape[1] != 1:
            raise LabelError(
                f"{name}: expected one label column, got {labels.shape[1]} ({format_names(labels.columns)})."
            )
        labels = labels.iloc[:, 0]
    if not isinstance(labels, pd.Series):
        raise LabelError(f"{name} must be a pandas Series indexed by sample id; got {type(labels).__name__}.")
    labels = labels.copy()
    labels.index = labels.index.map(str)
    dup = labels.index[labels.index.duplicated()].unique()
    if len(dup):
        raise LabelError(f"{name}: duplicated sample ids {format_names(dup)}.")
    values = pd.to_numeric(labels, errors="coerce")
    bad = labels.index[~values.isin([0, 1])]
    if len(bad):
        empty = labels[bad].isna()
        shown = format_names([f"{s} (empty)" if empty[s] else f"{s}={labels[s]!r}" for s in bad])
        hint = ""
        if empty.any():
            hint = (f" {int(empty.sum())} of them have no label: remove those samples from the table and the labels, "
                    "or import the series with `radiogenomics geo import` (then `geo merge`), which excludes samples "
                    "of unknown HER2 status and lists each with its reason.")
        raise LabelError(
            f"{name}: labels must be 1 (HER2-positive) or 0 (HER2-negative); "
            f"sample(s) {shown} are not.{hint}"
        )
    out = values.astype("int8")
    out.name = labels.name if labels.name is not None else "her2"
    return out


def align_samples(
    data: pd.DataFrame,
    labels: pd.Series,
    *,
    data_name: str = "features",
    labels_name: str = "labels",
) -> tuple[pd.DataFrame, pd.Series]:
    """Check that a table and its labels hold exactly the same samples and order them alike.

    Parameters
    ----------
    data
        Table with rows = samples.
    labels
        0/1 labels indexed by sample id.
    data_name, labels_name
        Names used in messages.

    Returns
    -------
    tuple of (pandas.DataFrame, pandas.Series)
        ``data`` and ``labels``, labels reordered to the table's row order.
    """
    only_data = data.index.difference(labels.index)
    only_labels = labels.index.difference(data.index)
    if len(only_data) or len(only_labels):
        parts = []
        if len(only_data):
            parts.append(f"{len(only_data)} sample(s) in {data_name} have no label ({format_names(only_data)})")
        if len(only_labels):
            parts.append(
                f"{len(only_labels)} labelled sample(s) are missing from {data_name} ({format_names(only_labels)})"
            )
        raise AlignmentError(
            f"{data_name} and {labels_name} do not hold the same samples: " + "; ".join(parts) + "."
        )
    return data, labels.loc[data.index]


_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec"
_EXCEL_DATE = None


def excel_mangled_genes(names: Iterable[Any]) -> list[str]:
    """The names that are dates Excel made of gene symbols (``SEPT1`` -> ``1-Sep``, ``MARCH1`` -> ``1-Mar``).

    Parameters
    ----------
    names
        Gene names.

    Returns
    -------
    list of str
        The names shaped ``1-Sep``, ``Sep-01``, ``01-Mar-2020``, ``2020-09-01``
        (optionally `` 00:00:00``) or ``9/1/2020``, in their order.
    """
    import re

    global _EXCEL_DATE
    if _EXCEL_DATE is None:
        _EXCEL_DATE = re.compile(
            rf"^(\d{{1,2}}-({_MONTHS})(-\d{{2,4}})?|({_MONTHS})-\d{{1,4}}|\d{{4}}-\d{{2}}-\d{{2}}( 00:00(:00)?)?"
            rf"|\d{{1,2}}/\d{{1,2}}/\d{{2,4}})$",
            re.IGNORECASE,
        )
    return [str(n) for n in names if _EXCEL_DATE.match(str(n).strip())]


def check_gene_symbols(names: Iterable[Any], *, name: str) -> None:
    """Refuse gene names that Excel turned into dates, naming them and the fix.

    Parameters
    ----------
    names
        Gene names (an expression table's columns, a gene set).
    name
        The file or table, for the message.
    """
    bad = excel_mangled_genes(names)
    if bad:
        raise DataFileError(
            f"{name}: {len(bad)} gene name(s) are dates that Excel made of gene symbols "
            f"({format_names(bad)}; e.g. SEPTIN1/SEPT1 -> 1-Sep, MARCHF1/MARCH1 -> 1-Mar); restore the "
            "symbols (re-export the table without opening it in Excel, or fix them by hand)."
        )
