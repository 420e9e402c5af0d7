"""Functional similarity of features: Simpson (overlap) and Jaccard indices of significant term sets.

A feature's *function set* is the set of terms significantly enriched in its gene set
(``q_value < alpha`` by default), each term named ``"<library>: <term>"`` so that libraries
never collide. For two features with function sets ``Fi`` and ``Fj``:

* Simpson (overlap) index ``|Fi ∩ Fj| / min(|Fi|, |Fj|)`` (Cui et al. 2023);
* Jaccard index ``|Fi ∩ Fj| / |Fi ∪ Fj|``.

Both are undefined (NaN) when a set is empty; downstream, NaN never passes a threshold. All
pairs are computed at once from a sparse feature × term matrix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from scipy import sparse

from .._logging import get_logger
from .._validation import InputError, check_choice, check_float, format_names

__all__ = [
    "term_id",
    "significant_terms",
    "simpson_index",
    "jaccard_index",
    "similarity_matrix",
    "pairwise_similarity",
    "replication",
]

log = get_logger(__name__)

METHODS = ("simpson", "jaccard")


def term_id(library: str, term: str) -> str:
    """The identifier of a term across libraries: ``"<library>: <term>"``.

    Parameters
    ----------
    library
        Library name.
    term
        Term name.

    Returns
    -------
    str
    """
    return f"{library}: {term}"


def _check_enrichment(enrichment: pd.DataFrame, column: str, name: str) -> pd.DataFrame:
    if not isinstance(enrichment, pd.DataFrame):
        raise InputError(f"{name} must be a DataFrame (the enrichment table); got {type(enrichment).__name__}.")
    missing = [c for c in ("feature", "library", "term", column) if c not in enrichment.columns]
    if missing:
        raise InputError(
            f"{name}: missing column(s) {missing}; expected the enrichment table "
            f"(columns: {format_names(enrichment.columns)})."
        )
    return enrichment


def significant_terms(
    enrichment: pd.DataFrame,
    *,
    alpha: float = 0.05,
    column: str = "q_value",
    features: Iterable[str] | None = None,
    name: str = "enrichment",
) -> dict[str, frozenset[str]]:
    """Each feature's set of significant terms.

    Parameters
    ----------
    enrichment
        Table from :func:`~radiogenomics.enrichment.enrich` (columns ``feature``, ``library``,
        ``term`` and ``column``).
    alpha
        A term is significant when ``column < alpha``.
    column
        ``"q_value"`` (default) or ``"p_value"``.
    features
        Features to include even when they have no significant term (empty set); by default
        every feature of the table.
    name
        What the table is, used in messages.

    Returns
    -------
    dict
        Feature → frozenset of term ids (:func:`term_id`).
    """
    check_float(alpha, "alpha", owner="significant_terms", min_value=0.0, max_value=1.0, closed="right")
    enrichment = _check_enrichment(enrichment, column, name)
    keys = list(dict.fromkeys(enrichment["feature"].astype(str)))
    if features is not None:
        keys = list(dict.fromkeys([*map(str, features), *keys]))
    out: dict[str, set[str]] = {f: set() for f in keys}
    sig = enrichment[enrichment[column].astype(float) < alpha]
    for f, lib, t in zip(sig["feature"].astype(str), sig["library"].astype(str), sig["term"].astype(str)):
        out[f].add(term_id(lib, t))
    return {f: frozenset(s) for f, s in out.items()}


def simpson_index(a: Iterable[str], b: Iterable[str]) -> float:
    """Simpson (overlap) index ``|A ∩ B| / min(|A|, |B|)``; NaN when either set is empty.

    Parameters
    ----------
    a, b
        The two sets.

    Returns
    -------
    float
    """
    a, b = set(a), set(b)
    m = min(len(a), len(b))
    return float("nan") if m == 0 else len(a & b) / m


def jaccard_index(a: Iterable[str], b: Iterable[str]) -> float:
    """Jaccard index ``|A ∩ B| / |A ∪ B|``; NaN when either set is empty.

    Parameters
    ----------
    a, b
        The two sets.

    Returns
    -------
    float
    """
    a, b = set(a), set(b)
    if not a or not b:
        return float("nan")
    return len(a & b) / len(a | b)


def _incidence(term_sets: Mapping[str, Iterable[str]]) -> tuple[list[str], sparse.csr_matrix]:
    if not isinstance(term_sets, Mapping):
        raise InputError(f"term sets must be a mapping feature -> terms; got {type(term_sets).__name__}.")
    features = [str(f) for f in term_sets]
    sets = [set(map(str, s)) for s in term_sets.values()]
    vocab = {t: i for i, t in enumerate(sorted(set().union(*sets)))} if sets else {}
    rows = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
    cols = np.fromiter((vocab[t] for s in sets for t in s), dtype=np.int64, count=int(rows.size))
    mat = sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(len(sets), max(len(vocab), 1)))
    return features, mat


def _all_pairs(term_sets: Mapping[str, Iterable[str]]) -> tuple[list[str], np.ndarray, np.ndarray]:
    features, mat = _incidence(term_sets)
    inter = (mat @ mat.T).toarray()
    sizes = np.asarray(mat.sum(axis=1)).ravel()
    return features, inter, sizes


def similarity_matrix(term_sets: Mapping[str, Iterable[str]], *, method: str = "simpson") -> pd.DataFrame:
    """Square matrix of Simpson or Jaccard indices between every pair of features.

    Parameters
    ----------
    term_sets
        Feature → significant term ids (e.g. :func:`significant_terms`).
    method
        ``"simpson"`` or ``"jaccard"``.

    Returns
    -------
    pandas.DataFrame
        Features × features; NaN where either set is empty; 1 on the diagonal otherwise.
    """
    check_choice(method, "method", owner="similarity_matrix", choices=METHODS)
    features, inter, sizes = _all_pairs(term_sets)
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "simpson":
            denom = np.minimum.outer(sizes, sizes)
        else:
            denom = np.add.outer(sizes, sizes) - inter
        val = np.where(np.minimum.outer(sizes, sizes) > 0, inter / denom, np.nan)
    return pd.DataFrame(val, index=pd.Index(features, name="feature"), columns=pd.Index(features, name="feature"))


def pairwise_similarity(term_sets: Mapping[str, Iterable[str]], *, include_empty: bool = False) -> pd.DataFrame:
    """Long table of both indices for every unordered pair of features.

    Parameters
    ----------
    term_sets
        Feature → significant term ids.
    include_empty
        Keep pairs where a set is empty (indices NaN).

    Returns
    -------
    pandas.DataFrame
        Columns ``feature_a``, ``feature_b``, ``n_terms_a``, ``n_terms_b``, ``shared_terms``,
        ``simpson``, ``jaccard``; sorted by decreasing Simpson, then Jaccard.
    """
    features, inter, sizes = _all_pairs(term_sets)
    i, j = np.triu_indices(len(features), k=1)
    si, sj, sh = sizes[i], sizes[j], inter[i, j]
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = np.minimum(si, sj) > 0
        simpson = np.where(ok, sh / np.minimum(si, sj), np.nan)
        jaccard = np.where(ok, sh / (si + sj - sh), np.nan)
    out = pd.DataFrame(
        {
            "feature_a": np.asarray(features, dtype=object)[i],
            "feature_b": np.asarray(features, dtype=object)[j],
            "n_terms_a": si.astype(np.int64),
            "n_terms_b": sj.astype(np.int64),
            "shared_terms": sh.astype(np.int64),
            "simpson": simpson,
            "jaccard": jaccard,
        }
    )
    if not include_empty:
        out = out[ok]
    return out.sort_values(["simpson", "jaccard", "feature_a", "feature_b"],
                           ascending=[False, False, True, True], kind="mergesort").reset_index(drop=True)


def replication(
    discovery: pd.DataFrame,
    validation: pd.DataFrame,
    *,
    alpha: float = 0.05,
    column: str = "q_value",
    threshold: float = 0.0,
    max_terms_listed: int = 10,
) -> pd.DataFrame:
    """Which features' significant functions recur in the validation cohort's enrichment.

    For every feature significant in the discovery enrichment, its significant terms are compared
    with those of the same feature's gene set in the independent (validation) cohort.

    Parameters
    ----------
    discovery
        Enrichment table of the discovery cohort.
    validation
        Enrichment table of the validation cohort's gene sets (same libraries).
    alpha, column
        Significance rule of :func:`significant_terms` (applied to both tables).
    threshold
        A feature replicates when the Simpson index of its two function sets is above this
        (default 0: at least one shared significant term).
    max_terms_listed
        How many shared terms to list in ``shared``.

    Returns
    -------
    pandas.DataFrame
        One row per discovery feature with columns ``feature``, ``n_terms_discovery``,
        ``n_terms_validation``, ``shared_terms``, ``simpson``, ``jaccard``, ``replicated`` and
        ``shared`` (the first shared term ids, ``"; "``-separated, by discovery p-value).
    """
    check_float(threshold, "threshold", owner="replication", min_value=0.0, max_value=1.0)
    disc = significant_terms(discovery, alpha=alpha, column=column, name="discovery enrichment")
    val = significant_terms(validation, alpha=alpha, column=column, name="validation enrichment")
    order = discovery.sort_values(column, kind="mergesort")
    ranked: dict[str, list[str]] = {}
    for f, lib, t in zip(order["feature"].astype(str), order["library"].astype(str), order["term"].astype(str)):
        ranked.setdefault(f, []).append(term_id(lib, t))
    rows = []
    for f, d in disc.items():
        v = val.get(f, frozenset())
        shared = d & v
        s = simpson_index(d, v)
        listed = [t for t in ranked.get(f, []) if t in shared][:max_terms_listed]
        rows.append({
            "feature": f,
            "n_terms_discovery": len(d),
            "n_terms_validation": len(v),
            "shared_terms": len(shared),
            "simpson": s,
            "jaccard": jaccard_index(d, v),
            "replicated": bool(len(shared) > 0 and s > threshold),
            "shared": "; ".join(listed),
        })
    missing = [f for f in disc if f not in val]
    if missing:
        log.info("replication: %d discovery feature(s) absent from the validation enrichment: %s",
                 len(missing), format_names(missing))
    return pd.DataFrame(rows, columns=["feature", "n_terms_discovery", "n_terms_validation", "shared_terms",
                                       "simpson", "jaccard", "replicated", "shared"])
