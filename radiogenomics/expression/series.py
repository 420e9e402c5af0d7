"""One series from file to gene-level expression and HER2 labels: scale check, mapping, labelling.

Two ways in, one result (:class:`SeriesResult`, stage ``"series"``):

- :func:`prepare_series`: a GEO series (:func:`read_series` reads or downloads it) labelled by
  its manifest's rules, probes mapped to genes;
- :func:`import_series`: a local expression table and its 0/1 labels, taken as they are
  (orientation detected from the labels' ids; the scale is declared, not inferred).

:func:`radiogenomics.expression.merge_series` takes these results directly: each carries its
name, scale and log pseudo-count in ``parameters``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .._io import orient_samples, read_labels, read_table
from .._logging import get_logger
from .._results import StageResult, dropped_table, is_synthetic
from .._validation import (
    DataFileError,
    InputError,
    MissingDataFileError,
    ParameterError,
    check_choice,
    check_float,
    check_gene_symbols,
    check_table,
    format_names,
)
from .geo import (
    GeoSeries,
    fetch_geo,
    read_local_series,
    read_series_matrix,
    read_soft,
    series_sample_check,
)
from .labels import (
    Manifest,
    check_counts,
    label_samples,
    labels_from_decisions,
    unmatched_policy,
)
from .platforms import map_probes, read_platform_table

__all__ = [
    "SeriesResult",
    "ScaleError",
    "SCALES",
    "infer_scale",
    "check_scale",
    "read_series",
    "prepare_series",
    "import_series",
]

log = get_logger(__name__)

#: The value scales a series may declare.
SCALES = ("linear", "log2")

#: Columns of the ``dropped`` tables of the expression stages after ``kind``, ``item``, ``reason``.
DROPPED_EXTRA = ("series", "rule", "detail")

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class ScaleError(InputError):
    """The values' scale (log2 or linear) contradicts the manifest."""


def infer_scale(values: pd.DataFrame | np.ndarray) -> dict[str, Any]:
    """Guess whether values are log-scale or linear, with GEO2R's rule.

    GEO2R log-transforms when ``q99 > 100``, or ``max - min > 50`` with ``q25 > 0``, or
    ``0 < q25 < 1`` with ``1 < q75 < 2`` (ratio data); such values are linear, others log.

    Parameters
    ----------
    values
        Any numeric table; NaN ignored.

    Returns
    -------
    dict
        ``scale`` (``"log2"`` or ``"linear"``) and the quantiles ``min``, ``q25``, ``q50``,
        ``q75``, ``q99``, ``max``.
    """
    arr = np.asarray(values, dtype=float).ravel()
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        raise InputError("infer_scale: no finite values.")
    q = np.quantile(arr, [0, 0.25, 0.5, 0.75, 0.99, 1.0])
    linear = bool(q[4] > 100 or (q[5] - q[0] > 50 and q[1] > 0) or (0 < q[1] < 1 and 1 < q[3] < 2))
    keys = ("min", "q25", "q50", "q75", "q99", "max")
    return {"scale": "linear" if linear else "log2", **{k: float(v) for k, v in zip(keys, q)}}


def check_scale(values: pd.DataFrame, manifest: Manifest) -> dict[str, Any]:
    """Raise :class:`ScaleError` when the values' scale contradicts ``manifest.scale``.

    Parameters
    ----------
    values
        Rows = samples.
    manifest
        Series manifest.

    Returns
    -------
    dict
        Output of :func:`infer_scale`.
    """
    info = infer_scale(values)
    if info["scale"] != manifest.scale:
        looks = "linear (un-logged)" if info["scale"] == "linear" else "log-scale"
        raise ScaleError(
            f"{manifest.accession}: values look {looks} (min {info['min']:.3g}, median {info['q50']:.3g}, "
            f"99th percentile {info['q99']:.3g}, max {info['max']:.3g}; GEO2R's rule) but {manifest.source} "
            f"declares scale: {manifest.scale}. Fix the manifest's scale, or the file if it is the wrong one."
        )
    return info


# ---------------------------------------------------------------------------------- the result
class _LabelledTables:
    """The labels file of both expression stages: ``sample_id``, ``her2`` and ``series`` of each sample.

    The ``labels`` attribute stays a 0/1 Series (what :func:`radiogenomics.associate` reads);
    the series of each sample is written beside it and read back into ``series`` where the
    result has such a field.
    """

    labels: pd.Series

    def _sample_series(self) -> pd.Series:
        raise NotImplementedError

    def tables(self) -> dict[str, pd.DataFrame]:
        """The result's tables by file stem; ``labels`` holds ``her2`` and ``series``.

        Returns
        -------
        dict
            Stem → DataFrame, in the order of :data:`radiogenomics._results.LAYOUT`.
        """
        out = super().tables()  # type: ignore[misc]
        if self.labels is not None:
            frame = pd.DataFrame({"her2": self.labels.astype("int8"),
                                  "series": self._sample_series().reindex(self.labels.index).astype(str)})
            frame.index.name = "sample_id"
            out["labels"] = frame
        return out

    @staticmethod
    def _split_labels(tables: dict[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], pd.Series | None]:
        """``labels`` (her2 + series) → the her2 table and the series of each sample."""
        tables = dict(tables)
        lab = tables.get("labels")
        if lab is None or "series" not in lab.columns:
            return tables, None
        tables["labels"] = lab.drop(columns="series")
        return tables, lab["series"].astype(str)


@dataclass(frozen=True)
class SeriesResult(_LabelledTables, StageResult):
    """One expression series ready for merging and association: gene-level values of labelled samples.

    Attributes
    ----------
    expression
        Rows = labelled samples (positive or negative; index ``sample_id``), columns = genes;
        values on the series' own scale (``parameters["scale"]``).
    labels
        1/0 labels of those samples (``int8``, named ``her2``). Written with a ``series``
        column (the series' name).
    decisions
        Every sample with its decision (see :func:`~radiogenomics.expression.label_samples`),
        the excluded included: ``series``, ``status``, ``her2``, ``rule``, ``reason``, ``raw``.
        Written as ``label_decisions``.
    counts
        Observed against expected label counts (see :func:`~radiogenomics.expression.check_counts`).
    probes
        Probe decisions (``None`` for gene-level input): ``symbol``, ``gene``, ``decision``,
        ``mean``, index ``probe``.
    parameters
        ``name``, ``accession``, ``source``, ``manifest``, ``platform``, ``manifest_platform``,
        ``platform_table``, ``gene_level``, ``scale``, ``log_offset``, ``multi``, ``collapse``,
        ``scale_check``, ``unmatched`` and ``observed_scale`` (GEO2R's rule on the values, see
        :func:`infer_scale`); for an imported table ``expression``, ``labels`` and ``transposed``.
    dropped
        ``kind`` (``"sample"``, ``"probe"``, ``"gene"``), ``item``, ``reason``, then ``series``,
        ``rule`` (the manifest rule that excluded a sample) and ``detail`` (the raw HER2
        text, the probe's symbol, the missing count).
    synthetic
        The inputs were synthetic.
    """

    stage: ClassVar[str] = "series"
    TABLE_ATTRS: ClassVar[Mapping[str, str]] = {"label_decisions": "decisions"}
    SERIES_TABLES: ClassVar[tuple[str, ...]] = ("labels",)

    expression: pd.DataFrame
    labels: pd.Series
    decisions: pd.DataFrame | None = None
    counts: pd.DataFrame | None = None
    probes: pd.DataFrame | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    dropped: pd.DataFrame = field(default_factory=lambda: dropped_table(extra=DROPPED_EXTRA))
    synthetic: bool = False

    @property
    def name(self) -> str:
        """The series' name (its accession for a GEO series)."""
        return str(self.parameters.get("name") or self.parameters.get("accession") or "series")

    @property
    def scale(self) -> str | None:
        """``"log2"`` or ``"linear"``: the scale of :attr:`expression` (``None`` when not recorded)."""
        scale = self.parameters.get("scale")
        return None if scale is None else str(scale)

    @property
    def log_offset(self) -> float:
        """Pseudo-count added before the log (0 for linear values)."""
        return float(self.parameters.get("log_offset") or 0.0)

    def _sample_series(self) -> pd.Series:
        return pd.Series(self.name, index=self.labels.index, name="series")

    def overview(self) -> dict[str, Any]:
        """Counts of the result.

        Returns
        -------
        dict
            ``n_samples`` (labelled), ``n_positive``, ``n_negative``, ``n_excluded``,
            ``n_genes``, ``counts_match`` (``None`` when nothing is expected), ``probes_<decision>``
            (mapped series only) and ``dropped``.
        """
        out: dict[str, Any] = {"n_samples": int(len(self.labels)), "n_positive": int((self.labels == 1).sum()),
                               "n_negative": int((self.labels == 0).sum())}
        if self.decisions is not None:
            out["n_excluded"] = int((self.decisions["status"] == "excluded").sum())
        out["n_genes"] = int(self.expression.shape[1])
        match = None
        if self.counts is not None and self.counts["expected"].notna().any():
            match = bool(self.counts["match"].fillna(True).all())
        out["counts_match"] = match
        if self.probes is not None:
            out.update({f"probes_{k}": int(v) for k, v in self.probes["decision"].value_counts().items()})
        out["dropped"] = int(len(self.dropped))
        return out

    @classmethod
    def _from_tables(cls, tables: dict[str, pd.DataFrame], *, record: Mapping[str, Any], folder: Path) -> SeriesResult:
        tables, _ = cls._split_labels(tables)
        return super()._from_tables(tables, record=record, folder=folder)  # type: ignore[return-value]


# ---------------------------------------------------------------------------------- GEO series
def read_series(
    accession: str,
    manifest: Manifest,
    *,
    soft: str | os.PathLike | None = None,
    series_matrix: str | os.PathLike | None = None,
    samples: str | os.PathLike | pd.DataFrame | None = None,
    expression: str | os.PathLike | pd.DataFrame | None = None,
    kind: str = "soft",
    cache_dir: str | os.PathLike | None = None,
    retries: int = 3,
) -> GeoSeries:
    """Read a GEO series from a local file, or download it (with cache) when none is given.

    Parameters
    ----------
    accession
        ``GSE...`` accession.
    manifest
        Its manifest (checked to be for ``accession``; gives the platform and how a local
        samples table is read).
    soft, series_matrix
        A local SOFT family file or series-matrix file.
    samples, expression
        A local samples table and genes × samples matrix (together; see
        :func:`~radiogenomics.expression.read_local_series`).
    kind
        File to download without a local one: ``"soft"`` or ``"series_matrix"``.
    cache_dir
        Download cache (see :func:`~radiogenomics.expression.default_cache_dir`).
    retries
        Download attempts.

    Returns
    -------
    GeoSeries
        ``source`` is the file read (the cached download included).
    """
    if manifest.accession != accession:
        raise ParameterError(f"manifest {manifest.source} is for {manifest.accession}, not {accession}.")
    if (samples is None) != (expression is None):
        raise ParameterError("read_series: samples and expression must be given together.")
    if sum(x is not None for x in (soft, series_matrix, samples)) > 1:
        raise ParameterError("read_series: give only one of soft, series_matrix or samples/expression.")
    if samples is not None and expression is not None:
        return read_local_series(samples, expression, accession=accession, platform=manifest.platform,
                                 sample_id=manifest.local.get("sample_id", "geo_accession"),
                                 expression_column=manifest.local.get("expression_column"))
    if series_matrix is not None:
        return read_series_matrix(series_matrix, accession=accession)
    if soft is not None:
        return read_soft(soft, geotype="GSE", accession=accession)
    path = fetch_geo(accession, kind=kind, cache_dir=cache_dir, retries=retries)
    try:
        if kind == "soft":
            return read_soft(path, geotype="GSE", accession=accession)
        return read_series_matrix(path, accession=accession)
    except (InputError, OSError, EOFError, UnicodeError) as exc:  # a cut-short or corrupt download in the cache
        raise DataFileError(
            f"{path}: the cached GEO download of {accession} cannot be read ({' '.join(str(exc).split())}); "
            "it is corrupt or cut short: delete it and run again to download it anew (or place a good copy "
            "there)."
        ) from exc


def _drop_incomplete_genes(expression: pd.DataFrame, *, series: str) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Drop genes with a missing value in some sample; one ``dropped`` row each."""
    gaps = expression.isna().sum(axis=0)
    gap_genes = gaps.index[gaps > 0]
    rows = [{"kind": "gene", "item": g, "reason": "missing values", "series": series,
             "detail": f"missing in {int(gaps[g])} of {len(expression)} samples"} for g in gap_genes]
    if len(gap_genes):
        log.warning("%s: %d gene(s) with missing values dropped (listed in dropped)", series, len(gap_genes))
        expression = expression.drop(columns=gap_genes)
    if expression.shape[1] == 0:
        raise InputError(f"{series}: every gene has a missing value in some sample; nothing is left.")
    return expression, rows


def _dropped(parts: list[pd.DataFrame | list[dict[str, Any]]]) -> pd.DataFrame:
    """Concatenate drop records (tables or rows) into one ``dropped`` table."""
    rows: list[dict[str, Any]] = []
    for part in parts:
        rows += part.to_dict("records") if isinstance(part, pd.DataFrame) else list(part)
    return dropped_table(rows, extra=DROPPED_EXTRA)


def prepare_series(
    series: GeoSeries,
    manifest: Manifest,
    *,
    platform_table: str | os.PathLike | pd.DataFrame | None = None,
    multi: str = "drop",
    collapse: str = "max_mean",
    scale_check: bool = True,
    unmatched: str | None = None,
) -> SeriesResult:
    """Check the scale, map probes to genes, label samples and keep the labelled ones.

    Parameters
    ----------
    series
        Series as read by :mod:`radiogenomics.expression.geo` (or :func:`read_series`).
    manifest
        Its manifest (platform, scale, rules, expected counts).
    platform_table
        Probe → symbol table (or its file); the SOFT file's platform table when ``None``.
        Not used for gene-level series.
    multi, collapse
        Mapping options (see :func:`radiogenomics.expression.platforms.map_probes`).
    scale_check
        Raise :class:`ScaleError` when the values contradict the manifest's scale.
    unmatched
        Override of the manifest's policy for HER2 text no rule matches.

    Returns
    -------
    SeriesResult
    """
    check_choice(multi, "multi", owner="prepare_series", choices=("drop", "first", "split"))
    check_choice(collapse, "collapse", owner="prepare_series", choices=("max_mean", "mean", "median"))
    series_sample_check(series)
    acc = manifest.accession
    table_file = str(platform_table) if isinstance(platform_table, (str, os.PathLike)) else None
    parameters: dict[str, Any] = {
        "name": acc, "accession": acc, "source": None if series.source is None else str(series.source),
        "manifest": manifest.source, "platform": series.platform, "manifest_platform": manifest.platform,
        "platform_table": table_file, "gene_level": bool(series.gene_level), "scale": manifest.scale,
        "log_offset": float(manifest.log_offset), "multi": multi, "collapse": collapse, "scale_check": scale_check,
        "unmatched": unmatched_policy(manifest, unmatched), "observed_scale": None,
    }
    if series.platform and series.platform != manifest.platform:
        log.warning("%s: samples are on %s but the manifest says %s", acc, series.platform, manifest.platform)
    if scale_check:
        parameters["observed_scale"] = check_scale(series.values, manifest)
    dropped: list[pd.DataFrame | list[dict[str, Any]]] = [series.dropped]
    decisions = label_samples(series.characteristics, manifest, unmatched=unmatched)
    no_values = decisions.index.difference(series.values.index)
    if len(no_values):
        decisions.loc[no_values, ["status", "rule", "reason"]] = ["excluded", "no_expression", "no expression values"]
        decisions.loc[no_values, "her2"] = pd.NA
    extra = series.values.index.difference(decisions.index)
    if len(extra):
        raise InputError(f"{acc}: sample(s) {format_names(extra)} have values but no characteristics.")
    if not (decisions["status"] != "excluded").any():  # zero labelled samples is an error, never an empty result
        reasons = decisions["reason"].astype(str).value_counts()
        shown = "; ".join(f"{n} {reason}" for reason, n in reasons.head(3).items())
        raise InputError(f"{acc}: no sample has a 0/1 HER2 label: all {len(decisions)} were excluded ({shown}); "
                         f"check the manifest's HER2 and inclusion rules ({manifest.source}).")
    probes = None
    if series.gene_level:
        genes = series.values
    else:
        table = platform_table if platform_table is not None else series.platform_table
        if table is None:
            raise MissingDataFileError(
                f"{acc}: the input carries no platform table for {series.platform or manifest.platform}; pass "
                "a probe -> symbol table (--platform-table, e.g. ../shared/data/gpl570/GPL570_probe_to_symbol.csv.gz)."
            )
        if not isinstance(table, pd.DataFrame):
            table = read_platform_table(table)
        mapping = map_probes(series.values, table, multi=multi, collapse=collapse, series=acc)
        genes, probes = mapping.expression, mapping.probes
        dropped.append(mapping.dropped)
    check_gene_symbols(genes.columns, name=acc)
    all_nan = genes.index[genes.isna().all(axis=1)]
    if len(all_nan):
        sel = decisions.index.isin(all_nan) & (decisions["status"] != "excluded")
        decisions.loc[sel, ["status", "rule", "reason"]] = ["excluded", "no_expression", "every value missing"]
        decisions.loc[sel, "her2"] = pd.NA
    keep = decisions.index[decisions["status"] != "excluded"]
    excluded = decisions[decisions["status"] == "excluded"]
    dropped.append([{"kind": "sample", "item": r.Index, "reason": str(r.reason), "series": acc, "rule": str(r.rule),
                     "detail": str(r.raw)} for r in excluded.itertuples()])
    expression = genes.loc[genes.index.isin(keep)].reindex(keep)
    expression, gene_rows = _drop_incomplete_genes(expression, series=acc)
    dropped.append(gene_rows)
    expression.index.name = "sample_id"
    labels = labels_from_decisions(decisions).reindex(expression.index)
    labels.index.name = "sample_id"
    counts = check_counts(decisions, manifest)
    if labels.nunique() < 2:
        log.warning("%s: only one HER2 class among the labelled samples", acc)
    return SeriesResult(expression=expression, labels=labels, decisions=decisions, counts=counts, probes=probes,
                        parameters=parameters, dropped=_dropped(dropped),
                        synthetic=is_synthetic(series.source, series.values))


# ---------------------------------------------------------------------------------- local tables
def import_series(
    expression: str | os.PathLike | pd.DataFrame | Any,
    labels: str | os.PathLike | pd.Series | None = None,
    *,
    name: str,
    scale: str = "linear",
    log_offset: float = 0.0,
    label_column: str | None = None,
) -> SeriesResult:
    """A local expression table and its labels, taken as they are, as a series result.

    The table may store samples as rows or as columns: its orientation is detected from the
    labels' sample ids (:func:`radiogenomics._io.orient_samples`). An AnnData (``.h5ad``) file
    or object is read with its HER2 labels from an ``obs`` column. Nothing is mapped or
    relabelled; the declared ``scale`` is recorded (and compared with GEO2R's rule, which only
    warns here: the caller knows the table). Samples whose label is unknown (empty, ``NA``,
    ``unknown``...) or absent from the labels, and labelled samples without values, are
    excluded with their reason (``label_decisions`` and ``dropped``); any other label value is
    an error that names the sample.

    Parameters
    ----------
    expression
        Expression table (or file: CSV/TSV/Parquet, or ``.h5ad``), samples × genes or genes ×
        samples; or an ``AnnData``.
    labels
        0/1 HER2 labels (or a labels file: sample id, ``her2``). ``None``: the labels are the
        ``label_column`` of the table (a column, or a row when samples are columns) or of the
        AnnData's ``obs``.
    name
        The series' name (letters, digits, ``_``, ``.``, ``-``): its folder and its label in
        the merged table.
    scale
        ``"linear"`` or ``"log2"``: the values' scale (log2 values are un-logged before
        max-normalisation when merged).
    log_offset
        Pseudo-count added before the log (e.g. 0.1 for ``log2(FPKM + 0.1)``).
    label_column
        The labels' column: in the labels file, or in the table / ``obs`` when ``labels`` is
        ``None`` (AnnData default: the first of ``her2``, ``HER2``, ``her2_status``, ``label``).

    Returns
    -------
    SeriesResult
        ``expression`` (rows = labelled samples), ``labels``, a ``label_decisions`` table
        (every sample: ``positive``, ``negative`` or ``excluded`` with the rule ``labels_table``,
        ``missing``, ``no_label`` or ``no_expression``) and ``counts`` (nothing expected).
    """
    from .._io import labels_with_unknown, split_label_column
    from .anndata import is_anndata, label_column_of, read_h5ad

    if not isinstance(name, str) or not _NAME.match(name):
        raise ParameterError(
            f"The 'name' parameter of import_series must be letters, digits, '_', '.' or '-'. Got {name!r} instead."
        )
    check_choice(scale, "scale", owner="import_series", choices=SCALES)
    log_offset = check_float(log_offset, "log_offset", owner="import_series", min_value=0.0)
    synthetic = is_synthetic(expression, labels)
    ename = str(expression) if isinstance(expression, (str, os.PathLike)) else f"{name} expression"
    lname = str(labels) if isinstance(labels, (str, os.PathLike)) else f"{name} labels"
    raw_labels = None
    if is_anndata(expression):
        table, obs = read_h5ad(expression)
        if labels is None:
            column = label_column_of(obs, label_column, name=ename)
            raw_labels = obs[column]
            lname = f"{ename} obs[{column!r}]"
    else:
        table = read_table(expression, numeric=False) if isinstance(expression, (str, os.PathLike)) else expression
        if not isinstance(table, pd.DataFrame):
            raise InputError(f"{ename} must be a DataFrame, an AnnData or a table file; got {type(table).__name__}.")
        if labels is None:
            if label_column is None:
                raise ParameterError(
                    f"import_series {name}: give the labels (--labels FILE; config expression.series[].labels), or "
                    "name the table's label column (--label-column; config expression.series[].label_column)."
                )
            table, raw_labels = split_label_column(table, label_column, name=ename)
            lname = f"{ename} column {label_column!r}"
    if raw_labels is None:
        if isinstance(labels, (str, os.PathLike)):
            y_all = read_labels(labels, column=label_column, missing="keep")
        else:
            y_all = labels_with_unknown(labels, name=lname)
    else:
        y_all = labels_with_unknown(pd.Series(raw_labels.to_numpy(dtype=object), index=raw_labels.index.map(str)),
                                    name=lname)
    table = table.copy(deep=False)
    table.index = table.index.map(str)
    table.columns = table.columns.map(str)
    oriented = orient_samples(table, y_all.index, name=ename)
    transposed = oriented is not table
    from .._io import check_numeric_columns

    check_numeric_columns(oriented, name=ename)
    table = check_table(oriented, name=ename, allow_nan=True)
    # every sample of the table or the labels gets a decision; only the labelled ones are kept
    unknown = y_all.index[y_all.isna()]
    known = y_all.dropna()
    everyone = table.index.union(y_all.index, sort=False)
    decisions = pd.DataFrame(index=pd.Index(everyone, name="sample_id"))
    decisions["series"] = name
    decisions["status"] = "excluded"
    decisions["her2"] = pd.array([pd.NA] * len(decisions), dtype="Int8")
    decisions["rule"] = ""
    decisions["reason"] = ""
    decisions["raw"] = ""
    keep = table.index[table.index.isin(known.index)]
    yk = known.reindex(keep).astype("int8")
    decisions.loc[keep, "status"] = yk.map({1: "positive", 0: "negative"}).to_numpy()
    decisions.loc[keep, "her2"] = yk.to_numpy()
    decisions.loc[keep, "rule"] = "labels_table"
    decisions.loc[keep, "reason"] = ("label " + yk.astype(str) + " in " + lname).to_numpy()
    decisions.loc[keep, "raw"] = ("her2=" + yk.astype(str)).to_numpy()
    miss = table.index[table.index.isin(unknown)]
    decisions.loc[miss, ["rule", "reason", "raw"]] = ["missing", f"HER2 label unknown (empty or NA) in {lname}",
                                                      "her2=NA"]
    nolab = table.index.difference(y_all.index, sort=False)
    decisions.loc[nolab, ["rule", "reason", "raw"]] = ["no_label", f"not in {lname}", ""]
    novalue = known.index.difference(table.index, sort=False).union(unknown.difference(table.index, sort=False),
                                                                    sort=False)
    decisions.loc[novalue, ["rule", "reason", "raw"]] = ["no_expression", f"in {lname} but not in {ename}", ""]
    excluded = decisions[decisions["status"] == "excluded"]
    if len(excluded):
        counts = excluded["rule"].value_counts()
        log.warning("%s: %d sample(s) excluded (%s); listed with their reason in label_decisions and dropped",
                    name, len(excluded), ", ".join(f"{k}: {v}" for k, v in counts.items()))
    if len(keep) == 0:
        raise InputError(f"{ename}: no sample has a 0/1 HER2 label in {lname}; nothing to import.")
    table = table.loc[keep]
    check_gene_symbols(table.columns, name=ename)
    table, gene_rows = _drop_incomplete_genes(table, series=name)
    table.index.name = "sample_id"
    y = yk.rename("her2")
    y.index.name = "sample_id"
    observed = infer_scale(table)
    if observed["scale"] != scale:
        log.warning("%s: values look %s by GEO2R's rule (median %.3g, 99th percentile %.3g) but scale=%r was "
                    "declared (--scale, config expression.series[].scale); check the scale", name, observed["scale"],
                    observed["q50"], observed["q99"], scale)
    sample_rows = [{"kind": "sample", "item": r.Index, "reason": r.reason, "series": name, "rule": r.rule,
                    "detail": r.raw} for r in excluded.itertuples()]
    parameters = {"name": name, "accession": None, "source": "anndata" if is_anndata(expression) else "table",
                  "expression": str(expression) if isinstance(expression, (str, os.PathLike)) else None,
                  "labels": str(labels) if isinstance(labels, (str, os.PathLike)) else None,
                  "label_column": label_column, "transposed": transposed, "gene_level": True, "scale": scale,
                  "log_offset": log_offset, "observed_scale": observed}
    log.info("%s: %d samples x %d genes imported (%d positive, %d negative, %d excluded)", name, table.shape[0],
             table.shape[1], int((y == 1).sum()), int((y == 0).sum()), len(excluded))
    return SeriesResult(expression=table, labels=y, decisions=decisions, counts=check_counts(decisions, None),
                        parameters=parameters, dropped=_dropped([sample_rows, gene_rows]), synthetic=synthetic)
