"""CLI command of the enrichment stage: ``radiogenomics enrich``."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import CONFIG_HELP, app, cli_errors, default, read_input, stage_options

S = "enrichment"


def _read_long(path: Path, *, what: str):
    """Read a long table (no sample index): drop an unnamed index column, restore 'feature'."""
    from .._io import _read_raw

    df = _read_raw(path, index_col=None)
    if df.index.name == "feature" or (df.index.name is not None and "feature" not in df.columns):
        df = df.reset_index()
    df = df.loc[:, [c for c in df.columns if not str(c).startswith("Unnamed: ")]]
    return df


def _read_background(path: Path) -> list[str]:
    """Genes from a text file (one per line), a table with a 'gene' column, or a table's columns."""
    from .._io import _read_raw
    from .._validation import DataFileError

    name = path.name.lower()
    if name.endswith((".txt", ".txt.gz", ".lst", ".genes")):
        import gzip

        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt") as fh:
            genes = [line.strip().split("\t")[0] for line in fh if line.strip() and not line.startswith("#")]
        if not genes:
            raise DataFileError(f"{path}: no genes found (expected one gene per line).")
        return genes
    df = _read_raw(path, index_col=None)
    if "gene" in df.columns:
        return [str(g) for g in df["gene"].dropna()]
    # an expression table: rows = samples, columns = genes (first column = sample ids)
    cols = [str(c) for c in df.columns[1:]] if not name.endswith((".parquet", ".pq")) else [str(c) for c in df.columns]
    if not cols:
        raise DataFileError(f"{path}: expected a 'gene' column or an expression table whose columns are genes.")
    return cols


@app.command("enrich")
@cli_errors
def enrich_command(
    ctx: typer.Context,
    associations: Path = typer.Option(..., "--associations", help="An `associate` result folder, or a positive_specific table (feature, gene, ...)."),
    gmt: list[str] = typer.Option(..., "--gmt", help="GMT file or Enrichr library name (repeatable)."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    background: Path = typer.Option(
        None, "--background",
        help="Measured genes: text (one per line), a table with a 'gene' column, or the expression table "
             "(default with a result folder: the genes the association tested).",
    ),
    config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
    universe: str = typer.Option(default(S, "universe"), "--universe",
                                 help="measured_annotated (default with a background) | annotated | background."),
    min_size: int = typer.Option(default(S, "min_size"), "--min-size", help="Smallest term size tested (within the universe)."),
    max_size: int = typer.Option(default(S, "max_size"), "--max-size", help="Largest term size tested (within the universe)."),
    alpha: float = typer.Option(default(S, "alpha"), "--alpha", help="FDR level of the significant terms."),
    cache_dir: Path = typer.Option(None, "--cache-dir", help="Cache of Enrichr libraries."),
    offline: bool = typer.Option(False, "--offline", help="Never download Enrichr libraries."),
) -> None:
    """Over-representation (hypergeometric, BH per feature) of each feature's gene set in GO/KEGG."""
    from ..enrichment import enrich, load_libraries

    opts = stage_options(ctx, S, dict(universe=universe, min_size=min_size, max_size=max_size, alpha=alpha), config)
    source = read_input(associations, "association", what="--associations")
    if source is None:
        source = _read_long(associations, what="associations")
    libs = load_libraries(gmt, cache_dir=cache_dir, offline=offline)
    bg = _read_background(background) if background is not None else None
    res = enrich(source, libs, background=bg, **opts)
    inputs = {"associations": associations, "background": background}
    inputs.update({f"library:{lib.name}": lib.path for lib in libs if lib.path})
    res.write(out, inputs={k: v for k, v in inputs.items() if v is not None})
