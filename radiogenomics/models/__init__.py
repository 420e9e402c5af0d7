"""The models stage: predictive models and their clinical evaluation.

Seven classifiers as scikit-learn pipelines (:mod:`.classifiers`); the package's AUC, DeLong and
bootstrap intervals (:mod:`.metrics`); repeated stratified splits (:mod:`.splits`); independent
validation, out-of-fold scores and learning curves (:mod:`.validation`); PCA, LASSO and ICC
feature selection (:mod:`.selection`); calibration, decision curves, nomogram and baseline
tables (:mod:`.clinical`); and the stage itself, :func:`evaluate` → :class:`ModelsResult`
(:mod:`.evaluate`). Pure computation: no file I/O here.
"""

from .classifiers import (
    CLASSIFIER_LABELS,
    CLASSIFIERS,
    DEFAULT_PARAMS,
    make_classifier,
    make_classifiers,
)
from .clinical import (
    Nomogram,
    baseline_table,
    brier_score,
    calibration_bins,
    calibration_slope_intercept,
    calibration_table,
    decision_curve,
    fit_nomogram,
)
from .evaluate import ModelsResult, evaluate
from .metrics import (
    auc_score,
    bootstrap_auc_ci,
    delong_ci,
    delong_roc_variance,
    delong_test,
    youden_threshold,
)
from .selection import (
    LassoResult,
    LassoSelector,
    icc_filter,
    lasso_path,
    make_pca,
    pca_variance,
    stable_features,
)
from .splits import SplitResult, repeated_splits, split_seeds, stratified_split
from .validation import ValidationResult, learning_curves, out_of_fold_predictions, out_of_fold_scores, validate

__all__ = [
    "evaluate",
    "ModelsResult",
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
    "out_of_fold_predictions",
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
    "calibration_bins",
    "calibration_table",
    "calibration_slope_intercept",
    "decision_curve",
    "fit_nomogram",
]
