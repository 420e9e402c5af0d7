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
    enrichment: Path = typer.Option(..., "--enrichment", help="An `enrich` result folder, or an enrichment table."),
    differential: Path = typer.Option(..., "--differential", help="A `differential` result folder, or its table."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    associations: Path = typer.Option(None, "--associations", help="An `associate` result folder or positive_specific table (gene nodes)."),
    validation_enrichment: Path = typer.Option(
        None, "--validation-enrichment", help="Enrichment of the validation cohort's gene sets (replication table)."),
    config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
    threshold: float = typer.Option(default(S, "threshold"), "--threshold", help="Auxiliary when the similarity is above this."),
    method: str = typer.Option(default(S, "method"), "--method", help="simpson | jaccard."),
    column: str = typer.Option(default(S, "column"), "--column", help="Term rule: q_value (default) or p_value (the paper)."),
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
    from ..module import module
    from .enrichment import _read_long

    opts = stage_options(ctx, S, dict(threshold=threshold, method=method, column=column, alpha=alpha,
                                      beats_null_only=beats_null_only, top_terms=top_terms, top_genes=top_genes),
                         config)
    enr = read_input(enrichment, "enrichment", what="--enrichment")
    enr = _read_long(enrichment, what="enrichment") if enr is None else enr
    diff = read_input(differential, "differential", what="--differential")
    diff = read_table(differential, numeric=False) if diff is None else diff
    assoc = None
    if associations is not None:
        assoc = read_input(associations, "association", what="--associations")
        assoc = _read_long(associations, what="associations") if assoc is None else assoc
    val = None
    if validation_enrichment is not None:
        val = read_input(validation_enrichment, "enrichment", what="--validation-enrichment")
        val = _read_long(validation_enrichment, what="validation enrichment") if val is None else val
    res = module(enr, diff, association=assoc, validation_enrichment=val, **opts)
    inputs = {"enrichment": enrichment, "differential": differential, "associations": associations,
              "validation_enrichment": validation_enrichment}
    res.write(out, inputs={k: v for k, v in inputs.items() if v is not None})
