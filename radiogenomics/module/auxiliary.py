"""Auxiliary features and the feature module (Cui et al. 2023).

A non-differential feature is *auxiliary* when the similarity (Simpson index by default) of its
significant function set with that of at least one differential feature exceeds a threshold
(0.6 in the paper). Differential plus auxiliary features form the *feature module*; each member's
row says why it joined (e.g. ``"Simpson 0.75 with original_glcm_Contrast"``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._logging import get_logger
from .._validation import InputError, check_choice, check_float, format_names
from .similarity import pairwise_similarity, significant_terms

__all__ = ["FeatureModule", "auxiliary_features", "build_module", "check_differential"]

log = get_logger(__name__)

MODULE_COLUMNS = [
    "feature", "role", "reason", "partner", "similarity", "partners", "n_terms",
    "fold_change", "p_value", "q_value",
]
EXCLUDED_COLUMNS = ["feature", "role", "reason"]


@dataclass
class FeatureModule:
    """The feature module and the tables it was built from.

    Attributes
    ----------
    module
        One row per member: ``feature``, ``role`` (``"differential"`` or ``"auxiliary"``),
        ``reason``, ``partner`` (the most similar differential feature; empty for differential
        members), ``similarity`` (index with that partner; NaN for differential members),
        ``partners`` (every differential feature above the threshold, ``;``-separated),
        ``n_terms`` (significant terms), ``fold_change``, ``p_value`` and ``q_value`` (from the
        differential table).
    similarity
        Every pair of features with non-empty function sets (:func:`pairwise_similarity`):
        ``feature_a``, ``feature_b``, ``n_terms_a``, ``n_terms_b``, ``shared_terms``,
        ``simpson``, ``jaccard``.
    term_sets
        Feature → significant term ids.
    differential
        The differential table used (index = feature).
    parameters
        ``method``, ``threshold``, ``alpha``, ``column``, ``restricted`` (whether only the
        ``eligible`` features were compared).
    compared
        Feature → significant term ids of the features compared (all of :attr:`term_sets`, or
        only the eligible ones).
    excluded
        Differential features left out of the module because they were not eligible:
        ``feature``, ``role``, ``reason``.
    """

    module: pd.DataFrame
    similarity: pd.DataFrame
    term_sets: dict[str, frozenset[str]]
    differential: pd.DataFrame
    parameters: dict[str, Any] = field(default_factory=dict)
    compared: dict[str, frozenset[str]] | None = None
    excluded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=EXCLUDED_COLUMNS))

    def tables(self) -> dict[str, pd.DataFrame]:
        """Result tables by file stem.

        Returns
        -------
        dict
            ``module`` and ``similarity``.
        """
        return {"module": self.module, "similarity": self.similarity}


def check_differential(differential: pd.DataFrame, *, name: str = "differential") -> pd.DataFrame:
    """Validate a differential table (index or column ``feature``, column ``selected``).

    Parameters
    ----------
    differential
        Output of :func:`radiogenomics.core.differential`.
    name
        What the table is, used in messages.

    Returns
    -------
    pandas.DataFrame
        Indexed by feature (str), ``selected`` as bool; ``fold_change``, ``p_value``,
        ``q_value`` added as NaN when absent.
    """
    if not isinstance(differential, pd.DataFrame):
        raise InputError(f"{name} must be a DataFrame (the differential table); got {type(differential).__name__}.")
    df = differential.copy()
    if "feature" in df.columns:
        df = df.set_index("feature")
    df.index = df.index.map(str)
    df.index.name = "feature"
    if "selected" not in df.columns:
        raise InputError(
            f"{name}: column 'selected' is missing; expected the table of radiogenomics differential "
            f"(columns: {format_names(df.columns)})."
        )
    sel = df["selected"]
    if sel.dtype != bool:
        # True/False, 1/0 (equal keys in Python) and their spellings in CSV files
        mapped = sel.map({True: True, False: False, "True": True, "False": False, "true": True, "false": False,
                          "1": True, "0": False})
        bad = df.index[mapped.isna()]
        if len(bad):
            raise InputError(f"{name}: 'selected' must be True/False; feature(s) {format_names(bad)} are not.")
        df["selected"] = mapped.astype(bool)
    dup = df.index[df.index.duplicated()].unique()
    if len(dup):
        raise InputError(f"{name}: duplicated feature(s) {format_names(dup)}.")
    for c in ("fold_change", "p_value", "q_value"):
        if c not in df.columns:
            df[c] = np.nan
    return df


def auxiliary_features(
    similarity: pd.DataFrame,
    differential_features: Iterable[str],
    *,
    method: str = "simpson",
    threshold: float = 0.6,
    inclusive: bool = False,
) -> pd.DataFrame:
    """Non-differential features whose similarity to a differential feature exceeds ``threshold``.

    Parameters
    ----------
    similarity
        Long pair table from :func:`~radiogenomics.enrichment.pairwise_similarity`.
    differential_features
        The differential features.
    method
        ``"simpson"`` or ``"jaccard"``: the column compared with ``threshold``.
    threshold
        Lower bound (the paper: Simpson > 0.6).
    inclusive
        ``True``: similarity ≥ ``threshold`` qualifies; ``False`` (the paper): only > ``threshold``.

    Returns
    -------
    pandas.DataFrame
        One row per auxiliary feature: ``feature``, ``partner`` (most similar differential
        feature; ties broken by name), ``similarity``, ``partners`` (all differential features
        above the threshold, ``;``-separated, most similar first).
    """
    check_choice(method, "method", owner="auxiliary_features", choices=("simpson", "jaccard"))
    check_float(threshold, "threshold", owner="auxiliary_features", min_value=0.0, max_value=1.0)
    diff = set(map(str, differential_features))
    cols = ["feature", "partner", "similarity", "partners"]
    if similarity.empty:
        return pd.DataFrame(columns=cols)
    a, b, s = similarity["feature_a"].astype(str), similarity["feature_b"].astype(str), similarity[method]
    # orient each pair as (candidate, differential partner)
    both = pd.concat([
        pd.DataFrame({"feature": a, "partner": b, "similarity": s}),
        pd.DataFrame({"feature": b, "partner": a, "similarity": s}),
    ], ignore_index=True)
    above = both["similarity"] >= threshold if inclusive else both["similarity"] > threshold
    hit = both[~both["feature"].isin(diff) & both["partner"].isin(diff) & above]
    if hit.empty:
        return pd.DataFrame(columns=cols)
    hit = hit.sort_values(["feature", "similarity", "partner"], ascending=[True, False, True], kind="mergesort")
    out = hit.groupby("feature", sort=False).agg(
        partner=("partner", "first"), similarity=("similarity", "first"), partners=("partner", ";".join)
    ).reset_index()
    return out[cols]


def build_module(
    enrichment: pd.DataFrame,
    differential: pd.DataFrame,
    *,
    alpha: float = 0.05,
    column: str = "q_value",
    method: str = "simpson",
    threshold: float = 0.6,
    inclusive: bool = False,
    eligible: Iterable[str] | None = None,
    ineligible_reason: str = "not eligible",
) -> FeatureModule:
    """Build the feature module: differential features plus their auxiliary features.

    Parameters
    ----------
    enrichment
        Enrichment table (:func:`~radiogenomics.enrichment.enrich`), all features.
    differential
        Differential table (:func:`~radiogenomics.core.differential`): index (or column)
        ``feature``, columns ``selected``, ``fold_change``, ``p_value`` (``q_value`` if present).
    alpha, column
        A term is significant for a feature when ``column < alpha``.
    method
        Similarity used for auxiliary features: ``"simpson"`` (paper) or ``"jaccard"``.
    threshold
        Auxiliary when the similarity to a differential feature is above this (paper: 0.6).
    inclusive
        Also when it equals ``threshold`` (the paper's rule is strict: ``False``).
    eligible
        Restrict the module to these features (e.g. those whose gene sets beat the
        association's permutation null): only their function sets are compared, so no other
        feature recruits or is recruited, and differential features outside it are left out
        of the module (listed in ``excluded``). ``None`` (the paper's method): every feature.
    ineligible_reason
        Why a feature outside ``eligible`` is excluded (the ``reason`` of ``excluded``).

    Returns
    -------
    FeatureModule
        ``module`` (columns ``feature``, ``role``, ``reason``, ``partner``, ``similarity``,
        ``partners``, ``n_terms``, ``fold_change``, ``p_value``, ``q_value``), ``similarity``,
        ``term_sets``, ``differential``, ``parameters``, ``compared``, ``excluded``.
    """
    owner = "build_module"
    check_choice(method, "method", owner=owner, choices=("simpson", "jaccard"))
    check_float(threshold, "threshold", owner=owner, min_value=0.0, max_value=1.0)
    diff = check_differential(differential)
    extra = sorted(set(enrichment["feature"].astype(str)) - set(diff.index)) if "feature" in enrichment else []
    if extra:
        log.warning("%d enriched feature(s) are not in the differential table and are treated as "
                    "non-differential without statistics: %s", len(extra), format_names(extra))
    terms = significant_terms(enrichment, alpha=alpha, column=column, features=diff.index)
    keep = None if eligible is None else set(map(str, eligible))
    compared = terms if keep is None else {f: s for f, s in terms.items() if f in keep}
    sim = pairwise_similarity(compared)
    differential_features = list(diff.index[diff["selected"]])
    excluded = pd.DataFrame(columns=EXCLUDED_COLUMNS)
    if keep is not None:
        out = [f for f in differential_features if f not in keep]
        excluded = pd.DataFrame({"feature": out, "role": "differential", "reason": ineligible_reason},
                                columns=EXCLUDED_COLUMNS)
        differential_features = [f for f in differential_features if f in keep]
        if out:
            log.info("%d differential feature(s) left out of the module (%s): %s", len(out), ineligible_reason,
                     format_names(out))
    aux = auxiliary_features(sim, differential_features, method=method, threshold=threshold, inclusive=inclusive)
    label = "Simpson" if method == "simpson" else "Jaccard"
    rows = []
    for f in differential_features:
        r = diff.loc[f]
        rows.append({
            "feature": f, "role": "differential",
            "reason": f"differential (Wilcoxon p = {r['p_value']:.3g}, fold change {r['fold_change']:.3g})",
            "partner": "", "similarity": np.nan, "partners": "",
        })
    for rec in aux.itertuples(index=False):
        rows.append({
            "feature": rec.feature, "role": "auxiliary",
            "reason": f"{label} {rec.similarity:.2f} with {rec.partner}",
            "partner": rec.partner, "similarity": float(rec.similarity), "partners": rec.partners,
        })
    module = pd.DataFrame(rows, columns=["feature", "role", "reason", "partner", "similarity", "partners"])
    module["n_terms"] = [len(terms.get(f, ())) for f in module["feature"]]
    for c in ("fold_change", "p_value", "q_value"):
        module[c] = module["feature"].map(diff[c]).astype(float)
    no_terms = [f for f in differential_features if not terms.get(f)]
    if no_terms:
        log.info("%d differential feature(s) have no significant term and cannot recruit auxiliary "
                 "features: %s", len(no_terms), format_names(no_terms))
    log.info("feature module: %d differential + %d auxiliary feature(s) (%s %s %g)",
             len(differential_features), len(aux), label, ">=" if inclusive else ">", threshold)
    return FeatureModule(
        module=module[MODULE_COLUMNS], similarity=sim, term_sets=terms, differential=diff,
        parameters={"method": method, "threshold": threshold, "inclusive": bool(inclusive), "alpha": alpha,
                    "column": column, "restricted": keep is not None},
        compared=compared, excluded=excluded,
    )

