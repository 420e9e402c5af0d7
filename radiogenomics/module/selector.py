"""The feature module as a scikit-learn transformer, for selection inside each training split.

:class:`ModuleSelector` builds the module the way the module stage does, but from the samples it
is fitted on: the differential features of those samples (the differential stage's rule,
:class:`~radiogenomics.differential.DifferentialSelector`) plus their auxiliary features, i.e.
every other feature whose functional similarity to one of them is strictly above
``threshold`` (paper: Simpson > 0.6). The similarity comes from a precomputed feature x
feature matrix (:attr:`radiogenomics.module.ModuleResult.similarity_matrix`): it is built from
the association and enrichment stages, which do not see the split, so only the differential
step is repeated per split.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.feature_selection import SelectorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import InputError, ParameterError, check_float
from ..differential.selector import DifferentialSelector, _positive

__all__ = ["ModuleSelector"]


class ModuleSelector(SelectorMixin, BaseEstimator):
    """Select the differential features of the fitted samples plus their auxiliary features.

    Parameters
    ----------
    similarity
        Feature x feature similarity (Simpson or Jaccard index, NaN where a feature has no
        significant term), indexed by feature name on both axes:
        :attr:`~radiogenomics.module.ModuleResult.similarity_matrix`. Features absent from it
        have no known function and cannot be auxiliary.
    threshold
        A non-differential feature is auxiliary when its similarity to at least one differential
        feature is strictly above this (the module stage's ``threshold``; paper: 0.6).
    inclusive
        Also when it equals ``threshold`` (the module stage's ``inclusive``; the paper: strict).
    differential
        The differential rule (default: ``DifferentialSelector()``, the differential stage's
        defaults); cloned and fitted on the same samples.
    features
        Names of the columns of ``X``, in order (needed when ``X`` is an array; a DataFrame
        brings its own).
    random_state
        Passed on to the differential rule (which does not use it).

    Attributes
    ----------
    support_ : ndarray of bool
        Module members: differential or auxiliary.
    differential_support_, auxiliary_support_ : ndarray of bool
        The two roles.
    differential_ : DifferentialSelector
        The fitted differential rule.
    feature_names_ : ndarray of str
        The names the similarity matrix was read with.
    n_features_in_ : int
        Number of input features.

    Notes
    -----
    When the differential rule selects nothing, no feature can be auxiliary and the module is
    empty (see :class:`~radiogenomics.differential.DifferentialSelector` for what the models
    stage does then).
    """

    def __init__(self, similarity: pd.DataFrame | None = None, *, threshold: float = 0.6, inclusive: bool = False,
                 differential: DifferentialSelector | None = None, features: Any = None,
                 random_state: int | None = None) -> None:
        self.similarity = similarity
        self.threshold = threshold
        self.inclusive = inclusive
        self.differential = differential
        self.features = features
        self.random_state = random_state

    def _names(self, n_columns: int) -> np.ndarray:
        names = getattr(self, "feature_names_in_", None) if self.features is None else self.features
        if names is None:
            raise InputError("ModuleSelector needs the feature names of X: fit it on a DataFrame or pass "
                             "features=[...] (the column names, in order).")
        names = np.asarray([str(n) for n in names], dtype=object)
        if names.size != n_columns:
            raise InputError(f"ModuleSelector: 'features' names {names.size} column(s) but X has {n_columns}.")
        return names

    def _matrix(self, names: np.ndarray) -> np.ndarray:
        """The similarity of the fitted columns (NaN where unknown), cached per column list."""
        key = tuple(names)
        cache = getattr(self, "_matrix_cache", None)
        if cache is not None and cache[0] == key and cache[1] is self.similarity:
            return cache[2]
        sim = self.similarity
        if not isinstance(sim, pd.DataFrame):
            raise ParameterError("The 'similarity' parameter of ModuleSelector must be a feature x feature DataFrame "
                                 f"(ModuleResult.similarity_matrix). Got {type(sim).__name__} instead.")
        idx, cols = sim.index.map(str), sim.columns.map(str)
        if set(idx) != set(cols) or idx.has_duplicates or cols.has_duplicates:
            raise InputError("ModuleSelector: the similarity matrix must be square with the same unique feature "
                             "names on both axes.")
        values = pd.DataFrame(sim.to_numpy(dtype=float), index=idx, columns=cols)
        matrix = values.reindex(index=list(names), columns=list(names)).to_numpy(dtype=float)
        np.fill_diagonal(matrix, np.nan)  # a feature is not its own auxiliary
        self._matrix_cache = (key, self.similarity, matrix)
        return matrix

    def fit(self, X: Any, y: Any) -> ModuleSelector:
        """Find the differential features of these samples and their auxiliary features.

        Parameters
        ----------
        X
            Training features (rows = samples): a DataFrame, or an array with ``features``.
        y
            0/1 labels (1 = HER2-positive).

        Returns
        -------
        ModuleSelector
            ``self``.
        """
        X, y = validate_data(self, X, y, dtype=np.float64)
        rule = DifferentialSelector() if self.differential is None else clone(self.differential)
        if not isinstance(rule, DifferentialSelector):
            raise ParameterError("The 'differential' parameter of ModuleSelector must be a DifferentialSelector. "
                                 f"Got {type(self.differential).__name__} instead.")
        rule.set_params(random_state=self.random_state)
        rule._check_params()
        return self._fit_from(rule._fit_arrays(X, _positive(y, owner=type(self).__name__)), X.shape[1])

    def _fit_from(self, differential: DifferentialSelector, n_columns: int) -> ModuleSelector:
        """The module of an already fitted differential rule (the split engine shares one fit)."""
        owner = type(self).__name__
        threshold = check_float(self.threshold, "threshold", owner=owner, min_value=0.0, max_value=1.0)
        names = self._names(n_columns)
        matrix = self._matrix(names)
        diff = np.asarray(differential.support_, dtype=bool)
        if diff.size != n_columns:
            raise InputError(f"{owner}: the differential rule was fitted on {diff.size} column(s), X has {n_columns}.")
        with np.errstate(invalid="ignore"):
            close = matrix[:, diff] >= threshold if self.inclusive else matrix[:, diff] > threshold
            linked = close.any(axis=1) if diff.any() else np.zeros(n_columns, bool)
        self.differential_ = differential
        self.differential_support_ = diff
        self.auxiliary_support_ = linked & ~diff
        self.support_ = diff | self.auxiliary_support_
        self.feature_names_ = names
        self.n_features_in_ = n_columns
        return self

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_

    def members(self) -> pd.DataFrame:
        """The fitted module as a table.

        Returns
        -------
        pandas.DataFrame
            ``feature`` and ``role`` (``"differential"`` or ``"auxiliary"``), differential first.
        """
        check_is_fitted(self, "support_")
        names = self.feature_names_
        rows = [(f, "differential") for f in names[self.differential_support_]]
        rows += [(f, "auxiliary") for f in names[self.auxiliary_support_]]
        return pd.DataFrame(rows, columns=["feature", "role"])

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

