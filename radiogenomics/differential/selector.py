"""The differential rule as a scikit-learn transformer, for selection inside each training split.

The differential stage (:func:`radiogenomics.differential`) selects features on *all* patients.
Scoring those features by repeated train/test splits of the same patients lets the test part of
every split take part in choosing the features, and inflates the split AUCs (on pure noise the
mean split AUC is about 0.60 instead of 0.50). :class:`DifferentialSelector` applies the same
rule (two-sided Mann–Whitney U per feature, ``p`` or BH ``q`` below ``threshold``; the one
computation :func:`~radiogenomics.differential.wilcoxon.rank_sum_pvalues`) to the data it is
fitted on, so placed first in a classifier pipeline it is refitted on the training part of every
split: the nested protocol of the models stage.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import InputError, check_choice, check_float
from .wilcoxon import rank_sum_pvalues, select_by_rule

__all__ = ["DifferentialSelector"]


class DifferentialSelector(SelectorMixin, BaseEstimator):
    """Select the features that differ between HER2-positive and HER2-negative training samples.

    The rule of the differential stage, fitted on whatever data it is given: two-sided
    Mann–Whitney U per feature, selected when ``p`` (or the Benjamini–Hochberg ``q`` over all
    columns) is strictly below ``threshold``. It is rank based, so it gives the same selection
    before or after any per-feature scaling; the models stage puts it first in each pipeline
    (``selector -> scale -> classifier``), where it sees the values the differential stage saw.

    Selecting nothing is a legitimate outcome (noise): :attr:`support_` is then all False and
    ``transform`` returns no column (scikit-learn's convention, with its warning). The models
    stage's split engine scores such a split as the model without features (constant score,
    AUC 0.5) and counts it; it never substitutes other features.

    Parameters
    ----------
    select_by
        ``"p"`` (the paper: raw p-value) or ``"q"`` (Benjamini–Hochberg).
    threshold
        Selected when the ``select_by`` value is below this (paper: 0.05).
    method
        ``"auto"`` (the differential stage's default, R's ``wilcox.test`` rule), ``"exact"`` or
        ``"asymptotic"``; see :func:`~radiogenomics.differential.wilcoxon.rank_sum_pvalues`.
    use_continuity
        Continuity correction of the normal approximation.
    random_state
        Unused (the test is deterministic); accepted so that every step of a pipeline can be
        seeded the same way.

    Attributes
    ----------
    support_ : ndarray of bool
        Selected features.
    p_values_, q_values_, u_statistics_ : ndarray
        Per feature: two-sided p, BH q, U of the positive group.
    n_features_in_ : int
        Number of input features.
    feature_names_in_ : ndarray of str
        Input column names (when fitted on a DataFrame with string column names).

    Examples
    --------
    >>> from radiogenomics.differential import DifferentialSelector
    >>> from radiogenomics.models import make_classifier
    >>> pipe = make_classifier("lr", selector=DifferentialSelector(threshold=0.05))
    """

    def __init__(self, *, select_by: str = "p", threshold: float = 0.05, method: str = "auto",
                 use_continuity: bool = True, random_state: int | None = None) -> None:
        self.select_by = select_by
        self.threshold = threshold
        self.method = method
        self.use_continuity = use_continuity
        self.random_state = random_state

    def _check_params(self) -> None:
        owner = type(self).__name__
        check_choice(self.select_by, "select_by", owner=owner, choices=("p", "q"))
        check_choice(self.method, "method", owner=owner, choices=("asymptotic", "exact", "auto"))
        check_float(self.threshold, "threshold", owner=owner, min_value=0.0, max_value=1.0, closed="right")

    def fit(self, X: Any, y: Any) -> DifferentialSelector:
        """Test every feature on these samples and keep those that pass the rule.

        Parameters
        ----------
        X
            Training features (rows = samples).
        y
            Two classes: 0/1 (1 = HER2-positive); with other labels the larger one is the
        positive class (scikit-learn's ``classes_[1]``).

        Returns
        -------
        DifferentialSelector
            ``self``.
        """
        self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64)
        return self._fit_arrays(X, _positive(y, owner=type(self).__name__))

    def _fit_arrays(self, X: np.ndarray, pos: np.ndarray) -> DifferentialSelector:
        """Fit on validated arrays (``pos``: boolean positives); the split engine calls this directly."""
        n_pos, n_neg = int(pos.sum()), int((~pos).sum())
        if n_pos < 2 or n_neg < 2:
            raise InputError(f"{type(self).__name__}: the Mann-Whitney rule needs at least 2 positive and 2 negative "
                             f"samples; got {n_pos} positive and {n_neg} negative.")
        rs = rank_sum_pvalues(X[pos], X[~pos], method=self.method, use_continuity=bool(self.use_continuity))
        u, p = rs.u, rs.p
        q, selected = select_by_rule(p, select_by=self.select_by, threshold=float(self.threshold))
        self.u_statistics_, self.p_values_, self.q_values_ = u, p, q
        self.support_ = np.asarray(selected, dtype=bool)
        self.n_features_in_ = X.shape[1]
        return self

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


def _positive(y: Any, *, owner: str) -> np.ndarray:
    """Boolean mask of the positive class (``classes_[1]``: 1 for 0/1 labels); exactly two classes."""
    y = np.asarray(y)
    classes = np.unique(y)
    if classes.size != 2:
        raise InputError(f"{owner}: the labels must hold exactly two classes (HER2 1/0); got {classes.size} "
                         f"({classes[:5].tolist()}).")
    return y == classes[1]
