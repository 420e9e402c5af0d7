"""Repeated stratified train/test splits: the seeds, the partitions and the batch engine.

``n_splits`` stratified random train/test splits (70/30 by default). Split ``i`` draws its
partition and the ``random_state`` of every estimator from ``seeds[i]``, a list pre-drawn from
``numpy.random.SeedSequence(seed)``; nothing depends on worker state, so the results are
bit-identical for any ``n_jobs`` and any batch size. All feature sets are evaluated on the same
partitions, which makes their comparison paired.

The batch engine fits a shared preprocessing prefix (the scaler) once per split and feature
set, ranks a calibrated SVM by its SVC's decision function (Platt scaling is monotone) and
computes the metrics with the rank AUC of :mod:`.metrics`: the same numbers as fitting each
full pipeline on its own (see the tests), at a fraction of the cost. The seven classifiers of
the studies are fitted through exact fast paths (:mod:`._fast`: scikit-learn's, libsvm's and
SciPy's own kernels without their per-call input checks and wrappers, bit-identical, checked at
run time).

Two protocols (:data:`PROTOCOLS`). ``paper``: a feature set is used as given; for the
differential and module sets that is a selection made on *all* patients (as Cui et al. did),
so the test part of every split took part in choosing the features and the split AUCs are
optimistic. ``nested``: the selection is refitted on the training part of each split
(:class:`~radiogenomics.differential.DifferentialSelector`,
:class:`~radiogenomics.module.ModuleSelector`, the first step of every pipeline), the honest
estimate. Both are evaluated on the same splits, so their difference is paired. A split whose
nested selection chooses no feature is scored as the model without features (it predicts the
training prevalence: AUC 0.5) and counted (``n_empty_selections``): never dropped, never given
substitute features.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
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

from .._config import source_defaults
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
from ..differential.selector import DifferentialSelector
from ..module.selector import ModuleSelector
from ._fast import _UnsupportedFitError, fast_scorer, fast_transformer
from .classifiers import CLASSIFIERS, make_classifiers
from .metrics import _auc_fast

__all__ = ["split_seeds", "stratified_split", "repeated_splits", "SplitResult", "PROTOCOLS"]

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


def _seeder(est: BaseEstimator) -> Callable[[int], None]:
    """A function that sets every ``random_state`` of ``est`` (and its nested steps) to a seed.

    What :func:`~radiogenomics.models.classifiers.set_random_state` does, with the parameter
    owners looked up once: ``set_params`` inspects every signature on each call, which costs
    more than fitting a naive Bayes model.
    """
    params = est.get_params(deep=True)
    owners = []
    for key in params:
        if key == "random_state":
            owners.append(est)
        elif key.endswith("__random_state"):
            owners.append(params[key[: -len("__random_state")]])

    def seed(value: int) -> None:
        for owner in owners:
            owner.random_state = value

    return seed


@dataclass
class _Member:
    """One classifier of a prefix group: its final step, how it is scored, its fast path."""

    index: int
    name: str
    final: BaseEstimator
    kind: str
    seed: Callable[[int], None]
    fast: Any


def _prefix_groups(estimators: dict[str, BaseEstimator]) -> list[tuple[list[Any], Callable[[int], None], list[_Member]]]:
    """Group classifiers whose preprocessing (all steps but the last) is identical.

    A shared prefix is fitted once per split and feature set and its output reused: exactly what
    each pipeline would compute on its own, without refitting the scaler seven times. Each final
    step gets its exact fast path where there is one (:mod:`._fast`).
    """
    groups: dict[str, tuple[list[Any], Callable[[int], None], list[_Member]]] = {}
    for i, (name, est) in enumerate(estimators.items()):
        if isinstance(est, Pipeline) and len(est.steps) > 1:
            prefix = Pipeline([(n, clone(t)) for n, t in est.steps[:-1]])
            key = joblib.hash(prefix)
            final = clone(est.steps[-1][1])
        else:
            prefix, key, final = None, "none", clone(est)
        if key not in groups:
            steps = [] if prefix is None else [t for _, t in prefix.steps]
            fast = [fast_transformer(t) for t in steps]
            steps = [f if f is not None else t for f, t in zip(fast, steps)]
            groups[key] = (steps, _seeder(prefix) if prefix is not None else (lambda value: None), [])
        kind = _score_kind(final)
        groups[key][2].append(_Member(i, name, final, kind, _seeder(final), fast_scorer(final)))
    return list(groups.values())


def _metrics(y: np.ndarray, score: np.ndarray, pred: np.ndarray) -> tuple[float, float, float, float]:
    pos = y == 1
    m, n = int(pos.sum()), int((~pos).sum())
    auc = _auc_fast(pos, score)
    tp = int((pred & pos).sum())
    tn = int((~pred & ~pos).sum())
    return auc, (tp + tn) / y.size, tp / m if m else np.nan, tn / n if n else np.nan


def _metrics_many(y: np.ndarray, scores: list[np.ndarray], preds: list[np.ndarray]) -> np.ndarray:
    """:func:`_metrics` of several models scored on the same test part, as one array ``(models, 4)``.

    The rank AUC of each row is the one of :func:`~radiogenomics.models.metrics._auc_fast` (stable
    sort, mid-ranks of ties, the positives' rank sum: half-integers, so exact in any order), computed
    for all rows at once; the same numbers (the tests compare them).
    """
    pos = y == 1
    m, n = int(pos.sum()), int((~pos).sum())
    S = np.asarray(scores, dtype=float)
    P = np.asarray(preds, dtype=bool)
    k, size = S.shape
    out = np.empty((k, 4))
    if m == 0 or n == 0:
        out[:, 0] = np.nan
    else:
        order = np.argsort(S, axis=1, kind="mergesort")
        ss = np.take_along_axis(S, order, axis=1)
        first = np.ones((k, size), dtype=bool)
        np.not_equal(ss[:, 1:], ss[:, :-1], out=first[:, 1:])
        last = np.ones((k, size), dtype=bool)
        last[:, :-1] = first[:, 1:]
        idx = np.broadcast_to(np.arange(size), (k, size))
        start = np.maximum.accumulate(np.where(first, idx, 0), axis=1)
        end = np.minimum.accumulate(np.where(last, idx, size - 1)[:, ::-1], axis=1)[:, ::-1]
        ranks = (start + end + 2) / 2.0  # mid-rank of each group of ties (1-based)
        rank_sum = np.where(pos[order], ranks, 0.0).sum(axis=1)
        out[:, 0] = (rank_sum - m * (m + 1) / 2.0) / (m * n)
        out[np.isnan(S).any(axis=1), 0] = np.nan
    tp = (P & pos).sum(axis=1)
    tn = (~P & ~pos).sum(axis=1)
    out[:, 1] = (tp + tn) / y.size
    out[:, 2] = tp / m if m else np.nan
    out[:, 3] = tn / n if n else np.nan
    return out


def _no_feature_metrics(ytr: np.ndarray, yte: np.ndarray) -> tuple[float, float, float, float]:
    """The model without features: every test patient gets the training prevalence.

    That is ``DummyClassifier(strategy="prior")``: a constant score (AUC 0.5, all pairs tied)
    and the training majority class as the prediction (class 0 on a tie).
    """
    return _metrics(yte, np.zeros(yte.size), np.full(yte.size, ytr.mean() > 0.5))


# --------------------------------------------------------------------------------------------
# the protocols: what each feature set is evaluated with
# --------------------------------------------------------------------------------------------
#: The two evaluation protocols, in their order in the tables.
PROTOCOLS = ("paper", "nested")


@dataclass
class _Evaluation:
    """One feature set under one protocol.

    ``paper``: the set's features as given (selected on all patients); ``nested``: the
    ``selector`` is refitted on the training part of each split and chooses among ``columns``
    (the candidates of the upstream stage).
    """

    feature_set: str
    protocol: str
    columns: list[str]
    selector: BaseEstimator | None = None
    rule: str = ""


def _check_protocols(protocols: Any, owner: str) -> tuple[str, ...]:
    if isinstance(protocols, str) or not isinstance(protocols, (Sequence, set, frozenset)):
        raise ParameterError(f"The 'protocols' parameter of {owner} must be a list among {list(PROTOCOLS)}. "
                             f"Got {protocols!r} instead.")
    out = tuple(str(p) for p in protocols)
    bad = [p for p in out if p not in PROTOCOLS]
    if bad or not out or len(set(out)) < len(out):
        raise ParameterError(f"The 'protocols' parameter of {owner} must list one or both of {list(PROTOCOLS)} "
                             f"without repeats. Got {list(protocols)!r} instead.")
    return tuple(p for p in PROTOCOLS if p in out)


def _differential_rule(result: Any) -> DifferentialSelector:
    """The differential stage's rule with the settings of its result (every setting the selector shares)."""
    params = dict(getattr(result, "parameters", {}) or {})
    own = DifferentialSelector().get_params()
    return DifferentialSelector(**{k: params[k] for k in own if k in params and k != "random_state"})


def _candidates(features: pd.DataFrame, names: Any, what: str, set_name: str) -> list[str]:
    names = [str(n) for n in names]
    missing = [n for n in names if n not in features.columns]
    if missing:
        raise InputError(
            f"Feature set {set_name!r} (nested protocol): {len(missing)} feature(s) that {what} are not columns of the "
            f"feature table ({format_names(missing)}); the selection inside each split needs all of them.")
    return names


def _resolve_evaluations(
    features: pd.DataFrame,
    feature_sets: Mapping[str, Any] | None,
    sets: dict[str, list[str]],
    protocols: tuple[str, ...],
) -> tuple[list[_Evaluation], dict[str, str]]:
    """The evaluations of every feature set under the requested protocols, and why a set has only one.

    A differential result gives the nested protocol its rule (:class:`DifferentialSelector` with
    the stage's settings, over the features the stage tested); a module result gives
    :class:`ModuleSelector` (its similarity matrix and threshold, the differential rule of the
    first differential result among the sets, else the stage's defaults). A plain list of
    names says nothing about how it was chosen: it is evaluated as given (``paper``).
    """
    from ..differential.stage import DifferentialResult
    from ..module.stage import ModuleResult

    specs = dict(feature_sets or {})
    specs = {str(k): v for k, v in specs.items()}
    diff_results = [v for v in specs.values() if isinstance(v, DifferentialResult)]
    notes: dict[str, str] = {}
    out: list[_Evaluation] = []
    for name, cols in sets.items():
        spec = specs.get(name)
        selector, pool, rule = None, None, ""
        if isinstance(spec, DifferentialResult):
            selector = _differential_rule(spec)
            pool = _candidates(features, spec.table.index, "the differential stage tested", name)
            rule = f"DifferentialSelector({_rule_text(selector)}) over the {len(pool)} feature(s) the stage tested"
        elif isinstance(spec, ModuleResult):
            matrix = spec.similarity_matrix
            mparams = spec.parameters or {}
            if not isinstance(matrix, pd.DataFrame) or matrix.empty:
                notes[name] = "module result without a similarity matrix: evaluated as given (paper protocol only)"
            elif mparams.get("beats_null_only"):
                notes[name] = ("module restricted to features that beat the association's permutation null: that "
                               "verdict comes from the expression cohort and is not refitted inside the splits, so the "
                               "set is evaluated as given (paper protocol only)")
            else:
                diff = _differential_rule(diff_results[0]) if diff_results else DifferentialSelector()
                settings = {**source_defaults("module"), **mparams}  # a hand-built result: the module stage's rule
                threshold, inclusive = float(settings["threshold"]), bool(settings["inclusive"])
                pool_src = diff_results[0].table.index if diff_results else [
                    c for c in features.columns if c in set(map(str, matrix.index))]
                pool = _candidates(features, pool_src, "the differential stage tested", name)
                selector = ModuleSelector(similarity=matrix, threshold=threshold, inclusive=inclusive, differential=diff,
                                          features=pool)
                source = "the differential result's rule" if diff_results else "the differential stage's defaults"
                rule = (f"ModuleSelector(similarity {'>=' if inclusive else '>'} {threshold:g}, differential: {_rule_text(diff)}, {source}) over "
                        f"{len(pool)} candidate feature(s)")
        else:
            notes[name] = ("a fixed list of features (how it was chosen is not known here): evaluated as given (paper "
                           "protocol only); pass the differential or module result for the nested protocol")
        if selector is not None:
            (selector.differential if isinstance(selector, ModuleSelector) else selector)._check_params()
        for protocol in protocols:
            if protocol == "paper":
                out.append(_Evaluation(name, "paper", list(cols), None, "as given (selected on all patients)"))
            elif selector is not None:
                out.append(_Evaluation(name, "nested", list(pool), selector, rule))
        if selector is None and "paper" not in protocols:
            raise InputError(
                f"Feature set {name!r}: {notes.get(name, 'no selection rule')}; with protocols={list(protocols)} "
                "nothing would be computed for it. Add 'paper' to the protocols or give the upstream result.")
    return out, notes


def _rule_text(sel: DifferentialSelector) -> str:
    return f"{sel.select_by} < {sel.threshold:g}, Mann-Whitney {sel.method}"


# --------------------------------------------------------------------------------------------
# the batch engine
# --------------------------------------------------------------------------------------------
def _rule_of(ev: _Evaluation) -> tuple[str, DifferentialSelector]:
    """The differential rule an evaluation's selector applies, and a key shared by equal rules on equal pools."""
    sel = ev.selector
    rule = sel.differential if isinstance(sel, ModuleSelector) else sel
    rule = DifferentialSelector() if rule is None else rule
    params = {k: v for k, v in rule.get_params().items() if k != "random_state"}
    return joblib.hash((params, ev.columns)), rule


def _select(ev: _Evaluation, key: str, rule: DifferentialSelector, Xtr: np.ndarray, pos: np.ndarray, seed: int,
            done: set[str]) -> np.ndarray:
    """Fit an evaluation's selector on a training part; the differential fit is shared by equal rules."""
    if key not in done:  # the module's differential step is the differential set's selection: fit it once
        rule.random_state = seed
        rule._fit_arrays(Xtr, pos)
        done.add(key)
    sel = ev.selector
    sel.random_state = seed
    if isinstance(sel, ModuleSelector):
        return sel._fit_from(rule, Xtr.shape[1]).support_
    return rule.support_


def _run_batch(
    X: np.ndarray,
    y: np.ndarray,
    evaluations: list[_Evaluation],
    columns: list[np.ndarray],
    estimators: dict[str, BaseEstimator],
    seeds: np.ndarray,
    test_size: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluate a batch of splits: metrics (n_seeds, n_evaluations, n_clf, 4), warning flags, features used."""
    groups = _prefix_groups(estimators)
    rules: dict[str, DifferentialSelector] = {}
    rule_keys = []
    for ev in evaluations:
        if ev.selector is None:
            rule_keys.append("")
            continue
        key, rule = _rule_of(ev)
        rules.setdefault(key, clone(rule))
        rule_keys.append(key)
    n_clf, n_ev = len(estimators), len(evaluations)
    out = np.full((len(seeds), n_ev, n_clf, len(METRICS)), np.nan)
    warn = np.zeros((len(seeds), n_ev, n_clf), dtype=bool)
    n_used = np.zeros((len(seeds), n_ev), dtype=np.int32)
    with threadpool_limits(limits=1), sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        for b, split_seed in enumerate(seeds):
            rs = int(split_seed)
            train, test = _split(y, test_size, np.random.default_rng(rs))
            ytr, yte = y[train], y[test]
            done: set[str] = set()
            for e, (ev, cols) in enumerate(zip(evaluations, columns)):
                Xtr, Xte = X[np.ix_(train, cols)], X[np.ix_(test, cols)]
                if ev.selector is not None:
                    key = rule_keys[e]
                    support = _select(ev, key, rules[key], Xtr, ytr == 1, rs, done)
                    n_used[b, e] = int(support.sum())
                    if not support.any():
                        out[b, e] = _no_feature_metrics(ytr, yte)
                        continue
                    Xtr, Xte = Xtr[:, support], Xte[:, support]
                else:
                    n_used[b, e] = len(cols)
                scored, scores, preds = [], [], []
                for steps, seed_prefix, members in groups:
                    seed_prefix(rs)
                    Ztr, Zte = Xtr, Xte
                    for step in steps:
                        if isinstance(step, BaseEstimator):
                            Ztr = step.fit_transform(Ztr, ytr)
                            Zte = step.transform(Zte)
                        else:  # an exact fast path (._fast)
                            Ztr, Zte = step(Ztr, Zte)
                    for m in members:
                        with warnings.catch_warnings(record=True) as caught:
                            warnings.simplefilter("always", ConvergenceWarning)
                            score = pred = None
                            if m.fast is not None:
                                try:
                                    score, pred = m.fast(Ztr, ytr, Zte, rs)
                                except _UnsupportedFitError:
                                    caught.clear()
                            if score is None:
                                m.seed(rs)
                                m.final.fit(Ztr, ytr)
                                if m.kind == "decision":
                                    score = np.asarray(m.final.decision_function(Zte), dtype=float)
                                    pred = score > 0
                                else:
                                    proba = m.final.predict_proba(Zte)
                                    score = proba[:, 1]
                                    pred = proba[:, 1] > proba[:, 0]
                        others = [w for w in caught if not issubclass(w.category, ConvergenceWarning)]
                        warn[b, e, m.index] = len(others) < len(caught)
                        for w in others:
                            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
                        scored.append(m.index)
                        scores.append(score)
                        preds.append(pred)
                out[b, e, scored] = _metrics_many(yte, scores, preds)
    return out, warn, n_used


@dataclass
class SplitResult:
    """Result of :func:`repeated_splits`.

    Attributes
    ----------
    splits
        One row per split, feature set, protocol and classifier: ``split``, ``seed``,
        ``feature_set``, ``protocol``, ``classifier``, ``n_features`` (features the model used
        in that split; 0 when the nested selection chose none), ``auc``, ``accuracy``,
        ``sensitivity``, ``specificity``, ``convergence_warning`` (the fit hit its iteration
        limit).
    summary
        One row per feature set, protocol and classifier: ``feature_set``, ``protocol``,
        ``classifier``, ``n_splits``, ``n_candidates`` (features the selection chose from: the
        set itself for ``paper``), ``n_features`` (mean features used per split),
        ``n_features_min``, ``n_features_max``, ``n_empty_selections`` (splits whose nested
        selection chose nothing: scored as the model without features, AUC 0.5, and counted
        in every statistic), for each metric ``<metric>_mean``, ``<metric>_sd``,
        ``<metric>_low`` (2.5th percentile) and ``<metric>_high`` (97.5th),
        ``auc_best_split_optimistic`` (the largest split AUC: what a paper reporting its best
        split shows; not an estimate), ``best_split``, and ``n_convergence_warnings``.
    comparison
        Paired comparisons on the same splits, per classifier: every pair of feature sets
        under the same protocol, and each set's ``paper`` against its ``nested`` evaluation
        (``difference_mean`` is then the paper protocol's inflation): ``classifier``,
        ``feature_set_a``, ``protocol_a``, ``feature_set_b``, ``protocol_b``, ``auc_mean_a``,
        ``auc_mean_b``, ``difference_mean`` (a - b), ``difference_low`` /
        ``difference_high`` (2.5th / 97.5th percentile of the per-split differences),
        ``fraction_a_better``, ``fraction_ties``, ``n_splits``. The splits share patients, so
        the percentile range describes the spread of the difference; it is not a confidence
        interval of its mean.
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


def _summarise(splits: pd.DataFrame, n_candidates: dict[tuple[str, str], int]) -> pd.DataFrame:
    rows = []
    for (fs, protocol, clf), g in splits.groupby(["feature_set", "protocol", "classifier"], sort=False):
        used = g["n_features"].to_numpy()
        row: dict[str, Any] = {
            "feature_set": fs, "protocol": protocol, "classifier": clf, "n_splits": len(g),
            "n_candidates": n_candidates[(fs, protocol)], "n_features": float(used.mean()),
            "n_features_min": int(used.min()), "n_features_max": int(used.max()),
            "n_empty_selections": int((used == 0).sum()),
        }
        for m in METRICS:
            v = g[m].to_numpy(dtype=float)
            v = v[np.isfinite(v)]
            row[f"{m}_mean"] = float(v.mean()) if v.size else np.nan
            row[f"{m}_sd"] = float(v.std(ddof=1)) if v.size > 1 else np.nan
            lo, hi = np.percentile(v, [2.5, 97.5]) if v.size else (np.nan, np.nan)
            row[f"{m}_low"], row[f"{m}_high"] = float(lo), float(hi)
        auc = g["auc"].to_numpy(dtype=float)
        best = int(np.nanargmax(auc)) if np.isfinite(auc).any() else -1
        row["auc_best_split_optimistic"] = float(auc[best]) if best >= 0 else np.nan
        row["best_split"] = int(g["split"].iloc[best]) if best >= 0 else -1
        row["n_convergence_warnings"] = int(g["convergence_warning"].sum())
        rows.append(row)
    return pd.DataFrame(rows)


COMPARISON_COLUMNS = ["classifier", "feature_set_a", "protocol_a", "feature_set_b", "protocol_b", "auc_mean_a",
                      "auc_mean_b", "difference_mean", "difference_low", "difference_high", "fraction_a_better",
                      "fraction_ties", "n_splits"]


def _compare(splits: pd.DataFrame, keys: list[tuple[str, str]], clf_names: list[str]) -> pd.DataFrame:
    pairs = [(a, b) for i, a in enumerate(keys) for b in keys[i + 1:] if a[1] == b[1]]
    pairs += [((fs, "paper"), (fs, "nested")) for fs, p in keys if p == "paper" and (fs, "nested") in keys]
    rows = []
    if not pairs:
        return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    auc = {k: g.set_index(["classifier", "split"])["auc"] for k, g in splits.groupby(["feature_set", "protocol"],
                                                                                   sort=False)}
    for clf in clf_names:
        for a, b in pairs:
            va, vb = auc[a].loc[clf].to_numpy(dtype=float), auc[b].loc[clf].to_numpy(dtype=float)
            d = va - vb
            ok = np.isfinite(d)
            d = d[ok]
            lo, hi = np.percentile(d, [2.5, 97.5]) if d.size else (np.nan, np.nan)
            rows.append({
                "classifier": clf, "feature_set_a": a[0], "protocol_a": a[1], "feature_set_b": b[0],
                "protocol_b": b[1], "auc_mean_a": float(va[ok].mean()), "auc_mean_b": float(vb[ok].mean()),
                "difference_mean": float(d.mean()), "difference_low": float(lo), "difference_high": float(hi),
                "fraction_a_better": float((d > 0).mean()), "fraction_ties": float((d == 0).mean()),
                "n_splits": int(d.size),
            })
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def repeated_splits(
    features: pd.DataFrame,
    labels: pd.Series,
    *,
    feature_sets: Mapping[str, Sequence[str] | Any] | None = None,
    classifiers: Sequence[str] | Mapping[str, BaseEstimator] | None = None,
    protocols: Sequence[str] = PROTOCOLS,
    n_splits: int = 1000,
    test_size: float = 0.3,
    seed: int = 0,
    n_jobs: int = 1,
    batch_size: int | None = None,
    show_progress: bool | None = None,
) -> SplitResult:
    """Evaluate classifiers on repeated stratified random train/test splits, under both protocols.

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
    protocols
        ``"paper"``: each set's features as given (an upstream result's selection on *all*
        patients, as the paper did; the test part of every split took part in choosing them);
        ``"nested"``: the selection is repeated inside the training part of every split
        (:class:`~radiogenomics.differential.DifferentialSelector`,
        :class:`~radiogenomics.module.ModuleSelector`), the honest estimate. The nested
        protocol needs the upstream result (a differential or module result); a plain list is
        evaluated as given.
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
        Results do not depend on it.
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
    protocols = _check_protocols(protocols, owner)
    features = check_table(features, name="features", min_rows=4)
    labels = check_labels(labels)
    features, labels = align_samples(features, labels)
    y = labels.to_numpy(dtype=np.int8)
    counts = np.bincount(y, minlength=2)
    if counts.min() < 2:
        raise InputError(f"labels: need at least 2 samples of each class for a stratified split; got {counts.tolist()}.")
    sets = _resolve_feature_sets(features, feature_sets)
    evaluations, notes = _resolve_evaluations(features, feature_sets, sets, protocols)
    for name, note in notes.items():
        log.info("feature set %r: %s", name, note)
    estimators = {k: _splits_variant(v) for k, v in _resolve_classifiers(classifiers, seed).items()}
    X = features.to_numpy(dtype=float)
    col_pos = {c: i for i, c in enumerate(features.columns)}
    columns = [np.array([col_pos[c] for c in ev.columns]) for ev in evaluations]
    seeds = split_seeds(n_splits, seed=seed)
    if batch_size is None:
        batch_size = int(min(100, max(1, math.ceil(n_splits / (8 * workers)))))
    batch_size = check_int(batch_size, "batch_size", owner=owner, min_value=1)
    batches = [seeds[i:i + batch_size] for i in range(0, n_splits, batch_size)]
    with timed(f"{n_splits} splits x {len(evaluations)} evaluation(s) (feature set x protocol) x {len(estimators)} "
               f"classifier(s) on {workers} worker(s)", logger=log):
        if workers == 1:
            results = [_run_batch(X, y, evaluations, columns, estimators, b, test_size)
                       for b in progress(batches, desc="splits", disable=_disable(show_progress))]
        else:
            tasks = (joblib.delayed(_run_batch)(X, y, evaluations, columns, estimators, b, test_size) for b in batches)
            gen = joblib.Parallel(n_jobs=workers, return_as="generator")(tasks)
            results = list(progress(gen, desc="splits", total=len(batches), disable=_disable(show_progress)))
    metrics = np.concatenate([r[0] for r in results])
    warn = np.concatenate([r[1] for r in results])
    used = np.concatenate([r[2] for r in results])
    clf_names = list(estimators)
    S, E, C = metrics.shape[:3]
    idx = np.indices((S, E, C)).reshape(3, -1)
    set_codes = {name: i for i, name in enumerate(sets)}
    splits = pd.DataFrame({
        "split": idx[0].astype(np.int32),
        "seed": seeds[idx[0]].astype(np.int64),
        "feature_set": np.array([ev.feature_set for ev in evaluations], dtype=object)[idx[1]],
        "protocol": np.array([ev.protocol for ev in evaluations], dtype=object)[idx[1]],
        "classifier": np.array(clf_names, dtype=object)[idx[2]],
        "n_features": used[idx[0], idx[1]],
    })
    for k, m in enumerate(METRICS):
        splits[m] = metrics[..., k].reshape(-1)
    splits["convergence_warning"] = warn.reshape(-1)
    # rows: feature set, then protocol, then split, then classifier (each evaluation's splits together)
    order = np.lexsort((idx[2], idx[0], [PROTOCOLS.index(evaluations[e].protocol) for e in idx[1]],
                        [set_codes[evaluations[e].feature_set] for e in idx[1]]))
    splits = splits.iloc[order].reset_index(drop=True)
    n_warn = int(warn.sum())
    if n_warn:
        per = splits.loc[splits["convergence_warning"]].groupby("classifier", sort=False).size()
        log.warning("%d fit(s) stopped at their iteration limit (ConvergenceWarning): %s; "
                    "see column 'convergence_warning'", n_warn, per.to_dict())
    n_empty = {(ev.feature_set, ev.protocol): int((used[:, e] == 0).sum()) for e, ev in enumerate(evaluations)}
    for (fs, protocol), n in n_empty.items():
        if n:
            log.info("feature set %r (%s): the selection chose no feature in %d of %d split(s); those splits are "
                     "scored as the model without features (AUC 0.5) and counted", fs, protocol, n, n_splits)
    summary = _summarise(splits, {(ev.feature_set, ev.protocol): len(ev.columns) for ev in evaluations})
    comparison = _compare(splits, [(ev.feature_set, ev.protocol) for ev in evaluations], clf_names)
    params = {"n_splits": n_splits, "test_size": test_size, "seed": seed, "n_jobs": n_jobs,
              "batch_size": batch_size, "protocols": list(protocols),
              "feature_sets": {k: v for k, v in sets.items()},
              "evaluations": [{"feature_set": ev.feature_set, "protocol": ev.protocol, "n_candidates": len(ev.columns),
                               "selection": ev.rule} for ev in evaluations],
              "protocol_notes": notes,
              "classifiers": {k: repr(v) for k, v in estimators.items()}}
    return SplitResult(splits=splits, summary=summary, comparison=comparison, parameters=params)


def _disable(show_progress: bool | None) -> bool | None:
    return None if show_progress is None else not show_progress
