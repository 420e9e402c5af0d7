"""The seven classifiers of the studies as scikit-learn pipelines.

Every model is a :class:`sklearn.pipeline.Pipeline`: optionally a label-based feature
``selector`` first (the nested protocol's
:class:`~radiogenomics.differential.DifferentialSelector` or
:class:`~radiogenomics.module.ModuleSelector`, which see the raw values as the differential
stage does), then a :class:`~sklearn.preprocessing.StandardScaler`, then any further selection
(LASSO, PCA, ICC filter from :mod:`radiogenomics.models.selection`), then the estimator.
Because selection and scaling live inside the pipeline they are refitted on the training part
of every split, so nothing of the test part leaks into them.

Defaults (override any of them with ``params={"rf": {"n_estimators": 200}}``):

========  ====================================================================================
name      estimator and defaults
========  ====================================================================================
``svm``   ``SVC(kernel="rbf", C=1, gamma="scale")`` wrapped, when ``probability=True`` (the
          default), in ``CalibratedClassifierCV(method="sigmoid", cv=5, ensemble=False)``:
          Platt scaling, what ``SVC(probability=True)`` did before scikit-learn 1.9 deprecated
          it (:class:`PlattCalibration`: where a class has fewer than 5 patients in the data
          it is fitted on, e.g. a fold of a small cohort, it uses as many folds as that class
          has patients, down to 2). The repeated splits drop the calibration and rank by the SVC's
          ``decision_function`` (Platt scaling is monotone, so the AUC is the same, and the
          predicted class is ``SVC.predict``); validation, calibration and decision curves use
          the calibrated probabilities.
``lr``    ``LogisticRegression(C=1, max_iter=1000)`` (L2).
``nb``    ``GaussianNB()``.
``dt``    ``DecisionTreeClassifier(max_depth=5, min_samples_leaf=2)``: a depth cap avoids the
          fully grown tree that memorises 200 patients.
``rf``    ``RandomForestClassifier(n_estimators=30, min_samples_leaf=2)``: a modest forest
          keeps 10,000 splits affordable (its cost is linear in the number of trees; the AUC
          of 30 vs 300 trees on 8–24 features differs by about 0.01).
``mlp``   ``MLPClassifier(hidden_layer_sizes=(16,), solver="lbfgs", alpha=1.0, tol=1e-2,
          max_iter=200)``: a small, strongly L2-regularised network fitted by L-BFGS to a loose
          gradient tolerance; on a few hundred patients it stops after 15–50 iterations (a few
          ms) with the best out-of-sample AUC of the settings we tried (with one BLAS thread: the split engine limits BLAS to one
          thread per worker, since multi-threaded BLAS on such tiny matrices is 20x slower).
          Hitting ``max_iter`` raises a ``ConvergenceWarning``; the split loop counts these
          (column ``convergence_warning``) instead of letting them flood the log.
``knn``   ``KNeighborsClassifier(n_neighbors=7)``.
========  ====================================================================================

Every estimator that takes a ``random_state`` receives it; the split engine replaces it with
the split's own seed.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from .._validation import ParameterError, check_choice

__all__ = [
    "CLASSIFIERS",
    "CLASSIFIER_LABELS",
    "DEFAULT_PARAMS",
    "PlattCalibration",
    "make_classifier",
    "make_classifiers",
    "set_random_state",
]

#: Short names of the seven classifiers, in the studies' order.
CLASSIFIERS: tuple[str, ...] = ("svm", "lr", "nb", "dt", "rf", "mlp", "knn")

#: Human-readable names for tables and figures.
CLASSIFIER_LABELS: dict[str, str] = {
    "svm": "SVM",
    "lr": "Logistic regression",
    "nb": "Naive Bayes",
    "dt": "Decision tree",
    "rf": "Random forest",
    "mlp": "MLP",
    "knn": "k-NN",
}

#: Default hyper-parameters of each classifier (see the module docstring).
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "svm": {"kernel": "rbf", "C": 1.0, "gamma": "scale"},
    "lr": {"C": 1.0, "max_iter": 1000},
    "nb": {},
    "dt": {"max_depth": 5, "min_samples_leaf": 2},
    "rf": {"n_estimators": 30, "min_samples_leaf": 2},
    "mlp": {"hidden_layer_sizes": (16,), "solver": "lbfgs", "alpha": 1.0, "tol": 1e-2, "max_iter": 200},
    "knn": {"n_neighbors": 7},
}

_ESTIMATORS: dict[str, type[BaseEstimator]] = {
    "svm": SVC,
    "lr": LogisticRegression,
    "nb": GaussianNB,
    "dt": DecisionTreeClassifier,
    "rf": RandomForestClassifier,
    "mlp": MLPClassifier,
    "knn": KNeighborsClassifier,
}


class PlattCalibration(CalibratedClassifierCV):
    """``CalibratedClassifierCV`` whose internal folds never outnumber the smaller class.

    scikit-learn refuses ``cv=5`` when a class has fewer than 5 samples. The out-of-fold
    predictions of a small cohort fit the calibrated SVM on 4/5 of it (and their inner
    cross-validation on 4/5 of that), so a cohort with the 5 patients per class the models
    stage accepts would fail there. Here an integer ``cv`` larger than the smaller class's count
    ``m`` becomes ``max(2, m)`` folds for that fit (``cv_used_`` records it); with ``m >= cv`` it
    is ``CalibratedClassifierCV`` exactly. The parameters are those of ``CalibratedClassifierCV``.
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None, **fit_params: Any) -> PlattCalibration:
        """Fit as ``CalibratedClassifierCV.fit``, with at most as many folds as the smaller class has samples."""
        cv = self.cv
        if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
            smallest = int(np.unique(np.asarray(y), return_counts=True)[1].min())
            if smallest < cv:
                self.cv = max(2, smallest)
        try:
            super().fit(X, y, sample_weight=sample_weight, **fit_params)
            self.cv_used_ = self.cv
        finally:
            self.cv = cv
        return self


def make_classifier(
    name: str,
    *,
    random_state: int = 0,
    selection: BaseEstimator | Sequence[tuple[str, BaseEstimator]] | None = None,
    selector: BaseEstimator | None = None,
    params: Mapping[str, Any] | None = None,
    probability: bool = True,
) -> Pipeline:
    """Build one classifier as a pipeline ``[selector] -> scale -> [selection] -> clf``.

    Parameters
    ----------
    name
        One of :data:`CLASSIFIERS` (``"svm"``, ``"lr"``, ``"nb"``, ``"dt"``, ``"rf"``,
        ``"mlp"``, ``"knn"``).
    random_state
        Seed of every stochastic step (estimator and selection).
    selection
        A transformer (e.g. :class:`~radiogenomics.models.selection.LassoSelector`, a PCA) or a
        list of ``(name, transformer)`` steps inserted between the scaler and the classifier;
        each is cloned.
    selector
        A feature selector placed *first*, before the scaler (cloned): the nested protocol's
        :class:`~radiogenomics.differential.DifferentialSelector` or
        :class:`~radiogenomics.module.ModuleSelector`, refitted with the pipeline on each
        training part.
    params
        Hyper-parameters that override :data:`DEFAULT_PARAMS` for this classifier (for the
        SVM, parameters of the ``SVC``).
    probability
        SVM only: wrap the SVC in Platt scaling (``CalibratedClassifierCV``) so that it has
        ``predict_proba``; its SVC parameters are then ``clf__estimator__<name>``.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``selector`` (if given), ``scale``, then the selection steps (``select`` for a
        single transformer), then ``clf``.
    """
    check_choice(name, "name", owner="make_classifier", choices=CLASSIFIERS)
    kwargs = dict(DEFAULT_PARAMS[name])
    if params:
        est_params = _ESTIMATORS[name]().get_params()
        unknown = sorted(set(params) - set(est_params))
        if unknown:
            raise ParameterError(
                f"Unknown parameter(s) {unknown} for classifier {name!r} "
                f"({_ESTIMATORS[name].__name__}); valid ones are {sorted(est_params)}."
            )
        kwargs.update(params)
    estimator = _ESTIMATORS[name](**kwargs)
    if name == "svm" and probability:
        estimator = PlattCalibration(estimator, method="sigmoid", cv=5, ensemble=False)
    steps: list[tuple[str, BaseEstimator]] = [("scale", StandardScaler())]
    if selector is not None:
        steps.insert(0, ("selector", clone(selector)))
    if selection is not None:
        if isinstance(selection, BaseEstimator):
            steps.append(("select", clone(selection)))
        else:
            steps.extend((str(n), clone(t)) for n, t in selection)
    steps.append(("clf", estimator))
    return set_random_state(Pipeline(steps), random_state)


def make_classifiers(
    names: Sequence[str] | None = None,
    *,
    random_state: int = 0,
    selection: BaseEstimator | Sequence[tuple[str, BaseEstimator]] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    probability: bool = True,
) -> dict[str, Pipeline]:
    """Build several classifiers (by default all seven) with shared options.

    Parameters
    ----------
    names
        Subset of :data:`CLASSIFIERS`; all seven by default.
    random_state
        Seed of every stochastic step.
    selection
        Selection step(s) inserted in every pipeline (see :func:`make_classifier`).
    params
        Classifier name -> hyper-parameters overriding :data:`DEFAULT_PARAMS`.
    probability
        Give the SVM probabilities (see :func:`make_classifier`).

    Returns
    -------
    dict
        Classifier name -> pipeline, in the order of ``names``.
    """
    names = list(CLASSIFIERS if names is None else names)
    if not names:
        raise ParameterError("The 'names' parameter of make_classifiers must list at least one classifier.")
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ParameterError(f"The 'names' parameter of make_classifiers repeats {sorted(dup)}.")
    params = dict(params or {})
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise ParameterError(
            f"The 'params' parameter of make_classifiers names classifier(s) {unknown} that are "
            f"not among {names}."
        )
    return {
        n: make_classifier(n, random_state=random_state, selection=selection, params=params.get(n),
                           probability=probability)
        for n in names
    }


def set_random_state(estimator: BaseEstimator, random_state: int) -> BaseEstimator:
    """Set every ``random_state`` parameter of an estimator (and its nested steps) in place.

    Parameters
    ----------
    estimator
        An estimator or pipeline.
    random_state
        The seed.

    Returns
    -------
    sklearn.base.BaseEstimator
        The same estimator.
    """
    keys = [k for k in estimator.get_params(deep=True) if k == "random_state" or k.endswith("__random_state")]
    if keys:
        estimator.set_params(**{k: int(random_state) for k in keys})
    return estimator
