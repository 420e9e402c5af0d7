"""Core statistics on in-memory tables (rows = samples): normalisation, differential features,
perturbation association with its null model. No file I/O here."""

from .association import AssociationResult, associate, critical_r, null_hit_probability, pearson_matrix
from .differential import differential
from .normalize import max_normalize, unlog

__all__ = [
    "AssociationResult",
    "associate",
    "critical_r",
    "differential",
    "max_normalize",
    "null_hit_probability",
    "pearson_matrix",
    "unlog",
]
