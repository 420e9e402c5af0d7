"""The differential stage and its result."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd

from .._logging import get_logger
from .._results import StageResult, dropped_table, features_and_labels, is_synthetic
from .._validation import align_samples, check_labels, check_table
from .wilcoxon import rank_sum_table

__all__ = ["DifferentialResult", "differential"]

log = get_logger(__name__)

#: Features whose values are kept for the box plots of the report (smallest p first).
N_TOP_VALUES = 12


@dataclass(frozen=True)
class DifferentialResult(StageResult):
    """Result of :func:`differential`.

    Attributes
    ----------
    table
        One row per feature (index ``feature``): ``mean_positive``, ``mean_negative``,
        ``median_positive``, ``median_negative``, ``fold_change``, ``log2_fold_change``,
        ``direction``, ``u_statistic``, ``p_value``, ``test``, ``ties``, ``q_value``,
        ``rank``, ``selected`` (see :func:`~radiogenomics.differential.rank_sum_table`).
        Written as ``differential``.
    top_values
        The values of the features with the smallest p, long: ``sample``, ``label``,
        ``feature``, ``value`` (what the box plots draw).
    parameters
        ``select_by``, ``threshold``, ``method``, ``use_continuity``, ``log_base``,
        ``log_offset``, ``test``, ``n_exact`` (features with an exact p), ``n_positive``,
        ``n_negative``.
    dropped
        Empty: the test keeps every feature (a constant one gets p = 1).
    synthetic
        The inputs were synthetic.
    """

    stage: ClassVar[str] = "differential"
    TABLE_ATTRS: ClassVar[Mapping[str, str]] = {"differential": "table"}

    table: pd.DataFrame
    top_values: pd.DataFrame | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    dropped: pd.DataFrame = field(default_factory=dropped_table)
    synthetic: bool = False

    @property
    def selected(self) -> list[str]:
        """The differential features (``selected`` is True), smallest p first."""
        sel = self.table[self.table["selected"].astype(bool)]
        return [str(f) for f in sel.sort_values("p_value", kind="mergesort").index]

    def feature_set(self) -> list[str]:
        """The feature set this stage defines for the models: :attr:`selected`.

        Returns
        -------
        list of str
        """
        return self.selected

    def overview(self) -> dict[str, Any]:
        """Counts of the result.

        Returns
        -------
        dict
            ``n_features``, ``n_selected``, ``dropped``.
        """
        return {"n_features": int(len(self.table)), "n_selected": len(self.selected), "dropped": int(len(self.dropped))}


def differential(
    features: pd.DataFrame | Any,
    labels: pd.Series | None = None,
    *,
    select_by: str = "p",
    threshold: float = 0.05,
    method: str = "auto",
    use_continuity: bool = True,
    log_base: float | None = None,
    log_offset: float = 0.0,
    name: str = "features",
) -> DifferentialResult:
    """Test every feature for a HER2-positive vs HER2-negative difference (Cui et al. 2023).

    Parameters
    ----------
    features
        Rows = samples, columns = features; or an upstream result holding features and labels
        (:func:`radiogenomics.extract`).
    labels
        1 = HER2-positive, 0 = HER2-negative, indexed by sample id (taken from ``features``
        when it is a result).
    select_by
        ``"p"`` (the paper: raw p-value) or ``"q"`` (Benjamini–Hochberg).
    threshold
        A feature is selected when its ``select_by`` value is below this.
    method
        ``"auto"`` (R's ``wilcox.test`` rule: the exact p when both groups have fewer than 50
        samples and the feature has no ties, else the normal approximation), ``"exact"``
        (exact wherever the feature has no ties; tied features get the tie-corrected normal
        approximation, logged, never an exact p that ignores the ties) or ``"asymptotic"``.
    use_continuity
        Continuity correction of the normal approximation.
    log_base
        The data are log-scale with this base: fold changes (and directions, computed the same
        way) are computed on un-logged values.
    log_offset
        Pseudo-count of log-scale data: the values are ``log_base(x + log_offset)`` (e.g. 1 for
        log2(FPKM + 1)), un-logged as ``log_base ** value - log_offset``. Needs ``log_base``.
    name
        Table name used in messages.

    Returns
    -------
    DifferentialResult
        The per-feature table, the values of the top features, the parameters.
    """
    synthetic = is_synthetic(features, labels)
    data, y = features_and_labels(features, labels, name=name)
    table = rank_sum_table(data, y, select_by=select_by, threshold=threshold, method=method,
                           use_continuity=use_continuity, log_base=log_base, log_offset=log_offset, name=name)
    data = check_table(data, name=name)
    data, y = align_samples(data, check_labels(y), data_name=name)
    top = list(table.sort_values("p_value", kind="mergesort").index[:N_TOP_VALUES])
    long = data[top].rename_axis("sample").reset_index().melt(id_vars="sample", var_name="feature", value_name="value")
    long.insert(1, "label", long["sample"].map(y).astype("int8"))
    parameters = {
        "select_by": select_by, "threshold": threshold, "method": method, "use_continuity": use_continuity,
        "log_base": log_base, "log_offset": log_offset, "test": "Mann-Whitney U, two-sided",
        "n_exact": int((table["test"] == "exact").sum()),
        "n_positive": int((y == 1).sum()), "n_negative": int((y == 0).sum()),
    }
    return DifferentialResult(table=table, top_values=long, parameters=parameters, synthetic=synthetic)
