"""Association stage: perturbation-based Pearson association of features with genes, and its null.

- :func:`associate` (also ``rg.associate``): the stage, returning an :class:`AssociationResult`;
- :mod:`.engine`: seeded draws, the exact |r| threshold, one BLAS product per draw and gene
  chunk, thread/process/Dask backends, the float64 reference engine and the mixed-precision one;
- :mod:`.kernel`: float32 products (NumPy or PyTorch, CPU or GPU) with the float64 decision
  near the threshold, and the derivation of its margin;
- :mod:`.null`: the permutation null of the selection rule (primary; each feature's verdict)
  and the analytic binomial, shown only where its checked assumptions hold.
"""

from __future__ import annotations

from .engine import critical_r, pearson_matrix
from .null import binomial_null, null_hit_probability, null_summary_table
from .stage import AssociationResult, associate

__all__ = [
    "AssociationResult",
    "associate",
    "binomial_null",
    "critical_r",
    "null_hit_probability",
    "null_summary_table",
    "pearson_matrix",
]
