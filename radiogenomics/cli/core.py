"""CLI commands of the core stage: ``differential`` and ``associate``."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app, cli_errors


@app.command("differential")
@cli_errors
def differential_cmd(
    features: Path = typer.Option(..., "--features", help="Feature table (CSV/TSV/Parquet), rows = samples."),
    labels: Path = typer.Option(..., "--labels", help="Labels file: sample id, her2 (1/0)."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    select_by: str = typer.Option("p", "--select-by", help="'p' (the paper) or 'q' (BH)."),
    threshold: float = typer.Option(0.05, "--threshold", help="Selection threshold."),
    log_base: float = typer.Option(None, "--log-base", help="Data are log-scale with this base (fold changes un-logged)."),
    transpose: bool = typer.Option(False, "--transpose", help="The file stores samples as columns."),
) -> None:
    """Two-sided Mann–Whitney U test of every feature, HER2+ vs HER2−, with fold change and BH q."""
    from .._io import orient_samples, read_labels, read_table, write_table
    from .._logging import get_logger
    from .._provenance import build_provenance, write_provenance
    from ..core import differential

    y = read_labels(labels)
    table = orient_samples(read_table(features, transpose=transpose), y.index, name=str(features))
    res = differential(table, y, select_by=select_by, threshold=threshold, log_base=log_base, name=str(features))
    params = dict(select_by=select_by, threshold=threshold, log_base=log_base, test="mannwhitneyu two-sided")
    write_table(res, out, "differential")
    write_provenance(out, build_provenance(
        "differential", parameters=params, inputs={"features": features, "labels": labels},
        extra={"n_selected": int(res["selected"].sum()), "n_features": int(res.shape[0])},
    ))
    get_logger(__name__).info("differential: %d of %d selected; wrote %s", int(res["selected"].sum()), res.shape[0], out)


@app.command("associate")
@cli_errors
def associate_cmd(
    features: Path = typer.Option(..., "--features", help="Imaging feature table, rows = patients."),
    expression: Path = typer.Option(..., "--expression", help="Expression matrix (samples x genes, or genes x samples: detected)."),
    labels: Path = typer.Option(..., "--labels", help="HER2 labels of the imaging patients."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    expression_labels: Path = typer.Option(None, "--expression-labels", help="HER2 labels of the expression samples (unpaired)."),
    mode: str = typer.Option("unpaired", "--mode", help="'unpaired' (the paper) or 'paired'."),
    perturbations: int = typer.Option(75, "--perturbations", help="Perturbations per class (paper 75; validation 25)."),
    sample_size: int = typer.Option(None, "--sample-size", help="Samples per draw (default 80% of the smallest class)."),
    r_threshold: float = typer.Option(0.3, "--r-threshold"),
    alpha: float = typer.Option(0.05, "--alpha"),
    min_hits: int = typer.Option(6, "--min-hits", help="Hits needed for association (paper 6 of 75; 2 of 25)."),
    null: int = typer.Option(100, "--null", help="Permutation-null rounds (0 skips)."),
    top_n: int = typer.Option(25, "--top-n"),
    seed: int = typer.Option(0, "--seed"),
    jobs: int = typer.Option(1, "--jobs", help="Threads over gene chunks."),
    scheduler: str = typer.Option(None, "--scheduler", help="Dask distributed scheduler address (uses the Dask backend)."),
    max_normalize: bool = typer.Option(True, "--max-normalize/--no-max-normalize", help="Max-normalise both tables first (the paper)."),
    unlog_base: float = typer.Option(None, "--unlog-base", help="Expression is log-scale with this base: un-log before max-normalising."),
) -> None:
    """Perturbation-based Pearson association of features with genes, with binomial and permutation nulls."""
    from .._io import orient_samples, read_labels, read_table, write_tables
    from .._logging import get_logger
    from .._provenance import build_provenance, write_provenance
    from ..core import associate, max_normalize as maxnorm

    log = get_logger(__name__)
    y = read_labels(labels)
    feats = orient_samples(read_table(features), y.index, name=str(features))
    ey = read_labels(expression_labels) if expression_labels is not None else None
    lazy = scheduler is not None and expression.suffix in (".parquet", ".pq")
    if lazy:
        # beyond one machine: workers read their own gene chunks from the Parquet file
        import dask.dataframe as dd

        expr = dd.read_parquet(expression)
        log.info("%s: read lazily by the Dask workers (rows must be samples)", expression)
    else:
        expr = orient_samples(read_table(expression), (ey if ey is not None else y).index, name=str(expression))
    if max_normalize:
        feats = maxnorm(feats, name=str(features))
        if lazy:
            log.info("max-normalisation of the lazy expression table skipped: Pearson r is invariant to it")
        else:
            expr = maxnorm(expr, unlog_base=unlog_base, name=str(expression))
    client = None
    if scheduler:
        from distributed import Client

        client = Client(scheduler)
    try:
        res = associate(
            feats, expr, y, expression_labels=ey, mode=mode, n_perturbations=perturbations,
            sample_size=sample_size, r_threshold=r_threshold, alpha=alpha, min_hits=min_hits, n_null=null,
            top_n=top_n, seed=seed, n_jobs=jobs, backend="dask" if scheduler else "numpy",
        )
    finally:
        if client is not None:
            client.close()
    write_tables(res.tables(), out)
    inputs = {"features": features, "expression": expression, "labels": labels}
    if expression_labels is not None:
        inputs["expression_labels"] = expression_labels
    write_provenance(out, build_provenance(
        "association", parameters={**res.parameters, "max_normalize": max_normalize, "unlog_base": unlog_base},
        seeds={"seed": seed}, inputs=inputs,
        extra={"positive_specific_pairs": int(len(res.positive_specific)),
               "expected_pairs_binomial": float(res.null_summary["expected_binomial"].sum()),
               "permutation_mean_pairs": float(res.null_summary["permutation_mean"].sum()) if null else None},
    ))
    log.info("association: %d positive-specific pairs; wrote %s", len(res.positive_specific), out)
