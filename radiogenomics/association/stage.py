"""The association stage: perturbation-based Pearson association with its null model (Cui et al. 2023).

In each of ``n_perturbations`` perturbations and for each HER2 class, ``sample_size`` samples
are drawn without replacement from the imaging table and ``sample_size`` from the expression
table of the same class, and Pearson r is computed between every feature and every gene across
the drawn pairs. A pair *hits* when p < ``alpha`` and |r| > ``r_threshold``; a gene is
*associated* with a feature in a class when it hits in at least ``min_hits`` perturbations. The
HER2-positive-specific set of a feature holds the genes associated in HER2-positive and not in
HER2-negative samples.

With unpaired cohorts (the paper's design: different patients imaged and sequenced) every
pairing is random, so the stage also reports how many genes the same rule selects under the
null (:mod:`.null`): the permutation null is the primary one, and each feature carries its
verdict (empirical p, empirical FDR, ``beats_null``) into the enrichment, the module and the
report; the analytic binomial is shown only for the features where its assumptions were
checked. The draws and products are in :mod:`.engine`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .._logging import get_logger, progress, timed
from .._results import StageResult, dropped_table, features_and_labels, is_synthetic
from .._validation import (
    BACKENDS,
    AlignmentError,
    ParameterError,
    align_samples,
    check_choice,
    check_float,
    check_int,
    check_labels,
    check_n_jobs,
    check_table,
    format_names,
)
from .engine import (
    CLASSES,
    MixedEngine,
    _class_pools,
    _draw_plans,
    _is_dask_dataframe,
    _lazy_expression,
    _LazyExpression,
    _run_round,
    critical_r,
    map_gene_chunks,
    null_plan,
    resolve_device,
    specific_reducer,
)
from .kernel import decision_margin
from .null import check_binomial, combine_gene_checks, correlation_genes, gene_check_chunk, null_summary_table

__all__ = ["AssociationResult", "associate"]

log = get_logger(__name__)


@dataclass(frozen=True)
class AssociationResult(StageResult):
    """Result of :func:`associate`.

    Attributes
    ----------
    positive_specific
        Long table of HER2-positive-specific pairs: ``feature``, ``gene``, ``hits_positive``,
        ``hits_negative``.
    associated
        Long table of associated pairs: ``feature``, ``gene``, ``her2_class``, ``hits``.
    hits_positive, hits_negative
        Features × genes: number of perturbations in which the pair hit, per class.
    top_genes
        The genes most often positive-specific (the paper's "top 25"): ``gene``,
        ``n_features``, ``n_features_beating_null`` (how many of those features beat the
        permutation null; missing without a null), ``total_hits_positive``, ``rank``.
    null_summary
        One row per feature: ``observed`` (positive-specific genes), the permutation null
        (``permutation_mean``, ``permutation_sd``, ``permutation_low95``,
        ``permutation_high95``, ``permutation_q95``, ``empirical_p``, ``empirical_fdr``), the
        verdict ``beats_null`` (empirical p < ``null_alpha``), the binomial null where its
        checks pass (``expected_binomial``, ``binomial_low99``, ``binomial_high99``; NaN
        elsewhere, with ``binomial_note`` saying why) and the feature's ``skewness`` and
        ``excess_kurtosis`` (see :mod:`.null`).
    null_checks
        The binomial null's checks: ``check``, ``her2_class``, ``value``, ``threshold``,
        ``passed``, ``note`` (see :mod:`.null`).
    null_counts
        Permutation rounds × features: positive-specific genes selected in each null round.
    draws
        Long table of every observed draw: ``her2_class``, ``perturbation``, ``position``,
        ``feature_sample``, ``expression_sample``.
    parameters
        Every parameter, the derived ``r_critical`` and ``hit_threshold``, the null
        probabilities, the engine (``precision``: ``"mixed"`` or ``"float64"``,
        ``decision_margin``, ``device_used``) and ``timing`` (seconds: ``prepare_seconds``,
        ``observed_seconds``, ``null_seconds``, ``null_seconds_per_round``).
    dropped
        Empty: every sample and gene given is used.
    synthetic
        The inputs were synthetic.
    """

    stage: ClassVar[str] = "association"

    positive_specific: pd.DataFrame
    associated: pd.DataFrame
    hits_positive: pd.DataFrame
    hits_negative: pd.DataFrame
    top_genes: pd.DataFrame
    null_summary: pd.DataFrame
    null_checks: pd.DataFrame | None = None
    null_counts: pd.DataFrame | None = None
    draws: pd.DataFrame | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    dropped: pd.DataFrame = field(default_factory=dropped_table)
    synthetic: bool = False

    @property
    def hits(self) -> dict[str, pd.DataFrame]:
        """``{"positive": hits_positive, "negative": hits_negative}``."""
        return {"positive": self.hits_positive, "negative": self.hits_negative}

    @property
    def features(self) -> list[str]:
        """The features tested, in input order."""
        return [str(f) for f in self.hits_positive.index]

    @property
    def genes(self) -> list[str]:
        """The genes tested (the measured genes: the natural enrichment background)."""
        return [str(g) for g in self.hits_positive.columns]

    def gene_sets(self) -> dict[str, list[str]]:
        """Feature → its HER2-positive-specific genes (every feature present, maybe empty).

        Returns
        -------
        dict
        """
        out: dict[str, list[str]] = {f: [] for f in self.features}
        for feat, grp in self.positive_specific.groupby("feature", sort=False):
            out[str(feat)] = grp["gene"].astype(str).tolist()
        return out

    @property
    def null_alpha(self) -> float:
        """The level of the verdict ``beats_null`` (empirical p < ``null_alpha``)."""
        return float(self.parameters.get("null_alpha", 0.05))

    def null_verdict(self) -> pd.DataFrame | None:
        """Each feature's verdict against the permutation null, or ``None`` when there is none.

        Returns
        -------
        pandas.DataFrame or None
            Index ``feature``; columns ``empirical_p``, ``empirical_fdr``, ``beats_null``
            (nullable boolean). ``None`` when the null was not run (``n_null=0``) or the
            table lacks the columns (a result written by an older version).
        """
        ns = self.null_summary
        if ns is None or "empirical_p" not in ns or not ns["empirical_p"].notna().any():
            return None
        out = ns[["empirical_p", "empirical_fdr"]].astype(float).copy()
        beats = ns["beats_null"] if "beats_null" in ns else ns["empirical_p"] < self.null_alpha
        out["beats_null"] = pd.array(beats, dtype="boolean")
        out.index = out.index.map(str)
        out.index.name = "feature"
        return out

    def overview(self) -> dict[str, Any]:
        """Counts of the result.

        Returns
        -------
        dict
            ``positive_specific_pairs``, ``permutation_mean_pairs``, ``features_beating_null``,
            ``binomial_shown`` (features whose binomial null passed its checks),
            ``expected_pairs_binomial`` (over those features).
        """
        ns = self.null_summary
        perm = ns["permutation_mean"].sum() if ns["permutation_mean"].notna().any() else None
        verdict = self.null_verdict()
        shown = ns["expected_binomial"].notna()
        return {"positive_specific_pairs": int(len(self.positive_specific)),
                "permutation_mean_pairs": None if perm is None else float(perm),
                "features_beating_null": None if verdict is None else int(verdict["beats_null"].sum()),
                "binomial_shown": int(shown.sum()),
                "expected_pairs_binomial": float(ns.loc[shown, "expected_binomial"].sum()) if shown.any() else None}

    @classmethod
    def _from_tables(cls, tables: dict[str, pd.DataFrame], *, record: Mapping[str, Any], folder: Any) -> AssociationResult:
        """Restore the feature index of the hit matrices."""
        for name in ("hits_positive", "hits_negative"):
            t = tables.get(name)
            if t is not None and "feature" in t.columns:
                tables[name] = t.set_index("feature")
        return super()._from_tables(tables, record=record, folder=folder)  # type: ignore[return-value]


def _expression_and_labels(expression: Any, expression_labels: pd.Series | None) -> tuple[Any, pd.Series | None]:
    """An expression table (or an upstream expression result) and its labels."""
    if isinstance(expression, pd.DataFrame) or _is_dask_dataframe(expression):
        return expression, expression_labels
    table = getattr(expression, "expression", None)
    if isinstance(table, pd.DataFrame):
        return table, expression_labels if expression_labels is not None else getattr(expression, "labels", None)
    raise ParameterError(
        "expression must be a DataFrame (rows = samples, columns = genes), a lazy Dask DataFrame or an "
        f"expression result (rg.expression.merge_series); got {type(expression).__name__}."
    )


def associate(
    features: pd.DataFrame | Any,
    expression: pd.DataFrame | Any,
    labels: pd.Series | None = None,
    *,
    expression_labels: pd.Series | None = None,
    mode: str = "unpaired",
    n_perturbations: int = 75,
    sample_size: int | None = None,
    r_threshold: float = 0.3,
    alpha: float = 0.05,
    min_hits: int = 6,
    n_null: int = 100,
    null_alpha: float = 0.05,
    top_n: int = 25,
    max_normalize: bool = False,
    seed: int = 0,
    n_jobs: int = 1,
    chunk_size: int = 4096,
    backend: str = "threads",
    scheduler: Any = None,
    device: str | Any = "auto",
    show_progress: bool | None = None,
) -> AssociationResult:
    """Perturbation-based Pearson association of imaging features with genes.

    Parameters
    ----------
    features
        Imaging feature table, rows = patients; or an upstream result with features and labels
        (:func:`radiogenomics.extract`).
    expression
        Expression matrix, rows = samples, columns = genes; or an expression result (its labels
        become ``expression_labels``). With ``backend="dask"`` it may also be a lazy
        ``dask.dataframe.DataFrame`` (e.g. ``dd.read_parquet(...)`` with the sample id as index):
        each gene chunk is then read by the worker that processes it.
    labels
        HER2 labels (1/0) of the imaging patients (and of the expression samples in
        ``mode="paired"``); taken from ``features`` when it is a result.
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
        permuted within class); 0 skips the empirical null, and no feature then has a verdict.
    null_alpha
        Level of each feature's verdict: it *beats the null* when its empirical p (one-sided,
        from the permutation rounds) is below this. Per feature, not corrected across features.
    top_n
        Rows of ``top_genes`` (paper: 25).
    max_normalize
        Max-normalise both tables first, as the paper did (columns whose maximum is <= 0, such
        as radiomic features negative by nature, are left unchanged: the rule of
        :mod:`radiogenomics.expression.normalize`, recorded per table in
        ``parameters["max_normalization"]``). Pearson r is invariant to it, so the hits are the
        same either way.
    seed
        Seed of every draw; the same seed gives bit-identical results for any ``n_jobs``,
        ``chunk_size`` and ``backend``.
    n_jobs
        Workers over gene chunks (-1 = all cores).
    chunk_size
        Genes per chunk (bounds peak memory).
    backend
        ``"threads"``, ``"processes"`` or ``"dask"`` (gene chunks as Dask tasks on ``scheduler``,
        or on the active Dask scheduler).
    scheduler
        With ``backend="dask"``: a ``distributed.Client`` or a scheduler address
        (``"tcp://host:8786"``); ``None`` uses the active scheduler.
    device
        Where the float32 products run: ``"cpu"`` (NumPy), ``"cuda"`` / ``"cuda:N"`` (PyTorch on a
        GPU, TF32 off; needs the ``[deep]`` extra), or ``"auto"``: a CUDA GPU when torch sees one
        (and the backend is not Dask), else the CPU. A ``torch.device`` runs the torch kernel on
        it (``torch.device("cpu")`` runs the GPU code path on the CPU). On every device the hits
        are those of the float64 engine: pairs near the threshold are recomputed in float64 (see
        :mod:`radiogenomics.association.kernel`).
    show_progress
        Progress bars; ``None`` follows the package log level.

    Returns
    -------
    AssociationResult
    """
    owner = "associate"
    check_choice(mode, "mode", owner=owner, choices=("unpaired", "paired"))
    check_choice(backend, "backend", owner=owner, choices=BACKENDS)
    n_perturbations = check_int(n_perturbations, "n_perturbations", owner=owner, min_value=1, max_value=65535)
    min_hits = check_int(min_hits, "min_hits", owner=owner, min_value=1, max_value=n_perturbations)
    r_threshold = check_float(r_threshold, "r_threshold", owner=owner, min_value=0.0, max_value=1.0, closed="left")
    alpha = check_float(alpha, "alpha", owner=owner, min_value=0.0, max_value=1.0, closed="neither")
    n_null = check_int(n_null, "n_null", owner=owner, min_value=0)
    null_alpha = check_float(null_alpha, "null_alpha", owner=owner, min_value=0.0, max_value=1.0, closed="neither")
    top_n = check_int(top_n, "top_n", owner=owner, min_value=1)
    seed = check_int(seed, "seed", owner=owner, min_value=0)
    workers = check_n_jobs(n_jobs, owner=owner)
    chunk_size = check_int(chunk_size, "chunk_size", owner=owner, min_value=1)

    synthetic = is_synthetic(features, expression, labels, expression_labels)
    features, labels = features_and_labels(features, labels, name="features")
    expression, expression_labels = _expression_and_labels(expression, expression_labels)
    features = check_table(features, name="features")
    lazy = None
    if _is_dask_dataframe(expression):
        if backend != "dask":
            raise ParameterError("a Dask DataFrame expression table needs backend='dask'.")
        lazy = _lazy_expression(expression)
        expression = pd.DataFrame(index=lazy.samples)  # ids only; values stay with Dask
    else:
        expression = check_table(expression, name="expression")
    normalization: dict[str, Any] | None = None
    if max_normalize:
        from ..expression.normalize import max_normalize as _max_normalize
        from ..expression.normalize import max_scales, normalization_record

        normalization = {"features": normalization_record(max_scales(features, name="features"))}
        features = _max_normalize(features, name="features")
        if lazy is None:
            normalization["expression"] = normalization_record(max_scales(expression, name="expression"))
            expression = _max_normalize(expression, name="expression")
        else:
            log.info("max-normalisation of the lazy expression table skipped: Pearson r is invariant to it")
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
            parts = ([f"{len(missing)} imaged sample(s) lack expression ({format_names(missing)})"] if len(missing)
                     else []) + ([f"{len(extra)} expression sample(s) were not imaged ({format_names(extra)})"]
                                 if len(extra) else [])
            raise AlignmentError(
                "mode='paired' needs the same samples imaged and sequenced: " + "; ".join(parts) + ". Keep only the "
                "patients of both tables, or use mode='unpaired' (imaging and expression from different patients, "
                "the paper's design) with the expression samples' HER2 labels."
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

    client = None
    if backend == "dask" and isinstance(scheduler, str):
        from distributed import Client

        try:
            client = Client(scheduler, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ParameterError(f"cannot connect to the Dask scheduler at {scheduler!r} ({exc}).") from exc
        scheduler = client
    seq = np.random.SeedSequence(seed)
    obs_seq, null_seq = seq.spawn(2)
    torch_device = resolve_device(device, backend=backend, lazy=lazy is not None)
    margin = decision_margin(sample_size)
    # the float32 decision needs a band narrower than the threshold (n in the thousands: float64 only)
    precision = "mixed" if margin < threshold / 8 else "float64"
    run = dict(threshold=threshold, dtype=dtype, chunk_size=chunk_size, n_jobs=workers, backend=backend,
               scheduler=scheduler)
    timing: dict[str, Any] = {}
    try:
        # the binomial null's checks on the columns the draws come from (cheap: per-gene moments and
        # one N x N product per class)
        gene_stats = combine_gene_checks(map_gene_chunks(
            e_values, gene_check_chunk, {c: pools[c][1] for c in CLASSES}, correlation_genes(n_genes),
            chunk_size=chunk_size, scheduler=scheduler))
        plan = _draw_plans(np.random.default_rng(obs_seq), pools, n_perturbations=n_perturbations,
                           sample_size=sample_size, paired=paired, permute=False)
        t0 = time.perf_counter()
        engine = None
        if precision == "mixed":
            engine = MixedEngine(f_values, e_values, {c: pools[c][1] for c in CLASSES}, threshold, sample_size,
                                 dtype, chunk_size, n_jobs=workers, backend=backend, scheduler=scheduler,
                                 device=torch_device)
        timing["prepare_seconds"] = time.perf_counter() - t0
        with timed(f"perturbation association ({mode}, {n_feat} features x {n_genes} genes, "
                   f"{n_perturbations} perturbations x 2 classes, n={sample_size}; {precision} on "
                   f"{'cpu' if torch_device is None else torch_device})", logger=log):
            t0 = time.perf_counter()
            if engine is not None:
                counts = engine.run([plan])[0]
            else:
                counts = _run_round(f_values, e_values, plan, show_progress=show_progress, **run)
            timing["observed_seconds"] = time.perf_counter() - t0
        null_rounds = np.zeros((n_null, n_feat), dtype=np.int64)
        if n_null:
            reducer = specific_reducer(min_hits)
            plans = [null_plan(null_seq, k, pools, n_perturbations=n_perturbations, sample_size=sample_size,
                               paired=paired) for k in range(n_null)]
            disable = None if show_progress is None else not show_progress
            bar = progress(range(n_null), desc="null rounds", disable=disable)
            ticks = iter(bar)

            def tick(k: int) -> None:
                for _ in range(k):
                    next(ticks, None)

            t0 = time.perf_counter()
            if engine is not None:
                null_rounds[:] = engine.run(plans, reduce=reducer, on_done=tick)
            else:
                for k, p in enumerate(plans):
                    null_rounds[k] = _run_round(f_values, e_values, p, reduce=reducer, **run)
                    tick(1)
            tick(n_null)
            timing["null_seconds"] = time.perf_counter() - t0
            timing["null_seconds_per_round"] = timing["null_seconds"] / n_null
            log.info("permutation null: %d rounds in %.2f s (%.3f s per round; %s on %s)", n_null,
                     timing["null_seconds"], timing["null_seconds_per_round"], precision,
                     "cpu" if torch_device is None else torch_device)
    finally:
        if client is not None:
            client.close()

    checks = check_binomial(f_values, feat_names, {c: pools[c][0] for c in CLASSES}, gene_stats,
                            n_genes=n_genes, mode=mode)
    # ---- tables
    hits = {c: pd.DataFrame(counts[i], index=pd.Index(feat_names, name="feature"), columns=gene_names)
            for i, c in enumerate(CLASSES)}
    assoc = counts >= min_hits
    specific = assoc[0] & ~assoc[1]
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
    observed = specific.sum(axis=1)
    null_summary, probabilities = null_summary_table(
        observed, null_rounds, feat_names, n_genes=n_genes, n_perturbations=n_perturbations,
        sample_size=sample_size, r_threshold=r_threshold, alpha=alpha, min_hits=min_hits,
        null_alpha=null_alpha, checks=checks,
    )
    if n_null:
        beats = null_summary["beats_null"].to_numpy(dtype=bool)
        n_beating = pd.array((specific & beats[:, None]).sum(axis=0)[order], dtype="Int64")
    else:
        n_beating = pd.array([pd.NA] * order.size, dtype="Int64")
    top_genes = pd.DataFrame({
        "gene": gene_names[order],
        "n_features": n_feat_per_gene[order].astype(np.int64),
        "n_features_beating_null": n_beating,
        "total_hits_positive": total_hits[order].astype(np.int64),
        "rank": np.arange(1, order.size + 1),
    })
    null_counts = pd.DataFrame(null_rounds, columns=feat_names, index=pd.RangeIndex(n_null, name="round"))
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
        alpha=alpha, min_hits=min_hits, n_null=n_null, null_alpha=null_alpha, top_n=top_n,
        max_normalize=bool(max_normalize), max_normalization=normalization,
        seed=seed, n_jobs=n_jobs, chunk_size=chunk_size, backend=backend,
        device=device if isinstance(device, str) else str(device),
        device_used="cpu" if torch_device is None else str(torch_device), precision=precision,
        decision_margin=margin if precision == "mixed" else 0.0, timing=timing, r_critical=r_crit,
        hit_threshold=threshold, **probabilities, n_features=n_feat, n_genes=n_genes,
        n_samples={f"{t}_{c}": int(pools[c][i].size) for c in CLASSES for i, t in enumerate(("features", "expression"))},
    )
    if n_null:
        n_beat = int(null_summary["beats_null"].sum())
        log.info("positive-specific pairs: %d observed, %.1f in the permutation null; %d of %d feature(s) beat "
                 "the null (empirical p < %g; about %.1f would by chance)", int(observed.sum()),
                 null_rounds.sum(axis=1).mean(), n_beat, n_feat, null_alpha, n_feat * null_alpha)
        if 1.0 / (n_null + 1) >= null_alpha:
            log.warning("n_null=%d: the smallest attainable empirical p is %.3g >= null_alpha=%g, so no feature can "
                        "beat the null; use n_null >= %d", n_null, 1.0 / (n_null + 1), null_alpha,
                        int(np.ceil(1.0 / null_alpha)))
    else:
        log.warning("n_null=0: no permutation null, so no feature has a verdict against chance")
    n_shown = int(checks.shown.sum())
    if n_shown < n_feat:
        reason = checks.notes[~checks.shown].iloc[0]
        log.info("binomial null withheld for %d of %d feature(s) (its assumptions fail), e.g. %s: %s",
                 n_feat - n_shown, n_feat, checks.notes.index[~checks.shown][0], reason)
    if mode == "unpaired":
        log.info("unpaired design: every pairing is random, compare the observed counts with the null")
    return AssociationResult(
        positive_specific=positive_specific, associated=associated, hits_positive=hits["positive"],
        hits_negative=hits["negative"], top_genes=top_genes, null_summary=null_summary, null_checks=checks.table,
        null_counts=null_counts,
        draws=draws, parameters=parameters, synthetic=synthetic,
    )
