"""Expression path: GEO series (SOFT, series matrix, local tables), probe → gene mapping,
HER2 labels from ``data_manifests/*.yaml`` rules, and multi-series merging with batch correction.

Typical use::

    from radiogenomics import expression as ex
    manifest = ex.load_manifest("GSE96058")
    series = ex.read_local_series("samples.csv", "expression_log2fpkm.csv.gz", accession="GSE96058",
                                  sample_id="geo_accession", expression_column="title")
    prepared = ex.prepare_series(series, manifest)
    prepared.expression, prepared.labels, prepared.decisions, prepared.counts
"""

from __future__ import annotations

from .geo import (
    GeoSeries,
    cached_file,
    default_cache_dir,
    fetch_geo,
    geo_url,
    parse_characteristics,
    read_local_series,
    read_series_matrix,
    read_soft,
    read_soft_platform,
)
from .labels import (
    Manifest,
    ManifestError,
    check_counts,
    label_samples,
    labels_from_decisions,
    load_manifest,
    manifest_dir,
    normalize_field,
    normalize_value,
    validate_manifest,
)
from .merge import MergeResult, batch_separation, merge_series
from .platforms import ProbeMapping, map_probes, read_platform_table, symbol_column
from .series import PreparedSeries, ScaleError, check_scale, infer_scale, prepare_series

__all__ = [
    "GeoSeries",
    "cached_file",
    "default_cache_dir",
    "fetch_geo",
    "geo_url",
    "parse_characteristics",
    "read_local_series",
    "read_series_matrix",
    "read_soft",
    "read_soft_platform",
    "Manifest",
    "ManifestError",
    "check_counts",
    "label_samples",
    "labels_from_decisions",
    "load_manifest",
    "manifest_dir",
    "normalize_field",
    "normalize_value",
    "validate_manifest",
    "MergeResult",
    "batch_separation",
    "merge_series",
    "ProbeMapping",
    "map_probes",
    "read_platform_table",
    "symbol_column",
    "PreparedSeries",
    "ScaleError",
    "check_scale",
    "infer_scale",
    "prepare_series",
]
