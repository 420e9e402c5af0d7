"""Enrichment stage: gene-set libraries and over-representation analysis of each feature's genes.

- :func:`enrich` (also ``rg.enrich``): the stage, returning an :class:`EnrichmentResult`;
- :mod:`.libraries`: GMT files and Enrichr libraries (fetched once through gseapy, cached);
- :mod:`.ora`: hypergeometric over-representation of many gene sets at once (sparse);
- :mod:`.formats`: clusterProfiler's and gseapy's enrichment tables read as the toolkit's, and the
  toolkit's written in clusterProfiler's columns.

The functional similarity of features built on these results is the module stage's
(:mod:`radiogenomics.module`).
"""

from __future__ import annotations

from .formats import (
    ENRICHMENT_FORMATS,
    check_enrichment_table,
    enrichment_table,
    from_clusterprofiler,
    from_gseapy,
    read_enrichment_files,
    to_clusterprofiler,
)
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
    "ENRICHMENT_FORMATS",
    "check_enrichment_table",
    "enrichment_table",
    "from_clusterprofiler",
    "from_gseapy",
    "read_enrichment_files",
    "to_clusterprofiler",
]
