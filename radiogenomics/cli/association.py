"""CLI command of the association stage: ``radiogenomics associate``."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import CONFIG_HELP, LABEL_COLUMN_HELP, app, cli_errors, default, features_input, read_input, stage_options

S = "association"


@app.command("associate")
@cli_errors
def associate_cmd(
    ctx: typer.Context,
    features: Path = typer.Option(..., "--features", help="Imaging features: an `extract` result folder or a table (rows = patients)."),
    expression: Path = typer.Option(..., "--expression", help="Expression: a `geo merge` result folder or a matrix (samples x genes, or genes x samples: detected)."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    labels: Path = typer.Option(None, "--labels", help="HER2 labels of the imaging patients (with a feature table)."),
    label_column: str = typer.Option(None, "--label-column", help=LABEL_COLUMN_HELP),
    expression_labels: Path = typer.Option(None, "--expression-labels", help="HER2 labels of the expression samples (with a matrix; unpaired mode needs them)."),
    config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
    mode: str = typer.Option(default(S, "mode"), "--mode", help="'unpaired' (the paper) or 'paired'."),
    n_perturbations: int = typer.Option(default(S, "n_perturbations"), "--perturbations", help="Perturbations per class (paper 75; validation 25)."),
    sample_size: int = typer.Option(default(S, "sample_size"), "--sample-size", help="Samples per draw (default 80% of the smallest class)."),
    r_threshold: float = typer.Option(default(S, "r_threshold"), "--r-threshold", help="A hit needs |r| above this."),
    alpha: float = typer.Option(default(S, "alpha"), "--alpha", help="... and p below this."),
    min_hits: int = typer.Option(default(S, "min_hits"), "--min-hits", help="Hits needed for association (paper 6 of 75; 2 of 25)."),
    n_null: int = typer.Option(default(S, "n_null"), "--null", help="Permutation-null rounds (0 skips: then no feature has a verdict)."),
    null_alpha: float = typer.Option(default(S, "null_alpha"), "--null-alpha", help="A feature beats the null when its empirical p is below this."),
    top_n: int = typer.Option(default(S, "top_n"), "--top-n", help="Rows of the top-genes table."),
    max_normalize: bool = typer.Option(default(S, "max_normalize"), "--max-normalize/--no-max-normalize", help="Max-normalise both tables first, as the paper (Pearson r is invariant to it; a column whose maximum is <= 0 is divided by its largest absolute value, see rg.expression.max_normalize)."),
    seed: int = typer.Option(default(S, "seed"), "--seed"),
    n_jobs: int = typer.Option(default(S, "n_jobs"), "--n-jobs", "--jobs", help="Workers over gene chunks (-1 = all cores)."),
    backend: str = typer.Option(default(S, "backend"), "--backend", help="threads, processes or dask."),
    device: str = typer.Option(default(S, "device"), "--device", help="Where the float32 products run: auto (a CUDA GPU when torch sees one), cpu or cuda[:N] (needs the [deep] extra); the hits are the float64 engine's on every device."),
    scheduler: str = typer.Option(default(S, "scheduler"), "--scheduler", help="Dask scheduler address (implies --backend dask; config: scheduler); a Parquet matrix is then read by the workers."),
) -> None:
    """Perturbation-based Pearson association of features with genes, with its null model (permutation; binomial where it holds)."""
    from .._io import orient_samples, read_labels, read_table
    from .._validation import ParameterError, check_gene_symbols, check_table
    from ..association import associate

    opts = stage_options(ctx, S, dict(
        mode=mode, n_perturbations=n_perturbations, sample_size=sample_size, r_threshold=r_threshold, alpha=alpha,
        min_hits=min_hits, n_null=n_null, null_alpha=null_alpha, top_n=top_n, max_normalize=max_normalize, seed=seed,
        n_jobs=n_jobs, backend=backend, device=device, scheduler=scheduler), config)
    if opts["scheduler"]:
        opts["backend"] = "dask"
    feats = features_input(features, labels, label_column=label_column)
    ey = read_labels(expression_labels) if expression_labels is not None else None
    expr = read_input(expression, "expression", what="--expression")
    if expr is None:
        if ey is None and opts["mode"] == "unpaired":
            raise ParameterError(
                f"--expression {expression} is a table: unpaired mode (--mode unpaired, the default; config "
                "association.mode) needs the HER2 labels of its samples with --expression-labels FILE; or give a "
                "`geo merge` result folder, which carries them, or --mode paired when the same patients were sequenced."
            )
        if opts["scheduler"] and expression.suffix in (".parquet", ".pq"):
            import dask.dataframe as dd

            expr = dd.read_parquet(expression)  # beyond one machine: workers read their own gene chunks
        else:
            known = (ey if ey is not None else feats.labels).index
            expr = orient_samples(read_table(expression), known, name=str(expression))
            check_gene_symbols(expr.columns, name=str(expression))
            expr = check_table(expr, name=str(expression))  # a bad value is named with its file
    res = associate(feats, expr, expression_labels=ey, **opts)
    inputs = {"features": features, "expression": expression, "labels": labels, "expression_labels": expression_labels}
    res.write(out, inputs={k: v for k, v in inputs.items() if v is not None})
