"""Metrics of the package: the AUC (Mann-Whitney), DeLong variance, CI and paired test, bootstrap CI.

:func:`auc_score` is *the* AUC of radiogenomics: every stage (models, deep) uses it.
The DeLong covariance uses the fast algorithm of Sun & Xu (2014); the bootstrap interval is
stratified by default (as pROC); :func:`youden_threshold` picks the operating point.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats
from sklearn.metrics import roc_curve

from .._validation import InputError, check_float, check_int, format_names

__all__ = [
    "auc_score",
    "delong_roc_variance",
    "delong_ci",
    "delong_test",
    "bootstrap_auc_ci",
    "youden_threshold",
]

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
    """``(R+ - m(m+1)/2) / (m n)`` with R+ the sum of the positives' mid-ranks (ties: average rank).

    The mid-ranks come from one stable sort; they are half-integers, so their sum is exact in
    float64 whatever the order of summation: the same number as ``scipy.stats.rankdata``
    gives (the tests check it), several times faster on the split engine's small arrays.
    NaN scores give NaN, as rankdata does.
    """
    m = int(pos.sum())
    n = pos.size - m
    if m == 0 or n == 0 or np.isnan(s).any():
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ss = s[order]
    first = np.empty(ss.size, dtype=bool)
    first[0] = True
    np.not_equal(ss[1:], ss[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    mid = (starts + np.append(starts[1:], ss.size) + 1) / 2.0  # mid-rank of each group of ties (1-based)
    ranks = mid[np.cumsum(first) - 1]
    return float((ranks[pos[order]].sum() - m * (m + 1) / 2.0) / (m * n))


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
