"""Over-representation analysis (hypergeometric test) of many gene sets at once.

For every library, genes are indexed over the *universe* and two sparse binary matrices are built:
``Q`` (features × universe genes, the query gene sets) and ``G`` (universe genes × terms, the
library). One sparse product ``Q @ G`` gives every feature–term overlap ``k``; the p-value is the
hypergeometric upper tail

    p = P(X >= k) = hypergeom.sf(k - 1, M, n, N)

with ``M`` the universe size, ``n`` the term's size within the universe and ``N`` the number of
the feature's genes within the universe, evaluated for all pairs in one vectorised call.

Conventions (those of clusterProfiler's ``enricher`` and, for the arithmetic, gseapy's
``enrich``):

* **Universe.** ``"measured_annotated"`` (the default when ``background`` is given): the measured
  genes (``background``, e.g. the expression table's columns) that are annotated to at least one
  term of the library; computed per library. ``"annotated"`` (the default without ``background``):
  every gene of the library. ``"background"``: the given list as it is, annotated or not
  (gseapy's convention for a list background). Query genes and terms are intersected with the
  universe; query genes outside it are counted in the summary, never silently.
* **Term sizes.** ``set_size`` is the term's size within the universe; terms outside
  ``[min_size, max_size]`` (default 10–500, clusterProfiler's ``minGSSize``/``maxGSSize``) are not
  tested.
* **Tested terms and FDR.** Only terms sharing at least ``min_overlap`` (default 1) gene with the
  feature's set are tested (both clusterProfiler and gseapy do this); Benjamini–Hochberg q-values
  are computed over those, separately for each feature and library.
* **Odds ratio.** Haldane–Anscombe corrected sample odds ratio (+0.5 in every cell), as gseapy.
* **Null verdict.** Given the association result, every row and every summary row carries its
  feature's verdict against the association's permutation null (``empirical_p``,
  ``empirical_fdr``, ``beats_null``): a term enriched in a gene set that the rule selects as
  often by chance says nothing about the feature. Given plain gene sets there is no verdict:
  the columns are missing values and ``parameters["null_verdict"]`` says so.

With ``universe="background"`` and the gseapy call
``gseapy.enrich(gene_list, gene_sets, background=list(background), cutoff=1, no_plot=True)``
(sizes unfiltered: ``min_size=1``, large ``max_size``) p-values, q-values and odds ratios agree;
with the default universe they agree when gseapy is given the same universe list.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import sparse, stats

from .._logging import get_logger, timed
from .._results import StageResult, dropped_table, is_synthetic
from .._validation import InputError, ParameterError, check_choice, check_float, check_int, format_names
from .libraries import GeneSetLibrary, library_from_dict, load_libraries

__all__ = ["EnrichmentResult", "enrich", "bh_by_group", "hypergeom_sf", "as_gene_sets", "add_verdict",
           "ENRICHMENT_COLUMNS", "VERDICT_COLUMNS"]

log = get_logger(__name__)

ENRICHMENT_COLUMNS = [
    "feature", "library", "term", "overlap", "set_size", "query_size", "background_size",
    "p_value", "q_value", "odds_ratio", "genes",
]
UNIVERSES = ("measured_annotated", "annotated", "background")


@dataclass(frozen=True)
class EnrichmentResult(StageResult):
    """Result of :func:`enrich`.

    Attributes
    ----------
    table
        Tidy table, one row per tested feature–term pair, sorted by feature (input order),
        library and p-value; columns ``feature``, ``library``, ``term``, ``overlap`` (genes shared),
        ``set_size`` (term size within the universe), ``query_size`` (feature's genes within the
        universe), ``background_size`` (universe size), ``p_value`` (hypergeometric upper tail),
        ``q_value`` (BH within feature and library), ``odds_ratio`` (Haldane–Anscombe),
        ``genes`` (shared genes, ``;``-separated, sorted) and the feature's null verdict
        ``empirical_p``, ``empirical_fdr``, ``beats_null`` (missing without an association
        result). Written as ``enrichment``.
    clusterprofiler
        Property: the same table in clusterProfiler's columns (``Cluster``, ``ONTOLOGY``, ``ID``,
        ``Description``, ``GeneRatio``, ``BgRatio``, ``pvalue``, ``p.adjust``, ``qvalue``,
        ``geneID``, ``Count``), for R users; written as ``clusterprofiler.csv`` (derived from
        ``table``, not read back).
    summary
        One row per feature and library: ``feature``, ``library``, ``genes_given``,
        ``genes_in_universe``, ``genes_outside_universe``, ``background_size``,
        ``terms_in_size_range``, ``terms_tested``, ``terms_significant`` (q < ``alpha``), and
        the null verdict ``empirical_p``, ``empirical_fdr``, ``beats_null``.
    parameters
        The parameters used, ``libraries`` (the provenance record of each library,
        :meth:`GeneSetLibrary.info`) and ``null_verdict`` (where the verdict comes from, or why
        there is none).
    dropped
        Features that could not be tested in a library: ``kind`` (``"feature"``), ``item``
        (the feature), ``reason``, ``library``.
    synthetic
        The inputs were synthetic.
    """

    stage: ClassVar[str] = "enrichment"
    TABLE_ATTRS: ClassVar[Mapping[str, str]] = {"enrichment": "table"}

    table: pd.DataFrame
    summary: pd.DataFrame
    parameters: Mapping[str, Any] = field(default_factory=dict)
    dropped: pd.DataFrame = field(default_factory=lambda: dropped_table(extra=("library",)))
    synthetic: bool = False

    @property
    def clusterprofiler(self) -> pd.DataFrame:
        """:attr:`table` in clusterProfiler's compareCluster columns (written as ``clusterprofiler.csv``; see
        :func:`~radiogenomics.enrichment.to_clusterprofiler`)."""
        from .formats import to_clusterprofiler

        return to_clusterprofiler(self.table)

    def _files(self) -> dict[str, bytes]:
        """``clusterprofiler.csv``: the table for R users (``read.csv`` gives compareCluster's columns)."""
        return {"clusterprofiler.csv": self.clusterprofiler.to_csv(index=False).encode("utf-8")}

    @property
    def libraries(self) -> list[dict[str, Any]]:
        """Provenance record of each library used (name, source, path, sha256, version...)."""
        return list(self.parameters.get("libraries") or [])

    @property
    def alpha(self) -> float:
        """The FDR level of the call."""
        return float(self.parameters.get("alpha", 0.05))

    def overview(self) -> dict[str, Any]:
        """Counts of the result.

        Returns
        -------
        dict
            ``tested_pairs``, ``significant_pairs``, ``features_with_terms``, ``dropped``.
        """
        sig = self.significant()
        return {"tested_pairs": int(len(self.table)), "significant_pairs": int(len(sig)),
                "features_with_terms": int(sig["feature"].nunique()), "dropped": int(len(self.dropped))}

    def null_verdict(self) -> pd.DataFrame | None:
        """Each feature's verdict against the association's permutation null, or ``None``.

        Returns
        -------
        pandas.DataFrame or None
            Index ``feature``; columns ``empirical_p``, ``empirical_fdr``, ``beats_null``;
            ``None`` when the gene sets came without a verdict.
        """
        return _verdict_of(self.summary)

    def significant(self, *, alpha: float | None = None) -> pd.DataFrame:
        """Rows with ``q_value < alpha`` (the ``alpha`` of the call by default).

        Parameters
        ----------
        alpha
            FDR threshold.

        Returns
        -------
        pandas.DataFrame
            Subset of :attr:`table` with the same columns.
        """
        alpha = self.parameters.get("alpha", 0.05) if alpha is None else alpha
        return self.table[self.table["q_value"] < alpha]


#: The per-feature verdict columns carried from the association's null into this stage's tables.
VERDICT_COLUMNS = ("empirical_p", "empirical_fdr", "beats_null")


def _verdict_of(table: pd.DataFrame | None) -> pd.DataFrame | None:
    """The per-feature verdict held in a table's verdict columns (``None`` when absent or empty)."""
    if table is None or not set(VERDICT_COLUMNS) <= set(table.columns) or "feature" not in table.columns:
        return None
    if not table["empirical_p"].notna().any():
        return None
    v = table[["feature", *VERDICT_COLUMNS]].drop_duplicates("feature").copy()
    v["feature"] = v["feature"].astype(str)
    v = v.set_index("feature")
    v[["empirical_p", "empirical_fdr"]] = v[["empirical_p", "empirical_fdr"]].astype(float)
    v["beats_null"] = v["beats_null"].astype("boolean")
    return v


def add_verdict(table: pd.DataFrame, verdict: pd.DataFrame | None) -> pd.DataFrame:
    """``table`` with its features' verdict columns (``empirical_p``, ``empirical_fdr``, ``beats_null``).

    Parameters
    ----------
    table
        A table with a ``feature`` column.
    verdict
        Per-feature verdict (index = feature), or ``None``: the columns are then missing values.

    Returns
    -------
    pandas.DataFrame
        A copy with the three columns last (replaced if present); features absent from the
        verdict get missing values.
    """
    out = table.drop(columns=[c for c in VERDICT_COLUMNS if c in table.columns]).copy()
    feats = out["feature"].astype(str)
    if verdict is None:
        out["empirical_p"] = np.nan
        out["empirical_fdr"] = np.nan
        out["beats_null"] = pd.array([pd.NA] * len(out), dtype="boolean")
        return out
    out["empirical_p"] = feats.map(verdict["empirical_p"]).astype(float).to_numpy()
    out["empirical_fdr"] = feats.map(verdict["empirical_fdr"]).astype(float).to_numpy()
    out["beats_null"] = pd.array(feats.map(verdict["beats_null"].astype(object)).tolist(), dtype="boolean")
    return out


def as_gene_sets(gene_sets: Mapping[str, Iterable[str]] | pd.DataFrame, *, name: str = "gene sets") -> dict[str, list[str]]:
    """Normalise feature gene sets to a dict feature → unique genes (input order kept).

    Parameters
    ----------
    gene_sets
        A mapping feature → genes, or a long DataFrame with columns ``feature`` and ``gene``
        (as the association stage writes ``positive_specific``); other columns are ignored.
    name
        What the input is, used in messages.

    Returns
    -------
    dict
        Feature (str) → list of unique genes (str).
    """
    if isinstance(gene_sets, pd.DataFrame):
        df = gene_sets
        if "feature" not in df.columns and df.index.name == "feature":
            df = df.reset_index()
        missing = [c for c in ("feature", "gene") if c not in df.columns]
        if missing:
            raise InputError(
                f"{name}: a long table needs columns 'feature' and 'gene'; missing {missing} "
                f"(columns: {format_names(df.columns)})."
            )
        df = df[["feature", "gene"]]
        if df.isna().any().any():
            raise InputError(f"{name}: {int(df.isna().any(axis=1).sum())} row(s) with a missing feature or gene.")
        out: dict[str, list[str]] = {}
        for f, g in zip(df["feature"].astype(str), df["gene"].astype(str)):
            out.setdefault(f, []).append(g)
        return {f: list(dict.fromkeys(g)) for f, g in out.items()}
    if isinstance(gene_sets, Mapping):
        out = {}
        for f, genes in gene_sets.items():
            if isinstance(genes, str):
                raise InputError(
                    f"{name}: genes of feature {f!r} must be a list of gene names, not the string {genes!r}."
                )
            out[str(f)] = list(dict.fromkeys(str(g) for g in genes))
        return out
    raise InputError(
        f"{name} must be a mapping feature -> genes or a DataFrame with columns feature, gene; "
        f"got {type(gene_sets).__name__}."
    )


def _as_libraries(libraries: Any) -> list[GeneSetLibrary]:
    if isinstance(libraries, GeneSetLibrary):
        return [libraries]
    if isinstance(libraries, (str, os.PathLike)):
        return load_libraries([libraries])
    if isinstance(libraries, Mapping):
        values = list(libraries.values())
        if values and all(isinstance(v, Mapping) for v in values):
            return load_libraries(libraries)  # name -> (term -> genes)
        return [library_from_dict(libraries, name="custom")]
    if isinstance(libraries, Sequence):
        return load_libraries(libraries)
    raise InputError(
        "libraries must be a GeneSetLibrary, a GMT path or Enrichr name, a list of these, a mapping "
        f"term -> genes or a mapping library -> (term -> genes); got {type(libraries).__name__}."
    )


def bh_by_group(p_values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values computed separately within each group.

    Parameters
    ----------
    p_values
        P-values.
    groups
        Integer group label of each p-value (same length).

    Returns
    -------
    numpy.ndarray
        q-values in the input order (``statsmodels`` ``fdr_bh`` within each group).
    """
    p = np.asarray(p_values, dtype=float)
    g = np.asarray(groups)
    if p.size == 0:
        return p.copy()
    order = np.lexsort((p, g))
    ps, gs = p[order], g[order]
    starts = np.r_[0, np.flatnonzero(gs[1:] != gs[:-1]) + 1]
    sizes = np.diff(np.r_[starts, ps.size])
    n = np.repeat(sizes, sizes)
    rank = np.arange(ps.size) - np.repeat(starts, sizes) + 1
    raw = np.minimum(ps * n / rank, 1.0)
    # running minimum from the end of each group
    rev = pd.Series(raw[::-1]).groupby(gs[::-1], sort=False).cummin().to_numpy()[::-1]
    q = np.empty_like(p)
    q[order] = rev
    return q


def hypergeom_sf(k: np.ndarray, n: np.ndarray, big_n: np.ndarray, *, population: int | np.ndarray) -> np.ndarray:
    """Hypergeometric upper tail ``P(X >= k)``, vectorised.

    The same values as ``scipy.stats.hypergeom.sf(k - 1, M, n, N)`` (relative difference
    < 1e-9), about 50-100x faster: scipy's ``hypergeom.sf`` (Boost) costs ~50 µs per value.
    The pmf at the start comes from ``scipy.stats.hypergeom.logpmf`` (vectorised, log-beta
    based) and the tail is summed with the pmf recurrence, always from the start point *away*
    from the mode so that terms decrease (no overflow, positive terms only): above the mode
    ``P(X >= k) = sum_{i >= k} pmf(i)``; at or below it ``1 - sum_{i < k} pmf(i)``. A value stops
    once the rest of its series, bounded by a geometric series, is below 1e-17 of its sum.

    Parameters
    ----------
    k
        Overlaps (successes drawn), integers >= 0.
    n
        Successes in the population (term sizes).
    big_n
        Draws (query sizes).
    population
        Population (universe) size ``M``.

    Returns
    -------
    numpy.ndarray
        ``P(X >= k)`` in [0, 1].
    """
    k, big_m, n, big_n = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (k, population, n, big_n)))
    shape = k.shape
    k, big_m, n, big_n = (np.ravel(a) for a in (k, big_m, n, big_n))
    out = np.zeros(k.size, dtype=float)
    if k.size == 0:
        return out.reshape(shape)
    lower = np.maximum(0.0, big_n - (big_m - n))
    upper = np.minimum(n, big_n)
    out[k <= lower] = 1.0
    inside = (k > lower) & (k <= upper)
    mode = np.floor((big_n + 1) * (n + 1) / (big_m + 2))
    up = np.flatnonzero(inside & (k > mode))
    down = np.flatnonzero(inside & (k <= mode))
    if up.size:
        out[up] = _tail_sum(k[up], big_m[up], n[up], big_n[up], upper[up], step=1)
    if down.size:
        lower_tail = _tail_sum(k[down] - 1, big_m[down], n[down], big_n[down], lower[down], step=-1)
        out[down] = 1.0 - lower_tail
    np.clip(out, 0.0, 1.0, out=out)
    return out.reshape(shape)


def _tail_sum(
    start: np.ndarray, big_m: np.ndarray, n: np.ndarray, big_n: np.ndarray, end: np.ndarray, *, step: int
) -> np.ndarray:
    """sum of pmf(i) for i from ``start`` to ``end`` (inclusive) in direction ``step``, terms decreasing."""
    log_first = stats.hypergeom.logpmf(start, big_m, n, big_n)
    total = np.ones(start.size)  # relative to pmf(start)
    term = np.ones(start.size)
    i = start.copy()
    act = np.flatnonzero(i != end)
    while act.size:
        ia, mm, nn, dd = i[act], big_m[act], n[act], big_n[act]
        if step > 0:
            ratio = (nn - ia) * (dd - ia) / ((ia + 1) * (mm - nn - dd + ia + 1))
        else:
            ratio = ia * (mm - nn - dd + ia) / ((nn - ia + 1) * (dd - ia + 1))
        t = term[act] * ratio
        term[act] = t
        total[act] += t
        i[act] = ia + step
        # ratios keep shrinking away from the mode: the rest is below t * r / (1 - r)
        with np.errstate(divide="ignore", invalid="ignore"):
            small = (ratio < 1) & (t * ratio < 1e-17 * total[act] * (1 - ratio))
        act = act[~((i[act] == end[act]) | small)]
    return np.exp(log_first + np.log(total))


def enrich(
    gene_sets: Mapping[str, Iterable[str]] | pd.DataFrame | Any,
    libraries: Any,
    *,
    background: Iterable[str] | None = None,
    universe: str | None = None,
    min_size: int = 10,
    max_size: int = 500,
    min_overlap: int = 1,
    alpha: float = 0.05,
    with_genes: bool = True,
) -> EnrichmentResult:
    """Hypergeometric over-representation analysis of every feature's gene set in every library.

    Parameters
    ----------
    gene_sets
        The association result (:func:`radiogenomics.associate`: each feature's
        HER2-positive-specific genes, its tested genes as the default ``background``, and each
        feature's verdict against its permutation null); or feature → genes; or the long
        ``positive_specific`` table (``feature``, ``gene``), which carry no verdict.
    libraries
        A :class:`~radiogenomics.enrichment.GeneSetLibrary`, a GMT path or Enrichr name, a list of
        these, a mapping term → genes (one library named ``"custom"``) or a mapping library name →
        (term → genes).
    background
        The measured genes (e.g. the expression table's columns); default with an association
        result: the genes it tested.
    universe
        ``"measured_annotated"`` (default with ``background``), ``"annotated"`` (default without)
        or ``"background"``; see the module docstring.
    min_size, max_size
        Terms whose size within the universe is outside ``[min_size, max_size]`` are not tested.
    min_overlap
        Terms sharing fewer genes with a feature's set are not tested for it (and are not part
        of its BH family).
    alpha
        FDR level used for ``terms_significant`` in the summary and :meth:`EnrichmentResult.significant`.
    with_genes
        Fill the ``genes`` column (shared genes); ``False`` leaves it empty and is faster.

    Returns
    -------
    EnrichmentResult
        ``table`` (columns ``feature``, ``library``, ``term``, ``overlap``, ``set_size``,
        ``query_size``, ``background_size``, ``p_value``, ``q_value``, ``odds_ratio``,
        ``genes``, ``empirical_p``, ``empirical_fdr``, ``beats_null``), ``summary``,
        ``dropped``, ``libraries`` and ``parameters``.
    """
    owner = "enrich"
    synthetic = is_synthetic(gene_sets)
    verdict, verdict_source = None, ("none: the gene sets were given without their association result, so no "
                                     "feature's enrichment can be weighed against the permutation null")
    if hasattr(gene_sets, "gene_sets") and callable(gene_sets.gene_sets):  # an AssociationResult
        if background is None:
            background = list(gene_sets.genes)
        verdict = gene_sets.null_verdict() if hasattr(gene_sets, "null_verdict") else None
        verdict_source = (f"association permutation null (empirical p < {gene_sets.null_alpha:g})" if verdict is not None
                          else "none: the association ran without a permutation null (n_null=0)")
        gene_sets = gene_sets.gene_sets()
    min_size = check_int(min_size, "min_size", owner=owner, min_value=1)
    max_size = check_int(max_size, "max_size", owner=owner, min_value=min_size)
    min_overlap = check_int(min_overlap, "min_overlap", owner=owner, min_value=1)
    alpha = check_float(alpha, "alpha", owner=owner, min_value=0.0, max_value=1.0, closed="right")
    if universe is None:
        universe = "measured_annotated" if background is not None else "annotated"
    check_choice(universe, "universe", owner=owner, choices=UNIVERSES)
    if universe != "annotated" and background is None:
        raise ParameterError(
            f"The 'background' parameter of enrich is needed with universe={universe!r}; pass the "
            "measured genes (e.g. the expression table's columns) or use universe='annotated'."
        )
    if background is not None:
        if isinstance(background, str):
            raise InputError("background must be a list of gene names, not a single string.")
        bg_genes = pd.Index(pd.unique(pd.Series(list(background), dtype=object).astype(str)))
        if len(bg_genes) == 0:
            raise InputError("background holds no gene.")
    else:
        bg_genes = None
    queries = as_gene_sets(gene_sets)
    if not queries:
        raise InputError("gene sets: no feature given.")
    libs = _as_libraries(libraries)
    features = list(queries)
    f_index = {f: i for i, f in enumerate(features)}
    # long query pairs once
    q_feat = np.concatenate([np.full(len(g), f_index[f], dtype=np.int64) for f, g in queries.items()])
    q_gene = pd.Index(np.concatenate([np.asarray(g, dtype=object) for g in queries.values()]) if q_feat.size else [])
    given = np.array([len(queries[f]) for f in features], dtype=np.int64)
    _check_any_overlap(queries, libs, bg_genes)

    frames, summaries, dropped = [], [], []
    with timed(f"over-representation analysis of {len(features)} gene set(s) in {len(libs)} librar(y/ies)", logger=log):
        for lib in libs:
            res, summ, drop = _enrich_library(
                features, q_feat, q_gene, given, lib, bg_genes=bg_genes, universe=universe,
                min_size=min_size, max_size=max_size, min_overlap=min_overlap, alpha=alpha,
                with_genes=with_genes,
            )
            frames.append(res)
            summaries.append(summ)
            dropped.extend(drop)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=ENRICHMENT_COLUMNS)
    summary = pd.concat(summaries, ignore_index=True)
    table, summary = add_verdict(table, verdict), add_verdict(summary, verdict)
    if verdict is None:
        log.info("no null verdict: %s", verdict_source)
    else:
        sig = table.loc[table["q_value"] < alpha, ["feature", "beats_null"]].drop_duplicates("feature")
        log.info("%d of %d feature(s) with significant terms beat the association's permutation null",
                 int(sig["beats_null"].fillna(False).sum()), len(sig))
    dropped_df = dropped_table(
        ({"kind": "feature", "item": f, "reason": reason, "library": lib} for f, lib, reason in dropped),
        extra=("library",),
    )
    if len(dropped_df):
        log.warning(
            "%d feature–library pair(s) not tested (see the dropped table), e.g. %s: %s",
            len(dropped_df), dropped_df["item"].iloc[0], dropped_df["reason"].iloc[0],
        )
    params = {
        "universe": universe, "min_size": min_size, "max_size": max_size, "min_overlap": min_overlap,
        "alpha": alpha, "test": "hypergeometric upper tail", "fdr": "Benjamini-Hochberg per feature and library",
        "background_genes": None if bg_genes is None else int(len(bg_genes)),
        "libraries": [lib.info() for lib in libs], "null_verdict": verdict_source,
    }
    return EnrichmentResult(table=table, summary=summary, dropped=dropped_df, parameters=params, synthetic=synthetic)


def _check_any_overlap(queries: Mapping[str, Any], libs: list[Any], bg_genes: pd.Index | None) -> None:
    """Refuse a run in which no queried (or background) gene is in any library: nothing could be tested."""
    annotated: set[str] = set()
    for lib in libs:
        annotated |= lib.genes
    asked = {str(g) for genes in queries.values() for g in genes}
    if not asked:  # a result, not an input error: e.g. no gene passes the association (the unpaired design)
        log.warning("gene sets: every feature's gene set is empty (%d feature(s)); no term can be enriched, so the "
                    "enrichment tables are empty", len(queries))
        return
    for what, genes in (("genes of the feature gene sets", asked),
                        ("background genes", None if bg_genes is None else set(map(str, bg_genes)))):
        if genes is None or genes & annotated:
            continue
        names = ", ".join(lib.name for lib in libs)
        shown = format_names(sorted(genes), limit=3)
        lib_shown = format_names(sorted(annotated), limit=3)
        hint = ""
        if {g.upper() for g in genes} & {a.upper() for a in annotated}:
            hint = " The symbols differ only in case: use upper-case HGNC symbols."
        elif any(g.upper().startswith("ENSG") for g in genes):
            hint = " They look like Ensembl ids: map them to HGNC symbols first."
        raise InputError(
            f"enrichment: none of the {len(genes)} {what} ({shown}) is in the libraries {names} "
            f"({len(annotated)} genes, e.g. {lib_shown}); no term can be tested.{hint}"
        )


def _enrich_library(
    features: list[str],
    q_feat: np.ndarray,
    q_gene: pd.Index,
    given: np.ndarray,
    lib: GeneSetLibrary,
    *,
    bg_genes: pd.Index | None,
    universe: str,
    min_size: int,
    max_size: int,
    min_overlap: int,
    alpha: float,
    with_genes: bool,
) -> tuple[pd.DataFrame, pd.DataFrame, list[tuple[str, str, str]]]:
    terms = list(lib.sets)
    t_len = np.fromiter((len(lib.sets[t]) for t in terms), dtype=np.int64, count=len(terms))
    t_idx = np.repeat(np.arange(len(terms)), t_len)
    t_gene = pd.Index(np.fromiter((g for t in terms for g in lib.sets[t]), dtype=object, count=int(t_len.sum())))
    annotated = pd.Index(pd.unique(t_gene))
    if universe == "annotated":
        uni = annotated
    elif universe == "measured_annotated":
        uni = bg_genes.intersection(annotated)
    else:
        uni = bg_genes
    uni = pd.Index(np.sort(np.asarray(uni, dtype=object)))  # alphabetical: genes column comes out sorted
    big_m = len(uni)
    n_f, n_t = len(features), len(terms)
    if universe != "annotated":
        log.info("library %s: universe of %d genes (%s; %d measured, %d annotated)",
                 lib.name, big_m, universe, len(bg_genes), len(annotated))
    # term incidence within the universe
    gi = uni.get_indexer(t_gene)
    keep = gi >= 0
    gmat = sparse.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.int64), (gi[keep], t_idx[keep])), shape=(big_m, n_t)
    )
    set_size = np.asarray(gmat.sum(axis=0)).ravel()
    in_range = (set_size >= min_size) & (set_size <= max_size)
    # query incidence within the universe (duplicates already removed per feature)
    qi = uni.get_indexer(q_gene) if len(q_gene) else np.empty(0, dtype=np.int64)
    qkeep = qi >= 0
    qmat = sparse.csr_matrix(
        (np.ones(int(qkeep.sum()), dtype=np.int64), (q_feat[qkeep], qi[qkeep])), shape=(n_f, big_m)
    )
    query_size = np.asarray(qmat.sum(axis=1)).ravel()
    # overlaps of every feature with every term in the size range: one sparse product
    g_in = gmat[:, in_range].tocsc()
    term_ids = np.flatnonzero(in_range)
    ov = (qmat @ g_in).tocoo()
    rows, cols, k = ov.row.astype(np.int64), term_ids[ov.col], ov.data.astype(np.int64)
    sel = k >= min_overlap
    rows, cols, k = rows[sel], cols[sel], k[sel]
    order = np.lexsort((cols, rows))
    rows, cols, k = rows[order], cols[order], k[order]
    n = set_size[cols]
    big_n = query_size[rows]
    p = hypergeom_sf(k, n, big_n, population=big_m)
    odds = ((k + 0.5) * (big_m - n - big_n + k + 0.5)) / ((n - k + 0.5) * (big_n - k + 0.5))
    q = bh_by_group(p, rows)
    genes = _overlap_genes(qmat, gmat, uni, rows, cols) if with_genes and rows.size else np.full(rows.size, "", dtype=object)
    table = pd.DataFrame(
        {
            "feature": np.asarray(features, dtype=object)[rows],
            "library": lib.name,
            "term": np.asarray(terms, dtype=object)[cols],
            "overlap": k,
            "set_size": n,
            "query_size": big_n,
            "background_size": np.full(rows.size, big_m, dtype=np.int64),
            "p_value": p,
            "q_value": q,
            "odds_ratio": odds,
            "genes": genes,
        },
        columns=ENRICHMENT_COLUMNS,
    )
    # sort by feature (input order), then p-value, then the term's position in the library
    table = table.iloc[np.lexsort((cols, p, rows))].reset_index(drop=True)
    tested = np.bincount(rows, minlength=n_f)
    signif = np.bincount(rows[q < alpha], minlength=n_f)
    summary = pd.DataFrame(
        {
            "feature": features,
            "library": lib.name,
            "genes_given": given,
            "genes_in_universe": query_size,
            "genes_outside_universe": given - query_size,
            "background_size": big_m,
            "terms_in_size_range": int(in_range.sum()),
            "terms_tested": tested,
            "terms_significant": signif,
        }
    )
    dropped = []
    for i in np.flatnonzero(query_size == 0):
        reason = "empty gene set" if given[i] == 0 else f"none of its {given[i]} genes is in the {universe} universe of {lib.name}"
        dropped.append((features[i], lib.name, reason))
    outside = int((given - query_size).sum())
    if outside:  # distinct genes (one gene is often in many features' sets), and the features they came from
        out_genes = pd.unique(np.asarray(q_gene, dtype=object)[~qkeep])
        out_feats = np.unique(q_feat[~qkeep])
        log.info("library %s: %d distinct query gene(s) outside the %s universe were not counted (%d gene-feature "
                 "pair(s) in %d of %d feature(s))", lib.name, len(out_genes), universe, outside, len(out_feats), n_f)
    log.info("library %s: %d of %d terms within size %d-%d; %d feature-term pairs tested, %d with q < %g",
             lib.name, int(in_range.sum()), n_t, min_size, max_size, rows.size, int((q < alpha).sum()), alpha)
    return table, summary, dropped


def _overlap_genes(
    qmat: sparse.csr_matrix, gmat: sparse.csr_matrix, uni: pd.Index, rows: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    """The shared genes of each (feature, term) pair, ';'-joined, by expanding query × term triplets."""
    qcoo = qmat.tocoo()
    fq, gq = qcoo.row.astype(np.int64), qcoo.col.astype(np.int64)
    gmat = gmat.tocsr()
    cnt = np.diff(gmat.indptr)[gq]
    total = int(cnt.sum())
    f_rep = np.repeat(fq, cnt)
    g_rep = np.repeat(gq, cnt)
    offs = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    t_rep = gmat.indices[np.repeat(gmat.indptr[gq], cnt) + offs].astype(np.int64)
    n_t = gmat.shape[1]
    key = f_rep * n_t + t_rep
    want = rows * n_t + cols  # sorted (rows, cols) lexicographically => key ascending
    mask = np.isin(key, want)
    key, g_rep = key[mask], g_rep[mask]
    order = np.lexsort((g_rep, key))
    key, g_rep = key[order], g_rep[order]
    names = np.asarray(uni, dtype=object)[g_rep].tolist()
    bounds = np.flatnonzero(key[1:] != key[:-1]) + 1
    starts = np.r_[0, bounds].tolist()
    ends = np.r_[bounds, len(names)].tolist()
    joined = np.array([";".join(names[a:b]) for a, b in zip(starts, ends)], dtype=object)
    ukeys = key[np.r_[0, bounds]] if key.size else key
    pos = np.searchsorted(ukeys, want)
    return joined[pos]
