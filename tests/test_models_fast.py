"""The split engine's exact fast paths give scikit-learn's numbers, bit for bit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from radiogenomics.models import make_classifiers, repeated_splits
from radiogenomics.models._fast import _lbfgs, _seeded, fast_scorer, fast_transformer
from radiogenomics.models.metrics import _auc_fast
from radiogenomics.models.splits import _splits_variant


def problems(n_problems: int = 8):
    """Random problems with ties, duplicated rows, a constant column and unbalanced classes."""
    rng = np.random.default_rng(2024)
    for k in range(n_problems):
        n, p = int(rng.integers(30, 230)), int(rng.integers(1, 26))
        X = rng.normal(size=(n, p)) * rng.uniform(0.1, 10, size=p)
        if k % 2:
            X = np.round(X, 1)
        if p > 2 and k % 3 == 0:
            X[:, 1] = 3.0
            X[5:9] = X[0]
        y = (X[:, 0] + rng.normal(scale=2.0, size=n) > rng.normal()).astype(np.int8)
        y[:2] = [0, 1]
        cut = int(0.7 * n)
        yield StandardScaler().fit_transform(X[:cut]), y[:cut], StandardScaler().fit(X[:cut]).transform(X[cut:])


def reference(est, Xtr, ytr, Xte, seed):
    ref = clone(est)
    if "random_state" in ref.get_params():
        ref.set_params(random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.fit(Xtr, ytr)
    if isinstance(ref, SVC):
        d = ref.decision_function(Xte)
        return d, d > 0
    proba = ref.predict_proba(Xte)
    return proba[:, 1], proba[:, 1] > proba[:, 0]


ESTIMATORS = {
    **{name: _splits_variant(pipe).steps[-1][1] for name, pipe in make_classifiers().items()},
    "rf_entropy_all_features": RandomForestClassifier(n_estimators=7, criterion="entropy", max_features=None),
    "rf_no_bootstrap": RandomForestClassifier(n_estimators=5, bootstrap=False, min_samples_split=0.1),
    "dt_random_splitter": DecisionTreeClassifier(splitter="random", min_samples_leaf=0.05),
    "nb_smoothing": GaussianNB(var_smoothing=1e-3),
    "svm_linear": SVC(kernel="linear", C=0.3),
    "svm_auto_gamma": SVC(gamma="auto", C=3.0),
    "lr_strong_penalty": LogisticRegression(C=0.05, max_iter=50),
    "mlp_two_layers": MLPClassifier(hidden_layer_sizes=(8, 4), solver="lbfgs", alpha=0.1, max_iter=60),
    "mlp_tanh_stopped_early": MLPClassifier(hidden_layer_sizes=(5,), activation="tanh", solver="lbfgs", max_iter=4),
    "knn_many_neighbours": KNeighborsClassifier(n_neighbors=12, leaf_size=5),
    "knn_one_neighbour": KNeighborsClassifier(n_neighbors=1),
    "mlp_logistic": MLPClassifier(hidden_layer_sizes=(6,), activation="logistic", solver="lbfgs", alpha=1e-4),
}


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_fast_path_is_bit_identical_to_scikit_learn(name: str) -> None:
    est = ESTIMATORS[name]
    fast = fast_scorer(est)
    assert fast is not None, f"{name}: no fast path"
    for i, (Xtr, ytr, Xte) in enumerate(problems()):
        for seed in (7, 2**31 - 2):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                score, pred = fast(Xtr, ytr, Xte, seed)
            ref_score, ref_pred = reference(est, Xtr, ytr, Xte, seed)
            np.testing.assert_array_equal(score, ref_score, err_msg=f"{name}, problem {i}, seed {seed}")
            np.testing.assert_array_equal(pred, ref_pred, err_msg=f"{name}, problem {i}, seed {seed}")


def test_configurations_without_a_fast_path_use_scikit_learn() -> None:
    for est in (RandomForestClassifier(class_weight="balanced"), DecisionTreeClassifier(ccp_alpha=0.01),
                GaussianNB(priors=[0.5, 0.5]), SVC(class_weight="balanced"), LogisticRegression(solver="liblinear"),
                LogisticRegression(class_weight="balanced"), MLPClassifier(solver="adam"),
                KNeighborsClassifier(weights="distance"), KNeighborsClassifier(p=1),
                KNeighborsClassifier(algorithm="ball_tree")):
        assert fast_scorer(est) is None, est
    assert fast_transformer(StandardScaler(with_mean=False)) is None


def test_fast_scaler_is_standard_scaler() -> None:
    scale = fast_transformer(StandardScaler())
    assert scale is not None
    for Xtr, _, Xte in problems():
        Xtr = Xtr * 3 + 1
        ref = StandardScaler().fit(Xtr)
        got = scale(Xtr, Xte)
        np.testing.assert_array_equal(got[0], ref.transform(Xtr))
        np.testing.assert_array_equal(got[1], ref.transform(Xte))


def test_reseeded_random_state_is_a_fresh_one() -> None:
    for seed in (0, 1, 12345, 2**31 - 2, 2**32 - 1):
        fresh = np.random.RandomState(seed).get_state()
        again = _seeded(seed).get_state()
        assert fresh[0] == again[0] and fresh[2:] == again[2:]
        np.testing.assert_array_equal(fresh[1], again[1])


def test_rank_auc_equals_rankdata_and_scikit_learn() -> None:
    rng = np.random.default_rng(5)
    for trial in range(500):
        n = int(rng.integers(3, 150))
        pos = rng.random(n) < 0.4
        pos[:2] = [True, False]
        s = np.round(rng.normal(size=n), int(rng.integers(0, 3)))
        if trial % 11 == 0:
            s[:] = 1.0
        m, k = int(pos.sum()), int((~pos).sum())
        ranks = stats.rankdata(s)
        assert _auc_fast(pos, s) == float((ranks[pos].sum() - m * (m + 1) / 2.0) / (m * k))
        assert _auc_fast(pos, s) == pytest.approx(roc_auc_score(pos, s), abs=1e-12)
    assert np.isnan(_auc_fast(np.array([True, False, True]), np.array([0.1, np.nan, 0.3])))


def test_convergence_warnings_of_fast_paths_are_counted() -> None:
    rng = np.random.default_rng(1)
    import pandas as pd

    X = pd.DataFrame(rng.normal(size=(80, 4)), columns=list("abcd"))
    y = pd.Series((X["a"] + rng.normal(size=80) > 0).astype(int))
    mlp = {"mlp": make_classifiers(["mlp"], params={"mlp": {"max_iter": 2, "tol": 1e-12}})["mlp"]}
    res = repeated_splits(X, y, classifiers=mlp, n_splits=3, show_progress=False)
    assert res.splits["convergence_warning"].all()
    assert res.summary["n_convergence_warnings"].iloc[0] == 3


def test_lbfgs_loop_is_scipy_minimize_step_for_step() -> None:
    from scipy.optimize import minimize, rosen, rosen_der

    def fun(x):
        return rosen(x), rosen_der(x)

    rng = np.random.default_rng(3)
    for trial, (maxiter, maxls, gtol, ftol) in enumerate([(15000, 20, 1e-5, 2.2e-9), (7, 20, 1e-5, 2.2e-9),
                                                          (1000, 50, 1e-4, 64 * np.finfo(float).eps),
                                                          (1, 20, 1e-12, 1e-15)]):
        x0 = rng.normal(size=int(rng.integers(2, 12)))
        ref = minimize(fun, x0, method="L-BFGS-B", jac=True,
                       options={"maxiter": maxiter, "maxls": maxls, "gtol": gtol, "ftol": ftol})
        x, f, status, nit, message = _lbfgs(fun, x0, maxiter=maxiter, maxls=maxls, gtol=gtol, ftol=ftol)
        np.testing.assert_array_equal(x, ref.x, err_msg=f"trial {trial}")
        assert (f, status, nit, message) == (ref.fun, ref.status, ref.nit, ref.message), trial
    assert status == 1  # the iteration limit


def test_logistic_regression_at_its_iteration_limit_warns_as_scikit_learn() -> None:
    import pandas as pd
    from sklearn.exceptions import ConvergenceWarning

    Xtr, ytr, Xte = next(iter(problems()))
    est = LogisticRegression(max_iter=2, tol=1e-12)
    fast = fast_scorer(est)
    assert fast is not None
    with pytest.warns(ConvergenceWarning):
        got = fast(Xtr, ytr, Xte, 0)
    ref = reference(est, Xtr, ytr, Xte, 0)
    np.testing.assert_array_equal(got[0], ref[0])
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(80, 4)), columns=list("abcd"))
    y = pd.Series((X["a"] + rng.normal(size=80) > 0).astype(int))
    lr = {"lr": make_classifiers(["lr"], params={"lr": {"max_iter": 2, "tol": 1e-12}})["lr"]}
    res = repeated_splits(X, y, classifiers=lr, n_splits=3, show_progress=False)
    assert res.splits["convergence_warning"].all()


def test_metrics_of_several_models_at_once_equal_one_by_one() -> None:
    from radiogenomics.models.splits import _metrics, _metrics_many

    rng = np.random.default_rng(11)
    for trial in range(300):
        n = int(rng.integers(2, 120))
        y = (rng.random(n) < rng.uniform(0.05, 0.95)).astype(np.int8)
        if trial % 50 == 0:
            y[:] = 1  # one class only: no AUC, no specificity
        k = int(rng.integers(1, 9))
        scores = [np.round(rng.normal(size=n), int(rng.integers(0, 3))) for _ in range(k)]
        if trial % 7 == 0:
            scores[0][:] = 0.5
        if trial % 13 == 0:
            scores[-1][rng.integers(n)] = np.nan
        if trial % 17 == 0:
            scores[0][: n // 2] = -0.0
            scores[0][n // 2:] = 0.0
        preds = [s > 0 for s in scores]
        many = _metrics_many(y, scores, preds)
        for i in range(k):
            np.testing.assert_array_equal(many[i], np.array(_metrics(y, scores[i], preds[i])), err_msg=f"{trial}/{i}")


def test_block_draws_equal_randint() -> None:
    from radiogenomics.models import _fast

    _fast._check_randint()
    assert _fast._DRAWS_OK["ok"]
    rng = np.random.default_rng(4)
    for seed in rng.integers(0, 2**32, size=300):
        for high, size in ((int(rng.integers(2, 400)), int(rng.integers(1, 400))), (2**31 - 1, 30)):
            np.testing.assert_array_equal(_fast._randint(np.random.RandomState(seed), high, size),
                                          np.random.RandomState(seed).randint(0, high, size))


def test_two_class_unique_is_numpy_unique() -> None:
    from radiogenomics.models._fast import _unique

    rng = np.random.default_rng(8)
    for y in (np.array([0, 1, 1, 0], dtype=np.int8), np.array([3, 3, 7]), np.array([True, False]),
              np.array([1, 1, 1]), np.array([0, 2, 1]), np.array([2.0, 1.0]), np.array([5], dtype=np.uint8),
              (rng.random(224) < 0.46).astype(np.int8)):
        classes, inverse = _unique(y)
        ref_classes, ref_inverse = np.unique(y, return_inverse=True)
        np.testing.assert_array_equal(classes, ref_classes)
        np.testing.assert_array_equal(inverse, ref_inverse)
        assert classes.dtype == ref_classes.dtype and inverse.dtype == ref_inverse.dtype


def _tree_problems(n_problems: int):
    """Problems that exercise every rule of scikit-learn's best splitter: rounded (tied) values, constant
    columns, duplicated rows, values closer than its 1e-7 tie tolerance, one feature, few samples."""
    rng = np.random.default_rng(20261201)
    for k in range(n_problems):
        n, d = int(rng.integers(6, 260)), int(rng.integers(1, 28))
        X = rng.normal(size=(n + 30, d))
        kind = k % 5
        if kind == 1:
            X = np.round(X, 1)
        elif kind == 2:
            X[:, ::2] = 1.0
            X = np.round(X, 2)
        elif kind == 3:
            X[:, 0] *= 1e-7
            X[:, -1] = np.floor(2 * X[:, -1])
        elif kind == 4:  # float32 neighbours within and beyond FEATURE_THRESHOLD
            X[5:15] = X[0]
            X = X.astype(np.float32).astype(float) + rng.choice([0, 1e-8, 6e-8, 1.2e-7], size=X.shape)
        y = (X[:, 0] + rng.normal(size=n + 30) * rng.uniform(0.2, 3) > 0).astype(np.int8)
        y[:2] = [0, 1]
        settings = {"max_features": [None, "sqrt", 1, 0.5, "log2"][k % 5],
                    "min_samples_leaf": [1, 2, 5, 0.03][k % 4], "min_samples_split": [2, 10, 0.1][k % 3],
                    "max_depth": [None, 3, 12][(k // 3) % 3],
                    "min_weight_fraction_leaf": 0.02 if k % 7 == 0 else 0.0,
                    "min_impurity_decrease": 0.01 if k % 4 == 3 else 0.0}
        yield X[:n], y[:n], X[n:], settings, int(rng.integers(0, 2**31 - 1))


def test_compiled_trees_grow_scikit_learns_trees_node_for_node() -> None:
    """The compiled Gini trees (radiogenomics.models._forest) give every test row the leaf value of
    scikit-learn's own tree: 240 decision trees and 240 forests of 5 trees (with and without bootstrap)."""
    from radiogenomics.models import _fast, _forest

    assert _forest.AVAILABLE
    n_checked = 0
    for k, (Xtr, ytr, Xte, settings, seed) in enumerate(_tree_problems(240)):
        Xt32 = Xte.astype(np.float32)
        tree = DecisionTreeClassifier(random_state=seed, **settings).fit(Xtr, ytr)
        bootstrap = k % 3 != 0
        forest = RandomForestClassifier(n_estimators=5, random_state=seed, bootstrap=bootstrap, **settings).fit(Xtr, ytr)
        n = len(ytr)
        kw = _fast._settings(tree.get_params(), n, Xtr.shape[1], n)
        got = _forest.grow_and_predict(Xtr, ytr == 1, np.ones((1, n)), _forest.splitter_states([seed]), Xte, **kw)
        np.testing.assert_array_equal(got, tree.tree_.predict(Xt32)[:, :2], err_msg=f"tree {k}: {settings}")
        seeds = [e.random_state for e in forest.estimators_]
        weights = (np.array([np.bincount(np.random.RandomState(s).randint(0, n, n), minlength=n) for s in seeds],
                            dtype=float) if bootstrap else np.ones((5, n)))
        expected = sum(e.tree_.predict(Xt32)[:, :2] for e in forest.estimators_)
        got = _forest.grow_and_predict(Xtr, ytr == 1, weights, _forest.splitter_states(seeds), Xte, **kw)
        np.testing.assert_array_equal(got, expected, err_msg=f"forest {k}: {settings}, bootstrap={bootstrap}")
        n_checked += 1 + len(seeds)
    assert n_checked == 240 * 6


def test_default_trees_take_the_compiled_path_and_others_the_cython_builder(monkeypatch) -> None:
    """The engine's forest and tree run the compiled trees; entropy, the random splitter, non-finite
    and wide data go through scikit-learn's own builder (still exact)."""
    from radiogenomics.models import _forest

    calls = []
    original = _forest.grow_and_predict
    monkeypatch.setattr(_forest, "grow_and_predict", lambda *a, **k: calls.append(1) or original(*a, **k))
    Xtr, ytr, Xte = next(problems())
    estimators = {name: _splits_variant(pipe).steps[-1][1] for name, pipe in make_classifiers().items()}
    scorers = {name: fast_scorer(estimators[name]) for name in ("rf", "dt")}  # (checked against scikit-learn once)
    calls.clear()
    for scorer in scorers.values():
        scorer(Xtr, ytr, Xte, 3)
    assert len(calls) == 2
    for est in (ESTIMATORS["rf_entropy_all_features"], ESTIMATORS["dt_random_splitter"]):
        score, _ = fast_scorer(est)(Xtr, ytr, Xte, 3)
        np.testing.assert_array_equal(score, reference(est, Xtr, ytr, Xte, 3)[0])
    Xnan = Xte.copy()
    Xnan[0, 0] = np.nan  # scikit-learn's trees route missing values; the compiled ones do not
    score, _ = fast_scorer(estimators["rf"])(Xtr, ytr, Xnan, 3)
    np.testing.assert_array_equal(score, reference(estimators["rf"], Xtr, ytr, Xnan, 3)[0])
    rng = np.random.default_rng(5)  # 300 features, 17 drawn per split: the Cython builder is the faster one
    Xwide, Xwide_test = rng.normal(size=(60, 300)), rng.normal(size=(20, 300))
    ywide = (Xwide[:, 0] > 0).astype(np.int8)
    score, _ = fast_scorer(estimators["rf"])(Xwide, ywide, Xwide_test, 3)
    np.testing.assert_array_equal(score, reference(estimators["rf"], Xwide, ywide, Xwide_test, 3)[0])
    assert len(calls) == 2
