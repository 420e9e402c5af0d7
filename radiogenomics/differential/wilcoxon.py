"""The rank-sum table behind the differential stage: every column tested at once.

Two-sided Wilcoxon rank-sum (Mann–Whitney U) test for every column at once (scipy's
vectorised ``mannwhitneyu``), fold change ``mean(+) / mean(−)``, Benjamini–Hochberg q.
Cui et al. 2023 select features with p < 0.05 without FDR control; q is reported beside it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from .._logging import get_logger
from .._validation import (
    InputError,
    align_samples,
    check_choice,
    check_float,
    check_labels,
    check_table,
    format_names,
)

__all__ = ["rank_sum_table", "rank_sum_pvalues", "select_by_rule"]

log = get_logger(__name__)


def rank_sum_pvalues(
    x_pos: np.ndarray,
    x_neg: np.ndarray,
    *,
    method: str = "asymptotic",
    use_continuity: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
        scipy ``mannwhitneyu`` method: ``"asymptotic"``, ``"exact"`` or ``"auto"``.
    use_continuity
        Continuity correction of the normal approximation.

    Returns
    -------
    tuple of numpy.ndarray
        ``u`` (U of the positive group), ``p`` (two-sided) and ``constant`` (columns with a
        single value over both groups, which get p = 1), one value per column.
    """
    res = stats.mannwhitneyu(x_pos, x_neg, alternative="two-sided", method=method, use_continuity=use_continuity,
                             axis=0)
    pvals = np.asarray(res.pvalue, dtype=float)
    constant = (np.ptp(x_pos, axis=0) == 0) & (np.ptp(x_neg, axis=0) == 0) & (x_pos[0] == x_neg[0])
    # scipy returns p = 1 for an all-tied column under "asymptotic"; make that explicit for every method
    pvals = np.where(constant, 1.0, pvals)
    return np.asarray(res.statistic, dtype=float), pvals, constant


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
    method: str = "asymptotic",
    use_continuity: bool = True,
    log_base: float | None = None,
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
        scipy ``mannwhitneyu`` method: ``"asymptotic"`` (normal approximation with tie
        correction, the default of R's ``wilcox.test`` with ties), ``"exact"`` or ``"auto"``.
    use_continuity
        Continuity correction of the normal approximation.
    log_base
        The data are log-scale with this base: fold changes are computed on un-logged values
        (``log_base ** x``). Without it, fold changes of columns with a non-positive mean
        are undefined (NaN, logged).
    name
        Table name used in messages.

    Returns
    -------
    pandas.DataFrame
        One row per column of ``data`` (index = feature), sorted as the input, with columns
        ``mean_positive``, ``mean_negative``, ``median_positive``, ``median_negative``,
        ``fold_change`` (mean(+)/mean(−)), ``log2_fold_change``, ``direction`` (``"up"`` if
        the positive mean is higher, ``"down"`` if lower, ``"none"`` if equal), ``u_statistic``
        (U of the positive group), ``p_value``, ``q_value`` (BH over all columns), ``rank``
        (1 = smallest p) and ``selected``.
    """
    owner = "differential"
    check_choice(select_by, "select_by", owner=owner, choices=("p", "q"))
    check_choice(method, "method", owner=owner, choices=("asymptotic", "exact", "auto"))
    check_float(threshold, "threshold", owner=owner, min_value=0.0, max_value=1.0, closed="right")
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
    u_stat, pvals, constant = rank_sum_pvalues(values[pos], values[~pos], method=method,
                                               use_continuity=use_continuity)
    if constant.any():
        log.warning("%s: %d constant column(s) get p = 1: %s", name, int(constant.sum()),
                    format_names(data.columns[constant]))
    qvals, selected = select_by_rule(pvals, select_by=select_by, threshold=threshold)
    lin = np.power(log_base, values) if log_base is not None else values
    mean_pos, mean_neg = lin[pos].mean(axis=0), lin[~pos].mean(axis=0)
    defined = (mean_pos > 0) & (mean_neg > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        fc = np.where(defined, mean_pos / mean_neg, np.nan)
    if (~defined).any():
        log.warning(
            "%s: fold change undefined (non-positive mean) for %d column(s): %s; pass log_base for "
            "log-scale data", name, int((~defined).sum()), format_names(data.columns[~defined]),
        )
    diff = values[pos].mean(axis=0) - values[~pos].mean(axis=0)
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
            "u_statistic": u_stat,
            "p_value": pvals,
            "q_value": qvals,
            "rank": pd.Series(pvals).rank(method="min").to_numpy().astype(int),
            "selected": selected,
        },
        index=pd.Index(data.columns, name="feature"),
    )
    log.info(
        "%s: %d of %d columns selected (%s < %g; %d positive, %d negative samples)",
        name, int(out["selected"].sum()), out.shape[0], select_by, threshold, n_pos, n_neg,
    )
    return out
