"""Feature selection: PCA by explained variance, LASSO (L1 logistic) and the ICC filter hook.

``LassoSelector`` is a scikit-learn transformer: put it inside the classifier pipeline
(``make_classifier(..., selection=LassoSelector())``) so the selection is refitted on the
training part of every split; selecting on all samples first leaks the test labels into the
features and inflates the AUC (see the leakage test).

The ICC filter keeps the features that are reproducible across repeated segmentations or scans
(ICC >= 0.9 by default). ICC comes from test–retest images, not from the labels, so applying it
to the whole feature table before modelling leaks nothing. It reads the table that
``radiogenomics.imaging.stability`` writes (indexed by feature, columns ``icc_agreement`` and
``icc_consistency``) or a plain list of stable feature names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.decomposition import PCA
from sklearn.feature_selection import SelectorMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from .._logging import get_logger
from .._validation import (
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
from .metrics import _auc_fast

__all__ = [
    "pca_variance",
    "make_pca",
    "LassoSelector",
    "lasso_path",
    "LassoResult",
    "stable_features",
    "icc_filter",
]

log = get_logger(__name__)


# --------------------------------------------------------------------------------------------
# PCA
# --------------------------------------------------------------------------------------------
def pca_variance(
    features: pd.DataFrame,
    *,
    variance: float = 0.91,
    standardize: bool = True,
) -> tuple[pd.DataFrame, int]:
    """Cumulative explained variance of the principal components and how many reach ``variance``.

    Parameters
    ----------
    features
        Samples x features table.
    variance
        Target fraction of the total variance (the CT urography study kept about 0.91).
    standardize
        Scale every feature to unit variance first (radiomic features have wildly different
        units; without it the largest-valued feature dominates).

    Returns
    -------
    tuple
        A DataFrame with one row per component: ``component`` (1-based),
        ``explained_variance_ratio``, ``cumulative_variance``, ``kept`` (within the first
        ``n_components``); and ``n_components``, the smallest number whose cumulative variance
        is >= ``variance``.
    """
    check_float(variance, "variance", owner="pca_variance", min_value=0, max_value=1, closed="right")
    features = check_table(features, name="features", min_rows=2)
    X = features.to_numpy(float)
    if standardize:
        X = StandardScaler().fit_transform(X)
    pca = PCA(svd_solver="full").fit(X)
    ratio = pca.explained_variance_ratio_
    cum = np.cumsum(ratio)
    n = int(min(np.searchsorted(cum, variance - 1e-12) + 1, ratio.size))
    table = pd.DataFrame({
        "component": np.arange(1, ratio.size + 1),
        "explained_variance_ratio": ratio,
        "cumulative_variance": cum,
        "kept": np.arange(ratio.size) < n,
    })
    return table, n


def make_pca(*, variance: float = 0.91, random_state: int | None = None) -> PCA:
    """A PCA step that keeps the components explaining ``variance`` of the (scaled) features.

    Parameters
    ----------
    variance
        Fraction of variance to keep, in (0, 1).
    random_state
        Unused by the full SVD; kept so every step accepts a seed.

    Returns
    -------
    sklearn.decomposition.PCA
        Use as ``selection=make_pca()`` in :func:`~radiogenomics.models.make_classifier`; it
        is refitted on each training split.
    """
    check_float(variance, "variance", owner="make_pca", min_value=0, max_value=1, closed="neither")
    return PCA(n_components=variance, svd_solver="full", random_state=random_state)


# --------------------------------------------------------------------------------------------
# LASSO
# --------------------------------------------------------------------------------------------
def _cv_auc_path(X: np.ndarray, y: np.ndarray, Cs: np.ndarray, cv: int, random_state: Any) -> tuple[np.ndarray, np.ndarray]:
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=random_state)
    scores = np.full((len(Cs), cv), np.nan)
    nonzero = np.zeros((len(Cs), cv))
    for k, (tr, te) in enumerate(folds.split(X, y)):
        for i, C in enumerate(Cs):
            m = LogisticRegression(C=float(C), l1_ratio=1.0, solver="liblinear", random_state=0).fit(X[tr], y[tr])
            scores[i, k] = _auc_fast(y[te] == 1, m.decision_function(X[te]))
            nonzero[i, k] = np.count_nonzero(m.coef_)
    return scores, nonzero


class LassoSelector(SelectorMixin, BaseEstimator):
    """Select features with an L1-penalised logistic regression (the LASSO of the studies).

    The penalty ``C`` (inverse of lambda) is chosen by stratified cross-validated AUC over
    ``Cs`` unless given. Features with a non-zero coefficient at that ``C`` are kept; if fewer
    than ``min_features`` survive, the ``min_features`` largest absolute coefficients of the
    least penalised fit are kept instead (``fallback_`` is then True). Expects scaled input
    (put it after the pipeline's ``StandardScaler``).

    Parameters
    ----------
    C
        Fixed inverse penalty; ``None`` chooses it by cross-validation.
    Cs
        Number of log-spaced candidate values in [1e-3, 1e2], or the candidates themselves.
    cv
        Folds of the cross-validation.
    rule
        ``"best"``: the ``C`` with the highest mean AUC; ``"1se"``: the smallest ``C`` (the
        sparsest model) within one standard error of the best.
    min_features
        Features always kept.
    random_state
        Seed of the folds.

    Attributes
    ----------
    C_ : float
        The penalty used.
    coef_ : ndarray
        Coefficients of the L1 fit at ``C_``.
    support_ : ndarray of bool
        Selected features.
    cv_results_ : pandas.DataFrame or None
        ``C``, ``log10_C``, ``auc_mean``, ``auc_sd``, ``n_nonzero`` (mean over folds).
    fallback_ : bool
        ``min_features`` forced the selection.
    """

    def __init__(self, *, C: float | None = None, Cs: int | Sequence[float] = 10, cv: int = 5,
                 rule: str = "best", min_features: int = 1, random_state: int | None = None) -> None:
        self.C = C
        self.Cs = Cs
        self.cv = cv
        self.rule = rule
        self.min_features = min_features
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> LassoSelector:
        """Choose the penalty and the features.

        Parameters
        ----------
        X
            Scaled training features.
        y
            0/1 labels.

        Returns
        -------
        LassoSelector
            ``self``.
        """
        owner = "LassoSelector"
        X, y = validate_data(self, X, y)
        y = np.asarray(y).astype(int)
        check_choice(self.rule, "rule", owner=owner, choices=("best", "1se"))
        min_features = check_int(self.min_features, "min_features", owner=owner, min_value=0)
        if isinstance(self.Cs, (int, np.integer)):
            n = check_int(int(self.Cs), "Cs", owner=owner, min_value=1)
            Cs = np.logspace(-3, 2, n)
        else:
            Cs = np.sort(np.asarray(self.Cs, dtype=float))
            if Cs.size == 0 or (Cs <= 0).any():
                raise ParameterError(f"The 'Cs' parameter of {owner} must hold positive values. Got {self.Cs!r}.")
        self.cv_results_ = None
        if self.C is None:
            cv = check_int(self.cv, "cv", owner=owner, min_value=2)
            scores, nonzero = _cv_auc_path(X, y, Cs, cv, self.random_state)
            mean, sd = np.nanmean(scores, axis=1), np.nanstd(scores, axis=1, ddof=1)
            best = int(np.nanargmax(mean))
            if self.rule == "1se":
                se = sd[best] / np.sqrt(cv)
                best = int(np.flatnonzero(mean >= mean[best] - se)[0])
            self.C_ = float(Cs[best])
            self.cv_results_ = pd.DataFrame({"C": Cs, "log10_C": np.log10(Cs), "auc_mean": mean, "auc_sd": sd,
                                             "n_nonzero": nonzero.mean(axis=1)})
        else:
            self.C_ = check_float(self.C, "C", owner=owner, min_value=0, closed="neither")
        model = LogisticRegression(C=self.C_, l1_ratio=1.0, solver="liblinear", random_state=0).fit(X, y)
        self.coef_ = model.coef_.ravel().copy()
        support = self.coef_ != 0
        self.fallback_ = bool(support.sum() < min(min_features, X.shape[1]))
        if self.fallback_:
            loose = LogisticRegression(C=float(max(Cs.max(), self.C_)), l1_ratio=1.0, solver="liblinear",
                                       random_state=0).fit(X, y).coef_.ravel()
            support = np.zeros(X.shape[1], bool)
            support[np.argsort(-np.abs(loose), kind="stable")[:min_features]] = True
        self.support_ = support
        return self

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_


@dataclass
class LassoResult:
    """Result of :func:`lasso_path`.

    Attributes
    ----------
    cv_curve
        ``C``, ``log10_C``, ``log_lambda`` (= -ln C), ``auc_mean``, ``auc_sd``, ``n_nonzero``.
    coefficients
        ``feature``, ``coefficient`` (on standardised features, at ``C``), ``selected``.
    C
        The chosen inverse penalty.
    selected
        Names of the selected features.
    """

    cv_curve: pd.DataFrame
    coefficients: pd.DataFrame
    C: float
    selected: list[str]


def lasso_path(
    features: pd.DataFrame,
    labels: pd.Series,
    *,
    Cs: int | Sequence[float] = 20,
    cv: int = 5,
    rule: str = "best",
    seed: int = 0,
) -> LassoResult:
    """LASSO selection on a whole cohort, for reporting (CV curve and selected features).

    For model evaluation use :class:`LassoSelector` inside the pipeline instead; selecting on
    the whole cohort and then evaluating on part of it leaks.

    Parameters
    ----------
    features, labels
        The cohort (features are standardised here).
    Cs
        Candidate inverse penalties (see :class:`LassoSelector`).
    cv
        Folds.
    rule
        ``"best"`` or ``"1se"``.
    seed
        Seed of the folds.

    Returns
    -------
    LassoResult
        CV curve, coefficients and the selected features.
    """
    features = check_table(features, name="features", min_rows=4)
    labels = check_labels(labels)
    features, labels = align_samples(features, labels)
    X = StandardScaler().fit_transform(features.to_numpy(float))
    sel = LassoSelector(Cs=Cs, cv=cv, rule=rule, random_state=seed).fit(X, labels.to_numpy(int))
    curve = sel.cv_results_.copy()
    curve.insert(2, "log_lambda", -np.log(curve["C"]))
    coefs = pd.DataFrame({"feature": features.columns, "coefficient": sel.coef_, "selected": sel.support_})
    selected = list(features.columns[sel.support_])
    log.info("LASSO: C=%.4g keeps %d of %d features", sel.C_, len(selected), features.shape[1])
    return LassoResult(cv_curve=curve, coefficients=coefs, C=sel.C_, selected=selected)


# --------------------------------------------------------------------------------------------
# ICC filter
# --------------------------------------------------------------------------------------------
def stable_features(
    icc: pd.DataFrame | Sequence[str],
    *,
    threshold: float = 0.9,
    column: str = "icc_agreement",
) -> list[str]:
    """Names of the reproducible features: ICC >= ``threshold``.

    Parameters
    ----------
    icc
        A table indexed by feature with the ICC in ``column`` (as
        ``radiogenomics.imaging.stability`` writes: ``icc_agreement``, ``icc_consistency``),
        or a list of feature names already judged stable.
    threshold
        Minimum ICC.
    column
        Which ICC to use.

    Returns
    -------
    list of str
        Stable feature names (table order). A table is judged by
        :func:`radiogenomics.imaging.stability.filter_stable` (features with an undefined ICC
        are not stable).
    """
    if isinstance(icc, pd.DataFrame):
        from ..imaging.stability import (
            filter_stable,  # the one stable-feature rule of the package
        )

        kinds = {"icc_agreement": "agreement", "icc_consistency": "consistency"}
        if column not in kinds:
            raise ParameterError(
                f"The 'column' parameter of stable_features must be one of {sorted(kinds)}. Got {column!r} instead."
            )
        return filter_stable(icc, threshold=threshold, kind=kinds[column])
    check_float(threshold, "threshold", owner="stable_features", min_value=-1, max_value=1)
    if isinstance(icc, str):
        raise InputError("icc must be a table or a list of feature names, not a single string.")
    return [str(f) for f in icc]


def icc_filter(
    features: pd.DataFrame,
    icc: pd.DataFrame | Sequence[str],
    *,
    threshold: float = 0.9,
    column: str = "icc_agreement",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the features with ICC >= ``threshold``; report every dropped one.

    Parameters
    ----------
    features
        Samples x features table.
    icc
        ICC table or list of stable features (see :func:`stable_features`).
    threshold
        Minimum ICC.
    column
        Which ICC to use.

    Returns
    -------
    tuple
        The filtered table, and a ``dropped`` table with columns ``feature``, ``icc`` (NaN when
        unknown) and ``reason`` (``"icc below threshold"`` or ``"no ICC available"``).
    """
    features = check_table(features, name="features", allow_nan=True)
    keep = set(stable_features(icc, threshold=threshold, column=column))
    icc_values = (pd.to_numeric(icc[column], errors="coerce") if isinstance(icc, pd.DataFrame)
                  else pd.Series(dtype=float))
    icc_values.index = icc_values.index.map(str)
    rows = []
    for f in features.columns:
        if f in keep:
            continue
        value = float(icc_values.get(f, np.nan))
        known = f in icc_values.index and np.isfinite(value)
        rows.append({"feature": f, "icc": value,
                     "reason": f"icc below threshold {threshold}" if known else "no ICC available"})
    dropped = pd.DataFrame(rows, columns=["feature", "icc", "reason"])
    kept = [f for f in features.columns if f in keep]
    if not kept:
        raise InputError(
            f"ICC filter keeps no feature: none of the {features.shape[1]} features has {column} >= {threshold}."
        )
    if len(dropped):
        log.info("ICC filter: dropped %d of %d features (%s)", len(dropped), features.shape[1],
                 format_names(dropped["feature"]))
    return features[kept], dropped
