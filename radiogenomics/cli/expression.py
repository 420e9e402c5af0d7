"""CLI commands of the expression stages: ``radiogenomics geo fetch``, ``geo import`` and ``geo merge``."""

from __future__ import annotations

from pathlib import Path

import typer

from .._config import api_default
from ..expression import import_series, prepare_series, read_series
from ._app import CONFIG_HELP, app, cli_errors, default, read_input, stage_options

S = "expression"

geo_app = typer.Typer(
    name="geo",
    help="Expression series: GEO series (fetch/parse, HER2 labels from data_manifests), local tables "
         "(import), and merging several series.",
    no_args_is_help=True,
)
app.add_typer(geo_app, name="geo")


@geo_app.command("fetch")
@cli_errors
def fetch(
    accessions: list[str] = typer.Argument(..., help="GEO series accessions (GSE...)."),
    out: Path = typer.Option(..., "--out", help="Output folder (one sub-folder per series when several)."),
    soft: Path = typer.Option(None, "--soft", help="Local SOFT family file (one accession only)."),
    series_matrix: Path = typer.Option(None, "--series-matrix", help="Local series-matrix file."),
    samples: Path = typer.Option(None, "--samples", help="Local samples table (with --expression)."),
    expression: Path = typer.Option(None, "--expression", help="Local genes x samples matrix."),
    manifest_dir: Path = typer.Option(None, "--manifest-dir", help="Folder of <GSE>.yaml manifests."),
    manifest: Path = typer.Option(None, "--manifest", help="Explicit manifest YAML (one accession)."),
    cache: Path = typer.Option(None, "--cache", help="Download cache (default ~/.cache/radiogenomics/geo)."),
    platform_table: Path = typer.Option(None, "--platform-table", help="Probe -> symbol table (id,symbol)."),
    kind: str = typer.Option(api_default(read_series, "kind"), "--kind", help="File to download: soft or series_matrix."),
    retries: int = typer.Option(api_default(read_series, "retries"), "--retries", help="Download attempts."),
    multi: str = typer.Option(api_default(prepare_series, "multi"), "--multi", help="Probes mapping to several genes: drop, first or split."),
    collapse: str = typer.Option(api_default(prepare_series, "collapse"), "--collapse", help="Several probes per gene: max_mean, mean, median."),
    unmatched: str = typer.Option(api_default(prepare_series, "unmatched"), "--unmatched", help="HER2 text no rule matches: error or exclude (default: the manifest's)."),
    scale_check: bool = typer.Option(api_default(prepare_series, "scale_check"), "--scale-check/--no-scale-check", help="Check values against the manifest's scale."),
) -> None:
    """Read GEO series (download with cache, or local files), map probes to genes, label HER2."""
    from .._validation import ParameterError
    from ..expression import load_manifest

    if any(x is not None for x in (soft, series_matrix, samples, expression, manifest)) and len(accessions) != 1:
        raise ParameterError("--soft, --series-matrix, --samples/--expression and --manifest need exactly one accession.")
    from .._results import check_output_folder

    dests = {acc: out if len(accessions) == 1 else out / acc for acc in accessions}
    for dest in dests.values():
        check_output_folder(dest)
    prepared = []  # every series read and prepared before any is written: one failure writes nothing
    for acc in accessions:
        man = load_manifest(manifest if manifest is not None else acc, directory=manifest_dir)
        series = read_series(acc, man, soft=soft, series_matrix=series_matrix, samples=samples, expression=expression,
                             kind=kind, cache_dir=cache, retries=retries)
        res = prepare_series(series, man, platform_table=platform_table, multi=multi, collapse=collapse,
                             scale_check=scale_check, unmatched=unmatched)
        inputs = {"manifest": man.path, "source": series.source, "samples": samples, "platform_table": platform_table}
        prepared.append((acc, res, {k: v for k, v in inputs.items() if v is not None}))
    for acc, res, inputs in prepared:
        dest = dests[acc]
        res.write(dest, inputs=inputs)
        if res.overview()["counts_match"] is False:
            typer.echo(f"warning: {acc}: labelled counts differ from the manifest's expected counts; "
                       f"see {dest / 'counts.csv'}", err=True)


@geo_app.command("import")
@cli_errors
def import_cmd(
    expression: Path = typer.Option(..., "--expression", help="Expression table (samples x genes or genes x samples: detected from the labels), or an AnnData .h5ad file (HER2 in an obs column)."),
    name: str = typer.Option(..., "--name", help="Series name (letters, digits, _ . -)."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    labels: Path = typer.Option(None, "--labels", help="Labels file: sample id, her2 (1/0; empty or NA = unknown, excluded with the reason)."),
    label_column: str = typer.Option(None, "--label-column", help="The labels' column: in --labels, else in the table itself (a row when samples are columns) or the .h5ad's obs."),
    scale: str = typer.Option(api_default(import_series, "scale"), "--scale", help="Scale of the values: linear or log2."),
    log_offset: float = typer.Option(api_default(import_series, "log_offset"), "--log-offset", help="Pseudo-count added before the log."),
) -> None:
    """Take a local expression table (or .h5ad) and its labels as they are, as a series for `geo merge`."""
    res = import_series(expression, labels, name=name, scale=scale, log_offset=log_offset, label_column=label_column)
    res.write(out, inputs={k: v for k, v in {"expression": expression, "labels": labels}.items() if v is not None})


@geo_app.command("export")
@cli_errors
def export_cmd(
    folder: Path = typer.Argument(..., help="A series (`geo fetch`/`geo import`) or merged (`geo merge`) result folder."),
    out: Path = typer.Option(..., "--out", help="AnnData file to write (.h5ad)."),
) -> None:
    """Write an expression result as AnnData (.h5ad): X = expression, obs = her2 and series."""
    from .._io import read_json
    from .._results import read_stage
    from .._validation import DataFileError, ParameterError
    from ..expression.anndata import write_h5ad

    if out.suffix.lower() != ".h5ad":
        raise ParameterError(f"--out {out}: the AnnData file must end in .h5ad.")
    prov = folder / "provenance.json"
    stages = set(read_json(prov).get("stages") or {}) if prov.exists() else set()
    stage = next((s for s in ("series", "expression") if s in stages), None)
    res = read_stage(stage, folder) if stage else None
    if res is None:
        raise DataFileError(f"{folder}: not a series (`geo fetch`/`geo import`) or merged (`geo merge`) result folder.")
    typer.echo(str(write_h5ad(res, out)))


@geo_app.command("merge")
@cli_errors
def merge(
    ctx: typer.Context,
    folders: list[Path] = typer.Argument(..., help="Series folders written by `geo fetch` or `geo import`."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
    combat: bool = typer.Option(default(S, "combat"), "--combat/--no-combat", help="ComBat across series (inmoose)."),
    n_components: int = typer.Option(default(S, "n_components"), "--n-components", help="PCs for the series-separation check."),
) -> None:
    """Merge series on shared genes, max-normalise each, optionally ComBat; report series separation."""
    from .._validation import DataFileError
    from ..expression import merge_series

    opts = stage_options(ctx, S, dict(combat=combat, n_components=n_components), config)
    results = [read_input(folder, "series", what="series folder") for folder in folders]
    if any(r is None for r in results):
        raise DataFileError("geo merge reads series folders (written by `geo fetch` or `geo import`), not files.")
    res = merge_series(results, **opts)
    res.write(out, inputs={f"{r.name}_expression": f / "expression.parquet" for r, f in zip(results, folders)})
    if res.separation_reduced is False:
        typer.echo("warning: series do not separate less after ComBat; see batch_check.csv", err=True)
