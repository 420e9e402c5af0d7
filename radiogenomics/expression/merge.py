"""Merging several series: gene intersection, per-series max-normalisation, optional ComBat.

Order: (1) genes present in every series are kept and the loss is reported; (2) each series
is max-normalised on its own (log2 series are un-logged first, explicitly, with their
manifest's pseudo-count; a gene whose maximum is ≤ 0 there, i.e. at the detection floor, is left
unchanged: the one rule of :mod:`.normalize`, recorded per series in
``parameters["max_normalization"]``); (3) optionally ComBat (inmoose
``pycombat_norm``) removes series effects with HER2 status as a protected covariate; (4) the
separation of series is measured before and after (silhouette of series labels on the first
principal components, and the fraction of each gene's variance explained by series).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .._logging import get_logger, timed
from .._results import StageResult, dropped_table, is_synthetic
from .._validation import (
    InputError,
    ParameterError,
    check_choice,
    check_int,
    check_labels,
    format_names,
)
from .normalize import max_normalize, max_scales, normalization_record, unlog
from .series import SCALES, SeriesResult, _LabelledTables

__all__ = ["ExpressionResult", "batch_separation", "merge_series", "pca_scores", "standardized"]

log = get_logger(__name__)

#: Columns of the merge's ``dropped`` table after ``kind``, ``item``, ``reason``.
DROPPED_EXTRA = ("series", "detail")


@dataclass(frozen=True)
class ExpressionResult(_LabelledTables, StageResult):
    """Result of :func:`merge_series`: one expression table of every series, with HER2 labels.

    Attributes
    ----------
    expression
        Rows = samples of every series (index ``sample_id``), columns = the shared genes;
        max-normalised per series (and ComBat-corrected with ``combat=True``).
    labels
        1/0 HER2 labels (``int8``, ``her2``) of those samples: with :attr:`expression`, what
        :func:`radiogenomics.associate` reads from this result.
    series
        The series of each sample (same index). Written in the ``labels`` table beside ``her2``.
    series_genes
        Per series: ``series``, ``genes`` (input), ``kept``, ``lost``, ``samples``.
    batch_check
        Per step (``concatenated``, ``max_normalized``, ``combat``): ``stage``, ``silhouette``,
        ``variance_fraction``, ``n_samples``, ``n_genes`` (see :func:`batch_separation`).
    parameters
        ``series`` (names, in order), ``scales``, ``log_offsets``, ``combat``,
        ``combat_covariate`` (``"her2"`` when HER2 status was protected, else ``None``),
        ``n_components``, ``max_normalization`` (per series: see
        :func:`~radiogenomics.expression.normalize.normalization_record`).
    dropped
        Genes left out: ``kind`` (``"gene"``), ``item``, ``reason`` (not in every series;
        constant within a series under ComBat), ``series``, ``detail``.
    synthetic
        Some input series was synthetic.
    """

    stage: ClassVar[str] = "expression"
    SERIES_TABLES: ClassVar[tuple[str, ...]] = ("labels",)

    expression: pd.DataFrame
    labels: pd.Series
    series: pd.Series
    series_genes: pd.DataFrame
    batch_check: pd.DataFrame
    parameters: Mapping[str, Any] = field(default_factory=dict)
    dropped: pd.DataFrame = field(default_factory=lambda: dropped_table(extra=DROPPED_EXTRA))
    synthetic: bool = False

    def _sample_series(self) -> pd.Series:
        return self.series

    @property
    def separation_reduced(self) -> bool | None:
        """Whether ComBat lowered both the silhouette and the variance share of series (``None`` without ComBat)."""
        check = self.batch_check.set_index("stage")
        if "combat" not in check.index:
            return None
        before, after = check.loc["max_normalized"], check.loc["combat"]
        return bool(after["silhouette"] < before["silhouette"]
                    and after["variance_fraction"] < before["variance_fraction"])

    def overview(self) -> dict[str, Any]:
        """Counts of the result.

        Returns
        -------
        dict
            ``n_samples``, ``n_genes``, ``n_series``, ``n_positive``, ``n_negative``,
            ``separation_reduced`` (``None`` without ComBat), ``dropped``.
        """
        return {"n_samples": int(self.expression.shape[0]), "n_genes": int(self.expression.shape[1]),
                "n_series": int(self.series.nunique()), "n_positive": int((self.labels == 1).sum()),
                "n_negative": int((self.labels == 0).sum()), "separation_reduced": self.separation_reduced,
                "dropped": int(len(self.dropped))}

    @classmethod
    def _from_tables(cls, tables: dict[str, pd.DataFrame], *, record: Mapping[str, Any],
                     folder: Path) -> ExpressionResult:
        tables, series = cls._split_labels(tables)
        res = super()._from_tables(tables, record=record, folder=folder)
        if series is not None:
            res = dataclasses.replace(res, series=series.rename("series"))
        return res  # type: ignore[return-value]


def standardized(data: pd.DataFrame) -> np.ndarray:
    """The table's varying columns, centred and scaled to unit variance (population SD).

    Parameters
    ----------
    data
        Rows = samples, columns = genes.

    Returns
    -------
    numpy.ndarray
        Samples × varying genes (constant genes left out).
    """
    x = data.to_numpy(dtype=float)
    x = x[:, x.std(axis=0) > 0]
    return (x - x.mean(axis=0)) / x.std(axis=0)


def pca_scores(z: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact principal-component scores of a centred matrix, and the share of variance of each.

    With fewer samples than genes the scores come from the samples' Gram matrix (n × n),
    much cheaper than an SVD of n × genes and identical up to the sign of each component.

    Parameters
    ----------
    z
        Centred samples × genes matrix (e.g. :func:`standardized`).
    n_components
        Components wanted (at most samples − 1 and genes).

    Returns
    -------
    tuple of numpy.ndarray
        Scores (samples × k) and the fraction of the total variance each component explains.
    """
    from sklearn.decomposition import PCA

    k = max(1, min(n_components, z.shape[0] - 1, z.shape[1]))
    if z.shape[0] < z.shape[1]:
        w, u = np.linalg.eigh(z @ z.T)
        order = np.argsort(w)[::-1][:k]
        scores = u[:, order] * np.sqrt(np.clip(w[order], 0, None))
    else:
        scores = PCA(n_components=k, svd_solver="full").fit_transform(z)
    total = float((z**2).sum())
    return scores, (scores**2).sum(axis=0) / total if total > 0 else np.full(k, np.nan)


def batch_separation(
    data: pd.DataFrame,
    batches: pd.Series,
    *,
    n_components: int = 10,
) -> dict[str, float]:
    """How strongly samples separate by batch (series).

    Parameters
    ----------
    data
        Rows = samples, columns = genes.
    batches
        Batch (series) of each sample, same index.
    n_components
        Principal components of the standardised genes used for the silhouette.

    Returns
    -------
    dict
        ``silhouette``: mean silhouette width of the batch labels on the PCA scores (−1..1;
        higher = series more separated); ``variance_fraction``: share of the total variance
        of the standardised genes explained by batch (pooled one-way ANOVA R², 0..1).
    """
    from sklearn.metrics import silhouette_score

    n_components = check_int(n_components, "n_components", owner="batch_separation", min_value=1)
    z = standardized(data)
    groups = pd.Series(batches).reindex(data.index).to_numpy()
    if len(np.unique(groups)) < 2 or z.shape[1] == 0:
        return {"silhouette": float("nan"), "variance_fraction": float("nan")}
    scores, _ = pca_scores(z, n_components)
    sil = float(silhouette_score(scores, groups)) if len(np.unique(groups)) < z.shape[0] else float("nan")
    between = 0.0
    for g in np.unique(groups):
        block = z[groups == g]
        between += block.shape[0] * float((block.mean(axis=0) ** 2).sum())
    total = float((z**2).sum())
    return {"silhouette": sil, "variance_fraction": between / total if total > 0 else float("nan")}


def _inputs(
    series: Mapping[str, Any] | Sequence[SeriesResult],
    labels: Mapping[str, pd.Series] | None,
    scales: Mapping[str, str] | None,
    log_offsets: Mapping[str, float] | None,
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.Series], dict[str, str], dict[str, float]]:
    """The tables, labels, scales and pseudo-counts of the series to merge, by name."""
    if isinstance(series, Mapping):
        items = list(series.items())
    elif isinstance(series, Sequence) and not isinstance(series, (str, pd.DataFrame)):
        items = [(getattr(r, "name", None), r) for r in series]
    else:
        raise InputError(f"merge_series: series must be series results or a mapping of them; got {type(series).__name__}.")
    if not items:
        raise InputError("merge_series needs at least one series.")
    results = [r for _, r in items if isinstance(r, SeriesResult)]
    if results:
        if len(results) != len(items):
            raise InputError("merge_series: give series results only, or tables only (with labels and scales).")
        if labels is not None or scales is not None or log_offsets is not None:
            raise ParameterError("merge_series: series results carry their labels, scales and log offsets; "
                                 "do not pass labels, scales or log_offsets with them.")
        names = [str(n) for n, _ in items]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InputError(f"merge_series: series name(s) {format_names(dup)} appear more than once.")
        unscaled = [n for n, r in zip(names, results) if r.parameters.get("scale") is None]
        if unscaled:
            raise InputError(f"merge_series: series {format_names(unscaled)} record no scale in their parameters "
                             "(folders not written by `geo fetch` / `geo import`?); the scale decides the un-logging.")
        return ({n: r.expression for n, r in zip(names, results)}, {n: r.labels for n, r in zip(names, results)},
                {n: r.scale for n, r in zip(names, results)}, {n: r.log_offset for n, r in zip(names, results)})
    if not isinstance(series, Mapping) or labels is None or scales is None:
        raise InputError("merge_series: tables need a mapping name -> table, with labels and scales by name.")
    if set(series) != set(labels) or set(series) - set(scales):
        raise InputError(
            f"merge_series: expressions ({format_names(series)}), labels ({format_names(labels)}) and "
            f"scales ({format_names(scales)}) must name the same series."
        )
    offsets = dict(log_offsets or {})
    return ({str(n): series[n] for n in series}, {str(n): labels[n] for n in series},
            {str(n): scales[n] for n in series}, {str(n): float(offsets.get(n, 0.0)) for n in series})


def merge_series(
    series: Mapping[str, SeriesResult] | Sequence[SeriesResult] | Mapping[str, pd.DataFrame],
    labels: Mapping[str, pd.Series] | None = None,
    *,
    scales: Mapping[str, str] | None = None,
    log_offsets: Mapping[str, float] | None = None,
    combat: bool = False,
    n_components: int = 10,
) -> ExpressionResult:
    """Merge series on their shared genes, max-normalise each, and optionally apply ComBat.

    Parameters
    ----------
    series
        Series results (:func:`~radiogenomics.expression.prepare_series`,
        :func:`~radiogenomics.expression.import_series`), as a list (named by their
        ``name``) or a mapping name → result; or, as tables, a mapping name → rows = samples,
        columns = genes (values on the series' own scale) with ``labels`` and ``scales``.
    labels
        With tables only: series name → 1/0 labels of the same samples.
    scales
        With tables only: series name → ``"log2"`` or ``"linear"``; log2 series are un-logged
        before max-normalisation (``2 ** x - offset``). A result carries its own.
    log_offsets
        With tables only: series name → pseudo-count added before the log (0 by default).
    combat
        Apply ComBat (inmoose ``pycombat_norm``, parametric) across series after
        normalisation, protecting HER2 status as a covariate.
    n_components
        Principal components for the batch check.

    Returns
    -------
    ExpressionResult
    """
    synthetic = is_synthetic(series)
    expressions, labels_by, scales_by, offsets = _inputs(series, labels, scales, log_offsets)
    n_components = check_int(n_components, "n_components", owner="merge_series", min_value=1)
    names = list(expressions)
    exprs, labs = {}, {}
    seen: dict[str, str] = {}
    for name in names:
        check_choice(scales_by[name], f"scales[{name!r}]", owner="merge_series", choices=SCALES)
        e = expressions[name].copy()
        e.index = e.index.map(str)
        e.columns = e.columns.map(str)
        lab = check_labels(labels_by[name], name=f"{name} labels")
        if not e.index.equals(lab.index):
            if set(e.index) != set(lab.index):
                raise InputError(f"{name}: expression and labels hold different samples "
                                 f"({format_names(e.index.symmetric_difference(lab.index))}).")
            lab = lab.reindex(e.index)
        both = [s for s in e.index if s in seen]
        if both:
            raise InputError(f"sample id(s) {format_names(both)} appear in both {seen[both[0]]} and {name}; "
                             "sample ids must be unique across series.")
        seen.update({s: name for s in e.index})
        exprs[name], labs[name] = e, lab
    shared = sorted(set.intersection(*(set(e.columns) for e in exprs.values())))
    drops: list[dict[str, Any]] = []
    union = sorted(set.union(*(set(e.columns) for e in exprs.values())))
    for g in union:
        present = [n for n in names if g in exprs[n].columns]
        if len(present) < len(names):
            missing = [n for n in names if n not in present]
            drops.append({"kind": "gene", "item": g, "reason": "not in every series", "series": ";".join(present),
                          "detail": f"missing from {', '.join(missing)}"})
    if not shared:
        raise InputError(f"series {format_names(names)} share no gene; check that all are gene-level symbols.")
    genes = pd.DataFrame([{"series": n, "genes": exprs[n].shape[1], "kept": len(shared),
                           "lost": exprs[n].shape[1] - len(shared), "samples": exprs[n].shape[0]} for n in names])
    for row in genes.itertuples():
        log.info("%s: %d of %d genes kept in the intersection (%d lost)", row.series, row.kept, row.genes, row.lost)
    batch = pd.Series({s: n for n in names for s in exprs[n].index}, name="series")
    concatenated = pd.concat([exprs[n][shared] for n in names])
    linear = {n: unlog(exprs[n][shared], base=2.0, offset=offsets[n]) if scales_by[n] == "log2" else exprs[n][shared]
              for n in names}
    normalization = {n: normalization_record(max_scales(linear[n], name=n)) for n in names}
    normalized = pd.concat([max_normalize(linear[n], name=n) for n in names])
    her2 = pd.concat([labs[n] for n in names]).reindex(normalized.index)
    if combat:
        if len(names) < 2:
            raise InputError("combat=True needs at least two series.")
        sd = normalized.groupby(batch.reindex(normalized.index)).std()
        const = sd.columns[(sd == 0).any(axis=0)]
        for g in const:
            ns = list(sd.index[sd[g] == 0])
            drops.append({"kind": "gene", "item": g, "reason": "constant within a series (ComBat undefined)",
                          "series": ";".join(ns), "detail": f"in {', '.join(ns)}"})
        if len(const):
            log.warning("ComBat: %d gene(s) constant within a series dropped (listed in dropped)", len(const))
            normalized = normalized.drop(columns=const)
            concatenated = concatenated.drop(columns=const)
            shared = [g for g in shared if g not in set(const)]
            genes["kept"] = len(shared)
            genes["lost"] = genes["genes"] - genes["kept"]
    stages = [("concatenated", concatenated), ("max_normalized", normalized)]
    final = normalized
    covariate = None
    if combat:
        final, protected = _combat(normalized, batch.reindex(normalized.index), her2)
        covariate = "her2" if protected else None
        stages.append(("combat", final))
    checks = []
    with timed("batch separation check", logger=log):
        for stage, table in stages:
            m = batch_separation(table, batch, n_components=n_components) if len(names) > 1 else \
                {"silhouette": float("nan"), "variance_fraction": float("nan")}
            checks.append({"stage": stage, **m, "n_samples": table.shape[0], "n_genes": table.shape[1]})
    final.index.name = "sample_id"
    her2 = her2.astype("int8").rename("her2")
    her2.index.name = "sample_id"
    sample_series = batch.reindex(final.index)
    sample_series.index.name = "sample_id"
    parameters = {"series": names, "scales": scales_by, "log_offsets": offsets, "combat": bool(combat),
                  "combat_covariate": covariate, "n_components": n_components, "max_normalization": normalization}
    result = ExpressionResult(expression=final, labels=her2, series=sample_series, series_genes=genes,
                              batch_check=pd.DataFrame(checks), parameters=parameters,
                              dropped=dropped_table(drops, extra=DROPPED_EXTRA), synthetic=synthetic)
    if combat:
        check = result.batch_check.set_index("stage")
        before, after = check.loc["max_normalized"], check.loc["combat"]
        (log.info if result.separation_reduced else log.warning)(
            "series separation before/after ComBat: silhouette %.3f -> %.3f, variance explained by series %.3f -> %.3f%s",
            before["silhouette"], after["silhouette"], before["variance_fraction"], after["variance_fraction"],
            "" if result.separation_reduced else " (NOT reduced)",
        )
    return result


def _combat(data: pd.DataFrame, batch: pd.Series, her2: pd.Series) -> tuple[pd.DataFrame, bool]:
    """ComBat across series with HER2 status protected (when not confounded); genes × samples for inmoose."""
    from inmoose.pycombat import pycombat_norm

    sizes = batch.value_counts()
    if (sizes < 2).any():
        raise InputError(f"ComBat needs at least 2 samples per series; {format_names(sizes.index[sizes < 2])} have 1.")
    confounded = her2.groupby(batch).nunique()
    covar = her2.to_numpy().tolist() if (confounded > 1).all() else None
    if covar is None:
        log.warning("ComBat: some series hold one HER2 class only (%s); HER2 cannot be protected as a covariate",
                    format_names(confounded.index[confounded < 2]))
    with timed(f"ComBat on {data.shape[1]} genes x {data.shape[0]} samples", logger=log):
        try:
            out = pycombat_norm(data.T, batch.to_numpy().tolist(), covar_mod=covar)
        except (ValueError, np.linalg.LinAlgError) as exc:
            raise InputError(f"ComBat failed ({exc}); check that series and HER2 status are not confounded.") from exc
    out = pd.DataFrame(np.asarray(out, dtype=float), index=data.columns, columns=data.index).T
    if not np.isfinite(out.to_numpy()).all():
        raise InputError("ComBat produced non-finite values; check for genes with no variance in a series.")
    return out, covar is not None
