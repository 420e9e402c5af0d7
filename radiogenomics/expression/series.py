"""One series from file to gene-level expression and HER2 labels: scale check, mapping, labelling."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._logging import get_logger
from .._validation import InputError, MissingDataFileError, check_choice, format_names
from .geo import GeoSeries, series_sample_check
from .labels import Manifest, check_counts, label_samples, labels_from_decisions
from .platforms import map_probes

__all__ = ["PreparedSeries", "ScaleError", "infer_scale", "check_scale", "prepare_series"]

log = get_logger(__name__)


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


@dataclass
class PreparedSeries:
    """A series ready for the association: gene-level expression of labelled samples.

    Attributes
    ----------
    accession
        Series accession.
    expression
        Rows = labelled samples (positive or negative), columns = genes; values on the
        manifest's scale.
    labels
        1/0 labels of those samples (``int8``, named ``her2``).
    decisions
        Every sample with its decision (see :func:`label_samples`), including the excluded.
    dropped
        Everything dropped (samples, probes, genes) with ``item``, ``kind``, ``series``,
        ``reason``, ``detail``.
    counts
        Observed against expected label counts (see :func:`check_counts`).
    probes
        Probe decisions (``None`` for gene-level input).
    summary
        Counts and settings (scale check, mapping counts, platform, ...).
    """

    accession: str
    expression: pd.DataFrame
    labels: pd.Series
    decisions: pd.DataFrame
    dropped: pd.DataFrame
    counts: pd.DataFrame
    probes: pd.DataFrame | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def prepare_series(
    series: GeoSeries,
    manifest: Manifest,
    *,
    platform_table: pd.DataFrame | None = None,
    multi: str = "drop",
    collapse: str = "max_mean",
    scale_check: bool = True,
    unmatched: str | None = None,
) -> PreparedSeries:
    """Check the scale, map probes to genes, label samples and keep the labelled ones.

    Parameters
    ----------
    series
        Series as read by :mod:`radiogenomics.expression.geo`.
    manifest
        Its manifest (platform, scale, rules, expected counts).
    platform_table
        Probe → symbol table; the SOFT file's platform table when ``None``. Not used for
        gene-level series.
    multi, collapse
        Mapping options (see :func:`radiogenomics.expression.platforms.map_probes`).
    scale_check
        Raise :class:`ScaleError` when the values contradict the manifest's scale.
    unmatched
        Override of the manifest's policy for HER2 text no rule matches.

    Returns
    -------
    PreparedSeries
    """
    check_choice(collapse, "collapse", owner="prepare_series", choices=("max_mean", "mean", "median"))
    series_sample_check(series)
    acc = manifest.accession
    summary: dict[str, Any] = {"accession": acc, "manifest": manifest.source, "source": str(series.source),
                               "platform": series.platform, "manifest_platform": manifest.platform}
    if series.platform and series.platform != manifest.platform:
        log.warning("%s: samples are on %s but the manifest says %s", acc, series.platform, manifest.platform)
    if scale_check:
        summary["scale_check"] = check_scale(series.values, manifest)
    dropped = [series.dropped]
    decisions = label_samples(series.characteristics, manifest, unmatched=unmatched)
    no_values = decisions.index.difference(series.values.index)
    if len(no_values):
        decisions.loc[no_values, ["status", "rule", "reason"]] = ["excluded", "no_expression", "no expression values"]
        decisions.loc[no_values, "her2"] = pd.NA
    extra = series.values.index.difference(decisions.index)
    if len(extra):
        raise InputError(f"{acc}: sample(s) {format_names(extra)} have values but no characteristics.")
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
        mapping = map_probes(series.values, table, multi=multi, collapse=collapse, series=acc)
        genes, probes = mapping.expression, mapping.probes
        dropped.append(mapping.dropped)
        summary["mapping"] = mapping.counts
    all_nan = genes.index[genes.isna().all(axis=1)]
    if len(all_nan):
        sel = decisions.index.isin(all_nan) & (decisions["status"] != "excluded")
        decisions.loc[sel, ["status", "rule", "reason"]] = ["excluded", "no_expression", "every value missing"]
        decisions.loc[sel, "her2"] = pd.NA
    keep = decisions.index[decisions["status"] != "excluded"]
    excluded = decisions[decisions["status"] == "excluded"]
    dropped.append(pd.DataFrame({"item": excluded.index, "kind": "sample", "series": acc,
                                 "reason": "excluded: " + excluded["rule"].astype(str),
                                 "detail": excluded["reason"].astype(str)}))
    expression = genes.loc[genes.index.isin(keep)].reindex(keep)
    gaps = expression.isna().sum(axis=0)
    gap_genes = gaps.index[gaps > 0]
    if len(gap_genes):
        log.warning("%s: %d gene(s) with missing values dropped (listed in dropped)", acc, len(gap_genes))
        dropped.append(pd.DataFrame({"item": gap_genes, "kind": "gene", "series": acc,
                                     "reason": "missing values",
                                     "detail": [f"missing in {int(gaps[g])} of {len(keep)} samples" for g in gap_genes]}))
        expression = expression.drop(columns=gap_genes)
    labels = labels_from_decisions(decisions).reindex(expression.index)
    counts = check_counts(decisions, manifest)
    dropped_table = pd.concat([d for d in dropped if len(d)], ignore_index=True) if any(len(d) for d in dropped) \
        else dropped[0]
    summary.update({
        "samples": int(len(decisions)), "positive": int((decisions["status"] == "positive").sum()),
        "negative": int((decisions["status"] == "negative").sum()),
        "excluded": int((decisions["status"] == "excluded").sum()), "genes": int(expression.shape[1]),
        "counts_match": bool(counts["match"].fillna(True).all()) if manifest.expected_counts else None,
        "scale": manifest.scale, "log_offset": manifest.log_offset, "multi": multi, "collapse": collapse,
    })
    if labels.nunique() < 2:
        log.warning("%s: only one HER2 class among the labelled samples", acc)
    return PreparedSeries(accession=acc, expression=expression, labels=labels, decisions=decisions,
                          dropped=dropped_table, counts=counts, probes=probes, summary=summary)
