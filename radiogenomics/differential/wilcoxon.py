"""The rank-sum table behind the differential stage: every column tested at once.

Two-sided Wilcoxon rank-sum (Mann–Whitney U) test for every column at once (scipy's
vectorised ``mannwhitneyu``), fold change ``mean(+) / mean(−)``, Benjamini–Hochberg q.
Cui et al. 2023 select features with p < 0.05 without FDR control; q is reported beside it.

Which p-value (the rule of R's ``wilcox.test``, whose default is ``exact = NULL``):

* ``method="auto"`` (default): the **exact** distribution of U when both groups have fewer
  than 50 samples and the column has no ties (in the pooled sample); otherwise the **normal
  approximation** with the tie-corrected variance and, with ``use_continuity``, the continuity
  correction (R's ``correct = TRUE``).
* ``method="exact"``: the exact distribution wherever the column has no ties. The exact
  distribution of U assumes distinct values, so a column with ties gets the normal
  approximation with tie correction instead, as R does (with a warning there; here a logged
  warning naming the columns) — never an exact p that silently ignores the ties.
* ``method="asymptotic"``: the normal approximation for every column.

The ``test`` column says which one each feature got, and ``ties`` whether it has ties.

Fold change and direction are computed on the same (linear) scale: with ``log_base`` the data
are un-logged first (``log_base ** x - log_offset``; ``log_offset`` is the pseudo-count of
``log(x + offset)`` data, e.g. 1 for log2(FPKM + 1)), and ``direction`` is the sign of
``mean(+) - mean(−)`` of those values, so it always agrees with ``fold_change`` (up when the
fold change is above 1).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from .._logging import get_logger
from .._validation import (
    InputError,
    ParameterError,
    align_samples,
    check_choice,
    check_float,
    check_labels,
    check_table,
    format_names,
)

__all__ = ["RankSum", "rank_sum_table", "rank_sum_pvalues", "select_by_rule"]

log = get_logger(__name__)


class RankSum(NamedTuple):
    """Per-column result of :func:`rank_sum_pvalues`."""

    u: np.ndarray
    """U of the positive group."""
    p: np.ndarray
    """Two-sided p-value."""
    constant: np.ndarray
    """A single value over both groups (p = 1)."""
    exact: np.ndarray
    """The exact distribution of U was used (else the normal approximation)."""
    ties: np.ndarray
    """The column has tied values in the pooled sample."""


def rank_sum_pvalues(
    x_pos: np.ndarray,
    x_neg: np.ndarray,
    *,
    method: str = "auto",
    use_continuity: bool = True,
) -> RankSum:
    """The two-sided Mann–Whitney U test of every column: the one computation of the differential rule.

    :func:`rank_sum_table` (the differential stage) and
    :class:`~radiogenomics.differential.DifferentialSelector` (the same rule inside each
    training split of the models stage) both call this function, so they cannot disagree.

    Parameters
    ----------
    x_pos, x_neg
        Values of the HER2-positive and HER2-negative samples: rows = samples, columns =
        features (the same columns in both).
    method
        ``"auto"`` (R's ``wilcox.test`` rule: exact when both groups have fewer than 50 samples
        and the column has no ties), ``"exact"`` (exact wherever the column has no ties; tied
        columns get the normal approximation with tie correction, as R) or ``"asymptotic"``.
    use_continuity
        Continuity correction of the normal approximation.

    Returns
    -------
    RankSum
        ``u``, ``p``, ``constant``, ``exact`` and ``ties``, one value per column.
    """
    x_pos, x_neg = np.asarray(x_pos, dtype=float), np.asarray(x_neg, dtype=float)
    n_pos, n_neg = x_pos.shape[0], x_neg.shape[0]
    pooled = np.sort(np.concatenate([x_pos, x_neg], axis=0), axis=0)
    ties = (np.diff(pooled, axis=0) == 0).any(axis=0)
    if method == "asymptotic":
        exact = np.zeros(pooled.shape[1], dtype=bool)
    elif method == "exact":
        exact = ~ties
    else:
        exact = ~ties & (n_pos < 50) & (n_neg < 50)
    pvals = np.empty(pooled.shape[1])
    ustat = np.empty(pooled.shape[1])
    for flag, how in ((True, "exact"), (False, "asymptotic")):
        cols = np.flatnonzero(exact == flag)
        if cols.size:
            res = stats.mannwhitneyu(x_pos[:, cols], x_neg[:, cols], alternative="two-sided", method=how,
                                     use_continuity=use_continuity, axis=0)
            pvals[cols] = np.asarray(res.pvalue, dtype=float)
            ustat[cols] = np.asarray(res.statistic, dtype=float)
    constant = pooled[0] == pooled[-1]
    # scipy returns p = 1 for an all-tied column under "asymptotic"; make that explicit for every method
    pvals = np.where(constant, 1.0, pvals)
    return RankSum(ustat, pvals, constant, exact, ties)


def select_by_rule(p_values: np.ndarray, *, select_by: str = "p", threshold: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini–Hochberg q of the p-values and the selection rule of the differential stage.

    Parameters
    ----------
    p_values
        One p-value per feature.
    select_by
        ``"p"`` (the paper) or ``"q"``: which value must be below ``threshold``.
    threshold
        Selected when the ``select_by`` value is strictly below it.

    Returns
    -------
    tuple of numpy.ndarray
        ``q`` (BH over all features) and ``selected`` (bool).
    """
    p = np.asarray(p_values, dtype=float)
    q = multipletests(p, method="fdr_bh")[1] if p.size else p.copy()
    return q, (p if select_by == "p" else q) < threshold


def rank_sum_table(
    data: pd.DataFrame,
    labels: pd.Series,
    *,
    select_by: str = "p",
    threshold: float = 0.05,
    method: str = "auto",
    use_continuity: bool = True,
    log_base: float | None = None,
    log_offset: float = 0.0,
    name: str = "features",
) -> pd.DataFrame:
    """Test every column for a HER2-positive vs HER2-negative difference.

    Parameters
    ----------
    data
        Table with rows = samples, columns = features (or genes).
    labels
        1 = HER2-positive, 0 = HER2-negative, indexed by the same sample ids.
    select_by
        ``"p"`` (the paper: raw p-value) or ``"q"`` (Benjamini–Hochberg).
    threshold
        A column is selected when its ``select_by`` value is below this.
    method
        ``"auto"`` (R's ``wilcox.test`` rule: exact when both groups have < 50 samples and the
        column has no ties, else the normal approximation), ``"exact"`` (exact where the column
        has no ties; tied columns get the normal approximation, logged) or ``"asymptotic"``
        (normal approximation with tie correction); see the module docstring.
    use_continuity
        Continuity correction of the normal approximation.
    log_base
        The data are log-scale with this base: fold changes and directions are computed on
        un-logged values (``log_base ** x - log_offset``). Without it, fold changes of columns
        with a non-positive mean are undefined (NaN, logged).
    log_offset
        The pseudo-count of log-scale data, ``log_base(x + log_offset)`` (e.g. 1 for
        log2(FPKM + 1)); needs ``log_base``.
    name
        Table name used in messages.

    Returns
    -------
    pandas.DataFrame
        One row per column of ``data`` (index = feature), sorted as the input, with columns
        ``mean_positive``, ``mean_negative``, ``median_positive``, ``median_negative`` (on the
        input scale), ``fold_change`` (mean(+)/mean(−) on the linear scale),
        ``log2_fold_change``, ``direction`` (``"up"`` if the positive mean is higher on the
        scale of the fold change, ``"down"`` if lower, ``"none"`` if equal), ``u_statistic``
        (U of the positive group), ``p_value``, ``test`` (``"exact"`` or ``"asymptotic"``),
        ``ties`` (the column has tied values), ``q_value`` (BH over all columns), ``rank``
        (1 = smallest p) and ``selected``.
    """
    owner = "differential"
    check_choice(select_by, "select_by", owner=owner, choices=("p", "q"))
    check_choice(method, "method", owner=owner, choices=("auto", "exact", "asymptotic"))
    check_float(threshold, "threshold", owner=owner, min_value=0.0, max_value=1.0, closed="right")
    log_offset = check_float(log_offset, "log_offset", owner=owner, min_value=0.0)
    if log_offset and log_base is None:
        raise ParameterError(
            f"The 'log_offset' parameter of differential needs log_base (the data's log base); got log_offset="
            f"{log_offset!r} with log_base=None. Pass log_base=2 for log2(x + {log_offset:g}) data, or leave "
            "log_offset at 0 for linear data."
        )
    if log_base is not None:
        log_base = check_float(log_base, "log_base", owner=owner, min_value=1.0, closed="neither")
    data = check_table(data, name=name)
    labels = check_labels(labels)
    data, labels = align_samples(data, labels, data_name=name)
    pos = labels.to_numpy() == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos < 2 or n_neg < 2:
        raise InputError(
            f"{name}: differential analysis needs at least 2 HER2-positive and 2 HER2-negative samples; "
            f"got {n_pos} positive and {n_neg} negative."
        )
    values = data.to_numpy(dtype=float)
    rs = rank_sum_pvalues(values[pos], values[~pos], method=method, use_continuity=use_continuity)
    pvals, ustat, exact, ties, constant = rs.p, rs.u, rs.exact, rs.ties, rs.constant
    if method == "exact" and ties.any():
        log.warning("%s: method='exact' with ties in %d column(s) (%s): the exact distribution of U assumes "
                    "distinct values, so these get the normal approximation with tie correction (as R's "
                    "wilcox.test)", name, int(ties.sum()), format_names(data.columns[ties]))
    if constant.any():
        log.warning("%s: %d constant column(s) get p = 1: %s", name, int(constant.sum()),
                    format_names(data.columns[constant]))
    qvals, selected = select_by_rule(pvals, select_by=select_by, threshold=threshold)
    lin = np.power(log_base, values) - log_offset if log_base is not None else values
    mean_pos, mean_neg = lin[pos].mean(axis=0), lin[~pos].mean(axis=0)
    defined = (mean_pos > 0) & (mean_neg > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        fc = np.where(defined, mean_pos / mean_neg, np.nan)
    if (~defined).any():
        log.warning(
            "%s: fold change undefined (non-positive mean) for %d column(s): %s; pass log_base for "
            "log-scale data", name, int((~defined).sum()), format_names(data.columns[~defined]),
        )
    # the direction on the fold change's scale: the two never disagree
    diff = mean_pos - mean_neg
    direction = np.where(diff > 0, "up", np.where(diff < 0, "down", "none"))
    out = pd.DataFrame(
        {
            "mean_positive": values[pos].mean(axis=0),
            "mean_negative": values[~pos].mean(axis=0),
            "median_positive": np.median(values[pos], axis=0),
            "median_negative": np.median(values[~pos], axis=0),
            "fold_change": fc,
            "log2_fold_change": np.log2(fc),
            "direction": direction,
            "u_statistic": ustat,
            "p_value": pvals,
            "test": np.where(exact, "exact", "asymptotic"),
            "ties": ties,
            "q_value": qvals,
            "rank": pd.Series(pvals).rank(method="min").to_numpy().astype(int),
            "selected": selected,
        },
        index=pd.Index(data.columns, name="feature"),
    )
    log.info(
        "%s: %d of %d columns selected (%s < %g; %d positive, %d negative samples; %d exact, %d asymptotic p)",
        name, int(out["selected"].sum()), out.shape[0], select_by, threshold, n_pos, n_neg, int(exact.sum()),
        int((~exact).sum()),
    )
    return out
