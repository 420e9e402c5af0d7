"""CLI commands of the expression stage: ``radiogenomics geo fetch`` and ``radiogenomics geo merge``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import app, cli_errors

geo_app = typer.Typer(
    name="geo",
    help="GEO series: fetch/parse with HER2 labels from data_manifests, and merge several series.",
    no_args_is_help=True,
)
app.add_typer(geo_app, name="geo")


def _write_series(prepared, out: Path, *, params: dict, inputs: dict) -> None:  # noqa: ANN001
    from .._io import write_json, write_table
    from .._provenance import build_provenance, write_provenance

    labels = prepared.labels.to_frame("her2")
    labels["series"] = prepared.accession
    labels.index.name = "sample_id"
    expression = prepared.expression.copy()
    expression.index.name = "sample_id"
    write_table(expression, out, "expression")
    write_table(labels, out, "labels")
    write_table(prepared.decisions, out, "label_decisions")
    write_table(prepared.dropped, out, "dropped", index=False)
    write_table(prepared.counts, out, "counts", index=False)
    if prepared.probes is not None:
        write_table(prepared.probes, out, "probes")
    write_json({k: prepared.summary.get(k) for k in ("accession", "scale", "log_offset", "platform",
                                                     "manifest_platform", "manifest")}, out / "series.json")
    record = build_provenance("geo_fetch", parameters=params, inputs=inputs, extra=prepared.summary)
    write_provenance(out, record)


@geo_app.command("fetch")
@cli_errors
def fetch(
    accessions: list[str] = typer.Argument(..., help="GEO series accessions (GSE...)."),
    out: Path = typer.Option(..., "--out", help="Output folder (one sub-folder per series when several)."),
    soft: Optional[Path] = typer.Option(None, "--soft", help="Local SOFT family file (one accession only)."),
    series_matrix: Optional[Path] = typer.Option(None, "--series-matrix", help="Local series-matrix file."),
    samples: Optional[Path] = typer.Option(None, "--samples", help="Local samples table (with --expression)."),
    expression: Optional[Path] = typer.Option(None, "--expression", help="Local genes x samples matrix."),
    manifest_dir: Optional[Path] = typer.Option(None, "--manifest-dir", help="Folder of <GSE>.yaml manifests."),
    manifest: Optional[Path] = typer.Option(None, "--manifest", help="Explicit manifest YAML (one accession)."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Download cache (default ~/.cache/radiogenomics/geo)."),
    platform_table: Optional[Path] = typer.Option(None, "--platform-table", help="Probe -> symbol table (id,symbol)."),
    kind: str = typer.Option("soft", "--kind", help="File to download: soft or series_matrix."),
    multi: str = typer.Option("drop", "--multi", help="Probes mapping to several genes: drop, first or split."),
    collapse: str = typer.Option("max_mean", "--collapse", help="Several probes per gene: max_mean, mean, median."),
    unmatched: Optional[str] = typer.Option(None, "--unmatched", help="HER2 text no rule matches: error or exclude."),
    scale_check: bool = typer.Option(True, "--scale-check/--no-scale-check", help="Check values against the manifest's scale."),
    retries: int = typer.Option(3, "--retries", help="Download attempts."),
) -> None:
    """Read GEO series (download with cache, or local files), map probes to genes, label HER2."""
    from .._logging import get_logger
    from .._validation import ParameterError
    from ..expression import (
        fetch_geo,
        load_manifest,
        prepare_series,
        read_local_series,
        read_platform_table,
        read_series_matrix,
        read_soft,
    )

    log = get_logger(__name__)
    local = [x for x in (soft, series_matrix, samples, expression, manifest) if x is not None]
    if local and len(accessions) != 1:
        raise ParameterError("--soft, --series-matrix, --samples/--expression and --manifest need exactly one accession.")
    if (samples is None) != (expression is None):
        raise ParameterError("--samples and --expression must be given together.")
    if sum(x is not None for x in (soft, series_matrix, samples)) > 1:
        raise ParameterError("give only one of --soft, --series-matrix or --samples/--expression.")
    ptable = read_platform_table(platform_table) if platform_table is not None else None
    for acc in accessions:
        man = load_manifest(manifest if manifest is not None else acc, directory=manifest_dir)
        if man.accession != acc:
            raise ParameterError(f"manifest {man.source} is for {man.accession}, not {acc}.")
        inputs: dict[str, Path] = {"manifest": man.path} if man.path else {}
        if samples is not None and expression is not None:
            series = read_local_series(samples, expression, accession=acc, platform=man.platform,
                                       sample_id=man.local.get("sample_id", "geo_accession"),
                                       expression_column=man.local.get("expression_column"))
            inputs.update(samples=samples, expression=expression)
        elif series_matrix is not None:
            series = read_series_matrix(series_matrix, accession=acc)
            inputs["series_matrix"] = series_matrix
        elif soft is not None:
            series = read_soft(soft, geotype="GSE", accession=acc)
            inputs["soft"] = soft
        else:
            path = fetch_geo(acc, kind=kind, cache_dir=cache, retries=retries)
            series = read_soft(path, geotype="GSE", accession=acc) if kind == "soft" else \
                read_series_matrix(path, accession=acc)
            inputs[kind] = path
        if platform_table is not None:
            inputs["platform_table"] = platform_table
        prepared = prepare_series(series, man, platform_table=ptable, multi=multi, collapse=collapse,
                                  scale_check=scale_check, unmatched=unmatched)
        dest = out if len(accessions) == 1 else out / acc
        params = {"accession": acc, "kind": kind, "multi": multi, "collapse": collapse, "unmatched": unmatched,
                  "scale_check": scale_check, "cache": str(cache) if cache else None}
        _write_series(prepared, dest, params=params, inputs=inputs)
        s = prepared.summary
        log.info("%s: wrote %d samples x %d genes (%d positive, %d negative, %d excluded) to %s", acc,
                 prepared.expression.shape[0], prepared.expression.shape[1], s["positive"], s["negative"],
                 s["excluded"], dest)
        if s.get("counts_match") is False:
            typer.echo(f"warning: {acc}: labelled counts differ from the manifest's expected counts; "
                       f"see {dest / 'counts.csv'}", err=True)


@geo_app.command("merge")
@cli_errors
def merge(
    folders: list[Path] = typer.Argument(..., help="Folders written by `geo fetch`."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    combat: bool = typer.Option(False, "--combat/--no-combat", help="ComBat across series (inmoose)."),
    n_components: int = typer.Option(10, "--n-components", help="PCs for the series-separation check."),
) -> None:
    """Merge series on shared genes, max-normalise each, optionally ComBat; report series separation."""
    from .._io import read_json, read_labels, read_table, write_table
    from .._provenance import build_provenance, write_provenance
    from .._validation import MissingDataFileError
    from ..expression import merge_series

    exprs, labs, scales, offsets, inputs = {}, {}, {}, {}, {}
    for folder in folders:
        info_path = folder / "series.json"
        if not info_path.exists():
            raise MissingDataFileError(f"{info_path}: not found; pass folders written by `radiogenomics geo fetch`.")
        info = read_json(info_path)
        name = str(info["accession"])
        table = folder / "expression.parquet"
        if not table.exists():
            table = folder / "expression.csv"
        exprs[name] = read_table(table)
        labs[name] = read_labels(folder / ("labels.parquet" if (folder / "labels.parquet").exists() else "labels.csv"),
                                 column="her2")
        scales[name] = info["scale"]
        offsets[name] = float(info.get("log_offset") or 0.0)
        inputs[f"{name}_expression"] = table
    result = merge_series(exprs, labs, scales=scales, log_offsets=offsets, combat=combat, n_components=n_components)
    write_table(result.expression, out, "expression")
    write_table(result.labels, out, "labels")
    write_table(result.dropped, out, "dropped", index=False)
    write_table(result.genes, out, "series_genes", index=False)
    write_table(result.batch_check, out, "batch_check", index=False)
    record = build_provenance("geo_merge", parameters={"combat": combat, "n_components": n_components,
                                                       "folders": [str(f) for f in folders]},
                              inputs=inputs, extra=result.summary)
    write_provenance(out, record)
    if combat and not result.summary.get("separation_reduced", True):
        typer.echo("warning: series do not separate less after ComBat; see batch_check.csv", err=True)
