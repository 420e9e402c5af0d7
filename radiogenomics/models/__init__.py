"""Predictive models and clinical evaluation.

Seven classifiers as scikit-learn pipelines (:mod:`.classifiers`), repeated stratified splits,
independent validation with DeLong and bootstrap CIs (:mod:`.evaluation`), PCA, LASSO and ICC
feature selection (:mod:`.selection`), calibration, decision curves, nomogram and baseline
tables (:mod:`.clinical`). Pure computation: no file I/O here.
"""

from .classifiers import CLASSIFIER_LABELS, CLASSIFIERS, DEFAULT_PARAMS, make_classifier, make_classifiers
from .clinical import Nomogram, baseline_table, brier_score, calibration_table, decision_curve, fit_nomogram
from .evaluation import (
    SplitResult,
    ValidationResult,
    auc_score,
    bootstrap_auc_ci,
    delong_ci,
    delong_roc_variance,
    delong_test,
    learning_curves,
    out_of_fold_scores,
    repeated_splits,
    split_seeds,
    stratified_split,
    validate,
    youden_threshold,
)
from .selection import LassoResult, LassoSelector, icc_filter, lasso_path, make_pca, pca_variance, stable_features

__all__ = [
    "CLASSIFIERS",
    "CLASSIFIER_LABELS",
    "DEFAULT_PARAMS",
    "make_classifier",
    "make_classifiers",
    "SplitResult",
    "ValidationResult",
    "auc_score",
    "bootstrap_auc_ci",
    "delong_ci",
    "delong_roc_variance",
    "delong_test",
    "learning_curves",
    "out_of_fold_scores",
    "repeated_splits",
    "split_seeds",
    "stratified_split",
    "validate",
    "youden_threshold",
    "LassoResult",
    "LassoSelector",
    "icc_filter",
    "lasso_path",
    "make_pca",
    "pca_variance",
    "stable_features",
    "Nomogram",
    "baseline_table",
    "brier_score",
    "calibration_table",
    "decision_curve",
    "fit_nomogram",
]
