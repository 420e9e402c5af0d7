"""Perturbation-based Pearson association between imaging features and genes (Cui et al. 2023).

In each of ``n_perturbations`` perturbations and for each HER2 class, ``sample_size`` samples
are drawn without replacement from the imaging table and ``sample_size`` from the expression
table of the same class, and Pearson r is computed between every feature and every gene across
the drawn pairs. A pair *hits* when p < ``alpha`` and |r| > ``r_threshold``; a gene is
*associated* with a feature in a class when it hits in at least ``min_hits`` perturbations. The
HER2-positive-specific set of a feature holds the genes associated in HER2-positive and not in
HER2-negative samples.

With unpaired cohorts (the paper's design: different patients imaged and sequenced) every
pairing is random, so the engine also reports how many genes the same rule selects under the
null: the analytic binomial expectation and an empirical permutation null.

Implementation
--------------
* The p < alpha test is replaced by its exact equivalent |r| > r_crit(n, alpha), with
  ``r_crit = t / sqrt(n - 2 + t**2)`` and ``t`` the two-sided Student t quantile on n − 2
  degrees of freedom (the distribution scipy's ``pearsonr`` uses); no per-pair p-value.
* Each perturbation is one BLAS product of column-standardised matrices: r = Z_f.T @ Z_g.
* A column that is constant within a draw (standard deviation below 1e-10 × |mean|) gets r = 0:
  never a hit, never NaN (scipy returns NaN with a warning there).
* Genes are processed in chunks, so peak memory is bounded by the chunk size, and hit counts are
  accumulated in ``uint8``/``uint16`` arrays. Chunks run in a thread pool (``n_jobs``) or as
  Dask tasks (``backend="dask"``); every random draw is made up front from ``seed``, so results
  are bit-identical for any ``n_jobs``, chunk size or backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import stats
from threadpoolctl import ThreadpoolController

from .._logging import get_logger, progress, timed
from .._validation import (
    AlignmentError,
    InputError,
    ParameterError,
    align_samples,
    check_choice,
    check_float,
    check_int,
    check_labels,
    check_table,
    format_names,
)

__all__ = [
    "AssociationResult",
    "associate",
    "critical_r",
    "null_hit_probability",
    "pearson_matrix",
]

log = get_logger(__name__)

CLASSES = ("positive", "negative")
_THREADPOOLS: list[ThreadpoolController] = []


def _single_threaded_blas() -> Any:
    """Context limiting BLAS to one thread (controller cached: scanning libraries costs ms)."""
    if not _THREADPOOLS:
        _THREADPOOLS.append(ThreadpoolController())
    return _THREADPOOLS[0].limit(limits=1, user_api="blas")
_CLASS_VALUE = {"positive": 1, "negative": 0}


def critical_r(n: int, alpha: float = 0.05) -> float:
    """Smallest |r| whose two-sided Pearson p-value is below ``alpha`` for ``n`` samples.

    ``pearsonr(x, y).pvalue < alpha`` holds exactly when ``|r| > critical_r(n, alpha)``.

    Parameters
    ----------
    n
        Number of paired observations (≥ 3).
    alpha
        Significance level.

    Returns
    -------
    float
    """
    check_int(n, "n", owner="critical_r", min_value=3)
    check_float(alpha, "alpha", owner="critical_r", min_value=0.0, max_value=1.0, closed="neither")
    t = stats.t.isf(alpha / 2.0, n - 2)
    return float(t / np.sqrt(n - 2 + t * t))


def null_hit_probability(n: int, *, r_threshold: float = 0.3, alpha: float = 0.05) -> float:
    """Probability that one feature–gene pair hits in one perturbation under the null.

    Exact for bivariate normal data with ρ = 0: P(|r| > max(r_threshold, r_crit)).

    Parameters
    ----------
    n
        Sample size of a draw.
    r_threshold
        |r| threshold of the rule.
    alpha
        p-value threshold of the rule.

    Returns
    -------
    float
    """
    c = max(r_threshold, critical_r(n, alpha))
    t = c * np.sqrt((n - 2) / (1 - c * c))
    return float(2 * stats.t.sf(t, n - 2))


def _standardize(x: np.ndarray) -> np.ndarray:
    """Centre and scale the columns of ``x`` (..., n, m) along n to unit norm; constant → 0."""
    mean = x.mean(axis=-2, keepdims=True)
    xc = x - mean
    norm = np.sqrt(np.einsum("...ij,...ij->...j", xc, xc))[..., None, :]
    n = x.shape[-2]
    # constant columns (up to rounding) get an infinite norm, hence z = 0 and r = 0
    norm[norm <= 1e-10 * np.sqrt(n) * np.abs(mean)] = np.inf
    xc /= norm
    return xc


def pearson_matrix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r between every column of ``x`` and every column of ``y`` (rows are paired).

    Parameters
    ----------
    x
        (n, p) array.
    y
        (n, q) array with the same rows.

    Returns
    -------
    numpy.ndarray
        (p, q) correlations; 0 for a column that is constant over the n rows.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise InputError(f"pearson_matrix needs 2-D arrays with the same rows; got {x.shape} and {y.shape}.")
    return _standardize(x).T @ _standardize(y)


@dataclass
class _LazyExpression:
    """A Dask DataFrame (rows = samples, columns = genes) read chunk by chunk by the workers."""

    frame: Any
    lengths: tuple[int, ...]
    samples: pd.Index
    genes: pd.Index

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.samples), len(self.genes))

    def block(self, start: int, stop: int) -> Any:
        """Genes ``start:stop`` of every sample as a one-block dask array (column projection
        reaches the reader, so a Parquet source only reads these columns)."""
        cols = list(self.frame.columns[start:stop])
        return self.frame[cols].to_dask_array(lengths=self.lengths).rechunk((-1, -1))


def _is_dask_dataframe(obj: Any) -> bool:
    return type(obj).__module__.startswith("dask") and hasattr(obj, "map_partitions")


def _lazy_expression(frame: Any) -> _LazyExpression:
    samples = pd.Index(frame.index.compute()).map(str)
    genes = pd.Index(frame.columns).map(str)
    for what, idx in (("sample ids", samples), ("column names", genes)):
        dup = idx[idx.duplicated()].unique()
        if len(dup):
            raise InputError(f"expression: duplicated {what} {format_names(dup)}.")
    bad = [c for c, t in frame.dtypes.items() if not pd.api.types.is_numeric_dtype(t) or pd.api.types.is_bool_dtype(t)]
    if bad:
        raise InputError(f"expression: non-numeric column(s) {format_names(bad)}; expected numbers only.")
    lengths = tuple(int(n) for n in frame.map_partitions(len).compute())
    return _LazyExpression(frame, lengths, samples, genes)


def _check_block(block: np.ndarray, samples: pd.Index, genes: pd.Index) -> np.ndarray:
    """Finite-value check of a lazily read chunk (the eager path checks the whole table up front)."""
    block = np.asarray(block, dtype=np.float64)
    bad = ~np.isfinite(block)
    if bad.any():
        rows, cols = np.nonzero(bad)
        cells = ", ".join(f"({samples[r]}, {genes[c]})" for r, c in zip(rows[:5], cols[:5]))
        raise InputError(
            f"expression: {int(bad.sum())} NaN/inf value(s) in genes {genes[0]}..{genes[-1]}, first at "
            f"sample, gene {cells}; impute or remove them explicitly first."
        )
    return block


@dataclass
class _ClassPlan:
    """Draws of one HER2 class in one round (observed or null)."""

    feature_rows: np.ndarray  # (P, n) row indices into the feature table
    expression_rows: np.ndarray  # (P, n) row indices into the expression table


@dataclass
class AssociationResult:
    """Result of :func:`associate`.

    Attributes
    ----------
    hits
        ``{"positive": DataFrame, "negative": DataFrame}``: features × genes, number of
        perturbations in which the pair hit.
    associated
        Long table of associated pairs: ``feature``, ``gene``, ``her2_class``, ``hits``.
    positive_specific
        Long table of HER2-positive-specific pairs: ``feature``, ``gene``, ``hits_positive``,
        ``hits_negative``.
    top_genes
        The genes most often positive-specific (the paper's "top 25"): ``gene``,
        ``n_features``, ``total_hits_positive``, ``rank``.
    null_summary
        One row per feature: ``observed`` (positive-specific genes), ``expected_binomial``,
        ``binomial_low99``, ``binomial_high99``, ``permutation_mean``, ``permutation_sd``,
        ``permutation_q95``, ``empirical_p``, ``empirical_fdr`` (permutation mean / observed,
        capped at 1; NaN when nothing is observed).
    null_counts
        Permutation rounds × features: positive-specific genes selected in each null round.
    draws
        Long table of every observed draw: ``her2_class``, ``perturbation``, ``position``,
        ``feature_sample``, ``expression_sample``.
    parameters
        Every parameter, the derived ``r_critical`` and ``hit_threshold``, and
        ``null_hit_probability``.
    """

    hits: dict[str, pd.DataFrame]
    associated: pd.DataFrame
    positive_specific: pd.DataFrame
    top_genes: pd.DataFrame
    null_summary: pd.DataFrame
    null_counts: pd.DataFrame
    draws: pd.DataFrame
    parameters: dict[str, Any] = field(default_factory=dict)

    def gene_sets(self) -> dict[str, list[str]]:
        """Feature → its HER2-positive-specific genes (every feature present, maybe empty)."""
        out = {f: [] for f in self.hits["positive"].index}
        for feat, grp in self.positive_specific.groupby("feature", sort=False):
            out[str(feat)] = grp["gene"].tolist()
        return out

    def tables(self) -> dict[str, pd.DataFrame]:
        """All tables by file stem, ready for :func:`radiogenomics._io.write_tables`."""
        return {
            "hits_positive": self.hits["positive"].rename_axis("feature"),
            "hits_negative": self.hits["negative"].rename_axis("feature"),
            "associated": self.associated,
            "positive_specific": self.positive_specific,
            "top_genes": self.top_genes,
            "null_summary": self.null_summary,
            "null_counts": self.null_counts,
            "draws": self.draws,
        }


def _draw_plans(
    rng: np.random.Generator,
    pools: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    n_perturbations: int,
    sample_size: int,
    paired: bool,
    permute: bool,
) -> dict[str, _ClassPlan]:
    plans = {}
    for cls in CLASSES:
        f_rows, e_rows = pools[cls]
        fr = np.empty((n_perturbations, sample_size), dtype=np.int64)
        er = np.empty_like(fr)
        # null rounds break any pairing: expression rows are permuted within the class
        e_map = rng.permutation(e_rows) if permute else e_rows
        for p in range(n_perturbations):
            i = rng.choice(f_rows.size, sample_size, replace=False)
            fr[p] = f_rows[i]
            er[p] = e_map[i] if paired else e_map[rng.choice(e_rows.size, sample_size, replace=False)]
        plans[cls] = _ClassPlan(fr, er)
    return plans


def _class_counts(
    feat_z: np.ndarray, expr_chunk: np.ndarray, rows: np.ndarray, threshold: float, dtype: np.dtype
) -> np.ndarray:
    """Hit counts (features × chunk genes) of one class over all perturbations."""
    counts = np.zeros((feat_z.shape[2], expr_chunk.shape[1]), dtype=dtype)
    for p in range(rows.shape[0]):
        z = _standardize(expr_chunk[rows[p]])
        r = feat_z[p].T @ z
        counts += np.abs(r) > threshold
    return counts


def _chunk_kernel(
    expr_chunk: np.ndarray,
    feat_z: dict[str, np.ndarray],
    plan: dict[str, _ClassPlan],
    threshold: float,
    dtype: np.dtype,
) -> np.ndarray:
    """(2, features, chunk genes) hit counts: positive then negative."""
    return np.stack(
        [_class_counts(feat_z[c], expr_chunk, plan[c].expression_rows, threshold, dtype) for c in CLASSES]
    )


def _feature_z(features: np.ndarray, plan: dict[str, _ClassPlan]) -> dict[str, np.ndarray]:
    return {c: _standardize(features[plan[c].feature_rows]) for c in CLASSES}


def _run_round(
    features: np.ndarray,
    expression: np.ndarray | _LazyExpression,
    plan: dict[str, _ClassPlan],
    *,
    threshold: float,
    dtype: np.dtype,
    chunk_size: int,
    n_jobs: int,
    backend: str,
    reduce: Callable[[np.ndarray], np.ndarray] | None = None,
    show_progress: bool = False,
) -> np.ndarray:
    """Run one round over all gene chunks; ``reduce`` maps (2, F, Gc) counts to a summary."""
    feat_z = _feature_z(features, plan)
    n_genes = expression.shape[1]
    starts = list(range(0, n_genes, chunk_size))

    def one(start: int) -> np.ndarray:
        counts = _chunk_kernel(expression[:, start:start + chunk_size], feat_z, plan, threshold, dtype)
        return reduce(counts) if reduce is not None else counts

    if backend == "dask":
        import dask

        lazy = isinstance(expression, _LazyExpression)

        def task(block: np.ndarray, start: int) -> np.ndarray:
            if lazy:
                block = _check_block(block, expression.samples, expression.genes[start:start + chunk_size])
            with _single_threaded_blas():
                counts = _chunk_kernel(block, feat_z, plan, threshold, dtype)
            return reduce(counts) if reduce is not None else counts

        # one task per gene chunk; a lazy source is read by the task itself, an in-memory
        # array is sliced into the graph
        parts = [
            dask.delayed(task)(
                expression.block(s, s + chunk_size) if lazy else expression[:, s:s + chunk_size], s
            )
            for s in starts
        ]
        results = dask.compute(*parts)
        return np.sum(results, axis=0) if reduce is not None else np.concatenate(results, axis=2)

    items = progress(starts, desc="gene chunks", disable=None if show_progress else True)
    # The products are small (features x n x chunk): a multi-threaded BLAS only adds
    # synchronisation (45 ms instead of 0.2 ms per product on a loaded 2-core machine), so
    # BLAS runs single-threaded and parallelism comes from chunks in a thread pool.
    with _single_threaded_blas():
        if n_jobs == 1:
            results = [one(s) for s in items]
        else:
            results = Parallel(n_jobs=n_jobs, prefer="threads")(delayed(one)(s) for s in items)
    if reduce is not None:
        return np.sum(results, axis=0)
    return np.concatenate(results, axis=2)


def _class_pools(
    labels: pd.Series,
    expression_labels: pd.Series,
    *,
    paired_positions: np.ndarray | None,
    sample_size: int | None,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], int]:
    """Row positions of each class in the feature and expression tables.

    In paired mode ``paired_positions[i]`` is the expression row of feature row ``i``, and the
    expression rows of a class are listed in the order of its feature rows.
    """
    pools = {}
    sizes = {}
    for cls in CLASSES:
        v = _CLASS_VALUE[cls]
        f_rows = np.flatnonzero(labels.to_numpy() == v)
        if paired_positions is not None:
            e_rows = paired_positions[f_rows]
        else:
            e_rows = np.flatnonzero(expression_labels.to_numpy() == v)
        pools[cls] = (f_rows, e_rows)
        sizes[("features", cls)] = f_rows.size
        sizes[("expression", cls)] = e_rows.size
    smallest = min(sizes.values())
    if sample_size is None:
        sample_size = max(4, int(0.8 * smallest))
    check_int(sample_size, "sample_size", owner="associate", min_value=4)
    for (table, cls), size in sizes.items():
        if sample_size > size:
            raise InputError(
                f"sample_size={sample_size} exceeds the {size} HER2-{cls} samples in {table}; "
                f"draws are without replacement, so use sample_size <= {smallest}."
            )
    return pools, sample_size


def associate(
    features: pd.DataFrame,
    expression: pd.DataFrame | Any,
    labels: pd.Series,
    *,
    expression_labels: pd.Series | None = None,
    mode: str = "unpaired",
    n_perturbations: int = 75,
    sample_size: int | None = None,
    r_threshold: float = 0.3,
    alpha: float = 0.05,
    min_hits: int = 6,
    n_null: int = 100,
    top_n: int = 25,
    seed: int = 0,
    n_jobs: int = 1,
    chunk_size: int = 4096,
    backend: str = "numpy",
    show_progress: bool = True,
) -> AssociationResult:
    """Perturbation-based Pearson association of imaging features with genes.

    Parameters
    ----------
    features
        Imaging feature table, rows = patients.
    expression
        Expression matrix, rows = samples, columns = genes. With ``backend="dask"`` it may also
        be a lazy ``dask.dataframe.DataFrame`` (e.g. ``dd.read_parquet(...)`` with the sample id
        as index): each gene chunk is then read by the worker that processes it, so the matrix
        never has to fit in the client's memory.
    labels
        HER2 labels (1/0) of the imaging patients (and of the expression samples in
        ``mode="paired"``).
    expression_labels
        HER2 labels of the expression samples; required in ``mode="unpaired"``.
    mode
        ``"unpaired"`` (the paper: imaging and expression from different patients; each
        perturbation pairs random draws) or ``"paired"`` (same patients, same ids; draws keep
        the pairs).
    n_perturbations
        Perturbations per class (paper: 75; validation setting: 25).
    sample_size
        Samples drawn per perturbation and class (default: 80 % of the smallest class, ≥ 4).
    r_threshold
        A hit needs |r| > ``r_threshold`` (paper: 0.3) ...
    alpha
        ... and p < ``alpha`` (paper: 0.05).
    min_hits
        Perturbations with a hit needed for association (paper: 6 of 75; 2 of 25).
    n_null
        Permutation-null rounds (each repeats the whole procedure with expression rows
        permuted within class); 0 skips the empirical null.
    top_n
        Rows of ``top_genes`` (paper: 25).
    seed
        Seed of every draw; the same seed gives bit-identical results for any ``n_jobs``,
        ``chunk_size`` and ``backend``.
    n_jobs
        Threads over gene chunks.
    chunk_size
        Genes per chunk (bounds peak memory).
    backend
        ``"numpy"`` (thread pool) or ``"dask"`` (gene chunks as ``dask.array`` blocks,
        computed on the active scheduler, e.g. a ``distributed.Client``).
    show_progress
        Show progress bars (also subject to the package log level).

    Returns
    -------
    AssociationResult
    """
    owner = "associate"
    check_choice(mode, "mode", owner=owner, choices=("unpaired", "paired"))
    check_choice(backend, "backend", owner=owner, choices=("numpy", "dask"))
    n_perturbations = check_int(n_perturbations, "n_perturbations", owner=owner, min_value=1, max_value=65535)
    min_hits = check_int(min_hits, "min_hits", owner=owner, min_value=1, max_value=n_perturbations)
    r_threshold = check_float(r_threshold, "r_threshold", owner=owner, min_value=0.0, max_value=1.0, closed="left")
    alpha = check_float(alpha, "alpha", owner=owner, min_value=0.0, max_value=1.0, closed="neither")
    n_null = check_int(n_null, "n_null", owner=owner, min_value=0)
    top_n = check_int(top_n, "top_n", owner=owner, min_value=1)
    seed = check_int(seed, "seed", owner=owner, min_value=0)
    n_jobs = check_int(n_jobs, "n_jobs", owner=owner, min_value=1)
    chunk_size = check_int(chunk_size, "chunk_size", owner=owner, min_value=1)

    features = check_table(features, name="features")
    lazy = None
    if _is_dask_dataframe(expression):
        if backend != "dask":
            raise ParameterError("a Dask DataFrame expression table needs backend='dask'.")
        lazy = _lazy_expression(expression)
        expression = pd.DataFrame(index=lazy.samples)  # ids only; values stay with Dask
    else:
        expression = check_table(expression, name="expression")
    labels = check_labels(labels, name="labels")
    features, labels = align_samples(features, labels, data_name="features", labels_name="labels")
    paired = mode == "paired"
    if paired:
        if expression_labels is not None:
            expression_labels = check_labels(expression_labels, name="expression_labels")
            if not expression_labels.reindex(labels.index).equals(labels):
                raise AlignmentError("mode='paired': expression_labels disagree with labels for the same samples.")
        missing = features.index.difference(expression.index)
        extra = expression.index.difference(features.index)
        if len(missing) or len(extra):
            raise AlignmentError(
                "mode='paired' needs the same samples imaged and sequenced: "
                + (f"{len(missing)} imaged sample(s) lack expression ({format_names(missing)}); " if len(missing) else "")
                + (f"{len(extra)} expression sample(s) were not imaged ({format_names(extra)})" if len(extra) else "")
            )
        paired_positions = expression.index.get_indexer(features.index)
        expression_labels = labels.reindex(expression.index)
    else:
        if expression_labels is None:
            raise ParameterError(
                "mode='unpaired' needs expression_labels (HER2 labels of the expression samples)."
            )
        expression_labels = check_labels(expression_labels, name="expression_labels")
        expression, expression_labels = align_samples(
            expression, expression_labels, data_name="expression", labels_name="expression_labels"
        )
        paired_positions = None
    pools, sample_size = _class_pools(
        labels, expression_labels, paired_positions=paired_positions, sample_size=sample_size
    )
    r_crit = critical_r(sample_size, alpha)
    threshold = max(r_threshold, r_crit)
    dtype = np.dtype(np.uint8 if n_perturbations <= 255 else np.uint16)
    f_values = features.to_numpy(dtype=np.float64)
    if lazy is not None:
        e_values: np.ndarray | _LazyExpression = lazy
        gene_names = lazy.genes
    else:
        e_values = np.ascontiguousarray(expression.to_numpy(dtype=np.float64))
        gene_names = expression.columns
    feat_names = features.columns
    n_feat, n_genes = len(feat_names), len(gene_names)

    seq = np.random.SeedSequence(seed)
    obs_seq, null_seq = seq.spawn(2)
    run = dict(threshold=threshold, dtype=dtype, chunk_size=chunk_size, n_jobs=n_jobs, backend=backend)

    plan = _draw_plans(np.random.default_rng(obs_seq), pools, n_perturbations=n_perturbations,
                       sample_size=sample_size, paired=paired, permute=False)
    with timed(f"perturbation association ({mode}, {n_feat} features x {n_genes} genes, "
               f"{n_perturbations} perturbations x 2 classes, n={sample_size})", logger=log):
        counts = _run_round(f_values, e_values, plan, show_progress=show_progress, **run)
    hits = {c: pd.DataFrame(counts[i], index=pd.Index(feat_names, name="feature"), columns=gene_names)
            for i, c in enumerate(CLASSES)}
    assoc = counts >= min_hits
    specific = assoc[0] & ~assoc[1]

    def n_specific(c: np.ndarray) -> np.ndarray:
        a = c >= min_hits
        return (a[0] & ~a[1]).sum(axis=1)

    null_rounds = np.zeros((n_null, n_feat), dtype=np.int64)
    if n_null:
        rngs = [np.random.default_rng(s) for s in null_seq.spawn(n_null)]
        with timed(f"permutation null ({n_null} rounds)", logger=log):
            for k in progress(range(n_null), desc="null rounds", disable=None if show_progress else True):
                null_plan = _draw_plans(rngs[k], pools, n_perturbations=n_perturbations,
                                        sample_size=sample_size, paired=paired, permute=True)
                null_rounds[k] = _run_round(f_values, e_values, null_plan, reduce=n_specific, **run)

    # ---- tables
    fi, gi = np.nonzero(assoc[0])
    fj, gj = np.nonzero(assoc[1])
    associated = pd.DataFrame({
        "feature": np.r_[feat_names[fi], feat_names[fj]],
        "gene": np.r_[gene_names[gi], gene_names[gj]],
        "her2_class": np.r_[np.repeat("positive", fi.size), np.repeat("negative", fj.size)],
        "hits": np.r_[counts[0][fi, gi], counts[1][fj, gj]].astype(np.int64),
    })
    fs, gs = np.nonzero(specific)
    positive_specific = pd.DataFrame({
        "feature": feat_names[fs],
        "gene": gene_names[gs],
        "hits_positive": counts[0][fs, gs].astype(np.int64),
        "hits_negative": counts[1][fs, gs].astype(np.int64),
    })
    n_feat_per_gene = specific.sum(axis=0)
    total_hits = np.where(specific, counts[0], 0).sum(axis=0)
    order = np.lexsort((gene_names.to_numpy(), -total_hits, -n_feat_per_gene))
    order = order[n_feat_per_gene[order] > 0][:top_n]
    top_genes = pd.DataFrame({
        "gene": gene_names[order],
        "n_features": n_feat_per_gene[order].astype(np.int64),
        "total_hits_positive": total_hits[order].astype(np.int64),
        "rank": np.arange(1, order.size + 1),
    })

    q = null_hit_probability(sample_size, r_threshold=r_threshold, alpha=alpha)
    pi = stats.binom.sf(min_hits - 1, n_perturbations, q)
    pi_specific = pi * (1 - pi)
    observed = specific.sum(axis=1)
    lo, hi = stats.binom.interval(0.99, n_genes, pi_specific)
    null_summary = pd.DataFrame({
        "observed": observed.astype(np.int64),
        "expected_binomial": n_genes * pi_specific,
        "binomial_low99": lo,
        "binomial_high99": hi,
    }, index=pd.Index(feat_names, name="feature"))
    if n_null:
        null_summary["permutation_mean"] = null_rounds.mean(axis=0)
        null_summary["permutation_sd"] = null_rounds.std(axis=0, ddof=1) if n_null > 1 else np.nan
        null_summary["permutation_q95"] = np.quantile(null_rounds, 0.95, axis=0)
        null_summary["empirical_p"] = (1 + (null_rounds >= observed).sum(axis=0)) / (n_null + 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            fdr = np.where(observed > 0, np.minimum(1.0, null_rounds.mean(axis=0) / observed), np.nan)
        null_summary["empirical_fdr"] = fdr
    else:
        for col in ("permutation_mean", "permutation_sd", "permutation_q95", "empirical_p", "empirical_fdr"):
            null_summary[col] = np.nan
    null_counts = pd.DataFrame(null_rounds, columns=feat_names,
                               index=pd.RangeIndex(n_null, name="round"))

    draws = pd.concat([
        pd.DataFrame({
            "her2_class": cls,
            "perturbation": np.repeat(np.arange(n_perturbations), sample_size),
            "position": np.tile(np.arange(sample_size), n_perturbations),
            "feature_sample": features.index.to_numpy()[plan[cls].feature_rows.ravel()],
            "expression_sample": expression.index.to_numpy()[plan[cls].expression_rows.ravel()],
        }) for cls in CLASSES
    ], ignore_index=True)

    parameters = dict(
        mode=mode, n_perturbations=n_perturbations, sample_size=sample_size, r_threshold=r_threshold,
        alpha=alpha, min_hits=min_hits, n_null=n_null, top_n=top_n, seed=seed, n_jobs=n_jobs,
        chunk_size=chunk_size, backend=backend, r_critical=r_crit, hit_threshold=threshold,
        null_hit_probability=q, null_association_probability=float(pi),
        n_features=n_feat, n_genes=n_genes,
        n_samples={f"{t}_{c}": int(pools[c][i].size) for c in CLASSES for i, t in enumerate(("features", "expression"))},
    )
    total_obs = int(observed.sum())
    total_exp = float(n_genes * pi_specific * n_feat)
    log.info(
        "positive-specific pairs: %d observed; %.1f expected under the binomial null%s",
        total_obs, total_exp,
        f"; {null_rounds.sum(axis=1).mean():.1f} in the permutation null" if n_null else "",
    )
    if mode == "unpaired":
        log.info("unpaired design: every pairing is random, compare the observed counts with the null")
    return AssociationResult(
        hits=hits, associated=associated, positive_specific=positive_specific, top_genes=top_genes,
        null_summary=null_summary, null_counts=null_counts, draws=draws, parameters=parameters,
    )
