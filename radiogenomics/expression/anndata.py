"""AnnData (``.h5ad``) in and out for expression: samples as ``obs``, genes as ``var``, HER2 in an ``obs`` column.

In: :func:`read_h5ad` gives the expression table (rows = samples) and the ``obs`` table;
:func:`radiogenomics.expression.import_series` takes an ``.h5ad`` file (or an ``AnnData``)
with ``label_column`` naming the ``obs`` column of HER2 status (1/0; empty or ``NA`` = unknown,
excluded with its reason). Out: :func:`to_anndata` / :func:`write_h5ad` turn a series or merged
expression result into an AnnData with ``obs["her2"]`` (and ``obs["series"]``), the genes as
``var_names`` and the result's parameters as JSON in ``uns["radiogenomics"]``, so scanpy users
read it back with ``anndata.read_h5ad``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._io import atomic_path
from .._validation import DataFileError, InputError, MissingDataFileError, OptionalDependencyError, format_names

__all__ = ["read_h5ad", "to_anndata", "write_h5ad", "is_anndata", "label_column_of", "H5AD_SUFFIXES"]

#: File endings read as AnnData.
H5AD_SUFFIXES = (".h5ad",)

#: ``obs`` columns tried, in order, when no ``label_column`` is named.
LABEL_CANDIDATES = ("her2", "HER2", "her2_status", "HER2_status", "label")


def _anndata():
    try:
        import anndata
    except ImportError as exc:  # pragma: no cover - anndata comes with inmoose, a core dependency
        raise OptionalDependencyError("reading .h5ad files needs anndata (pip install anndata).") from exc
    return anndata


def is_anndata(obj: Any) -> bool:
    """Whether ``obj`` is an ``.h5ad`` path or an ``AnnData`` object.

    Parameters
    ----------
    obj
        Anything given as expression.

    Returns
    -------
    bool
    """
    if isinstance(obj, (str, os.PathLike)):
        return str(obj).lower().endswith(H5AD_SUFFIXES)
    return type(obj).__name__ == "AnnData" and hasattr(obj, "obs") and hasattr(obj, "var")


def read_h5ad(source: str | os.PathLike | Any, *, layer: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The expression table and the sample annotations of an AnnData file or object.

    Parameters
    ----------
    source
        ``.h5ad`` file or ``AnnData`` (obs = samples, var = genes).
    layer
        Take the values from this layer instead of ``X``.

    Returns
    -------
    expression : pandas.DataFrame
        Rows = samples (``obs_names``), columns = genes (``var_names``), float values.
    obs : pandas.DataFrame
        The ``obs`` table (same index).
    """
    name = str(source) if isinstance(source, (str, os.PathLike)) else "AnnData"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise MissingDataFileError(f"{path}: file not found.")
        try:
            adata = _anndata().read_h5ad(path)
        except (OSError, KeyError, ValueError) as exc:
            raise DataFileError(f"{path}: cannot be read as AnnData ({exc}).") from exc
    else:
        adata = source
    if layer is not None and layer not in adata.layers:
        raise InputError(f"{name}: no layer {layer!r} (layers: {format_names(list(adata.layers))}).")
    values = adata.layers[layer] if layer is not None else adata.X
    if values is None:
        raise InputError(f"{name}: the AnnData holds no X matrix.")
    if hasattr(values, "toarray"):
        values = values.toarray()
    table = pd.DataFrame(np.asarray(values, dtype=float), index=adata.obs_names.map(str),
                         columns=adata.var_names.map(str))
    obs = adata.obs.copy()
    obs.index = obs.index.map(str)
    return table, obs


def label_column_of(obs: pd.DataFrame, column: str | None, *, name: str) -> str:
    """The ``obs`` column holding HER2 labels: ``column``, else the first of :data:`LABEL_CANDIDATES`.

    Parameters
    ----------
    obs
        The AnnData's ``obs``.
    column
        Named column, or ``None``.
    name
        The file, for messages.

    Returns
    -------
    str
    """
    if column is not None:
        if column not in obs.columns:
            raise InputError(f"{name}: no obs column {column!r} (--label-column, config expression.series[].label_column); "
                             f"obs columns: {format_names(obs.columns, limit=10)}.")
        return column
    found = next((c for c in LABEL_CANDIDATES if c in obs.columns), None)
    if found is None:
        raise InputError(f"{name}: which obs column holds the HER2 labels? Name it with --label-column "
                         f"(config expression.series[].label_column); obs columns: {format_names(obs.columns, limit=10)}.")
    return found


def _json_safe(obj: Any) -> str:
    return json.dumps(obj, default=str, sort_keys=False)


def to_anndata(result: Any) -> Any:
    """An expression stage's result as AnnData: ``X`` = expression, ``obs`` = HER2 (and series).

    Parameters
    ----------
    result
        A :class:`~radiogenomics.expression.SeriesResult` or
        :class:`~radiogenomics.expression.ExpressionResult`.

    Returns
    -------
    anndata.AnnData
        ``obs`` columns ``her2`` (int8, 1/0) and ``series``; ``var_names`` the genes;
        ``uns["radiogenomics"]`` the stage, its parameters (JSON text) and whether the data are
        synthetic.
    """
    expression = getattr(result, "expression", None)
    labels = getattr(result, "labels", None)
    if not isinstance(expression, pd.DataFrame) or labels is None:
        raise InputError(f"to_anndata needs a series or merged expression result; got {type(result).__name__}.")
    obs = pd.DataFrame({"her2": labels.reindex(expression.index).astype("int8").to_numpy(),
                        "series": result._sample_series().reindex(expression.index).astype(str).to_numpy()},
                       index=expression.index.map(str))
    obs["series"] = obs["series"].astype("category")
    var = pd.DataFrame(index=expression.columns.map(str))
    adata = _anndata().AnnData(X=expression.to_numpy(dtype=np.float64), obs=obs, var=var)
    adata.uns["radiogenomics"] = {"stage": result.stage, "parameters": _json_safe(dict(result.parameters)),
                                  "synthetic": bool(result.synthetic)}
    return adata


def write_h5ad(result: Any, path: str | os.PathLike) -> Path:
    """Write an expression result as an ``.h5ad`` file, atomically (see :func:`to_anndata`).

    Parameters
    ----------
    result
        A series or merged expression result.
    path
        Destination (``.h5ad``).

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    adata = to_anndata(result)
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp)
    return path
