"""Merging several series: gene intersection, per-series max-normalisation, optional ComBat.

Order: (1) genes present in every series are kept and the loss is reported; (2) genes whose
maximum is ≤ 0 in some series (after un-logging) are dropped, because max-normalisation is
undefined for them; (3) each series is max-normalised on its own (log2 series are un-logged
first, explicitly, with their manifest's pseudo-count); (4) optionally ComBat (inmoose
``pycombat_norm``) removes series effects with HER2 status as a protected covariate; (5) the
separation of series is measured before and after (silhouette of series labels on the first
principal components, and the fraction of each gene's variance explained by series).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._logging import get_logger, timed
from .._validation import InputError, check_choice, check_int, check_labels, format_names
from ..core import max_normalize

__all__ = ["MergeResult", "batch_separation", "merge_series"]

log = get_logger(__name__)


@dataclass
class MergeResult:
    """Result of :func:`merge_series`.

    Attributes
    ----------
    expression
        Rows = samples of every series, columns = the shared genes.
    labels
        Columns ``her2`` (1/0) and ``series``, indexed by sample id.
    dropped
        Genes lost (``item``, ``kind``, ``series``, ``reason``, ``detail``).
    genes
        Per series: ``series``, ``genes`` (input), ``kept``, ``lost``, ``samples``.
    batch_check
        Per stage (``concatenated``, ``max_normalized``, ``combat``): ``stage``,
        ``silhouette``, ``variance_fraction``, ``n_samples``, ``n_genes``.
    summary
        Settings and whether series separate less after correction.
    """

    expression: pd.DataFrame
    labels: pd.DataFrame
    dropped: pd.DataFrame
    genes: pd.DataFrame
    batch_check: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)


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
    from sklearn.decomposition import PCA
    from sklearn.metrics import silhouette_score

    n_components = check_int(n_components, "n_components", owner="batch_separation", min_value=1)
    x = data.to_numpy(dtype=float)
    sd = x.std(axis=0)
    x = x[:, sd > 0]
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    groups = pd.Series(batches).reindex(data.index).to_numpy()
    if len(np.unique(groups)) < 2 or z.shape[1] == 0:
        return {"silhouette": float("nan"), "variance_fraction": float("nan")}
    k = max(1, min(n_components, z.shape[0] - 1, z.shape[1]))
    if z.shape[0] < z.shape[1]:
        # exact PCA scores from the samples' Gram matrix (n x n), much cheaper than an SVD of n x genes
        w, u = np.linalg.eigh(z @ z.T)
        order = np.argsort(w)[::-1][:k]
        scores = u[:, order] * np.sqrt(np.clip(w[order], 0, None))
    else:
        scores = PCA(n_components=k, svd_solver="full").fit_transform(z)
    sil = float(silhouette_score(scores, groups)) if len(np.unique(groups)) < z.shape[0] else float("nan")
    between = 0.0
    for g in np.unique(groups):
        block = z[groups == g]
        between += block.shape[0] * float((block.mean(axis=0) ** 2).sum())
    total = float((z**2).sum())
    return {"silhouette": sil, "variance_fraction": between / total if total > 0 else float("nan")}


def merge_series(
    expressions: Mapping[str, pd.DataFrame],
    labels: Mapping[str, pd.Series],
    *,
    scales: Mapping[str, str],
    log_offsets: Mapping[str, float] | None = None,
    combat: bool = False,
    n_components: int = 10,
) -> MergeResult:
    """Merge series on their shared genes, max-normalise each, and optionally apply ComBat.

    Parameters
    ----------
    expressions
        Series name → rows = samples, columns = genes (values on the series' own scale).
    labels
        Series name → 1/0 labels of the same samples.
    scales
        Series name → ``"log2"`` or ``"linear"``; log2 series are un-logged before
        max-normalisation (``2 ** x - offset``).
    log_offsets
        Series name → pseudo-count added before the log (0 by default).
    combat
        Apply ComBat (inmoose ``pycombat_norm``, parametric) across series after
        normalisation, protecting HER2 status as a covariate.
    n_components
        Principal components for the batch check.

    Returns
    -------
    MergeResult
    """
    if len(expressions) < 1:
        raise InputError("merge_series needs at least one series.")
    if set(expressions) != set(labels) or set(expressions) - set(scales):
        raise InputError(
            f"merge_series: expressions ({format_names(expressions)}), labels ({format_names(labels)}) and "
            f"scales ({format_names(scales)}) must name the same series."
        )
    log_offsets = dict(log_offsets or {})
    names = list(expressions)
    exprs, labs = {}, {}
    seen: dict[str, str] = {}
    for name in names:
        check_choice(scales[name], f"scales[{name!r}]", owner="merge_series", choices=("log2", "linear"))
        e = expressions[name].copy()
        e.index = e.index.map(str)
        e.columns = e.columns.map(str)
        lab = check_labels(labels[name], name=f"{name} labels")
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
    drops = []
    union = sorted(set.union(*(set(e.columns) for e in exprs.values())))
    presence = {g: [n for n in names if g in exprs[n].columns] for g in union}
    for g in union:
        if len(presence[g]) < len(names):
            missing = [n for n in names if n not in presence[g]]
            drops.append({"item": g, "kind": "gene", "series": ";".join(presence[g]),
                          "reason": "not in every series", "detail": f"missing from {', '.join(missing)}"})
    # genes that cannot be max-normalised in some series
    bad: dict[str, list[str]] = {}
    for name in names:
        col_max = exprs[name][shared].max(axis=0)
        if scales[name] == "log2":
            col_max = np.power(2.0, col_max) - log_offsets.get(name, 0.0)
        for g in col_max.index[~(col_max > 0)]:
            bad.setdefault(g, []).append(name)
    for g, ns in bad.items():
        drops.append({"item": g, "kind": "gene", "series": ";".join(ns),
                      "reason": "maximum <= 0 (max-normalisation undefined)", "detail": f"in {', '.join(ns)}"})
    shared = [g for g in shared if g not in bad]
    if not shared:
        raise InputError(f"series {format_names(names)} share no usable gene; check that all are gene-level symbols.")
    genes = pd.DataFrame([{"series": n, "genes": exprs[n].shape[1], "kept": len(shared),
                           "lost": exprs[n].shape[1] - len(shared), "samples": exprs[n].shape[0]} for n in names])
    for row in genes.itertuples():
        log.info("%s: %d of %d genes kept in the intersection (%d lost)", row.series, row.kept, row.genes, row.lost)
    batch = pd.Series({s: n for n in names for s in exprs[n].index})
    concatenated = pd.concat([exprs[n][shared] for n in names])
    normalized = pd.concat([
        max_normalize(exprs[n][shared], unlog_base=2.0 if scales[n] == "log2" else None,
                      unlog_offset=log_offsets.get(n, 0.0), name=n)
        for n in names
    ])
    her2 = pd.concat([labs[n] for n in names]).reindex(normalized.index)
    if combat:
        if len(names) < 2:
            raise InputError("combat=True needs at least two series.")
        sd = normalized.groupby(batch.reindex(normalized.index)).std()
        const = sd.columns[(sd == 0).any(axis=0)]
        for g in const:
            ns = list(sd.index[sd[g] == 0])
            drops.append({"item": g, "kind": "gene", "series": ";".join(ns),
                          "reason": "constant within a series (ComBat undefined)", "detail": f"in {', '.join(ns)}"})
        if len(const):
            log.warning("ComBat: %d gene(s) constant within a series dropped (listed in dropped)", len(const))
            normalized = normalized.drop(columns=const)
            concatenated = concatenated.drop(columns=const)
            shared = [g for g in shared if g not in set(const)]
            genes["kept"] = len(shared)
            genes["lost"] = genes["genes"] - genes["kept"]
    stages = [("concatenated", concatenated), ("max_normalized", normalized)]
    final = normalized
    if combat:
        final = _combat(normalized, batch.reindex(normalized.index), her2)
        stages.append(("combat", final))
    checks = []
    with timed("batch separation check", logger=log):
        for stage, table in stages:
            m = batch_separation(table, batch, n_components=n_components) if len(names) > 1 else \
                {"silhouette": float("nan"), "variance_fraction": float("nan")}
            checks.append({"stage": stage, **m, "n_samples": table.shape[0], "n_genes": table.shape[1]})
    batch_check = pd.DataFrame(checks)
    summary: dict[str, Any] = {"series": names, "combat": combat, "shared_genes": len(shared),
                               "scales": dict(scales), "log_offsets": log_offsets}
    if combat:
        before = batch_check.set_index("stage").loc["max_normalized"]
        after = batch_check.set_index("stage").loc["combat"]
        reduced = bool(after["silhouette"] < before["silhouette"] and after["variance_fraction"] < before["variance_fraction"])
        summary["separation_reduced"] = reduced
        (log.info if reduced else log.warning)(
            "series separation before/after ComBat: silhouette %.3f -> %.3f, variance explained by series %.3f -> %.3f%s",
            before["silhouette"], after["silhouette"], before["variance_fraction"], after["variance_fraction"],
            "" if reduced else " (NOT reduced)",
        )
    labels_out = pd.DataFrame({"her2": her2.astype("int8"), "series": batch.reindex(final.index)})
    labels_out.index.name = "sample_id"
    final.index.name = "sample_id"
    dropped = pd.DataFrame(drops, columns=["item", "kind", "series", "reason", "detail"])
    return MergeResult(expression=final, labels=labels_out, dropped=dropped, genes=genes, batch_check=batch_check,
                       summary=summary)


def _combat(data: pd.DataFrame, batch: pd.Series, her2: pd.Series) -> pd.DataFrame:
    """ComBat across series with HER2 status protected; genes × samples for inmoose."""
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
    return out
