"""CLI command of the module stage: ``radiogenomics module``."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import CONFIG_HELP, app, cli_errors, default, read_input, stage_options

S = "module"


@app.command("module")
@cli_errors
def module_command(
    ctx: typer.Context,
    enrichment: Path = typer.Option(..., "--enrichment", help="An `enrich` result folder or its table; or, with --enrichment-format, a clusterProfiler/gseapy table or a folder of per-feature tables."),
    differential: Path = typer.Option(..., "--differential", help="A `differential` result folder, or its table."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    associations: Path = typer.Option(None, "--associations", help="An `associate` result folder or positive_specific table (gene nodes)."),
    validation_enrichment: Path = typer.Option(
        None, "--validation-enrichment", help="Enrichment of the validation cohort's gene sets (replication table)."),
    config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
    threshold: float = typer.Option(default(S, "threshold"), "--threshold", help="Auxiliary when the similarity is above this."),
    inclusive: bool = typer.Option(default(S, "inclusive"), "--inclusive/--exclusive", help="Similarity >= threshold qualifies (--inclusive) or only > threshold (--exclusive, the paper)."),
    enrichment_format: str = typer.Option(default(S, "enrichment_format"), "--enrichment-format", help="Layout of --enrichment: radiogenomics (an `enrich` result or its table), clusterprofiler (as.data.frame of enrichGO/enrichKEGG/compareCluster: one table with 'Cluster', or a folder of <feature>.csv files) or gseapy (gseapy.enrich results: same)."),
    method: str = typer.Option(default(S, "method"), "--method", help="simpson | jaccard."),
    column: str = typer.Option(default(S, "column"), "--column", "--term-rule", help="Term rule: q_value (default) or p_value (the paper: p < alpha)."),
    alpha: float = typer.Option(default(S, "alpha"), "--alpha", help="A term is significant when column < alpha (default: the enrichment's FDR level)."),
    beats_null_only: bool = typer.Option(
        default(S, "beats_null_only"), "--beats-null-only/--all-features",
        help="Restrict the module to features whose gene sets beat the association's permutation null "
             "(default: all features, the paper's method)."),
    top_terms: int = typer.Option(default(S, "top_terms"), "--top-terms", help="Terms per feature in the network."),
    top_genes: int = typer.Option(default(S, "top_genes"), "--top-genes", help="Genes per feature in the network."),
) -> None:
    """Simpson similarity, auxiliary features, the feature module and its network exports."""
    from .._io import read_table
    from .._validation import MissingDataFileError
    from ..enrichment.formats import read_enrichment_files
    from ..module import module
    from .enrichment import _read_long

    opts = stage_options(ctx, S, dict(threshold=threshold, inclusive=inclusive, method=method, column=column,
                                      alpha=alpha, enrichment_format=enrichment_format, beats_null_only=beats_null_only,
                                      top_terms=top_terms, top_genes=top_genes), config)
    native = opts["enrichment_format"] == "radiogenomics"

    def read_enrichment(path: Path, what: str):
        if not native:  # another tool's table, or a folder of one table per feature
            if not path.exists():
                raise MissingDataFileError(f"--{what} {path}: not found.")
            return read_enrichment_files(path)
        res = read_input(path, "enrichment", what=f"--{what}")
        return _read_long(path, what=what) if res is None else res

    enr = read_enrichment(enrichment, "enrichment")
    diff = read_input(differential, "differential", what="--differential")
    diff = read_table(differential, numeric=False) if diff is None else diff
    assoc = None
    if associations is not None:
        assoc = read_input(associations, "association", what="--associations")
        assoc = _read_long(associations, what="associations") if assoc is None else assoc
    val = None
    if validation_enrichment is not None:
        val = read_enrichment(validation_enrichment, "validation-enrichment")
    res = module(enr, diff, association=assoc, validation_enrichment=val, **opts)
    inputs = {"enrichment": enrichment, "differential": differential, "associations": associations,
              "validation_enrichment": validation_enrichment}
    res.write(out, inputs={k: v for k, v in inputs.items() if v is not None})
