"""Repeated stratified train/test splits: the seeds, the partitions and the batch engine.

``n_splits`` stratified random train/test splits (70/30 by default). Split ``i`` draws its
partition and the ``random_state`` of every estimator from ``seeds[i]``, a list pre-drawn from
``numpy.random.SeedSequence(seed)``; nothing depends on worker state, so the results are
bit-identical for any ``n_jobs`` and any batch size. All feature sets are evaluated on the same
partitions, which makes their comparison paired.

The batch engine fits a shared preprocessing prefix (the scaler) once per split and feature
set, ranks a calibrated SVM by its SVC's decision function (Platt scaling is monotone) and
computes the metrics with the rank AUC of :mod:`.metrics`: the same numbers as fitting each
full pipeline on its own (see the tests), at a fraction of the cost.
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
from sklearn.base import BaseEstimator, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import ConvergenceWarning
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
    check_n_jobs,
    check_table,
    format_names,
)
from .classifiers import CLASSIFIERS, make_classifiers, set_random_state
from .metrics import _auc_fast

__all__ = ["split_seeds", "stratified_split", "repeated_splits", "SplitResult"]

log = get_logger(__name__)

METRICS = ("auc", "accuracy", "sensitivity", "specificity")


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


def _feature_set_columns(name: str, spec: Any) -> list[str]:
    """The feature names of one feature set: a list of names, or an upstream result's ``feature_set()``.

    Parameters
    ----------
    name
        The set's name (for messages).
    spec
        A sequence of feature names, or a result with a ``feature_set()`` method
        (:class:`~radiogenomics.differential.DifferentialResult`,
        :class:`~radiogenomics.module.ModuleResult`).

    Returns
    -------
    list of str
        The names, in order; an empty set is an error saying where it came from (never a silent
        substitute).
    """
    source = None
    if callable(getattr(spec, "feature_set", None)):
        source = type(spec).__name__
        spec = spec.feature_set()
    if isinstance(spec, (str, bytes)) or not isinstance(spec, (Sequence, pd.Index, pd.Series, np.ndarray, set, frozenset)):
        raise InputError(
            f"Feature set {name!r} must be a list of feature names or a result with a feature_set() method "
            f"(the differential or module stage's); got {type(spec).__name__}."
        )
    cols = [str(c) for c in spec]
    if not cols:
        why = (f"{source}.feature_set() returned no feature (the upstream stage selected none)" if source
               else "it lists no feature")
        raise InputError(f"Feature set {name!r} is empty: {why}; a model needs at least one feature.")
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise InputError(f"Feature set {name!r} repeats feature(s) {format_names(dup)}.")
    return cols


def _resolve_feature_sets(features: pd.DataFrame, feature_sets: Mapping[str, Any] | None) -> dict[str, list[str]]:
    if feature_sets is None:
        return {"all": list(features.columns)}
    if not isinstance(feature_sets, Mapping):
        raise ParameterError(
            "The 'feature_sets' parameter must be None or a dict name -> feature names (or an upstream result "
            f"with feature_set()). Got {type(feature_sets).__name__} instead."
        )
    out: dict[str, list[str]] = {}
    for name, spec in feature_sets.items():
        cols = _feature_set_columns(str(name), spec)
        missing = [c for c in cols if c not in features.columns]
        if missing:
            raise InputError(
                f"Feature set {name!r}: {len(missing)} feature(s) are not columns of the feature table "
                f"({format_names(missing)})."
            )
        out[str(name)] = cols
    if not out:
        raise InputError("No feature set given (the 'feature_sets' dict is empty).")
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
    feature_sets: Mapping[str, Sequence[str] | Any] | None = None,
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
        Name -> list of feature columns, or an upstream result with a ``feature_set()`` method
        (the differential or module stage's); every set is evaluated on the same splits
        (paired). Default: one set ``"all"`` with every column.
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
    workers = check_n_jobs(n_jobs, owner=owner)
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
            gen = joblib.Parallel(n_jobs=workers, return_as="generator")(tasks)
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
