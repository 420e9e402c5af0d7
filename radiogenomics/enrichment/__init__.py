"""Enrichment stage: gene-set libraries, over-representation analysis, functional similarity.

- :mod:`.libraries`: GMT files and Enrichr libraries (fetched once through gseapy, cached).
- :mod:`.ora`: hypergeometric over-representation of many gene sets at once (sparse).
- :mod:`.similarity`: Simpson/Jaccard indices of significant term sets; replication.
"""

from __future__ import annotations

from .libraries import (
    GeneSetLibrary,
    default_cache_dir,
    library_from_dict,
    load_libraries,
    load_library,
    read_gmt,
    write_gmt,
)
from .ora import ENRICHMENT_COLUMNS, EnrichmentResult, as_gene_sets, bh_by_group, enrich, hypergeom_sf
from .similarity import (
    jaccard_index,
    pairwise_similarity,
    replication,
    significant_terms,
    similarity_matrix,
    simpson_index,
    term_id,
)

__all__ = [
    "GeneSetLibrary",
    "read_gmt",
    "write_gmt",
    "load_library",
    "load_libraries",
    "library_from_dict",
    "default_cache_dir",
    "ENRICHMENT_COLUMNS",
    "EnrichmentResult",
    "enrich",
    "as_gene_sets",
    "bh_by_group",
    "hypergeom_sf",
    "term_id",
    "significant_terms",
    "simpson_index",
    "jaccard_index",
    "similarity_matrix",
    "pairwise_similarity",
    "replication",
]
