"""Model evaluation: repeated stratified splits, independent validation, DeLong and bootstrap CIs.

Repeated splits
    ``n_splits`` stratified random train/test splits (70/30 by default). Split ``i`` draws its
    partition and the ``random_state`` of every estimator from ``seeds[i]``, a list pre-drawn
    from ``numpy.random.SeedSequence(seed)``; nothing depends on worker state, so the results are
    bit-identical for any ``n_jobs`` and any batch size. All feature sets are evaluated on the
    same partitions, which makes their comparison paired.
Independent validation
    Each pipeline is refitted on the whole training cohort and scored on the validation cohort.
    The AUC gets a DeLong 95% CI (fast algorithm of Sun & Xu 2014) and a stratified bootstrap
    CI; sensitivity and specificity are read at the Youden threshold chosen on the *training*
    cohort's out-of-fold predictions, never on the validation cohort.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
from scipy import stats
from sklearn.base import BaseEstimator, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_curve
from sklearn.model_selection import StratifiedKFold, cross_val_predict, learning_curve
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

from .._logging import get_logger, progress, timed
from .._validation import (
    InputError,
    ParameterError,
    align_samples,
    check_float,
    check_int,
    check_labels,
    check_table,
    format_names,
)
from .classifiers import CLASSIFIERS, make_classifiers, set_random_state

__all__ = [
    "auc_score",
    "delong_roc_variance",
    "delong_ci",
    "delong_test",
    "bootstrap_auc_ci",
    "youden_threshold",
    "stratified_split",
    "split_seeds",
    "repeated_splits",
    "SplitResult",
    "validate",
    "ValidationResult",
    "out_of_fold_scores",
    "learning_curves",
]

log = get_logger(__name__)

METRICS = ("auc", "accuracy", "sensitivity", "specificity")


# --------------------------------------------------------------------------------------------
# AUC, DeLong, bootstrap
# --------------------------------------------------------------------------------------------
def _as_binary(y_true: Any, name: str = "y_true") -> np.ndarray:
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise InputError(f"{name} must be one-dimensional; got shape {y.shape}.")
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        raise InputError(f"{name} must hold 0/1 labels; found {format_names(np.unique(y[bad]))}.")
    y = y.astype(np.int8)
    if y.min() == y.max():
        raise InputError(f"{name} holds a single class ({int(y[0])}); an AUC needs positives and negatives.")
    return y


def _as_scores(scores: Any, n: int, name: str = "scores") -> np.ndarray:
    s = np.asarray(scores, dtype=float)
    if s.ndim == 1:
        s = s[None, :]
    if s.ndim != 2 or s.shape[1] != n:
        raise InputError(f"{name} must have one value per sample ({n}); got shape {np.shape(scores)}.")
    if not np.isfinite(s).all():
        raise InputError(f"{name} contain NaN or inf.")
    return s


def auc_score(y_true: Any, scores: Any) -> float:
    """ROC AUC from ranks (Mann–Whitney), ties counted one half.

    Parameters
    ----------
    y_true
        0/1 labels.
    scores
        Higher = more likely positive.

    Returns
    -------
    float
        Area under the ROC curve (equals ``sklearn.metrics.roc_auc_score``).
    """
    y = _as_binary(y_true)
    s = _as_scores(scores, len(y))[0]
    return _auc_fast(y.astype(bool), s)


def _auc_fast(pos: np.ndarray, s: np.ndarray) -> float:
    m = int(pos.sum())
    n = pos.size - m
    if m == 0 or n == 0:
        return float("nan")
    ranks = stats.rankdata(s)
    return float((ranks[pos].sum() - m * (m + 1) / 2.0) / (m * n))


def delong_roc_variance(y_true: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and their DeLong covariance matrix with the fast algorithm of Sun & Xu (2014).

    The structural components (placement values) of every positive ``V10`` and negative
    ``V01`` come from mid-ranks, in ``O(N log N)`` per model instead of the ``O(mn)`` pairwise
    comparisons of DeLong et al. (1988); ``cov = S10 / m + S01 / n``.

    Parameters
    ----------
    y_true
        0/1 labels, ``N`` samples.
    scores
        ``(N,)`` scores of one model or ``(k, N)`` scores of ``k`` models on the same samples.

    Returns
    -------
    tuple of numpy.ndarray
        ``aucs`` of shape ``(k,)`` and their covariance of shape ``(k, k)``.
    """
    y = _as_binary(y_true)
    s = _as_scores(scores, len(y))
    pos = y == 1
    m, n = int(pos.sum()), int((~pos).sum())
    x, yneg = s[:, pos], s[:, ~pos]
    tx = stats.rankdata(x, axis=1)
    ty = stats.rankdata(yneg, axis=1)
    tz = stats.rankdata(np.concatenate([x, yneg], axis=1), axis=1)
    aucs = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    v10 = (tz[:, :m] - tx) / n  # per positive: fraction of negatives below it
    v01 = 1.0 - (tz[:, m:] - ty) / m  # per negative: fraction of positives above it
    s10 = np.atleast_2d(np.cov(v10, ddof=1)) if m > 1 else np.zeros((s.shape[0], s.shape[0]))
    s01 = np.atleast_2d(np.cov(v01, ddof=1)) if n > 1 else np.zeros((s.shape[0], s.shape[0]))
    return aucs, s10 / m + s01 / n


def delong_ci(y_true: Any, scores: Any, *, confidence: float = 0.95) -> dict[str, float]:
    """AUC with its DeLong standard error and normal-approximation confidence interval.

    Parameters
    ----------
    y_true
        0/1 labels.
    scores
        Scores of one model.
    confidence
        Coverage of the interval.

    Returns
    -------
    dict
        ``auc``, ``se``, ``ci_low``, ``ci_high`` (clipped to [0, 1], as pROC does).
    """
    check_float(confidence, "confidence", owner="delong_ci", min_value=0, max_value=1, closed="neither")
    aucs, cov = delong_roc_variance(y_true, scores)
    if aucs.size != 1:
        raise InputError("delong_ci takes the scores of one model; use delong_roc_variance for several.")
    se = float(np.sqrt(max(cov[0, 0], 0.0)))
    z = stats.norm.ppf(0.5 + confidence / 2)
    auc = float(aucs[0])
    return {"auc": auc, "se": se, "ci_low": max(0.0, auc - z * se), "ci_high": min(1.0, auc + z * se)}


def delong_test(y_true: Any, scores_a: Any, scores_b: Any) -> dict[str, float]:
    """DeLong's paired test of two correlated AUCs on the same samples.

    Parameters
    ----------
    y_true
        0/1 labels.
    scores_a, scores_b
        Scores of the two models.

    Returns
    -------
    dict
        ``auc_a``, ``auc_b``, ``difference`` (a - b), ``se`` of the difference, ``z`` and the
        two-sided ``p_value``.
    """
    y = _as_binary(y_true)
    s = np.vstack([_as_scores(scores_a, len(y), "scores_a"), _as_scores(scores_b, len(y), "scores_b")])
    aucs, cov = delong_roc_variance(y, s)
    diff = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    se = math.sqrt(max(var, 0.0))
    if se == 0:
        z, p = (0.0, 1.0) if diff == 0 else (math.copysign(math.inf, diff), 0.0)
    else:
        z = diff / se
        p = float(2 * stats.norm.sf(abs(z)))
    return {"auc_a": float(aucs[0]), "auc_b": float(aucs[1]), "difference": diff, "se": se, "z": z, "p_value": p}


def bootstrap_auc_ci(
    y_true: Any,
    scores: Any,
    *,
    n_bootstrap: int = 2000,
    confidence: float = 0.95,
    stratified: bool = True,
    seed: int = 0,
) -> dict[str, float]:
    """Percentile bootstrap confidence interval of the AUC.

    Parameters
    ----------
    y_true
        0/1 labels.
    scores
        Scores of one model.
    n_bootstrap
        Number of resamples.
    confidence
        Coverage of the interval.
    stratified
        Resample positives and negatives separately (keeps the class counts, as pROC's
        default), so every resample has both classes.
    seed
        Seed of the resampling.

    Returns
    -------
    dict
        ``auc`` (on the original data), ``ci_low``, ``ci_high``, ``se`` (bootstrap SD) and
        ``n_bootstrap``.
    """
    owner = "bootstrap_auc_ci"
    n_bootstrap = check_int(n_bootstrap, "n_bootstrap", owner=owner, min_value=10)
    check_float(confidence, "confidence", owner=owner, min_value=0, max_value=1, closed="neither")
    y = _as_binary(y_true)
    s = _as_scores(scores, len(y))[0]
    rng = np.random.default_rng(seed)
    pos_idx, neg_idx = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    m, n = pos_idx.size, neg_idx.size
    if stratified:
        bp = pos_idx[rng.integers(0, m, size=(n_bootstrap, m))]
        bn = neg_idx[rng.integers(0, n, size=(n_bootstrap, n))]
        idx = np.concatenate([bp, bn], axis=1)
        ranks = stats.rankdata(s[idx], axis=1)
        aucs = (ranks[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    else:
        idx = rng.integers(0, y.size, size=(n_bootstrap, y.size))
        aucs = np.array([_auc_fast(y[i] == 1, s[i]) for i in idx])
        aucs = aucs[np.isfinite(aucs)]
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(aucs, [alpha, 1 - alpha])
    return {
        "auc": _auc_fast(y == 1, s),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "se": float(np.std(aucs, ddof=1)),
        "n_bootstrap": int(aucs.size),
    }


def youden_threshold(y_true: Any, scores: Any) -> dict[str, float]:
    """Threshold maximising Youden's J = sensitivity + specificity - 1.

    Parameters
    ----------
    y_true
        0/1 labels (use training, out-of-fold predictions: never the cohort you report on).
    scores
        Scores of one model; a sample is called positive when ``score >= threshold``.

    Returns
    -------
    dict
        ``threshold``, ``sensitivity``, ``specificity`` and ``youden_j`` at that threshold.
    """
    y = _as_binary(y_true)
    s = _as_scores(scores, len(y))[0]
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    j = tpr - fpr
    finite = np.isfinite(thr)
    best = int(np.flatnonzero(finite)[np.argmax(j[finite])])
    return {
        "threshold": float(thr[best]),
        "sensitivity": float(tpr[best]),
        "specificity": float(1 - fpr[best]),
        "youden_j": float(j[best]),
    }


def split_seeds(n_splits: int, *, seed: int = 0) -> np.ndarray:
    """The per-split seeds: ``n_splits`` 32-bit words drawn from ``SeedSequence(seed)``.

    Parameters
    ----------
    n_splits
        Number of splits.
    seed
        Master seed.

    Returns
    -------
    numpy.ndarray
        ``uint32`` array; split ``i`` uses ``seeds[i]`` for its partition and its estimators.
    """
    n_splits = check_int(n_splits, "n_splits", owner="split_seeds", min_value=1)
    return np.random.SeedSequence(int(seed)).generate_state(n_splits, dtype=np.uint32)


def stratified_split(labels: Any, *, test_size: float = 0.3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One stratified random train/test partition.

    Each class contributes ``round(test_size * n_class)`` samples (at least one, and at least
    one left for training) to the test part.

    Parameters
    ----------
    labels
        0/1 labels.
    test_size
        Fraction of each class in the test part.
    seed
        Seed of the partition.

    Returns
    -------
    tuple of numpy.ndarray
        Sorted positional indices ``(train, test)``.
    """
    y = np.asarray(labels)
    return _split(y, test_size, np.random.default_rng(seed))


def _split(y: np.ndarray, test_size: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    test_parts = []
    for c in (0, 1):
        idx = np.flatnonzero(y == c)
        k = min(max(1, int(round(test_size * idx.size))), idx.size - 1)
        test_parts.append(rng.permutation(idx)[:k])
    test = np.sort(np.concatenate(test_parts))
    mask = np.ones(y.size, bool)
    mask[test] = False
    return np.flatnonzero(mask), test


# --------------------------------------------------------------------------------------------
# repeated splits
# --------------------------------------------------------------------------------------------
def _resolve_classifiers(
    classifiers: Sequence[str] | Mapping[str, BaseEstimator] | None, random_state: int
) -> dict[str, BaseEstimator]:
    if classifiers is None or (isinstance(classifiers, Sequence) and not isinstance(classifiers, str)
                               and all(isinstance(c, str) for c in classifiers)):
        return make_classifiers(None if classifiers is None else list(classifiers), random_state=random_state)
    if isinstance(classifiers, Mapping):
        out = {}
        for name, est in classifiers.items():
            if not isinstance(est, BaseEstimator) or not hasattr(est, "fit"):
                raise ParameterError(f"Classifier {name!r} must be a scikit-learn estimator; got {type(est).__name__}.")
            out[str(name)] = clone(est)
        if not out:
            raise ParameterError("The 'classifiers' parameter must name at least one classifier.")
        return out
    raise ParameterError(
        f"The 'classifiers' parameter must be None, a list of names among {CLASSIFIERS} or a dict "
        f"name -> estimator; got {classifiers!r}."
    )


def _resolve_feature_sets(features: pd.DataFrame, feature_sets: Mapping[str, Sequence[str]] | None) -> dict[str, list[str]]:
    if feature_sets is None:
        return {"all": list(features.columns)}
    out: dict[str, list[str]] = {}
    for name, cols in feature_sets.items():
        cols = [str(c) for c in cols]
        if not cols:
            raise InputError(f"Feature set {name!r} is empty.")
        missing = [c for c in cols if c not in features.columns]
        if missing:
            raise InputError(
                f"Feature set {name!r}: {len(missing)} feature(s) are not columns of the feature table "
                f"({format_names(missing)})."
            )
        dup = sorted({c for c in cols if cols.count(c) > 1})
        if dup:
            raise InputError(f"Feature set {name!r} repeats feature(s) {format_names(dup)}.")
        out[str(name)] = cols
    if not out:
        raise InputError("No feature set given.")
    return out


def _splits_variant(est: BaseEstimator) -> BaseEstimator:
    """The estimator as fitted inside the split loop.

    A final ``CalibratedClassifierCV`` (the SVM's Platt scaling, an internal 5-fold CV) is
    replaced by its base estimator: calibration is monotone, so the AUC is unchanged, and the
    SVC ranks by ``decision_function`` at a fraction of the cost.
    """
    est = clone(est)
    if isinstance(est, Pipeline):
        name, final = est.steps[-1]
        if isinstance(final, CalibratedClassifierCV) and final.estimator is not None:
            est.steps[-1] = (name, clone(final.estimator))
        return est
    if isinstance(est, CalibratedClassifierCV) and est.estimator is not None:
        return clone(est.estimator)
    return est


def _score_kind(final: BaseEstimator) -> str:
    if isinstance(final, SVC) and not final.get_params().get("probability", False):
        return "decision"
    if hasattr(final, "predict_proba"):
        return "proba"
    if hasattr(final, "decision_function"):
        return "decision"
    raise ParameterError(f"{type(final).__name__} has neither predict_proba nor decision_function.")


def _prefix_groups(estimators: dict[str, BaseEstimator]) -> list[tuple[Pipeline | None, list[tuple[int, str, BaseEstimator]]]]:
    """Group classifiers whose preprocessing (all steps but the last) is identical.

    A shared prefix is fitted once per split and feature set and its output reused: exactly what
    each pipeline would compute on its own, without refitting the scaler seven times.
    """
    groups: dict[str, tuple[Pipeline | None, list[tuple[int, str, BaseEstimator]]]] = {}
    for i, (name, est) in enumerate(estimators.items()):
        if isinstance(est, Pipeline) and len(est.steps) > 1:
            prefix = Pipeline([(n, clone(t)) for n, t in est.steps[:-1]])
            key = joblib.hash(prefix)
            final = clone(est.steps[-1][1])
        else:
            prefix, key, final = None, "none", clone(est)
        groups.setdefault(key, (prefix, []))[1].append((i, name, final))
    return list(groups.values())


def _metrics(y: np.ndarray, score: np.ndarray, pred: np.ndarray) -> tuple[float, float, float, float]:
    pos = y == 1
    m, n = int(pos.sum()), int((~pos).sum())
    auc = _auc_fast(pos, score)
    tp = int((pred & pos).sum())
    tn = int((~pred & ~pos).sum())
    return auc, (tp + tn) / y.size, tp / m if m else np.nan, tn / n if n else np.nan


def _run_batch(
    X: np.ndarray,
    y: np.ndarray,
    fs_columns: list[np.ndarray],
    estimators: dict[str, BaseEstimator],
    seeds: np.ndarray,
    test_size: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate a batch of splits: metrics (n_seeds, n_sets, n_clf, 4) and warning flags."""
    groups = _prefix_groups(estimators)
    kinds = {name: _score_kind(final) for _, members in groups for _, name, final in members}
    n_clf = len(estimators)
    out = np.full((len(seeds), len(fs_columns), n_clf, len(METRICS)), np.nan)
    warn = np.zeros((len(seeds), len(fs_columns), n_clf), dtype=bool)
    with threadpool_limits(limits=1), sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        for b, split_seed in enumerate(seeds):
            rs = int(split_seed)
            train, test = _split(y, test_size, np.random.default_rng(rs))
            ytr, yte = y[train], y[test]
            for f, cols in enumerate(fs_columns):
                Xtr, Xte = X[np.ix_(train, cols)], X[np.ix_(test, cols)]
                for prefix, members in groups:
                    if prefix is not None:
                        set_random_state(prefix, rs)
                        Ztr = prefix.fit_transform(Xtr, ytr)
                        Zte = prefix.transform(Xte)
                    else:
                        Ztr, Zte = Xtr, Xte
                    for c, name, final in members:
                        set_random_state(final, rs)
                        with warnings.catch_warnings(record=True) as caught:
                            warnings.simplefilter("always", ConvergenceWarning)
                            final.fit(Ztr, ytr)
                        others = [w for w in caught if not issubclass(w.category, ConvergenceWarning)]
                        warn[b, f, c] = len(others) < len(caught)
                        for w in others:
                            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
                        if kinds[name] == "decision":
                            score = np.asarray(final.decision_function(Zte), dtype=float)
                            pred = score > 0
                        else:
                            proba = final.predict_proba(Zte)
                            score = proba[:, 1]
                            pred = proba[:, 1] > proba[:, 0]
                        out[b, f, c] = _metrics(yte, score, pred)
    return out, warn


@dataclass
class SplitResult:
    """Result of :func:`repeated_splits`.

    Attributes
    ----------
    splits
        One row per split, feature set and classifier: ``split``, ``seed``, ``feature_set``,
        ``classifier``, ``auc``, ``accuracy``, ``sensitivity``, ``specificity``,
        ``convergence_warning`` (the fit hit its iteration limit).
    summary
        One row per feature set and classifier: ``feature_set``, ``classifier``, ``n_splits``,
        ``n_features``, for each metric ``<metric>_mean``, ``<metric>_sd``, ``<metric>_low``
        (2.5th percentile) and ``<metric>_high`` (97.5th), and ``n_convergence_warnings``.
    comparison
        Paired comparison of every pair of feature sets per classifier, on the same splits:
        ``classifier``, ``feature_set_a``, ``feature_set_b``, ``auc_mean_a``, ``auc_mean_b``,
        ``difference_mean`` (a - b), ``difference_low`` / ``difference_high`` (2.5th / 97.5th
        percentile of the per-split differences), ``fraction_a_better``, ``fraction_ties``,
        ``n_splits``. The splits share patients, so the percentile range describes the spread
        of the difference; it is not a confidence interval of its mean.
    parameters
        The settings used.
    """

    splits: pd.DataFrame
    summary: pd.DataFrame
    comparison: pd.DataFrame
    parameters: dict[str, Any] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Tables to write.

        Returns
        -------
        dict
            ``splits``, ``summary``, ``comparison``.
        """
        return {"splits": self.splits, "summary": self.summary, "comparison": self.comparison}


def _summarise(splits: pd.DataFrame, fs_sizes: dict[str, int]) -> pd.DataFrame:
    rows = []
    for (fs, clf), g in splits.groupby(["feature_set", "classifier"], sort=False):
        row: dict[str, Any] = {"feature_set": fs, "classifier": clf, "n_splits": len(g), "n_features": fs_sizes[fs]}
        for m in METRICS:
            v = g[m].to_numpy(dtype=float)
            v = v[np.isfinite(v)]
            row[f"{m}_mean"] = float(v.mean()) if v.size else np.nan
            row[f"{m}_sd"] = float(v.std(ddof=1)) if v.size > 1 else np.nan
            lo, hi = np.percentile(v, [2.5, 97.5]) if v.size else (np.nan, np.nan)
            row[f"{m}_low"], row[f"{m}_high"] = float(lo), float(hi)
        row["n_convergence_warnings"] = int(g["convergence_warning"].sum())
        rows.append(row)
    return pd.DataFrame(rows)


def _compare(splits: pd.DataFrame, set_names: list[str], clf_names: list[str]) -> pd.DataFrame:
    cols = ["classifier", "feature_set_a", "feature_set_b", "auc_mean_a", "auc_mean_b", "difference_mean",
            "difference_low", "difference_high", "fraction_a_better", "fraction_ties", "n_splits"]
    rows = []
    wide = splits.pivot_table(index=["split", "classifier"], columns="feature_set", values="auc", sort=False)
    for clf in clf_names:
        sub = wide.xs(clf, level="classifier")
        for i, a in enumerate(set_names):
            for b in set_names[i + 1:]:
                d = (sub[a] - sub[b]).to_numpy(dtype=float)
                ok = np.isfinite(d)
                d = d[ok]
                lo, hi = np.percentile(d, [2.5, 97.5])
                rows.append({
                    "classifier": clf, "feature_set_a": a, "feature_set_b": b,
                    "auc_mean_a": float(sub[a][ok].mean()), "auc_mean_b": float(sub[b][ok].mean()),
                    "difference_mean": float(d.mean()), "difference_low": float(lo), "difference_high": float(hi),
                    "fraction_a_better": float((d > 0).mean()), "fraction_ties": float((d == 0).mean()),
                    "n_splits": int(d.size),
                })
    return pd.DataFrame(rows, columns=cols)


def repeated_splits(
    features: pd.DataFrame,
    labels: pd.Series,
    *,
    feature_sets: Mapping[str, Sequence[str]] | None = None,
    classifiers: Sequence[str] | Mapping[str, BaseEstimator] | None = None,
    n_splits: int = 1000,
    test_size: float = 0.3,
    seed: int = 0,
    n_jobs: int = 1,
    batch_size: int | None = None,
    show_progress: bool | None = None,
) -> SplitResult:
    """Evaluate classifiers on repeated stratified random train/test splits.

    Parameters
    ----------
    features
        Samples x features table.
    labels
        0/1 labels on the same samples.
    feature_sets
        Name -> list of feature columns; every set is evaluated on the same splits (paired).
        Default: one set ``"all"`` with every column.
    classifiers
        Names among :data:`~radiogenomics.models.classifiers.CLASSIFIERS` (default all seven
        with their default settings) or a dict name -> estimator/pipeline.
    n_splits
        Number of random splits (the paper ran 10,000).
    test_size
        Fraction of each class held out for testing.
    seed
        Master seed; split ``i`` uses ``split_seeds(n_splits, seed=seed)[i]``.
    n_jobs
        Worker processes (joblib/loky); ``-1`` = all cores. Results do not depend on it.
    batch_size
        Splits per joblib task (default: about ``n_splits / (8 * workers)``, at most 100).
    show_progress
        Progress bar; ``None`` follows the package log level.

    Returns
    -------
    SplitResult
        Per-split table, summary and paired comparison (see :class:`SplitResult`).
    """
    owner = "repeated_splits"
    n_splits = check_int(n_splits, "n_splits", owner=owner, min_value=1)
    test_size = check_float(test_size, "test_size", owner=owner, min_value=0, max_value=1, closed="neither")
    n_jobs = check_int(n_jobs, "n_jobs", owner=owner, min_value=-1)
    if n_jobs == 0:
        raise ParameterError(f"The 'n_jobs' parameter of {owner} must be a positive int or -1. Got 0 instead.")
    features = check_table(features, name="features", min_rows=4)
    labels = check_labels(labels)
    features, labels = align_samples(features, labels)
    y = labels.to_numpy(dtype=np.int8)
    counts = np.bincount(y, minlength=2)
    if counts.min() < 2:
        raise InputError(f"labels: need at least 2 samples of each class for a stratified split; got {counts.tolist()}.")
    sets = _resolve_feature_sets(features, feature_sets)
    estimators = {k: _splits_variant(v) for k, v in _resolve_classifiers(classifiers, seed).items()}
    X = features.to_numpy(dtype=float)
    col_pos = {c: i for i, c in enumerate(features.columns)}
    fs_columns = [np.array([col_pos[c] for c in cols]) for cols in sets.values()]
    seeds = split_seeds(n_splits, seed=seed)
    workers = joblib.effective_n_jobs(n_jobs)
    if batch_size is None:
        batch_size = int(min(100, max(1, math.ceil(n_splits / (8 * workers)))))
    batch_size = check_int(batch_size, "batch_size", owner=owner, min_value=1)
    batches = [seeds[i:i + batch_size] for i in range(0, n_splits, batch_size)]
    with timed(f"{n_splits} splits x {len(sets)} feature set(s) x {len(estimators)} classifier(s) "
               f"on {workers} worker(s)", logger=log):
        tasks = (joblib.delayed(_run_batch)(X, y, fs_columns, estimators, b, test_size) for b in batches)
        if workers == 1:
            results = [_run_batch(X, y, fs_columns, estimators, b, test_size)
                       for b in progress(batches, desc="splits", disable=_disable(show_progress))]
        else:
            gen = joblib.Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
            results = list(progress(gen, desc="splits", total=len(batches), disable=_disable(show_progress)))
    metrics = np.concatenate([r[0] for r in results])
    warn = np.concatenate([r[1] for r in results])
    set_names, clf_names = list(sets), list(estimators)
    S, F, C = metrics.shape[:3]
    idx = np.indices((S, F, C)).reshape(3, -1)
    splits = pd.DataFrame({
        "split": idx[0].astype(np.int32),
        "seed": seeds[idx[0]].astype(np.int64),
        "feature_set": pd.Categorical.from_codes(idx[1], set_names),
        "classifier": pd.Categorical.from_codes(idx[2], clf_names),
    })
    for k, m in enumerate(METRICS):
        splits[m] = metrics[..., k].reshape(-1)
    splits["convergence_warning"] = warn.reshape(-1)
    n_warn = int(warn.sum())
    if n_warn:
        per = splits.loc[splits["convergence_warning"]].groupby("classifier", observed=True).size()
        log.warning("%d fit(s) stopped at their iteration limit (ConvergenceWarning): %s; "
                    "see column 'convergence_warning'", n_warn, per.to_dict())
    splits["feature_set"] = splits["feature_set"].astype(str)
    splits["classifier"] = splits["classifier"].astype(str)
    summary = _summarise(splits, {k: len(v) for k, v in sets.items()})
    comparison = _compare(splits, set_names, clf_names)
    params = {"n_splits": n_splits, "test_size": test_size, "seed": seed, "n_jobs": n_jobs,
              "batch_size": batch_size, "feature_sets": {k: v for k, v in sets.items()},
              "classifiers": {k: repr(v) for k, v in estimators.items()}}
    return SplitResult(splits=splits, summary=summary, comparison=comparison, parameters=params)


def _disable(show_progress: bool | None) -> bool | None:
    return None if show_progress is None else not show_progress


# --------------------------------------------------------------------------------------------
# independent validation
# --------------------------------------------------------------------------------------------
def _scores(est: BaseEstimator, X: np.ndarray) -> np.ndarray:
    if hasattr(est, "predict_proba"):
        try:
            return np.asarray(est.predict_proba(X))[:, 1]
        except AttributeError:  # e.g. SVC(probability=False)
            pass
    return np.asarray(est.decision_function(X), dtype=float)


def out_of_fold_scores(
    estimator: BaseEstimator,
    features: pd.DataFrame | np.ndarray,
    labels: Any,
    *,
    cv: int = 5,
    seed: int = 0,
) -> np.ndarray:
    """Out-of-fold (cross-validated) scores of a pipeline on the training cohort.

    Parameters
    ----------
    estimator
        Classifier or pipeline (cloned; not modified).
    features
        Training features.
    labels
        0/1 labels.
    cv
        Number of stratified folds (shuffled with ``seed``).
    seed
        Seed of the folds and of the estimator.

    Returns
    -------
    numpy.ndarray
        One score per sample, predicted by a model that did not see it (probability of class 1
        when the estimator has ``predict_proba``, else its decision function).
    """
    cv = check_int(cv, "cv", owner="out_of_fold_scores", min_value=2)
    est = set_random_state(clone(estimator), seed)
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
    method = "predict_proba" if hasattr(est, "predict_proba") else "decision_function"
    X = np.asarray(features, dtype=float)
    y = np.asarray(labels).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        out = cross_val_predict(est, X, y, cv=folds, method=method)
    return out[:, 1] if out.ndim == 2 else out


@dataclass
class ValidationResult:
    """Result of :func:`validate`.

    Attributes
    ----------
    validation
        One row per feature set and classifier: ``feature_set``, ``classifier``, ``auc``,
        ``auc_se`` (DeLong), ``delong_low``, ``delong_high``, ``bootstrap_low``,
        ``bootstrap_high``, ``threshold`` (Youden, chosen on the training out-of-fold scores),
        ``sensitivity``, ``specificity``, ``accuracy``, ``ppv``, ``npv`` (validation cohort at
        that threshold), ``training_cv_auc`` (out-of-fold AUC on the training cohort),
        ``training_sensitivity`` / ``training_specificity`` (out-of-fold, at the threshold),
        ``n_validation``, ``n_validation_positive``.
    predictions
        Long table: ``sample``, ``cohort`` (``training_oof`` or ``validation``),
        ``feature_set``, ``classifier``, ``label``, ``score``, ``predicted``.
    comparison
        DeLong paired tests on the validation cohort between feature sets, per classifier:
        ``classifier``, ``feature_set_a``, ``feature_set_b``, ``auc_a``, ``auc_b``,
        ``difference``, ``se``, ``z``, ``p_value``.
    models
        ``(feature_set, classifier)`` -> pipeline refitted on the whole training cohort.
    """

    validation: pd.DataFrame
    predictions: pd.DataFrame
    comparison: pd.DataFrame
    models: dict[tuple[str, str], BaseEstimator] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Tables to write.

        Returns
        -------
        dict
            ``validation``, ``validation_predictions``, ``validation_comparison``.
        """
        return {"validation": self.validation, "validation_predictions": self.predictions,
                "validation_comparison": self.comparison}

    def score_table(self, *, feature_set: str, cohort: str = "validation") -> tuple[pd.DataFrame, pd.Series]:
        """Scores of every classifier on one cohort, wide.

        Parameters
        ----------
        feature_set
            Which feature set.
        cohort
            ``"validation"`` or ``"training_oof"``.

        Returns
        -------
        tuple
            Scores (rows = samples, columns = classifiers) and the 0/1 labels.
        """
        p = self.predictions
        p = p[(p["feature_set"] == feature_set) & (p["cohort"] == cohort)]
        if p.empty:
            raise InputError(f"No predictions for feature set {feature_set!r} on cohort {cohort!r}.")
        scores = p.pivot(index="sample", columns="classifier", values="score")
        order = list(dict.fromkeys(p["classifier"]))
        labels = p.drop_duplicates("sample").set_index("sample")["label"].loc[scores.index]
        return scores[order], labels


def validate(
    features: pd.DataFrame,
    labels: pd.Series,
    *,
    validation_features: pd.DataFrame,
    validation_labels: pd.Series,
    feature_sets: Mapping[str, Sequence[str]] | None = None,
    classifiers: Sequence[str] | Mapping[str, BaseEstimator] | None = None,
    cv: int = 5,
    n_bootstrap: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> ValidationResult:
    """Refit on the whole training cohort and evaluate on an independent validation cohort.

    Parameters
    ----------
    features, labels
        Training cohort.
    validation_features, validation_labels
        Validation cohort; must hold every feature the feature sets use.
    feature_sets
        Name -> feature columns (default: all training columns).
    classifiers
        As in :func:`repeated_splits`. SVM keeps ``probability=True`` here, so its scores are
        probabilities usable for calibration and decision curves.
    cv
        Folds of the out-of-fold training predictions that choose the Youden threshold.
    n_bootstrap
        Resamples of the bootstrap AUC interval.
    confidence
        Coverage of both intervals.
    seed
        Seed of estimators, folds and bootstrap.

    Returns
    -------
    ValidationResult
        See :class:`ValidationResult`.
    """
    owner = "validate"
    cv = check_int(cv, "cv", owner=owner, min_value=2)
    features = check_table(features, name="training features", min_rows=4)
    labels = check_labels(labels, name="training labels")
    features, labels = align_samples(features, labels, data_name="training features", labels_name="training labels")
    vfeat = check_table(validation_features, name="validation features", min_rows=2)
    vlab = check_labels(validation_labels, name="validation labels")
    vfeat, vlab = align_samples(vfeat, vlab, data_name="validation features", labels_name="validation labels")
    overlap = features.index.intersection(vfeat.index)
    if len(overlap):
        raise InputError(
            f"{len(overlap)} sample(s) are in both the training and the validation cohort "
            f"({format_names(overlap)}); an independent validation needs disjoint cohorts."
        )
    sets = _resolve_feature_sets(features, feature_sets)
    for name, cols in sets.items():
        missing = [c for c in cols if c not in vfeat.columns]
        if missing:
            raise InputError(
                f"Feature set {name!r}: {len(missing)} feature(s) are missing from the validation features "
                f"({format_names(missing)})."
            )
    estimators = _resolve_classifiers(classifiers, seed)
    y, yv = labels.to_numpy(int), vlab.to_numpy(int)
    rows, preds, comps = [], [], []
    models: dict[tuple[str, str], BaseEstimator] = {}
    for fs, cols in sets.items():
        X, Xv = features[cols].to_numpy(float), vfeat[cols].to_numpy(float)
        val_scores: dict[str, np.ndarray] = {}
        for clf, est in progress(list(estimators.items()), desc=f"validation {fs}"):
            oof = out_of_fold_scores(est, X, y, cv=cv, seed=seed)
            yd = youden_threshold(y, oof)
            model = set_random_state(clone(est), seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X, y)
            models[(fs, clf)] = model
            sv = _scores(model, Xv)
            val_scores[clf] = sv
            d = delong_ci(yv, sv, confidence=confidence)
            bs = bootstrap_auc_ci(yv, sv, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed)
            pred = sv >= yd["threshold"]
            pos = yv == 1
            tp, tn = int((pred & pos).sum()), int((~pred & ~pos).sum())
            fp, fn = int((pred & ~pos).sum()), int((~pred & pos).sum())
            rows.append({
                "feature_set": fs, "classifier": clf, "auc": d["auc"], "auc_se": d["se"],
                "delong_low": d["ci_low"], "delong_high": d["ci_high"],
                "bootstrap_low": bs["ci_low"], "bootstrap_high": bs["ci_high"],
                "threshold": yd["threshold"],
                "sensitivity": tp / max(tp + fn, 1), "specificity": tn / max(tn + fp, 1),
                "accuracy": (tp + tn) / yv.size,
                "ppv": tp / (tp + fp) if tp + fp else np.nan, "npv": tn / (tn + fn) if tn + fn else np.nan,
                "training_cv_auc": _auc_fast(y == 1, oof),
                "training_sensitivity": yd["sensitivity"], "training_specificity": yd["specificity"],
                "n_validation": int(yv.size), "n_validation_positive": int(pos.sum()),
            })
            for cohort, idx, lab, sc in (("training_oof", features.index, y, oof), ("validation", vfeat.index, yv, sv)):
                preds.append(pd.DataFrame({
                    "sample": idx, "cohort": cohort, "feature_set": fs, "classifier": clf,
                    "label": lab.astype(np.int8), "score": sc, "predicted": (sc >= yd["threshold"]).astype(np.int8),
                }))
        for clf in estimators:
            comps.append((clf, fs, val_scores[clf]))
    comparison = []
    set_names = list(sets)
    for clf in estimators:
        by_set = {fs: s for c, fs, s in comps if c == clf}
        for i, a in enumerate(set_names):
            for b in set_names[i + 1:]:
                t = delong_test(yv, by_set[a], by_set[b])
                comparison.append({"classifier": clf, "feature_set_a": a, "feature_set_b": b, **t})
    comp_cols = ["classifier", "feature_set_a", "feature_set_b", "auc_a", "auc_b", "difference", "se", "z", "p_value"]
    return ValidationResult(
        validation=pd.DataFrame(rows),
        predictions=pd.concat(preds, ignore_index=True),
        comparison=pd.DataFrame(comparison, columns=comp_cols),
        models=models,
    )


def learning_curves(
    features: pd.DataFrame,
    labels: pd.Series,
    *,
    classifiers: Sequence[str] | Mapping[str, BaseEstimator] | None = None,
    train_sizes: Sequence[float] = (0.2, 0.35, 0.5, 0.65, 0.8, 1.0),
    cv: int = 5,
    seed: int = 0,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Training and cross-validated AUC as a function of the training-set size.

    Parameters
    ----------
    features, labels
        The cohort.
    classifiers
        As in :func:`repeated_splits`.
    train_sizes
        Fractions of the training folds.
    cv
        Stratified folds (shuffled with ``seed``).
    seed
        Seed of folds and estimators.
    n_jobs
        Workers of :func:`sklearn.model_selection.learning_curve`.

    Notes
    -----
    As in the repeated splits, a calibrated SVM is ranked by its SVC's decision function (the
    AUC needs no probabilities, and Platt scaling's inner 5-fold CV fails on the smallest
    training sizes).

    Returns
    -------
    pandas.DataFrame
        ``classifier``, ``train_size`` (samples), ``train_auc_mean``, ``train_auc_sd``,
        ``test_auc_mean``, ``test_auc_sd``.
    """
    features = check_table(features, name="features", min_rows=4)
    labels = check_labels(labels)
    features, labels = align_samples(features, labels)
    X, y = features.to_numpy(float), labels.to_numpy(int)
    rows = []
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
    for name, est in _resolve_classifiers(classifiers, seed).items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            sizes, tr, te = learning_curve(set_random_state(_splits_variant(est), seed), X, y, train_sizes=np.asarray(train_sizes),
                                           cv=folds, scoring="roc_auc", n_jobs=n_jobs, shuffle=True,
                                           random_state=seed)
        for k, s in enumerate(sizes):
            rows.append({"classifier": name, "train_size": int(s), "train_auc_mean": float(tr[k].mean()),
                         "train_auc_sd": float(tr[k].std(ddof=1)), "test_auc_mean": float(te[k].mean()),
                         "test_auc_sd": float(te[k].std(ddof=1))})
    return pd.DataFrame(rows)
