"""CLI commands of the enrichment stage: ``radiogenomics enrich`` and ``radiogenomics module``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import app, cli_errors


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
    associations: Path = typer.Option(..., "--associations", help="positive_specific table (feature, gene, ...)."),
    gmt: list[str] = typer.Option(..., "--gmt", help="GMT file or Enrichr library name (repeatable)."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    background: Optional[Path] = typer.Option(
        None, "--background",
        help="Measured genes: text (one per line), a table with a 'gene' column, or the expression table.",
    ),
    universe: Optional[str] = typer.Option(
        None, "--universe", help="measured_annotated (default with --background) | annotated | background."
    ),
    min_size: int = typer.Option(10, "--min-size", help="Smallest term size tested (within the universe)."),
    max_size: int = typer.Option(500, "--max-size", help="Largest term size tested (within the universe)."),
    alpha: float = typer.Option(0.05, "--alpha", help="FDR level for the summary's significant counts."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Cache of Enrichr libraries."),
    offline: bool = typer.Option(False, "--offline", help="Never download Enrichr libraries."),
) -> None:
    """Over-representation (hypergeometric, BH per feature) of each feature's gene set in GO/KEGG."""
    from .._io import write_table
    from .._provenance import build_provenance, write_provenance
    from ..enrichment import enrich, load_libraries

    table = _read_long(associations, what="associations")
    libs = load_libraries(gmt, cache_dir=cache_dir, offline=offline)
    bg = _read_background(background) if background is not None else None
    res = enrich(table, libs, background=bg, universe=universe, min_size=min_size, max_size=max_size, alpha=alpha)
    write_table(res.table, out, "enrichment", index=False)
    write_table(res.summary, out, "enrichment_summary", index=False)
    write_table(res.dropped, out, "enrichment_dropped", index=False)
    inputs = {"associations": associations}
    if background is not None:
        inputs["background"] = background
    for lib in libs:
        if lib.path:
            inputs[f"library:{lib.name}"] = lib.path
    write_provenance(out, build_provenance(
        "enrichment", parameters={**res.parameters, "gmt": list(gmt)}, inputs=inputs,
        extra={"libraries": res.libraries, "n_features": int(res.summary["feature"].nunique()),
               "n_rows": int(len(res.table))},
    ))
    typer.echo(f"enrichment: {len(res.table)} feature-term rows, "
               f"{int((res.table['q_value'] < alpha).sum())} with q < {alpha}; written to {out}")


@app.command("module")
@cli_errors
def module_command(
    enrichment: Path = typer.Option(..., "--enrichment", help="Enrichment table (enrichment.parquet)."),
    differential: Path = typer.Option(..., "--differential", help="Differential table (differential.parquet)."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    associations: Optional[Path] = typer.Option(None, "--associations", help="positive_specific table, for gene nodes."),
    validation_enrichment: Optional[Path] = typer.Option(
        None, "--validation-enrichment", help="Enrichment of the validation cohort's gene sets (replication table)."
    ),
    threshold: float = typer.Option(0.6, "--threshold", help="Auxiliary when similarity > this."),
    method: str = typer.Option("simpson", "--method", help="simpson | jaccard."),
    alpha: float = typer.Option(0.05, "--alpha", help="A term is significant when q < alpha."),
    top_terms: int = typer.Option(5, "--top-terms", help="Terms per feature in the network."),
    top_genes: int = typer.Option(10, "--top-genes", help="Genes per feature in the network."),
    seed: int = typer.Option(0, "--seed", help="Seed of the figure's layout."),
) -> None:
    """Simpson similarity, auxiliary features, the feature module and its network exports."""
    import json

    from .._io import atomic_write, read_table, write_table
    from .._provenance import build_provenance, write_provenance
    from ..enrichment import replication, significant_terms, similarity_matrix
    from ..network import build_module, build_network, network_tables, to_cytoscape, to_graphml
    from ..plotting.network import plot_network

    enr = _read_long(enrichment, what="enrichment")
    diff = read_table(differential, numeric=False)
    assoc = _read_long(associations, what="associations") if associations is not None else None
    mod = build_module(enr, diff, alpha=alpha, method=method, threshold=threshold)
    out.mkdir(parents=True, exist_ok=True)
    write_table(mod.similarity, out, "similarity", index=False)
    write_table(mod.module, out, "module", index=False)
    matrix = similarity_matrix(significant_terms(enr, alpha=alpha), method=method)
    write_table(matrix, out, "similarity_matrix")
    if validation_enrichment is not None:
        val = _read_long(validation_enrichment, what="validation enrichment")
        write_table(replication(enr, val, alpha=alpha), out, "replication", index=False)
    graph = build_network(mod, enr, associations=assoc, top_terms=top_terms, top_genes=top_genes)
    with atomic_write(out / "network.graphml") as fh:
        fh.write(to_graphml(graph))
    with atomic_write(out / "network.cyjs") as fh:
        json.dump(to_cytoscape(graph), fh, indent=1)
    nodes, edges = network_tables(graph)
    write_table(nodes, out, "network_nodes", formats=("csv",), index=False)
    write_table(edges, out, "network_edges", formats=("csv",), index=False)
    fig = plot_network(graph, seed=seed)
    with atomic_write(out / "network.png", mode="wb") as fh:
        fig.savefig(fh, format="png", dpi=150)
    inputs = {"enrichment": enrichment, "differential": differential}
    if associations is not None:
        inputs["associations"] = associations
    if validation_enrichment is not None:
        inputs["validation_enrichment"] = validation_enrichment
    write_provenance(out, build_provenance(
        "module", parameters={**mod.parameters, "top_terms": top_terms, "top_genes": top_genes},
        seeds={"layout": seed}, inputs=inputs,
        extra={"n_differential": int((mod.module["role"] == "differential").sum()),
               "n_auxiliary": int((mod.module["role"] == "auxiliary").sum()),
               "nodes": graph.number_of_nodes(), "edges": graph.number_of_edges()},
    ))
    typer.echo(f"module: {(mod.module['role'] == 'differential').sum()} differential + "
               f"{(mod.module['role'] == 'auxiliary').sum()} auxiliary feature(s); written to {out}")
