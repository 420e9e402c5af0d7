"""CLI command of the differential stage: ``radiogenomics differential``."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import CONFIG_HELP, LABEL_COLUMN_HELP, app, cli_errors, default, features_input, stage_options

S = "differential"


@app.command("differential")
@cli_errors
def differential_cmd(
    ctx: typer.Context,
    features: Path = typer.Option(..., "--features", help="Imaging features: an `extract` result folder or a table (rows = samples)."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    labels: Path = typer.Option(None, "--labels", help="Labels file: sample id, her2 (1/0); needed with a table."),
    label_column: str = typer.Option(None, "--label-column", help=LABEL_COLUMN_HELP),
    config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
    select_by: str = typer.Option(default(S, "select_by"), "--select-by", help="'p' (the paper) or 'q' (BH)."),
    threshold: float = typer.Option(default(S, "threshold"), "--threshold", help="Selection threshold."),
    method: str = typer.Option(default(S, "method"), "--method", help="auto (R's wilcox.test rule: exact when both groups < 50 and no ties), exact (tied features: normal approximation) or asymptotic."),
    log_base: float = typer.Option(default(S, "log_base"), "--log-base", help="Data are log-scale with this base (fold changes and directions un-logged)."),
    log_offset: float = typer.Option(default(S, "log_offset"), "--log-offset", help="Pseudo-count of log-scale data: log_base(x + offset), e.g. 1 for log2(FPKM + 1)."),
    transpose: bool = typer.Option(False, "--transpose", help="The table stores samples as columns."),
) -> None:
    """Two-sided Mann–Whitney U test of every feature, HER2+ vs HER2−, with fold change and BH q."""
    from ..differential import differential

    opts = stage_options(ctx, S, dict(select_by=select_by, threshold=threshold, method=method, log_base=log_base,
                                      log_offset=log_offset), config)
    data = features_input(features, labels, transpose=transpose, label_column=label_column)
    res = differential(data, name=str(features), **opts)
    res.write(out, inputs={k: v for k, v in {"features": features, "labels": labels}.items() if v is not None})
