"""CLI command ``radiogenomics demo``: synthetic cohort, whole workflow, HTML report."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app, cli_errors


@app.command("demo")
@cli_errors
def demo(
    out: Path = typer.Option(Path("reports/demo"), "--out", help="Output folder of the demo."),
    cores: int = typer.Option(2, "--cores", help="Cores Snakemake may use."),
) -> None:
    """Build a synthetic cohort, run the whole workflow offline and print the report's path."""
    from ..workflow_demo import run_demo  # noqa: PLC0415

    report = run_demo(out, cores=cores)
    typer.echo(str(report))
