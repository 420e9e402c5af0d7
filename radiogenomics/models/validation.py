"""Independent validation, out-of-fold scores and learning curves.

Each pipeline is refitted on the whole training cohort and scored on the validation cohort.
The AUC gets a DeLong 95% CI (fast algorithm of Sun & Xu 2014) and a stratified bootstrap CI;
sensitivity and specificity are read at the Youden threshold chosen on the *training* cohort's
out-of-fold predictions, never on the validation cohort.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import ConvergenceWarning, FitFailedWarning, UndefinedMetricWarning
from sklearn.model_selection import StratifiedKFold, cross_val_predict, learning_curve

from .._logging import get_logger, progress
from .._validation import (
    InputError,
    align_samples,
    check_int,
    check_labels,
    check_table,
    format_names,
)
from .classifiers import set_random_state
from .metrics import (
    _auc_fast,
    bootstrap_auc_ci,
    delong_ci,
    delong_test,
    youden_threshold,
)
from .splits import _resolve_classifiers, _resolve_feature_sets, _splits_variant

__all__ = ["validate", "ValidationResult", "out_of_fold_scores", "out_of_fold_predictions", "learning_curves"]

log = get_logger(__name__)


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


def out_of_fold_predictions(
    estimator: BaseEstimator,
    features: pd.DataFrame | np.ndarray,
    labels: Any,
    *,
    cv: int = 5,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Out-of-fold scores and, for each fold, a Youden threshold chosen without that fold.

    The scores are those of :func:`out_of_fold_scores` (same folds, same seed). The threshold
    applied to fold ``k``'s held-out patients is the Youden threshold of out-of-fold scores
    computed *inside fold k's training part* (an inner stratified cross-validation with the
    same number of folds, fewer if a class has fewer patients there): the patients whose
    predictions it classifies never take part in choosing it, so the confusion matrix and the
    sensitivity and specificity it gives are held-out estimates too.

    Parameters
    ----------
    estimator
        Classifier or pipeline (cloned; not modified).
    features
        Training features.
    labels
        0/1 labels.
    cv
        Number of stratified folds (shuffled with ``seed``), outer and inner.
    seed
        Seed of the folds and of the estimator.

    Returns
    -------
    dict
        ``score`` (one per sample), ``threshold`` (the threshold of the sample's fold),
        ``predicted`` (``score >= threshold``, 0/1), ``fold`` (0-based).
    """
    cv = check_int(cv, "cv", owner="out_of_fold_predictions", min_value=2)
    X = np.asarray(features, dtype=float)
    y = np.asarray(labels).astype(int)
    scores = out_of_fold_scores(estimator, X, y, cv=cv, seed=seed)
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
    threshold = np.empty(y.size)
    fold = np.empty(y.size, dtype=np.int16)
    for k, (train, test) in enumerate(folds.split(X, y)):
        inner_cv = int(min(cv, np.bincount(y[train], minlength=2).min()))
        if inner_cv < 2:
            raise InputError(f"out-of-fold thresholds: fold {k} leaves fewer than 2 patients of a class for its "
                             "inner cross-validation.")
        inner = out_of_fold_scores(estimator, X[train], y[train], cv=inner_cv, seed=seed)
        threshold[test] = youden_threshold(y[train], inner)["threshold"]
        fold[test] = k
    return {"score": scores, "threshold": threshold, "predicted": (scores >= threshold).astype(np.int8),
            "fold": fold}


def _predictions(samples: pd.Index, *, cohort: str, feature_set: str, classifier: str, labels: np.ndarray,
                 scores: np.ndarray, threshold: float | np.ndarray) -> pd.DataFrame:
    """Long prediction rows: a sample is predicted positive when its score reaches the (its fold's) threshold."""
    threshold = np.broadcast_to(np.asarray(threshold, dtype=float), np.shape(scores))
    return pd.DataFrame({
        "sample": samples, "cohort": cohort, "feature_set": feature_set, "classifier": classifier,
        "label": np.asarray(labels).astype(np.int8), "score": scores, "threshold": threshold,
        "predicted": (np.asarray(scores) >= threshold).astype(np.int8),
    })


def _wide_scores(pred: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Long predictions as scores (rows = samples, one column per classifier, in their order) and labels."""
    order = list(dict.fromkeys(pred["classifier"]))
    scores = pred.pivot(index="sample", columns="classifier", values="score")[order]
    labels = pred.drop_duplicates("sample").set_index("sample")["label"].loc[scores.index]
    return scores, labels


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
        ``feature_set``, ``classifier``, ``label``, ``score``, ``threshold`` (the Youden
        threshold chosen on the training out-of-fold scores), ``predicted``.
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
        return _wide_scores(p)


def _check_cohorts(
    features: pd.DataFrame,
    labels: pd.Series,
    validation_features: pd.DataFrame,
    validation_labels: pd.Series,
    feature_sets: Mapping[str, Sequence[str] | Any] | None,
) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series, dict[str, list[str]]]:
    """Check a training and a validation cohort (disjoint, both classes, every set's features) and resolve the sets."""
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
    counts = np.bincount(vlab.to_numpy(int), minlength=2)
    if counts.min() == 0:
        raise InputError(
            f"validation labels: the validation cohort holds a single class ({counts.tolist()} negative/positive); "
            "its AUC needs HER2-positive and HER2-negative patients."
        )
    return features, labels, vfeat, vlab, sets


def validate(
    features: pd.DataFrame,
    labels: pd.Series,
    *,
    validation_features: pd.DataFrame,
    validation_labels: pd.Series,
    feature_sets: Mapping[str, Sequence[str] | Any] | None = None,
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
    features, labels, vfeat, vlab, sets = _check_cohorts(features, labels, validation_features, validation_labels,
                                                         feature_sets)
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
                preds.append(_predictions(idx, cohort=cohort, feature_set=fs, classifier=clf, labels=lab, scores=sc,
                                          threshold=yd["threshold"]))
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


def _n_neighbors(est: BaseEstimator) -> int:
    """The training samples a classifier needs at least: its ``n_neighbors`` (a k-NN), else 1."""
    return max([int(v) for key, v in est.get_params(deep=True).items() if key.endswith("n_neighbors")] or [1])


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
    Every classifier is drawn on the same training sizes, each one feasible for all of them: a
    k-NN needs at least ``n_neighbors`` training samples, so a size below the largest
    ``n_neighbors`` is raised to it (one log line says which; sizes that then coincide are drawn
    once). As in the repeated splits, a calibrated SVM is ranked by its SVC's decision function
    (the AUC needs no probabilities, and Platt scaling's inner 5-fold CV fails on the smallest
    training sizes). On a small cohort a shuffled training subset can hold one class only; that
    fold's fit fails and is left out of the point's means (one log line with the counts), and a
    point with fewer than two fitted folds is left out, listed in the table's
    ``attrs["dropped"]`` (kind, item, reason), which :func:`~radiogenomics.models.evaluate`
    puts in the result's ``dropped``.

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
    dropped: list[dict[str, str]] = []
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
    n_max = len(next(folds.split(X, y))[0])  # training samples of a fold, what the fractions refer to
    fractions = np.asarray(train_sizes, dtype=float)
    estimators = _resolve_classifiers(classifiers, seed)
    need = {name: _n_neighbors(est) for name, est in estimators.items()}
    for name in [k for k, v in need.items() if v > n_max]:
        reason = f"learning curve left out: n_neighbors={need[name]} exceeds the {n_max} training samples of a fold"
        log.info("learning curve of %s: %s", name, reason.removeprefix("learning curve left out: ") + ": left out")
        dropped.append({"kind": "learning curve", "item": name, "reason": reason})
        del estimators[name], need[name]
    floor = max(need.values(), default=1)
    wanted = np.clip((fractions * n_max).astype(int), 1, n_max)  # as scikit-learn turns fractions into sizes
    sizes_abs = np.unique(np.maximum(wanted, floor))
    if (wanted < floor).any():
        who = max(need, key=need.get)
        log.info("learning curves start at %d training samples (%s: n_neighbors=%d) for every classifier: size(s) "
                 "%s raised to it", floor, who, floor, ", ".join(str(int(s)) for s in wanted[wanted < floor]))
    for name, est in estimators.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            # a small shuffled training subset can hold one class only: that fit fails (score NaN), counted below
            warnings.simplefilter("ignore", FitFailedWarning)
            warnings.filterwarnings("ignore", message="Scoring failed", category=UserWarning)  # e.g. NB on one class
            # ... and the AUC of such a subset's training score is undefined (NaN, counted below)
            warnings.filterwarnings("ignore", message="Only one class is present", category=UndefinedMetricWarning)
            sizes, tr, te = learning_curve(set_random_state(_splits_variant(est), seed), X, y, train_sizes=sizes_abs,
                                           cv=folds, scoring="roc_auc", n_jobs=n_jobs, shuffle=True,
                                           random_state=seed, error_score=np.nan)
        failed = (np.isnan(te) | np.isnan(tr)).sum(axis=1)
        if failed.any():
            log.info("learning curve of %s: %s of %d fold fit(s) had a single class in the training subset and are "
                     "left out of the means", name,
                     ", ".join(f"{int(f)} at {int(s)} samples" for f, s in zip(failed, sizes) if f), te.shape[1])
        for k, s in enumerate(sizes):
            ok = ~np.isnan(te[k]) & ~np.isnan(tr[k])
            if ok.sum() < 2:
                reason = (f"learning curve point at {int(s)} training samples: {int(ok.sum())} of {te.shape[1]} folds "
                          "could be fitted (fewer than 2)")
                log.info("learning curve of %s: the point at %d training samples is left out (fewer than 2 folds "
                         "could be fitted)", name, int(s))
                dropped.append({"kind": "learning-curve point", "item": f"{name} at {int(s)} samples", "reason": reason})
                continue
            rows.append({"classifier": name, "train_size": int(s), "train_auc_mean": float(tr[k][ok].mean()),
                         "train_auc_sd": float(tr[k][ok].std(ddof=1)), "test_auc_mean": float(te[k][ok].mean()),
                         "test_auc_sd": float(te[k][ok].std(ddof=1))})
    table = pd.DataFrame(rows, columns=["classifier", "train_size", "train_auc_mean", "train_auc_sd", "test_auc_mean",
                                        "test_auc_sd"])
    table.attrs["dropped"] = dropped
    return table
