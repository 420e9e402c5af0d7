"""The models stage: seven classifiers on repeated splits, validation, calibration, DCA and the nomogram.

:func:`evaluate` runs the whole stage on in-memory inputs and returns one :class:`ModelsResult`:

1. Repeated stratified splits of the training cohort for every feature set under both protocols
   (paired, see :func:`~radiogenomics.models.repeated_splits`): ``paper``, the set as given
   (the differential and module stages selected it on *all* patients, as the paper did, so its
   split AUCs are optimistic), and ``nested``, the same selection rule refitted inside the
   training part of every split (the honest estimate): ``splits``, ``summary`` (with a
   ``protocol`` column and the best split labelled as optimistic), ``comparison`` (including
   each set's paper-vs-nested difference, the paper protocol's inflation).
2. On the *primary* feature set (the first one): PCA explained variance (``pca``), the LASSO
   path and selection (``lasso_cv``, ``lasso_coefficients``) and learning curves, all on the
   training cohort (reporting; the split AUCs never see them).
3. With a validation cohort: every pipeline refitted on the training cohort and scored on the
   validation cohort (``validation``, ``validation_predictions``, ``validation_comparison``).
   The models are refitted on the whole training cohort with the sets as given (selection on
   all training patients is legitimate there: the validation cohort took no part in it).
   Without one: out-of-fold predictions of the training cohort (``oof_predictions``), so the
   ROC, calibration and decision curves still have held-out scores (5 stratified folds); the
   Youden threshold applied to each fold is chosen inside that fold's training part.
4. Calibration (``calibration``: scikit-learn's ``calibration_curve`` quantile bins, ``n // 10`` of
   them and at most 10 (:func:`~radiogenomics.models.calibration_bins`), Brier score, calibration
   slope and intercept) and decision curves (``decision_curve``) of the primary
   set on the same held-out scores (validation cohort, else out-of-fold).
5. With a clinical table: baseline tables by HER2 status and by cohort, and a logistic nomogram
   of the radiomic score (logit of the out-of-fold logistic-regression probability on the
   primary set) plus the clinical variables (one-hot encoded; a variable with a missing value or
   a single value among the training patients is left out and listed in ``dropped``), and the
   nomogram's discrimination and calibration (``nomogram_validation``, ``nomogram_calibration``)
   on the training cohort (apparent) and on the validation cohort (the radiomic score there
   from a logistic regression refitted on the whole training cohort; a validation patient
   with a missing or unseen clinical value cannot be scored and is listed in ``dropped``).

Every input and parameter is checked before anything is computed.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from .._logging import get_logger, warnings_to_log
from .._results import StageResult, dropped_table, features_and_labels, is_synthetic
from .._validation import (
    InputError,
    ParameterError,
    align_samples,
    check_float,
    check_int,
    check_labels,
    check_n_jobs,
    check_table,
    format_names,
)
from .classifiers import make_classifier, set_random_state
from .clinical import (
    Nomogram,
    baseline_table,
    brier_score,
    calibration_slope_intercept,
    calibration_table,
    decision_curve,
    fit_nomogram,
)
from .metrics import delong_ci
from .selection import lasso_path, pca_variance
from .splits import (
    _check_protocols,
    _resolve_classifiers,
    _resolve_evaluations,
    _resolve_feature_sets,
    repeated_splits,
)
from .validation import (
    _check_cohorts,
    _predictions,
    _wide_scores,
    learning_curves,
    out_of_fold_predictions,
    out_of_fold_scores,
    validate,
)

__all__ = ["ModelsResult", "evaluate"]

log = get_logger(__name__)

#: Folds of the out-of-fold predictions (Youden thresholds, the fallback cohort, the radiomic score).
CV = 5
#: Coverage of the DeLong and bootstrap intervals.
CONFIDENCE = 0.95
#: Names of the held-out cohorts in the prediction tables.
COHORTS = {"validation": "validation cohort", "training_oof": "training, out-of-fold"}


@dataclass(frozen=True)
class ModelsResult(StageResult):
    """Result of :func:`evaluate`.

    Attributes
    ----------
    summary
        Repeated splits, one row per feature set, protocol (``paper``, ``nested``) and
        classifier: ``feature_set``, ``protocol``, ``classifier``, ``n_splits``,
        ``n_candidates``, ``n_features`` (mean used per split), ``n_features_min`` / ``_max``,
        ``n_empty_selections``, ``<metric>_mean`` / ``_sd`` / ``_low`` (2.5th percentile) /
        ``_high`` (97.5th) for auc, accuracy, sensitivity, specificity,
        ``auc_best_split_optimistic`` and ``best_split`` (the best single split: what the
        paper's headline numbers match; not an estimate), ``n_convergence_warnings`` (see
        :class:`~radiogenomics.models.SplitResult`).
    splits
        One row per split, feature set, protocol and classifier (see
        :class:`~radiogenomics.models.SplitResult`).
    comparison
        Paired comparisons on the same splits, per classifier: feature sets under the same
        protocol, and each set's paper protocol against its nested one (the inflation).
    pca
        Explained variance of the principal components of the primary set: ``component``,
        ``explained_variance_ratio``, ``cumulative_variance``, ``kept``.
    lasso_cv
        LASSO path on the primary set: ``C``, ``log10_C``, ``log_lambda``, ``auc_mean``,
        ``auc_sd``, ``n_nonzero``, ``chosen`` (the penalty used).
    lasso_coefficients
        ``feature``, ``coefficient``, ``selected``.
    learning_curves
        ``classifier``, ``train_size``, ``train_auc_mean``, ``train_auc_sd``,
        ``test_auc_mean``, ``test_auc_sd`` (primary set).
    calibration
        Calibration bins of every classifier on the held-out scores of the primary set
        (:func:`~radiogenomics.models.calibration_table` columns), plus ``classifier``,
        ``brier``, ``calibration_slope``, ``calibration_intercept``
        (:func:`~radiogenomics.models.calibration_slope_intercept`), ``feature_set``,
        ``cohort`` (``"validation"`` or ``"training_oof"``).
    decision_curve
        Net benefit per model and threshold (:func:`~radiogenomics.models.decision_curve`),
        plus ``feature_set`` and ``cohort``.
    validation, validation_predictions, validation_comparison
        With a validation cohort (see :class:`~radiogenomics.models.ValidationResult`); else
        ``None``.
    oof_predictions
        Without a validation cohort: out-of-fold predictions of the training cohort on the
        primary set (``sample``, ``cohort``, ``feature_set``, ``classifier``, ``label``,
        ``score``, ``threshold`` and ``predicted``: the Youden threshold of the sample's fold,
        chosen inside that fold's training part; ``fold``); else ``None``.
    baseline_her2, baseline_split
        Baseline tables by HER2 status and by cohort (with a clinical table; the second with a
        validation cohort too).
    nomogram_coefficients, nomogram_points, nomogram_total_points
        The nomogram (see :class:`~radiogenomics.models.Nomogram`), with a clinical table.
    nomogram_validation
        The nomogram's performance, one row per cohort (``training``: apparent, the patients
        it was fitted on; ``validation``): ``cohort``, ``n``, ``n_positive``, ``n_unscored``,
        ``auc``, ``auc_low`` / ``auc_high`` (DeLong 95%), ``brier``, ``calibration_slope``,
        ``calibration_intercept``, ``note``.
    nomogram_calibration
        Calibration bins of the nomogram's probability per cohort
        (:func:`~radiogenomics.models.calibration_table` columns plus ``cohort``).
    models
        ``(feature_set, classifier)`` → pipeline refitted on the whole training cohort (with a
        validation cohort); not written.
    parameters
        The settings used: ``n_splits``, ``test_size``, ``variance``, ``n_bootstrap``,
        ``n_jobs``, ``seed``, ``cv``, ``confidence``, ``classifiers``,
        ``classifier_settings``, ``protocols``, ``evaluations`` (each set and protocol with
        its selection rule), ``protocol_notes`` (why a set has the paper protocol only),
        ``feature_sets`` (resolved names, as given), ``feature_set_sources``,
        ``primary_feature_set``, ``evaluation_cohort``, ``n_training``, ``n_validation``,
        ``pca_components``, ``lasso_C``, ``lasso_selected``, ``nomogram_variables``.
    dropped
        Clinical variables left out of the nomogram (``kind`` ``"clinical variable"``; a missing
        value's patients named in ``samples``), validation patients the nomogram cannot score, and learning-curve points or curves left out
        (``"learning-curve point"``: fewer than two folds could be fitted; ``"learning curve"``: a
        k-NN with more neighbours than a fold has training samples).
    synthetic
        The inputs were synthetic.
    """

    stage: ClassVar[str] = "models"

    summary: pd.DataFrame
    splits: pd.DataFrame
    comparison: pd.DataFrame
    pca: pd.DataFrame
    lasso_cv: pd.DataFrame
    lasso_coefficients: pd.DataFrame
    learning_curves: pd.DataFrame
    calibration: pd.DataFrame
    decision_curve: pd.DataFrame
    validation: pd.DataFrame | None = None
    validation_predictions: pd.DataFrame | None = None
    validation_comparison: pd.DataFrame | None = None
    oof_predictions: pd.DataFrame | None = None
    baseline_her2: pd.DataFrame | None = None
    baseline_split: pd.DataFrame | None = None
    nomogram_coefficients: pd.DataFrame | None = None
    nomogram_points: pd.DataFrame | None = None
    nomogram_total_points: pd.DataFrame | None = None
    nomogram_validation: pd.DataFrame | None = None
    nomogram_calibration: pd.DataFrame | None = None
    models: Mapping[tuple[str, str], BaseEstimator] = field(default_factory=dict, compare=False, repr=False)
    parameters: Mapping[str, Any] = field(default_factory=dict)
    dropped: pd.DataFrame = field(default_factory=dropped_table)
    synthetic: bool = False

    @property
    def primary_feature_set(self) -> str:
        """The feature set of the PCA, LASSO, learning, ROC, calibration and decision figures."""
        name = self.parameters.get("primary_feature_set")
        return str(name) if name is not None else str(self.summary["feature_set"].iloc[0])

    @property
    def evaluation_cohort(self) -> str:
        """``"validation"`` or ``"training_oof"``: where the held-out scores come from."""
        return "validation" if self.validation_predictions is not None else "training_oof"

    def predictions(self) -> pd.DataFrame:
        """The held-out predictions of the primary set (validation cohort, else out-of-fold).

        Returns
        -------
        pandas.DataFrame
            ``sample``, ``cohort``, ``feature_set``, ``classifier``, ``label``, ``score``,
            ``predicted``.
        """
        return _held_out(self.validation_predictions, self.oof_predictions, self.primary_feature_set)

    def nomogram(self) -> Nomogram | None:
        """The nomogram, rebuilt from its tables (``None`` without a clinical table).

        Returns
        -------
        Nomogram or None
        """
        if self.nomogram_coefficients is None or self.nomogram_points is None or self.nomogram_total_points is None:
            return None
        return Nomogram.from_tables(self.nomogram_coefficients, self.nomogram_points, self.nomogram_total_points)

    def protocol_inflation(self) -> pd.DataFrame:
        """The paper protocol's inflation: paper minus nested mean split AUC, per set and classifier.

        Returns
        -------
        pandas.DataFrame
            ``feature_set``, ``classifier``, ``auc_mean_paper``, ``auc_mean_nested``,
            ``inflation`` (paired mean difference), ``inflation_low`` / ``inflation_high``
            (2.5th / 97.5th percentile of the per-split differences),
            ``auc_best_split_paper`` (the optimistic best split of the paper protocol); empty
            when no set was evaluated under both protocols.
        """
        cols = ["feature_set", "classifier", "auc_mean_paper", "auc_mean_nested", "inflation", "inflation_low",
                "inflation_high", "auc_best_split_paper"]
        c = self.comparison
        if c is None or c.empty or "protocol_a" not in c.columns:
            return pd.DataFrame(columns=cols)
        c = c[(c["protocol_a"] == "paper") & (c["protocol_b"] == "nested") & (c["feature_set_a"] == c["feature_set_b"])]
        best = self.summary.set_index(["feature_set", "protocol", "classifier"])["auc_best_split_optimistic"]
        out = pd.DataFrame({
            "feature_set": c["feature_set_a"].to_numpy(), "classifier": c["classifier"].to_numpy(),
            "auc_mean_paper": c["auc_mean_a"].to_numpy(), "auc_mean_nested": c["auc_mean_b"].to_numpy(),
            "inflation": c["difference_mean"].to_numpy(), "inflation_low": c["difference_low"].to_numpy(),
            "inflation_high": c["difference_high"].to_numpy(),
        })
        out["auc_best_split_paper"] = [float(best.get((f, "paper", k), np.nan))
                                       for f, k in zip(out["feature_set"], out["classifier"])]
        return out[cols]

    def overview(self) -> dict[str, Any]:
        """Counts of the result.

        Returns
        -------
        dict
            ``n_training``, ``n_validation``, ``evaluation_cohort``, ``pca_components``,
            ``lasso_selected``, ``protocols``, ``best_mean_auc`` (``"<set>/<protocol>"`` → the
            best classifier's mean split AUC), ``best_classifier`` (same keys → that
            classifier), ``best_split_auc_optimistic`` (same keys → the largest single split
            AUC, what a paper reporting its best split would show), ``paper_inflation`` (set →
            paper minus nested mean split AUC, averaged over the classifiers), ``nomogram``,
            ``nomogram_validation_auc``, ``dropped``.
        """
        s = self.summary
        protocol = s["protocol"] if "protocol" in s.columns else pd.Series("paper", index=s.index)
        keys = s["feature_set"].astype(str) + "/" + protocol.astype(str)
        best = s.loc[s.assign(_key=keys).groupby("_key", sort=False)["auc_mean"].idxmax()]
        best_keys = keys.loc[best.index]
        top = s.assign(_key=keys).groupby("_key", sort=False)["auc_best_split_optimistic"].max() \
            if "auc_best_split_optimistic" in s.columns else pd.Series(dtype=float)
        infl = self.protocol_inflation()
        p = self.parameters
        nv = self.nomogram_validation
        val_auc = None
        if nv is not None and len(nv) and (nv["cohort"] == "validation").any():
            val_auc = float(nv.loc[nv["cohort"] == "validation", "auc"].iloc[0])
        return {
            "n_training": p.get("n_training"), "n_validation": p.get("n_validation"),
            "evaluation_cohort": self.evaluation_cohort,
            "pca_components": int(self.pca["kept"].sum()),
            "lasso_selected": int(self.lasso_coefficients["selected"].sum()),
            "protocols": list(dict.fromkeys(protocol.astype(str))),
            "best_mean_auc": {str(k): float(v) for k, v in zip(best_keys, best["auc_mean"])},
            "best_classifier": {str(k): str(v) for k, v in zip(best_keys, best["classifier"])},
            "best_split_auc_optimistic": {str(k): float(v) for k, v in top.items()},
            "paper_inflation": {str(k): float(v) for k, v in infl.groupby("feature_set", sort=False)["inflation"]
                                .mean().items()},
            "nomogram": self.nomogram_coefficients is not None,
            "nomogram_validation_auc": val_auc,
            "dropped": len(self.dropped),
        }

    @classmethod
    def _from_tables(cls, tables: dict[str, pd.DataFrame], *, record: Mapping[str, Any], folder: Path) -> ModelsResult:
        res = super()._from_tables(tables, record=record, folder=folder)
        object.__setattr__(res, "models", {})
        return res  # type: ignore[return-value]


def _held_out(validation_predictions: pd.DataFrame | None, oof_predictions: pd.DataFrame | None,
              feature_set: str) -> pd.DataFrame:
    """Rows of the held-out cohort (validation, else out-of-fold) for one feature set."""
    if validation_predictions is not None:
        p, cohort = validation_predictions, "validation"
    elif oof_predictions is not None:
        p, cohort = oof_predictions, "training_oof"
    else:
        raise InputError("models result: no validation or out-of-fold predictions.")
    return p[(p["feature_set"] == feature_set) & (p["cohort"] == cohort)]


def _cohort_input(validation: Any) -> tuple[pd.DataFrame, pd.Series]:
    if isinstance(validation, tuple):
        if len(validation) != 2:
            raise ParameterError(
                "The 'validation' parameter of evaluate must be None, a (features, labels) tuple or a result with "
                f"features and labels. Got a tuple of {len(validation)} items instead."
            )
        return features_and_labels(validation[0], validation[1], name="validation features")
    return features_and_labels(validation, name="validation features")


def _check_clinical(clinical: Any, training: pd.Index) -> pd.DataFrame:
    if not isinstance(clinical, pd.DataFrame):
        raise InputError(f"clinical must be a DataFrame (rows = patients of both cohorts); got {type(clinical).__name__}.")
    clin = check_table(clinical, name="clinical table", numeric=False)
    missing = training.difference(clin.index)
    if len(missing):
        raise InputError(f"clinical table: no clinical row for {len(missing)} training patient(s) "
                         f"({format_names(missing)}).")
    return clin


@dataclass(frozen=True)
class _ClinicalEncoder:
    """The training cohort's coding of the clinical variables: one-hot with the training levels."""

    variables: list[str]
    levels: dict[str, list[Any]]

    def __call__(self, table: pd.DataFrame) -> pd.DataFrame:
        data = table[self.variables].copy()
        for c, lev in self.levels.items():
            data[c] = pd.Categorical(data[c], categories=lev)
        return pd.get_dummies(data, drop_first=True, dtype=float).astype(float)


def _nomogram_predictors(clin: pd.DataFrame, radiomic_score: pd.Series
                         ) -> tuple[pd.DataFrame, list[dict[str, str]], _ClinicalEncoder]:
    """Radiomic score + one-hot clinical variables of the training cohort; unusable variables reported.

    A variable with a missing value or a single value among the training patients cannot enter
    the logistic model: it is left out (and listed), never imputed. Categorical variables are
    one-hot encoded with their training levels (the first, in sorted order, is the reference);
    the returned encoder applies the same coding to another cohort.
    """
    train = clin.loc[radiomic_score.index]
    dropped, keep = [], []
    for c in train.columns:
        gaps = train.index[train[c].isna()]
        n_missing = len(gaps)
        if n_missing:
            reason = f"{n_missing} missing value(s) in the training cohort: left out of the nomogram"
        elif train[c].nunique() < 2:
            reason = "a single value in the training cohort: left out of the nomogram"
        else:
            keep.append(c)
            continue
        row = {"kind": "clinical variable", "item": str(c), "reason": reason}
        if n_missing:  # the patients without a value, named (column ``samples``)
            row["samples"] = ", ".join(map(str, gaps))
            reason += f" (patient(s) {format_names(gaps)})"
        dropped.append(row)
        log.warning("nomogram: clinical variable %r: %s", c, reason)
    levels = {c: sorted(train[c].unique(), key=str) for c in keep if not pd.api.types.is_numeric_dtype(train[c])}
    encode = _ClinicalEncoder(keep, levels)
    return pd.concat([radiomic_score, encode(train)], axis=1), dropped, encode


def _validation_predictors(clin: pd.DataFrame, vfeat: pd.DataFrame, X1: pd.DataFrame, y: np.ndarray,
                           columns: list[str], encode: _ClinicalEncoder, names: pd.Index, *,
                           seed: int) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """The nomogram's predictors for the validation cohort, and the patients it cannot score.

    The radiomic score of a validation patient is the logit of a logistic regression refitted
    on the whole training cohort's primary set (the training patients' score is out-of-fold).
    A patient without a clinical row, with a missing value or with a level unseen in training
    cannot be scored: listed in ``dropped``, never imputed.
    """
    lr = set_random_state(clone(make_classifier("lr", random_state=seed)), seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lr.fit(X1.to_numpy(float), y)
    p = np.clip(lr.predict_proba(vfeat[columns].to_numpy(float))[:, 1], 1e-6, 1 - 1e-6)
    score = pd.Series(np.log(p / (1 - p)), index=vfeat.index, name="radiomic_score")
    raw = clin.reindex(vfeat.index)
    dropped = []
    keep_rows = []
    levels = encode.levels
    used = list(encode.variables)
    for sample in vfeat.index:
        if sample not in clin.index:
            reason = "no clinical row: the nomogram cannot score this validation patient"
        else:
            row = raw.loc[sample, used]
            missing = [str(c) for c in used if pd.isna(row[c])]
            unseen = [f"{c}={row[c]!r}" for c in levels if c in used and not pd.isna(row[c]) and row[c] not in levels[c]]
            if missing:
                reason = f"missing {', '.join(missing)}: the nomogram cannot score this validation patient"
            elif unseen:
                reason = f"level(s) not seen in training ({', '.join(unseen)}): the nomogram cannot score this patient"
            else:
                keep_rows.append(sample)
                continue
        dropped.append({"kind": "validation patient", "item": str(sample), "reason": reason})
    if dropped:
        log.info("nomogram: %d validation patient(s) cannot be scored (see dropped)", len(dropped))
    encoded = encode(clin.loc[keep_rows]) if keep_rows else pd.DataFrame(index=pd.Index([], dtype=object))
    out = pd.concat([score.loc[keep_rows], encoded], axis=1).reindex(columns=names, fill_value=0.0)
    return out.astype(float), dropped


def _nomogram_performance(nomo: Nomogram, cohorts: list[tuple[str, pd.DataFrame, pd.Series, int, str]]
                          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """AUC (DeLong CI), Brier score, calibration slope/intercept and bins of the nomogram per cohort."""
    rows, bins = [], []
    for cohort, predictors, labels, n_unscored, note in cohorts:
        prob = nomo.score(predictors)["probability"].to_numpy(float)
        yv = labels.loc[predictors.index].to_numpy(int)
        row: dict[str, Any] = {"cohort": cohort, "n": int(yv.size), "n_positive": int(yv.sum()),
                               "n_unscored": int(n_unscored)}
        if 0 < yv.sum() < yv.size:
            d = delong_ci(yv, prob, confidence=CONFIDENCE)
            row.update(auc=d["auc"], auc_low=d["ci_low"], auc_high=d["ci_high"])
        else:
            row.update(auc=np.nan, auc_low=np.nan, auc_high=np.nan)
        recal = calibration_slope_intercept(yv, prob)
        row.update(brier=brier_score(yv, prob), calibration_slope=recal["calibration_slope"],
                   calibration_intercept=recal["calibration_intercept"], note=note)
        rows.append(row)
        t = calibration_table(yv, prob)
        t.attrs = {}
        bins.append(t.assign(cohort=cohort))
    return pd.DataFrame(rows), pd.concat(bins, ignore_index=True)


def evaluate(
    features: pd.DataFrame | Any,
    labels: pd.Series | None = None,
    *,
    feature_sets: Mapping[str, Sequence[str] | Any] | None = None,
    validation: tuple[pd.DataFrame, pd.Series] | Any | None = None,
    clinical: pd.DataFrame | None = None,
    classifiers: Sequence[str] | Mapping[str, BaseEstimator] | None = None,
    protocols: Sequence[str] = ("paper", "nested"),
    n_splits: int = 1000,
    test_size: float = 0.3,
    variance: float = 0.91,
    n_bootstrap: int = 2000,
    n_jobs: int = 1,
    seed: int = 0,
    show_progress: bool | None = None,
) -> ModelsResult:
    """Evaluate the seven classifiers: repeated splits, validation, calibration, DCA, nomogram.

    Parameters
    ----------
    features
        Training cohort: rows = patients, columns = features; or an upstream result holding
        features and labels (:func:`radiogenomics.extract`).
    labels
        0/1 HER2 labels of the training patients (taken from ``features`` when it is a result).
    feature_sets
        Name → feature names, or name → an upstream result with a ``feature_set()`` method
        (:func:`radiogenomics.differential`, :func:`radiogenomics.module`). The first set is
        the primary one (PCA, LASSO, learning curves, ROC, calibration, decision curves,
        radiomic score). Default: one set ``"all"`` with every column. An empty set is an error.
    validation
        Independent validation cohort: a ``(features, labels)`` tuple or a result with
        features and labels. Without one, the held-out figures use out-of-fold predictions of
        the training cohort.
    clinical
        Rows = patients of both cohorts, columns = clinical variables: baseline tables and the
        nomogram.
    classifiers
        Names among :data:`~radiogenomics.models.CLASSIFIERS` (default all seven) or a dict
        name → scikit-learn estimator.
    protocols
        How the repeated splits evaluate each feature set: ``"paper"`` (the set as given; for
        a differential or module result that is the selection on all patients, as Cui et al.
        did, optimistic) and/or ``"nested"`` (the same rule refitted on the training part of
        each split, the honest estimate). The nested protocol needs the upstream result: a
        differential result (its Mann–Whitney rule) or a module result (its similarity
        matrix and threshold, with the rule of the differential result among the sets, else
        the differential stage's defaults). A plain list of names is evaluated as given
        (``paper`` only; ``parameters["protocol_notes"]`` says so). Validation, calibration,
        decision curves and the nomogram always use the sets as given (refitted on the whole
        training cohort).
    n_splits
        Repeated stratified splits (the paper ran 10,000).
    test_size
        Fraction of each class held out in every split.
    variance
        PCA: fraction of the variance the kept components explain.
    n_bootstrap
        Resamples of the bootstrap CI of the validation AUC (at least 10).
    n_jobs
        Worker processes of the splits and learning curves (-1 = all cores); results do not
        depend on it.
    seed
        Master seed of splits, estimators, folds and bootstrap.
    show_progress
        Progress bars; ``None`` follows the package log level.

    Returns
    -------
    ModelsResult
        Every table of the stage (see :class:`ModelsResult`).
    """
    owner = "evaluate"
    # ---- parameters and inputs, all checked before anything is computed
    n_splits = check_int(n_splits, "n_splits", owner=owner, min_value=1)
    test_size = check_float(test_size, "test_size", owner=owner, min_value=0, max_value=1, closed="neither")
    variance = check_float(variance, "variance", owner=owner, min_value=0, max_value=1, closed="right")
    n_bootstrap = check_int(n_bootstrap, "n_bootstrap", owner=owner, min_value=10)
    check_n_jobs(n_jobs, owner=owner)
    seed = check_int(seed, "seed", owner=owner, min_value=0)
    protocols = _check_protocols(protocols, owner)
    if show_progress is not None and not isinstance(show_progress, bool):
        raise ParameterError(f"The 'show_progress' parameter of {owner} must be True, False or None. "
                             f"Got {show_progress!r} instead.")
    specs = feature_sets if isinstance(feature_sets, Mapping) else {}
    upstream = {str(k): v for k, v in specs.items() if callable(getattr(v, "feature_set", None))}
    synthetic = is_synthetic(features, labels, validation, clinical, *upstream.values())
    feat, lab = features_and_labels(features, labels, name="training features")
    feat = check_table(feat, name="training features", min_rows=4)
    lab = check_labels(lab, name="training labels")
    feat, lab = align_samples(feat, lab, data_name="training features", labels_name="training labels")
    counts = np.bincount(lab.to_numpy(int), minlength=2)
    if counts.min() < CV:
        raise InputError(
            f"training labels: {counts[0]} negative and {counts[1]} positive patient(s); the {CV}-fold out-of-fold "
            f"predictions, LASSO and learning curves need at least {CV} of each class."
        )
    vfeat = vlab = None
    if validation is not None:
        vfeat, vlab = _cohort_input(validation)
        feat, lab, vfeat, vlab, sets = _check_cohorts(feat, lab, vfeat, vlab, feature_sets)
    else:
        sets = _resolve_feature_sets(feat, feature_sets)
    # the nested protocol's selectors and candidate pools, checked now (the splits rebuild them)
    specs = {name: upstream.get(name, cols) for name, cols in sets.items()}
    _resolve_evaluations(feat, specs if feature_sets is not None else None, sets, protocols)
    estimators = _resolve_classifiers(classifiers, seed)
    no_proba = [name for name, est in estimators.items() if not hasattr(est, "predict_proba")]
    if no_proba:
        raise ParameterError(
            f"The 'classifiers' parameter of {owner}: {format_names(no_proba)} give(s) no probabilities "
            "(predict_proba); calibration and decision curves need them."
        )
    clin = None if clinical is None else _check_clinical(clinical, feat.index)
    flat = feat.columns[feat.nunique(dropna=True) <= 1]
    if len(flat) == feat.shape[1]:
        raise InputError(f"models: every feature ({format_names(flat)}) is constant across the {len(feat)} training "
                         "patients; there is nothing to learn from: check the feature table.")
    log.info("models: %d training patient(s)%s, feature set(s) %s, classifier(s) %s", len(feat),
             "" if vfeat is None else f", {len(vfeat)} validation patient(s)",
             {k: len(v) for k, v in sets.items()}, list(estimators))
    sources = {k: type(upstream[k]).__name__ if k in upstream else "all columns" if feature_sets is None else "list"
               for k in sets}

    # ---- the computation: BLAS pinned to one thread, so results are bit-identical in any process
    # (a multi-threaded BLAS sums in another order; these matrices are small, one thread is as fast)
    # warnings of scikit-learn, pandas or matplotlib: one log line per kind with its count, never a multi-line warning
    with threadpool_limits(limits=1, user_api="blas"), warnings_to_log(log, where="models: "):
        try:
            return _evaluate(feat, lab, vfeat, vlab, sets=sets, specs=specs if feature_sets is not None else None,
                             protocols=protocols, estimators=estimators, classifiers=classifiers,
                             clin=clin, n_splits=n_splits, test_size=test_size, variance=variance,
                             n_bootstrap=n_bootstrap, n_jobs=n_jobs, seed=seed, show_progress=show_progress,
                             synthetic=synthetic, sources=sources)
        except ValueError as exc:
            _explain_fit_error(exc, len(feat), test_size)
            raise


def _explain_fit_error(exc: ValueError, n_patients: int, test_size: float) -> None:
    """Turn scikit-learn's errors of a cohort too small or too flat into one that names the cause."""
    text = str(exc)
    if "n_neighbors" in text and "n_samples_fit" in text:
        raise InputError(
            f"models: knn needs more training patients than its neighbours ({text}); with {n_patients} "
            f"patient(s) and test_size={test_size:g} some fits are too small: give more patients, or leave knn "
            "out (--classifiers, config models.classifiers)."
        ) from None
    if "NaN or inf" in text or "contain NaN" in text:
        raise InputError(
            f"models: a classifier's scores are not finite ({text}); the features are probably constant (or "
            "constant within a class) in some splits: drop constant features, or give more patients."
        ) from None


def _evaluate(
    feat: pd.DataFrame,
    lab: pd.Series,
    vfeat: pd.DataFrame | None,
    vlab: pd.Series | None,
    *,
    sets: dict[str, list[str]],
    specs: Mapping[str, Any] | None,
    protocols: tuple[str, ...],
    estimators: dict[str, BaseEstimator],
    classifiers: Any,
    clin: pd.DataFrame | None,
    n_splits: int,
    test_size: float,
    variance: float,
    n_bootstrap: int,
    n_jobs: int,
    seed: int,
    show_progress: bool | None,
    synthetic: bool,
    sources: Mapping[str, str],
) -> ModelsResult:
    """The models stage's computation on validated inputs (see :func:`evaluate`)."""
    clf_names = list(estimators)
    primary = next(iter(sets))
    X1 = feat[sets[primary]]
    y = lab.to_numpy(int)
    # ---- 1. repeated splits (all sets)
    splits = repeated_splits(feat, lab, feature_sets=specs, classifiers=classifiers, protocols=protocols,
                             n_splits=n_splits, test_size=test_size, seed=seed, n_jobs=n_jobs,
                             show_progress=show_progress)
    # ---- 2. PCA, LASSO and learning curves on the primary set (training cohort, reporting)
    pca_table, n_comp = pca_variance(X1, variance=variance)
    lasso = lasso_path(X1, lab, seed=seed)
    lasso_cv = lasso.cv_curve.assign(chosen=lasso.cv_curve["C"] == lasso.C)
    lc = learning_curves(X1, lab, classifiers=classifiers, seed=seed, n_jobs=n_jobs)
    lc_dropped = lc.attrs.pop("dropped", [])

    # ---- 3. validation, or out-of-fold predictions of the training cohort
    val = None
    oof_table = None
    if vfeat is not None:
        val = validate(feat, lab, validation_features=vfeat, validation_labels=vlab, feature_sets=sets,
                       classifiers=classifiers, cv=CV, n_bootstrap=n_bootstrap, confidence=CONFIDENCE, seed=seed)
        held_out = _held_out(val.predictions, None, primary)
        cohort = "validation"
    else:
        log.info("no validation cohort: calibration, decision curves and ROC use out-of-fold predictions of the "
                 "training cohort")
        rows = []
        for name, est in estimators.items():
            oof = out_of_fold_predictions(est, X1.to_numpy(float), y, cv=CV, seed=seed)
            rows.append(_predictions(X1.index, cohort="training_oof", feature_set=primary, classifier=name,
                                     labels=y, scores=oof["score"], threshold=oof["threshold"])
                        .assign(fold=oof["fold"]))
        oof_table = pd.concat(rows, ignore_index=True)
        held_out = oof_table
        cohort = "training_oof"

    # ---- 4. calibration and decision curves of the primary set on the held-out scores
    scores, y_eval = _wide_scores(held_out)
    cal_parts = []
    for c in scores.columns:
        t = calibration_table(y_eval.to_numpy(), scores[c].to_numpy())
        cal_parts.append(t.assign(classifier=c, brier=t.attrs["brier"], calibration_slope=t.attrs["calibration_slope"],
                                  calibration_intercept=t.attrs["calibration_intercept"]))
    cal = pd.concat(cal_parts, ignore_index=True).assign(feature_set=primary, cohort=cohort)
    cal.attrs = {}
    dca = decision_curve(y_eval.to_numpy(), {c: scores[c].to_numpy() for c in scores.columns})
    dca = dca.assign(feature_set=primary, cohort=cohort)

    # ---- 5. clinical: baseline tables and the nomogram (radiomic score + clinical variables)
    clinical_tables: dict[str, pd.DataFrame] = {}
    dropped_rows: list[dict[str, str]] = list(lc_dropped)
    nomogram_vars = None
    if clin is not None:
        groups = pd.Series("training", index=feat.index)
        all_labels = lab.copy()
        if vfeat is not None:
            groups = pd.concat([groups, pd.Series("validation", index=vfeat.index)])
            all_labels = pd.concat([lab, vlab])
        absent = groups.index.difference(clin.index)
        if len(absent):
            log.info("clinical table: no row for %d validation patient(s) (%s); counted as missing in the baseline "
                     "tables", len(absent), format_names(absent))
        present = clin.reindex(groups.index)
        clinical_tables["baseline_her2"] = baseline_table(
            present, all_labels.map({1: "HER2-positive", 0: "HER2-negative"}))
        if vfeat is not None:
            clinical_tables["baseline_split"] = baseline_table(present, groups)
        lr = make_classifier("lr", random_state=seed)
        p_lr = np.clip(out_of_fold_scores(lr, X1.to_numpy(float), y, cv=CV, seed=seed), 1e-6, 1 - 1e-6)
        score = pd.Series(np.log(p_lr / (1 - p_lr)), index=feat.index, name="radiomic_score")
        predictors, clinical_dropped, encode = _nomogram_predictors(clin, score)
        dropped_rows += clinical_dropped
        nomo = fit_nomogram(predictors, lab)
        nomogram_vars = list(predictors.columns)
        clinical_tables.update(nomogram_coefficients=nomo.coefficients, nomogram_points=nomo.points,
                               nomogram_total_points=nomo.total_points)
        cohorts = [("training", predictors, lab, 0,
                    "apparent: the patients the nomogram was fitted on (its radiomic score is out-of-fold)")]
        if vfeat is not None:
            vpred, unscored = _validation_predictors(clin, vfeat, X1, y, sets[primary], encode, predictors.columns,
                                                     seed=seed)
            dropped_rows += unscored
            if len(vpred):
                cohorts.append(("validation", vpred, vlab.loc[vpred.index], len(unscored),
                                "independent: radiomic score from a logistic regression refitted on the whole "
                                "training cohort"))
        perf, bins = _nomogram_performance(nomo, cohorts)
        clinical_tables.update(nomogram_validation=perf, nomogram_calibration=bins)
    else:
        log.info("no clinical table: baseline tables and nomogram skipped")

    parameters = {
        "n_splits": n_splits, "test_size": test_size, "variance": variance, "n_bootstrap": n_bootstrap,
        "n_jobs": n_jobs, "seed": seed, "cv": CV, "confidence": CONFIDENCE,
        "classifiers": clf_names, "classifier_settings": {k: repr(v) for k, v in estimators.items()},
        "protocols": list(protocols), "evaluations": splits.parameters.get("evaluations"),
        "protocol_notes": splits.parameters.get("protocol_notes"),
        "feature_sets": {k: list(v) for k, v in sets.items()},
        "feature_set_sources": dict(sources),
        "primary_feature_set": primary, "evaluation_cohort": cohort,
        "n_training": len(feat), "n_validation": None if vfeat is None else len(vfeat),
        "pca_components": int(n_comp), "lasso_C": float(lasso.C), "lasso_selected": list(lasso.selected),
        "split_batch_size": splits.parameters.get("batch_size"), "nomogram_variables": nomogram_vars,
    }
    return ModelsResult(
        summary=splits.summary, splits=splits.splits, comparison=splits.comparison, pca=pca_table,
        lasso_cv=lasso_cv, lasso_coefficients=lasso.coefficients, learning_curves=lc, calibration=cal,
        decision_curve=dca,
        validation=None if val is None else val.validation,
        validation_predictions=None if val is None else val.predictions,
        validation_comparison=None if val is None else val.comparison,
        oof_predictions=oof_table, models={} if val is None else dict(val.models),
        parameters=parameters, dropped=dropped_table(dropped_rows), synthetic=synthetic,
        **clinical_tables,
    )
