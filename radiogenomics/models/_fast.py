"""Exact fast paths of the split engine: scikit-learn's own numbers without its per-call overhead.

At a few hundred patients the cost of a scikit-learn fit is mostly input validation, not
arithmetic: ``check_classification_targets`` alone takes longer than growing a decision tree,
and a random forest repeats it (with ``clone``, ``set_params`` and ``get_params``) for each of
its trees. 10,000 splits x 4 feature-set evaluations x 7 classifiers make that the whole
budget. For the estimators below the engine therefore runs the same computation without the
checks (its inputs are already validated: finite float64 arrays, two classes):

- :class:`~sklearn.tree.DecisionTreeClassifier` and
  :class:`~sklearn.ensemble.RandomForestClassifier`: with the Gini criterion and the best
  splitter (the defaults), compiled trees that replay scikit-learn's builder node for node
  (:mod:`radiogenomics.models._forest`: its random stream, feature draws, tie rule and leaf rules,
  with the samples sorted once per forest instead of once per node and feature), a whole forest
  in one call; otherwise scikit-learn's own Cython tree builder, criterion and splitter
  (imported from ``sklearn.tree._classes``, the objects its ``_fit`` uses; one set of them
  serves every tree of a forest, re-initialised by each build). Both take the same float32 data,
  seeds and bootstrap draws (the same MT19937 words, drawn in one block) and average the
  forest's probabilities in the same order;
- :class:`~sklearn.svm.SVC` (ranked by its decision function): the same ``libsvm.fit`` and
  ``libsvm.decision_function`` calls with the same arguments and seed; a fit that libsvm stops
  early (which scikit-learn reports with a warning) is redone through scikit-learn;
- :class:`~sklearn.linear_model.LogisticRegression` (L-BFGS, L2) and
  :class:`~sklearn.neural_network.MLPClassifier` (L-BFGS): the loss and gradient of
  ``LinearModelLoss`` / ``MLPClassifier._backprop`` (the same operations on the same arrays:
  scikit-learn's ``HalfBinomialLoss``, activations and initialisation) minimised by SciPy's own
  L-BFGS-B iteration (``_lbfgsb.setulb``, the loop of ``scipy.optimize.minimize`` without its
  wrappers, :func:`_lbfgs`); the MLP's ``ConvergenceWarning`` and the logistic regression's are
  raised as scikit-learn raises them, and counted as usual;
- :class:`~sklearn.neighbors.KNeighborsClassifier` (uniform weights, Euclidean): the ``KDTree``
  or brute-force ``ArgKmin`` search that ``algorithm="auto"`` picks, and the same vote;
- :class:`~sklearn.naive_bayes.GaussianNB`: the same means, variances, smoothing and joint
  log-likelihood (scikit-learn's own ``_joint_log_likelihood`` and ``_logsumexp``);
- :class:`~sklearn.preprocessing.StandardScaler` (the shared prefix of every pipeline):
  scikit-learn's own ``_incremental_mean_and_var`` and zero-scale handling.

Only default-like configurations are taken (no class or sample weights, no pruning, no
monotonic constraints...); anything else goes through scikit-learn. Before a fast path is used
in a process it is checked once against the estimator it replaces on small problems with ties
(one with more than 15 features, where k-NN searches by brute force): the scores must be
bit-identical (``numpy.array_equal``), otherwise the engine logs a warning and uses scikit-learn. The tests check the same on the engine's own splits.
"""

from __future__ import annotations

import copy
import numbers
import threading
import warnings
from collections.abc import Callable
from math import ceil
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone

from .._logging import get_logger

__all__ = ["fast_scorer", "fast_transformer"]

log = get_logger(__name__)

#: A fast path: ``(X_train, y_train, X_test, random_state) -> (score, predicted)`` on the test rows, where
#: ``score`` is ``predict_proba(X_test)[:, 1]`` (``decision_function`` for an SVC) and ``predicted`` is
#: the predicted class (``proba[:, 1] > proba[:, 0]``, ``decision > 0``), as the split engine scores them.
Scorer = Callable[[np.ndarray, np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]]
#: A fast transformer: ``(X_train, X_test) -> (fit_transform(X_train), transform(X_test))``.
Transformer = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

_MAX_INT = np.iinfo(np.int32).max
_NO_DEPTH_LIMIT = np.iinfo(np.int32).max
_local = threading.local()


def _seeded(seed: int) -> np.random.RandomState:
    """A RandomState in the state of ``RandomState(seed)`` (what ``check_random_state(seed)`` returns).

    Constructing a ``RandomState`` first seeds it from the OS through a ``SeedSequence`` (about
    0.1-0.3 ms); re-seeding one per thread gives the same state (the tests compare
    ``get_state()``) in microseconds. A tree needs two per fit, a forest 60.
    """
    rs = getattr(_local, "rs", None)
    if rs is None:
        rs = _local.rs = np.random.RandomState()
    rs.seed(seed)
    return rs


def _randint(rs: np.random.RandomState, high: int, size: int) -> np.ndarray:
    """``rs.randint(0, high, size)`` (int64), from the same 32-bit words of its MT19937.

    NumPy's legacy bounded draw for a range below 2**32 takes one 32-bit word per try, masks it
    to the smallest covering power of two and rejects values above ``high - 1``; here the words
    come in one block (``random_raw``), which leaves ``rs`` further advanced than ``randint``
    would: only for generators thrown away after the draw (the forest's seeds, a tree's
    bootstrap). Checked against ``randint`` once per process; ``randint`` itself otherwise.
    """
    if not _DRAWS_OK.get("ok", False) or not 1 < high <= 2**32:
        return rs.randint(0, high, size)
    top = high - 1
    mask = (1 << top.bit_length()) - 1
    bits = rs._bit_generator
    v = bits.random_raw(size + 8 + size // 4) & mask
    v = v[v <= top]
    while v.size < size:
        w = bits.random_raw(size) & mask
        v = np.concatenate([v, w[w <= top]])
    return v[:size].astype(np.int64)


def _check_randint() -> None:
    try:
        _DRAWS_OK["ok"] = True
        ok = all(np.array_equal(_randint(np.random.RandomState(seed), high, size),
                                np.random.RandomState(seed).randint(0, high, size))
                 for seed in (0, 1, 12345, 2**31 - 2, 2**32 - 1)
                 for high, size in ((224, 224), (_MAX_INT, 30), (7, 50), (256, 300), (2, 10), (2**32, 5), (3, 1)))
    except Exception:  # noqa: BLE001 - a NumPy without these internals: use randint
        ok = False
    _DRAWS_OK["ok"] = ok


_DRAWS_OK: dict[str, bool] = {}


def _unique(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(y, return_inverse=True)`` for 1-d labels; two classes (the split engine's case) without sorting."""
    if y.ndim == 1 and y.size and y.dtype.kind in "biu":
        lo, hi = y.min(), y.max()
        high = y == hi
        if lo != hi and (high | (y == lo)).all():
            return np.array([lo, hi], dtype=y.dtype), high.astype(np.intp)
    return np.unique(y, return_inverse=True)


def _from_proba(proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return proba[:, 1], proba[:, 1] > proba[:, 0]


# --------------------------------------------------------------------------------------------
# trees
# --------------------------------------------------------------------------------------------
def _tree_ok(p: dict[str, Any]) -> bool:
    from sklearn.tree import _classes as tc

    return (p.get("criterion") in tc.CRITERIA_CLF and p.get("splitter", "best") in tc.DENSE_SPLITTERS
            and p.get("max_leaf_nodes") is None and p.get("ccp_alpha", 0.0) == 0.0
            and p.get("class_weight") is None and p.get("monotonic_cst") is None
            and (p.get("max_depth") is None or isinstance(p.get("max_depth"), numbers.Integral)))


def _max_features(value: Any, n_features: int) -> int:
    if isinstance(value, str):
        if value == "sqrt":
            return max(1, int(np.sqrt(n_features)))
        if value == "log2":
            return max(1, int(np.log2(n_features)))
        raise ValueError(value)
    if value is None:
        return n_features
    if isinstance(value, numbers.Integral):
        return int(value)
    return max(1, int(value * n_features)) if value > 0.0 else 0


def _settings(p: dict[str, Any], n_samples: int, n_features: int, total_weight: float) -> dict[str, Any]:
    """The builder's settings as ``BaseDecisionTree._fit`` resolves them (the compiled trees and ``_grower``)."""
    msl = p["min_samples_leaf"]
    min_samples_leaf = msl if isinstance(msl, numbers.Integral) else ceil(msl * n_samples)
    mss = p["min_samples_split"]
    min_samples_split = mss if isinstance(mss, numbers.Integral) else max(2, ceil(mss * n_samples))
    return {"max_features": _max_features(p["max_features"], n_features), "min_samples_leaf": int(min_samples_leaf),
            "min_samples_split": int(max(min_samples_split, 2 * min_samples_leaf)),
            "min_weight_leaf": p["min_weight_fraction_leaf"] * total_weight,
            "max_depth": _NO_DEPTH_LIMIT if p["max_depth"] is None else int(p["max_depth"]),
            "min_impurity_decrease": float(p["min_impurity_decrease"])}


def _grower(p: dict[str, Any], n_samples: int, n_features: int, total_weight: float) -> Callable[..., Any]:
    """Trees exactly as ``BaseDecisionTree._fit(..., check_input=False)`` grows them (float32 ``X``, 2-D ``y``).

    The criterion, splitter and builder of ``_fit`` are made once for every tree of a forest (same
    settings: the bootstrap weights of a forest always sum to ``n_samples``): each ``build``
    re-initialises them (the splitter draws its seed from its ``random_state`` in ``init``, and
    that is the per-thread RandomState, re-seeded to the tree's seed before each build). Only the
    ``Tree`` is new per tree. Returns ``grow(X, y, sample_weight, seed) -> Tree``.
    """
    from sklearn.tree import _classes as tc

    n_classes = np.array([2], dtype=np.intp)
    kw = _settings(p, n_samples, n_features, total_weight)
    min_samples_leaf, min_weight_leaf = kw["min_samples_leaf"], kw["min_weight_leaf"]
    criterion = tc.CRITERIA_CLF[p["criterion"]](1, n_classes)
    rng = _seeded(0)
    splitter = tc.DENSE_SPLITTERS[p.get("splitter", "best")](
        criterion, kw["max_features"], min_samples_leaf, min_weight_leaf, rng, None)
    builder = tc.DepthFirstTreeBuilder(splitter, kw["min_samples_split"], min_samples_leaf, min_weight_leaf,
                                       kw["max_depth"], kw["min_impurity_decrease"])
    Tree = tc.Tree

    def grow(X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None, seed: int) -> Any:
        rng.seed(seed)  # = check_random_state(seed) of _fit (see _seeded)
        tree = Tree(n_features, n_classes, 1)
        builder.build(tree, X, y, sample_weight, None)
        return tree

    return grow


#: The compiled trees re-partition every feature at each split, scikit-learn's builder sorts the
#: drawn ones: above this many features per drawn feature the Cython builder is the faster one
#: (measured: 2.2x faster with 24 features of which 4 drawn, 1.5x with 86 / 9, 0.9x with 256 / 16).
_COMPILED_MAX_FEATURE_RATIO = 12


def _compiled_ok(p: dict[str, Any], X: np.ndarray, X_test: np.ndarray) -> bool:
    """Whether the compiled Gini trees of :mod:`._forest` apply (and are the faster builder): Gini,
    best splitter, finite data, not much wider than the features drawn per split."""
    from . import _forest

    d = X.shape[1]
    return (_forest.AVAILABLE and p.get("criterion") == "gini" and p.get("splitter", "best") == "best"
            and d <= _COMPILED_MAX_FEATURE_RATIO * max(1, _max_features(p["max_features"], d))
            and bool(np.isfinite(X).all()) and bool(np.isfinite(X_test).all()))


def _decision_tree(p: dict[str, Any]) -> Scorer:
    def score(Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray, random_state: int) -> np.ndarray:
        target = ytr == _unique(ytr)[0][1]
        X = np.asarray(Xtr, dtype=np.float32)
        Xt = np.asarray(Xte, dtype=np.float32)
        if _compiled_ok(p, X, Xt):
            from . import _forest

            n = X.shape[0]
            return _from_proba(_forest.grow_and_predict(
                X, target, np.ones((1, n)), _forest.splitter_states([int(random_state)]), Xt,
                **_settings(p, n, X.shape[1], n)))
        y = np.ascontiguousarray(target.reshape(-1, 1), dtype=np.float64)
        tree = _grower(p, X.shape[0], X.shape[1], X.shape[0])(X, y, None, int(random_state))
        return _from_proba(tree.predict(Xt)[:, :2])

    return score


def _bootstrap_counts(seed: int, n: int) -> np.ndarray:
    """A tree's bootstrap as ``_parallel_build_trees`` weights it: the counts of ``randint(0, n, n)``, float64."""
    return np.bincount(_randint(_seeded(seed), n, n), minlength=n).astype(np.float64)


def _random_forest(p: dict[str, Any]) -> Scorer:
    n_trees = int(p["n_estimators"])
    bootstrap = bool(p["bootstrap"])

    def score(Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray, random_state: int) -> np.ndarray:
        X = np.asarray(Xtr, dtype=np.float32)
        Xt = np.asarray(Xte, dtype=np.float32)
        target = ytr == _unique(ytr)[0][1]
        n = X.shape[0]
        if "ok" not in _DRAWS_OK:
            _check_randint()
        # _set_random_states: one randint(_MAX_INT) per tree, in order
        seeds = _randint(_seeded(int(random_state)), _MAX_INT, n_trees).tolist()
        if _compiled_ok(p, X, Xt):  # every tree in one compiled call
            from . import _forest

            weights = (np.array([_bootstrap_counts(s, n) for s in seeds]) if bootstrap else np.ones((n_trees, n)))
            proba = _forest.grow_and_predict(X, target, weights, _forest.splitter_states(seeds), Xt,
                                             **_settings(p, n, X.shape[1], n))
            proba /= n_trees
            return _from_proba(proba)
        y = np.ascontiguousarray(target.reshape(-1, 1), dtype=np.float64)
        grow = _grower(p, n, X.shape[1], n)  # bootstrap counts sum to n
        proba = np.zeros((Xt.shape[0], 2), dtype=np.float64)
        for s in seeds:
            weight = _bootstrap_counts(s, n) if bootstrap else None
            proba += grow(X, y, weight, s).predict(Xt)[:, :2]
        proba /= n_trees
        return _from_proba(proba)

    return score


# --------------------------------------------------------------------------------------------
# Gaussian naive Bayes
# --------------------------------------------------------------------------------------------
def _gaussian_nb(est: BaseEstimator) -> Scorer:
    from sklearn.utils._array_api import _logsumexp, get_namespace

    smoothing = float(est.var_smoothing)
    template = clone(est)

    def score(Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray, random_state: int) -> np.ndarray:
        X = np.asarray(Xtr, dtype=np.float64)
        classes = _unique(ytr)[0]
        theta = np.zeros((2, X.shape[1]))
        var = np.zeros((2, X.shape[1]))
        count = np.zeros(2)
        epsilon = smoothing * np.max(np.var(X, axis=0))
        for i, c in enumerate(classes):
            Xi = X[ytr == c]
            var[i, :] = np.var(Xi, axis=0)
            theta[i, :] = np.mean(Xi, axis=0)
            count[i] += Xi.shape[0]
        var[:, :] += epsilon
        nb = copy.copy(template)
        nb.classes_, nb.theta_, nb.var_, nb.class_prior_ = classes, theta, var, count / np.sum(count)
        Xt = np.asarray(Xte, dtype=np.float64)
        jll = nb._joint_log_likelihood(Xt)
        xp, _ = get_namespace(Xt)
        log_prob = jll - np.atleast_2d(_logsumexp(jll, axis=1, xp=xp)).T
        return _from_proba(np.exp(log_prob))

    return score


# --------------------------------------------------------------------------------------------
# SVC (ranked by its decision function in the split loop)
# --------------------------------------------------------------------------------------------
def _svc(est: BaseEstimator) -> Scorer:
    from sklearn.svm import _libsvm

    p = est.get_params(deep=False)
    kernel, gamma = p["kernel"], p["gamma"]
    common = {"kernel": kernel, "degree": p["degree"], "cache_size": p["cache_size"], "coef0": p["coef0"]}
    nu, epsilon = float(est.nu), float(est.epsilon)

    def score(Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray, random_state: int) -> tuple[np.ndarray, np.ndarray]:
        X = np.ascontiguousarray(Xtr, dtype=np.float64)
        classes, y = _unique(ytr)
        y = np.asarray(y, dtype=np.float64, order="C")
        if gamma == "scale":
            var = X.var()
            g = 1.0 / (X.shape[1] * var) if var != 0 else 1.0
        elif gamma == "auto":
            g = 1.0 / X.shape[1]
        else:
            g = float(gamma)
        seed = _seeded(int(random_state)).randint(np.iinfo("i").max)
        _libsvm.set_verbosity_wrap(int(p["verbose"]))
        support, sv, n_support, dual_coef, intercept, prob_a, prob_b, status, _ = _libsvm.fit(
            X, y, svm_type=0, sample_weight=np.asarray([], dtype=np.float64), class_weight=np.ones(classes.size),
            C=p["C"], nu=nu, probability=False, shrinking=p["shrinking"], tol=p["tol"], gamma=g, epsilon=epsilon,
            max_iter=p["max_iter"], random_seed=seed, **common)
        if status != 0:
            raise _UnsupportedFitError("libsvm stopped early")  # the caller refits through scikit-learn (it warns)
        dec = _libsvm.decision_function(np.ascontiguousarray(Xte, dtype=np.float64), support, sv, n_support,
                                        dual_coef, intercept, prob_a, prob_b, svm_type=0, gamma=g, **common)
        dec = -dec.ravel()  # scikit-learn flips the sign for two classes
        return dec, dec > 0

    return score


class _UnsupportedFitError(Exception):
    """This fit must go through scikit-learn (e.g. it would warn)."""


def _as_result(fg: tuple[Any, Any]) -> tuple[Any, np.ndarray]:
    """What ``ScalarFunction`` makes of ``fun(x)``: a scalar value and a 1-d gradient."""
    f, g = fg
    if not np.isscalar(f):
        f = np.asarray(f).item()
    return f, np.atleast_1d(g)


# --------------------------------------------------------------------------------------------
# L-BFGS-B: scipy's own ``setulb`` iteration, without the wrappers of ``scipy.optimize.minimize``
# --------------------------------------------------------------------------------------------
def _lbfgs(fun: Callable[[np.ndarray], tuple[Any, np.ndarray]], x0: np.ndarray, *, maxiter: int, maxfun: int = 15000,
           gtol: float = 1e-5, ftol: float = 2.2204460492503131e-09, maxls: int = 20,
           maxcor: int = 10) -> tuple[np.ndarray, Any, int, int, str]:
    """``minimize(fun, x0, method="L-BFGS-B", jac=True, options=...)`` without bounds, step for step.

    The loop of ``scipy.optimize._lbfgsb_py._minimize_lbfgsb`` (the same ``_lbfgsb.setulb`` calls on
    the same work arrays) with the memoisation of its ``ScalarFunction`` (an evaluation at the
    starting point, then one per new ``x``; ``fun`` gets a copy of ``x``), without the per-call
    wrappers (a quarter of an MLP fit here). Returns ``x``, ``f``, ``status`` (0 converged, 1
    iteration or evaluation limit, 2 other), ``nit`` and the message, as ``OptimizeResult`` holds them.
    """
    from scipy.optimize import _lbfgsb
    from scipy.optimize._lbfgsb_py import status_messages, task_messages

    m = maxcor
    factr = ftol / np.finfo(float).eps
    x = np.array(np.asarray(x0).ravel(), dtype=np.float64)
    n = x.size
    nbd = np.zeros(n, np.int32)
    low_bnd = np.zeros(n, np.float64)
    upper_bnd = np.zeros(n, np.float64)
    f: Any = np.array(0.0, dtype=np.float64)
    g = np.zeros((n,), dtype=np.float64)
    wa = np.zeros(2 * m * n + 5 * n + 11 * m * m + 8 * m, np.float64)
    iwa = np.zeros(3 * n, dtype=np.int32)
    task = np.zeros(2, dtype=np.int32)
    ln_task = np.zeros(2, dtype=np.int32)
    lsave = np.zeros(4, dtype=np.int32)
    isave = np.zeros(44, dtype=np.int32)
    dsave = np.zeros(29, dtype=np.float64)
    last_x = x.copy()  # ScalarFunction evaluates the starting point when it is built
    last = _as_result(fun(last_x.copy()))
    nfev = 1
    n_iterations = 0
    while True:
        g = g.astype(np.float64)
        _lbfgsb.setulb(m, x, low_bnd, upper_bnd, nbd, f, g, factr, gtol, wa, iwa, task, lsave, isave, dsave, maxls,
                       ln_task)
        if task[0] == 3:
            if not (x == last_x).all():  # np.array_equal (same shape)
                last_x = x.copy()
                last = _as_result(fun(last_x.copy()))
                nfev += 1
            f, g = last
        elif task[0] == 1:
            n_iterations += 1
            if n_iterations >= maxiter:
                task[0], task[1] = 5, 504
            elif nfev > maxfun:
                task[0], task[1] = 5, 502
        else:
            break
    if task[0] == 4:
        status = 0
    elif nfev > maxfun or n_iterations >= maxiter:
        status = 1
    else:
        status = 2
    return x, f, status, n_iterations, status_messages[task[0]] + ": " + task_messages[task[1]]


# --------------------------------------------------------------------------------------------
# logistic regression (L-BFGS, L2): scikit-learn's own loss and gradient, without the input checks
# --------------------------------------------------------------------------------------------
def _logistic(est: BaseEstimator) -> Scorer:
    """What ``_logistic_regression_path`` does for two classes, lbfgs, L2, no weights, one ``C``."""
    from scipy.optimize import OptimizeResult
    from scipy.special import expit
    from sklearn._loss.loss import HalfBinomialLoss
    from sklearn.linear_model._linear_loss import LinearModelLoss
    from sklearn.linear_model._logistic import _LOGISTIC_SOLVER_CONVERGENCE_MSG
    from sklearn.utils.optimize import _check_optimize_result

    p = est.get_params(deep=False)
    C, tol, max_iter = float(p["C"]), p["tol"], p["max_iter"]
    closs = LinearModelLoss(base_loss=HalfBinomialLoss(), fit_intercept=True).base_loss.closs
    ftol = 64 * np.finfo(float).eps

    def score(Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray, random_state: int) -> tuple[np.ndarray, np.ndarray]:
        X = np.ascontiguousarray(Xtr, dtype=np.float64)
        classes = _unique(ytr)[0]
        n_samples, n_features = X.shape
        w0 = np.zeros(n_features + 1, dtype=np.float64)
        target = np.ones(ytr.shape, dtype=X.dtype)
        target[~(ytr == classes[1])] = 0.0
        l2_reg_strength = 1.0 / (C * n_samples)

        def fun(coef: np.ndarray) -> tuple[float, np.ndarray]:
            """``LinearModelLoss.loss_gradient(coef, X, target, None, l2_reg_strength, 1)``, two classes."""
            weights, intercept = coef[:-1], coef[-1]
            raw_prediction = X @ weights + np.asarray(intercept, dtype=X.dtype)
            loss_out, grad_pointwise = np.empty_like(target), np.empty_like(raw_prediction)
            closs.loss_gradient(y_true=target, raw_prediction=raw_prediction, sample_weight=None, loss_out=loss_out,
                                gradient_out=grad_pointwise, n_threads=1)
            value = float(np.sum(loss_out) / n_samples)
            value += float(0.5 * l2_reg_strength * (weights @ weights))
            grad_pointwise /= n_samples
            grad = np.empty_like(coef, dtype=weights.dtype)
            grad[:n_features] = X.T @ grad_pointwise + l2_reg_strength * weights
            grad[-1] = np.sum(grad_pointwise)
            return value, grad

        w, _, status, nit, message = _lbfgs(fun, w0, maxiter=max_iter, gtol=tol, ftol=ftol, maxls=50)
        _check_optimize_result("lbfgs", OptimizeResult(status=status, nit=nit, message=message), max_iter,
                               extra_warning_msg=_LOGISTIC_SOLVER_CONVERGENCE_MSG)  # its ConvergenceWarning
        intercept, coef = w[-1:], w[:-1][None, :]
        prob = (np.asarray(Xte, dtype=np.float64) @ coef.T + intercept).reshape(-1)  # decision_function
        expit(prob, out=prob)
        return prob, prob > 1 - prob

    return score


# --------------------------------------------------------------------------------------------
# MLP (L-BFGS): scikit-learn's own initialisation and backpropagation, without the input checks
# --------------------------------------------------------------------------------------------
def _mlp_loss_grad(mlp: BaseEstimator, X: np.ndarray, y: np.ndarray,
                   layer_units: list[int]) -> Callable[[np.ndarray], tuple[Any, np.ndarray]]:
    """``mlp._loss_grad_lbfgs`` (``_unpack``, ``_backprop`` without sample weights, ``_pack``): the same
    operations on the same arrays, without the method dispatch."""
    from sklearn.neural_network._base import ACTIVATIONS, DERIVATIVES, LOSS_FUNCTIONS

    n_layers = len(layer_units)
    shapes, start = [], 0
    for i in range(n_layers - 1):
        end = start + layer_units[i] * layer_units[i + 1]
        shapes.append((start, end, (layer_units[i], layer_units[i + 1])))
        start = end
    bias = []
    for i in range(n_layers - 1):
        bias.append((start, start + layer_units[i + 1]))
        start += layer_units[i + 1]
    hidden = ACTIVATIONS[mlp.activation]
    output = ACTIVATIONS[mlp.out_activation_]
    derivative = DERIVATIVES[mlp.activation]
    loss_name = mlp.loss
    if loss_name == "log_loss" and mlp.out_activation_ == "logistic":
        loss_name = "binary_log_loss"
    loss_func = LOSS_FUNCTIONS[loss_name]
    if loss_name == "binary_log_loss" and y.dtype == bool:
        from scipy.special import xlogy

        eps = np.finfo(X.dtype).eps
        y_true, y_false = y.astype(np.float64), (1 - y).astype(np.float64)  # the values xlogy casts y and 1 - y to

        def loss_func(_: np.ndarray, y_prob: np.ndarray, sample_weight: None) -> Any:
            """``binary_log_loss(y, y_prob)`` (no weights): ``np.average(..., axis=0)`` is ``mean(axis=0)``."""
            y_prob = np.clip(y_prob, eps, 1 - eps)
            terms = xlogy(y_true, y_prob)
            terms += xlogy(y_false, 1 - y_prob)
            return -(np.add.reduce(terms, axis=0) / terms.shape[0])[0]  # mean(axis=0) of one column, .sum()

    if mlp.activation == "relu":
        def derivative(Z: np.ndarray, delta: np.ndarray) -> None:
            """``inplace_relu_derivative``: ``delta[Z == 0] = 0``."""
            np.putmask(delta, Z == 0, 0.0)

    alpha = mlp.alpha
    sw_sum = X.shape[0]
    y_float = y.astype(X.dtype) if y.dtype == bool else y  # activations - y casts y so
    last = n_layers - 2

    def fun(packed: np.ndarray) -> tuple[Any, np.ndarray]:
        coefs = [np.reshape(packed[a:b], shape) for a, b, shape in shapes]
        intercepts = [packed[a:b] for a, b in bias]
        activations = [X]
        for i in range(n_layers - 1):
            a = activations[i] @ coefs[i]
            a += intercepts[i]
            if (i + 1) != (n_layers - 1):
                hidden(a)
            activations.append(a)
        output(activations[-1])
        loss = loss_func(y, activations[-1], None)
        values = 0
        for s in coefs:
            s = s.ravel()
            values += np.dot(s, s)
        loss += (0.5 * alpha) * values / sw_sum
        coef_grads: list[Any] = [None] * (n_layers - 1)
        intercept_grads: list[Any] = [None] * (n_layers - 1)
        delta = activations[-1] - y_float
        for layer in range(last, -1, -1):
            if layer != last:
                delta = delta @ coefs[layer + 1].T
                derivative(activations[layer + 1], delta)
            grad = activations[layer].T @ delta
            grad += alpha * coefs[layer]
            grad /= sw_sum
            coef_grads[layer] = grad
            intercept_grads[layer] = np.add.reduce(delta, axis=0) / sw_sum  # np.sum(delta, axis=0)
        return loss, np.hstack([g.ravel() for g in coef_grads + intercept_grads])

    return fun


def _mlp(est: BaseEstimator) -> Scorer:
    from scipy.optimize import OptimizeResult
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils.optimize import _check_optimize_result

    template = clone(est)
    sizes = est.hidden_layer_sizes
    hidden = [int(h) for h in (sizes if hasattr(sizes, "__iter__") else [sizes])]
    binarizers: dict[tuple[Any, ...], Any] = {}

    def score(Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray, random_state: int) -> tuple[np.ndarray, np.ndarray]:
        X = np.asarray(Xtr, dtype=np.float64)
        classes = _unique(ytr)[0]
        key = tuple(classes.tolist())
        if key not in binarizers:
            binarizers[key] = LabelBinarizer().fit(classes)
        mlp = copy.copy(template)
        mlp._label_binarizer = binarizers[key]  # what _validate_input sets (fitted on the same two classes)
        mlp.classes_ = mlp._label_binarizer.classes_
        mlp.n_features_in_ = X.shape[1]
        y = (ytr == classes[1]).reshape(-1, 1)  # LabelBinarizer.transform(y).astype(bool)
        mlp.n_outputs_ = 1
        layer_units = [X.shape[1], *hidden, 1]
        mlp._random_state = _seeded(int(random_state))
        mlp._initialize(y, layer_units, X.dtype)
        packed = np.hstack([w.ravel() for w in mlp.coefs_ + mlp.intercepts_])  # _fit_lbfgs: _pack
        x, f, status, nit, message = _lbfgs(_mlp_loss_grad(mlp, X, y, layer_units), packed, maxiter=mlp.max_iter,
                                            maxfun=mlp.max_fun, gtol=mlp.tol)
        mlp.n_iter_ = _check_optimize_result("lbfgs", OptimizeResult(status=status, nit=nit, message=message),
                                             mlp.max_iter)  # its ConvergenceWarning, as scikit-learn's fit
        mlp.loss_ = f
        start = 0
        for i in range(len(layer_units) - 1):  # _unpack
            end = start + layer_units[i] * layer_units[i + 1]
            mlp.coefs_[i] = np.reshape(x[start:end], (layer_units[i], layer_units[i + 1]))
            start = end
        for i in range(len(layer_units) - 1):
            mlp.intercepts_[i] = x[start:start + layer_units[i + 1]]
            start += layer_units[i + 1]
        if not all(np.isfinite(w).all() for w in (*mlp.coefs_, *mlp.intercepts_)):
            raise _UnsupportedFitError("non-finite weights")  # scikit-learn raises its own error
        y_pred = mlp._forward_pass_fast(np.asarray(Xte, dtype=np.float64), check_input=False).ravel()
        return _from_proba(np.vstack([1 - y_pred, y_pred]).T)

    return score


# --------------------------------------------------------------------------------------------
# k nearest neighbours (uniform weights, Euclidean): scikit-learn's own neighbour searches
# --------------------------------------------------------------------------------------------
def _knn(est: BaseEstimator) -> Scorer:
    """``KNeighborsClassifier.fit`` + ``predict_proba`` for ``algorithm="auto"``, ``metric="minkowski"``,
    ``p=2``: the same choice between the ``KDTree`` (at most 15 features) and the brute-force
    ``ArgKminClassMode`` reduction, called with the same arguments, and the same vote."""
    from sklearn.metrics._pairwise_distances_reduction import ArgKmin, ArgKminClassMode
    from sklearn.neighbors import KDTree
    from sklearn.neighbors._classification import _adjusted_metric

    p = est.get_params(deep=False)
    k, leaf_size = int(p["n_neighbors"]), p["leaf_size"]

    def score(Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray, random_state: int) -> tuple[np.ndarray, np.ndarray]:
        X = np.ascontiguousarray(Xtr, dtype=np.float64)
        Xt = np.ascontiguousarray(Xte, dtype=np.float64)
        classes, labels = _unique(ytr)
        labels = labels.astype(np.intp, copy=False)
        n_fit = X.shape[0]
        if k > n_fit:
            raise _UnsupportedFitError("more neighbours than samples")  # scikit-learn raises its own error
        if X.shape[1] > 15 or k >= n_fit // 2:  # _fit: "auto" -> brute
            metric, metric_kwargs = _adjusted_metric(metric="minkowski", metric_kwargs=None, p=2)
            if ArgKminClassMode.is_usable_for(Xt, X, metric):  # predict_proba's reduction (not for "euclidean")
                proba = ArgKminClassMode.compute(Xt, X, k=k, weights="uniform", Y_labels=labels,
                                                 unique_Y_labels=np.arange(len(classes), dtype=np.intp), metric=metric,
                                                 metric_kwargs=metric_kwargs, strategy="parallel_on_X")
                return _from_proba(proba)
            if not ArgKmin.is_usable_for(Xt, X, "euclidean"):
                raise _UnsupportedFitError("no pairwise-distance reduction here")
            neighbours = ArgKmin.compute(X=Xt, Y=X, k=k, metric="euclidean", metric_kwargs={}, strategy="auto",
                                         return_distance=False)  # kneighbors
        else:
            neighbours = KDTree(X, leaf_size, metric="euclidean").query(Xt, k, return_distance=False)
        pred_labels = labels[neighbours]
        proba = np.zeros((Xt.shape[0], classes.size))
        rows = np.arange(Xt.shape[0])
        weights = np.ones_like(neighbours)
        for i, idx in enumerate(pred_labels.T):
            proba[rows, idx] += weights[:, i]
        proba /= proba.sum(axis=1)[:, np.newaxis]
        return _from_proba(proba)

    return score


# --------------------------------------------------------------------------------------------
# StandardScaler
# --------------------------------------------------------------------------------------------
def _standard_scaler(Xtr: np.ndarray, Xte: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``StandardScaler().fit_transform(Xtr)`` and ``.transform(Xte)`` (dense float64, default settings)."""
    from sklearn.preprocessing._data import _handle_zeros_in_scale, _is_constant_feature
    from sklearn.utils.extmath import _incremental_mean_and_var

    Xtr = np.asarray(Xtr, dtype=np.float64)
    mean, var, n = _incremental_mean_and_var(Xtr, 0.0, 0.0, np.zeros(Xtr.shape[1], dtype=np.int64))
    if np.max(n) == np.min(n):
        n = n[0]
    scale = _handle_zeros_in_scale(np.sqrt(var), copy=False, constant_mask=_is_constant_feature(var, mean, n))
    out = []
    for X in (Xtr, Xte):
        Z = np.array(X, dtype=np.float64, copy=True, order="C")
        Z -= mean
        Z /= scale
        out.append(Z)
    return out[0], out[1]


def fast_transformer(step: BaseEstimator) -> Transformer | None:
    """The exact fast path of a preprocessing step, or ``None`` to use scikit-learn.

    Parameters
    ----------
    step
        A pipeline step before the classifier.

    Returns
    -------
    callable or None
        ``transform(X_train, X_test) -> (Z_train, Z_test)``, identical to fitting ``step`` on
        ``X_train``; ``None`` when there is none or it failed its check in this process.
    """
    from sklearn.preprocessing import StandardScaler

    if type(step) is not StandardScaler or step.get_params() != StandardScaler().get_params():
        return None
    key = ("scaler", "")
    if key not in _VERIFIED:
        Xtr, _, Xte = _check_problem()
        try:
            ref = StandardScaler().fit(Xtr)
            got = _standard_scaler(Xtr, Xte)
            ok = np.array_equal(got[0], ref.transform(Xtr)) and np.array_equal(got[1], ref.transform(Xte))
        except Exception as exc:  # noqa: BLE001 - any drift in scikit-learn internals: use scikit-learn itself
            ok, why = False, str(exc)
        else:
            why = "values differ"
        if not ok:
            log.warning("split engine: the fast path of StandardScaler does not reproduce scikit-learn here (%s); "
                        "using scikit-learn", why)
        _VERIFIED[key] = ok
    return _standard_scaler if _VERIFIED[key] else None


# --------------------------------------------------------------------------------------------
# choosing and checking
# --------------------------------------------------------------------------------------------
def _candidate(est: BaseEstimator) -> tuple[str, Scorer] | None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    p = est.get_params(deep=False)
    if type(est) is DecisionTreeClassifier and _tree_ok(p):
        return "dt", _decision_tree(p)
    if type(est) is RandomForestClassifier and _tree_ok(p) and p["max_samples"] is None \
            and not p["oob_score"] and not p["warm_start"]:
        return "rf", _random_forest(p)
    if type(est) is GaussianNB and p["priors"] is None:
        return "nb", _gaussian_nb(est)
    if type(est) is LogisticRegression and p["solver"] == "lbfgs" and p["penalty"] in ("deprecated", "l2") \
            and p["l1_ratio"] in (0, 0.0) and p["fit_intercept"] and p["class_weight"] is None \
            and not p["warm_start"] and not p["dual"] and not p["verbose"] and p.get("n_jobs") is None \
            and np.isfinite(p["C"]):
        return "lr", _logistic(est)
    if type(est) is MLPClassifier and p["solver"] == "lbfgs" and not p["warm_start"] and not p["verbose"]:
        return "mlp", _mlp(est)
    if type(est) is SVC and isinstance(p["kernel"], str) and p["kernel"] != "precomputed" \
            and p["class_weight"] is None and p["probability"] in (False, "deprecated") and not p["verbose"] \
            and p["decision_function_shape"] in ("ovr", "ovo") and not p["break_ties"]:
        return "svm", _svc(est)
    if type(est) is KNeighborsClassifier and p["weights"] == "uniform" and p["algorithm"] == "auto" \
            and p["metric"] == "minkowski" and p["p"] == 2 and p["metric_params"] is None \
            and p["n_jobs"] in (None, 1) and isinstance(p["n_neighbors"], numbers.Integral):
        return "knn", _knn(est)
    return None


def _check_problem() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A small problem with tied values, duplicated rows and a constant column."""
    rng = np.random.default_rng(20240613)
    X = np.round(rng.normal(size=(70, 5)), 1)
    X[:, 4] = 1.0
    X[10:14] = X[0]
    y = (X[:, 0] + rng.normal(size=70) > 0).astype(np.int8)
    return X[:50], y[:50], X[50:]


#: (kind, settings) -> whether the fast path reproduced scikit-learn in this process.
_VERIFIED: dict[tuple[str, str], bool] = {}


def _verified(kind: str, est: BaseEstimator, fast: Scorer) -> bool:
    key = (kind, repr(sorted((k, repr(v)) for k, v in est.get_params(deep=False).items() if k != "random_state")))
    if key not in _VERIFIED:
        _VERIFIED[key] = _check(kind, est, fast)
    return _VERIFIED[key]


def _reference(est: BaseEstimator, Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray,
               seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Score and predicted class as scikit-learn gives them (what the fast path must reproduce)."""
    ref = clone(est)
    if "random_state" in ref.get_params():
        ref.set_params(random_state=seed)
    ref.fit(Xtr, ytr)
    if not hasattr(ref, "predict_proba") or type(ref).__name__ == "SVC":
        dec = np.asarray(ref.decision_function(Xte), dtype=float)
        return dec, dec > 0
    return _from_proba(ref.predict_proba(Xte))


def _wide_problem() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """More than 15 features (k-NN then searches by brute force), ties and duplicated rows."""
    rng = np.random.default_rng(20240614)
    X = np.round(rng.normal(size=(60, 18)), 1)
    X[5:8] = X[0]
    y = (X[:, 0] + X[:, 1] + rng.normal(size=60) > 0).astype(np.int8)
    return X[:42], y[:42], X[42:]


def _check(kind: str, est: BaseEstimator, fast: Scorer) -> bool:
    try:
        for (Xtr, ytr, Xte), seed in zip((_check_problem(), _check_problem(), _wide_problem()), (0, 12345, 7)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. a ConvergenceWarning of this tiny problem
                got, expected = fast(Xtr, ytr, Xte, seed), _reference(est, Xtr, ytr, Xte, seed)
            if not (np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])):
                raise ArithmeticError("scores differ")
    except Exception as exc:  # noqa: BLE001 - any drift in scikit-learn internals: use scikit-learn itself
        log.warning("split engine: the fast path of %s does not reproduce scikit-learn %s here (%s); "
                    "fitting it through scikit-learn instead (same results, slower)", kind,
                    __import__("sklearn").__version__, exc)
        return False
    return True


def fast_scorer(estimator: BaseEstimator) -> Scorer | None:
    """The exact fast path of an (unfitted) final estimator, or ``None`` to use scikit-learn.

    Parameters
    ----------
    estimator
        The last step of a classifier pipeline.

    Returns
    -------
    callable or None
        ``scorer(X_train, y_train, X_test, random_state) -> (score, predicted)`` (see
        :data:`Scorer`), identical to fitting ``estimator`` with that ``random_state``; ``None``
        when there is no fast path for this configuration or it failed its check in this
        process. A scorer may raise ``_UnsupportedFitError`` for one fit (e.g. one that would warn):
        the engine then fits that one through scikit-learn.
    """
    found = _candidate(estimator)
    if found is None:
        return None
    kind, scorer = found
    return scorer if _verified(kind, estimator, scorer) else None
