"""Expression path: GEO series (SOFT, series matrix, local tables), probe → gene mapping,
HER2 labels from ``data_manifests/*.yaml`` rules, and multi-series merging with batch correction.

Two stages, each with one result: a series (:class:`SeriesResult`, stage ``"series"``) and the
merged table (:class:`ExpressionResult`, stage ``"expression"``, what :func:`radiogenomics.associate`
reads). Typical use::

    from radiogenomics import expression as ex
    manifest = ex.load_manifest("GSE96058")
    scanb = ex.prepare_series(ex.read_series("GSE96058", manifest, samples="samples.csv",
                                             expression="expression_log2fpkm.csv.gz"), manifest)
    local = ex.import_series("local_expression.csv", "local_labels.csv", name="local", scale="log2")
    h5ad = ex.import_series("cohort.h5ad", name="h5ad", label_column="her2")  # AnnData, HER2 in obs
    merged = ex.merge_series([scanb, local], combat=True)
    merged.write("results/expression/merged")
    merged.expression, merged.labels, merged.series, merged.batch_check
    ex.write_h5ad(merged, "merged.h5ad")                                       # back to AnnData
"""

from __future__ import annotations

from .anndata import read_h5ad, to_anndata, write_h5ad
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
    unmatched_policy,
    validate_manifest,
)
from .merge import ExpressionResult, batch_separation, merge_series
from .normalize import max_normalize, max_scales, normalization_record, unlog
from .platforms import ProbeMapping, map_probes, read_platform_table, symbol_column
from .series import (
    ScaleError,
    SeriesResult,
    check_scale,
    import_series,
    infer_scale,
    prepare_series,
    read_series,
)

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
    "unmatched_policy",
    "validate_manifest",
    "ExpressionResult",
    "batch_separation",
    "merge_series",
    "max_normalize",
    "max_scales",
    "normalization_record",
    "unlog",
    "read_h5ad",
    "to_anndata",
    "write_h5ad",
    "ProbeMapping",
    "map_probes",
    "read_platform_table",
    "symbol_column",
    "SeriesResult",
    "ScaleError",
    "check_scale",
    "import_series",
    "infer_scale",
    "prepare_series",
    "read_series",
]
