"""Association stage: perturbation-based Pearson association of features with genes, and its null.

- :func:`associate` (also ``rg.associate``): the stage, returning an :class:`AssociationResult`;
- :mod:`.engine`: seeded draws, the exact |r| threshold, one BLAS product per draw and gene
  chunk, thread/process/Dask backends;
- :mod:`.null`: the analytic binomial and the permutation null of the selection rule.
"""

from __future__ import annotations

from .engine import critical_r, pearson_matrix
from .null import null_hit_probability, null_summary_table
from .stage import AssociationResult, associate

__all__ = [
    "AssociationResult",
    "associate",
    "critical_r",
    "null_hit_probability",
    "null_summary_table",
    "pearson_matrix",
]
