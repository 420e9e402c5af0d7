"""Differential stage: which features differ between HER2-positive and HER2-negative patients.

- :func:`differential` (also ``rg.differential(...)``: the package is callable): the stage, returning a :class:`DifferentialResult`;
- :mod:`.wilcoxon`: the rank-sum table it is built from (two-sided Mann–Whitney U, fold change,
  Benjamini–Hochberg q), and :func:`.wilcoxon.rank_sum_pvalues`, the one computation of the rule;
- :class:`DifferentialSelector`: the same rule as a scikit-learn transformer, refitted inside each
  training split by the models stage's nested protocol.
"""

from __future__ import annotations

from .._results import callable_stage
from .selector import DifferentialSelector
from .stage import DifferentialResult, differential
from .wilcoxon import rank_sum_pvalues, rank_sum_table

__all__ = ["DifferentialResult", "DifferentialSelector", "differential", "rank_sum_pvalues", "rank_sum_table"]

# the package is also its stage function: rg.differential(...)
callable_stage(__name__, differential)
