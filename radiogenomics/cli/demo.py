"""CLI command ``radiogenomics demo``: synthetic cohort, the whole workflow offline, HTML report.

The demo writes everything under one folder::

    DIR/data/        synthetic inputs (ultrasound images + masks, two expression series, GMT),
                     made by :func:`radiogenomics.datasets.write_demo_inputs`
    DIR/config.yaml  the workflow config that points at them (synthetic: true)
    DIR/results/     every stage's tables, figures and provenance (all marked synthetic)
    DIR/results/report/report.html

Every output says the data are synthetic: the report carries a banner and every
provenance record has ``"synthetic": true``.

``--design paired`` (the default) sequences the training patients too, so the one planted
feature-pathway link is recovered above the permutation null next to features at chance;
``--design unpaired`` is the paper's design (imaging and expression from different patients),
where no feature should beat the null. The design is the association's ``mode`` in the config
and the provenance, and the report's title names it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from ._app import app, cli_errors

__all__ = ["run_demo"]


def run_demo(
    out: str | os.PathLike,
    *,
    cores: int = 2,
    images: bool = True,
    settings: dict[str, Any] | None = None,
    design: str | None = None,
    seed: int = 0,
    quiet: bool = False,
) -> Path:
    """Build the synthetic cohort in ``out/data``, run the workflow and return the report's path.

    Parameters
    ----------
    out
        Demo folder.
    cores
        Cores Snakemake may use.
    images
        Simulate and extract images (else use synthetic feature tables).
    settings
        Overrides of :data:`radiogenomics.datasets.DEMO_SETTINGS`.
    design
        ``"paired"`` or ``"unpaired"`` (overrides ``settings["design"]``; default: the
        settings' design, ``"paired"``).
    seed
        Random seed.
    quiet
        Show Snakemake's output only on failure.

    Returns
    -------
    pathlib.Path
        ``out/results/report/report.html``.
    """
    import yaml

    from .._io import atomic_write
    from .._logging import get_logger, timed
    from .._results import report_paths
    from .._validation import RadiogenomicsError
    from ..datasets import demo_config, write_demo_inputs
    from .workflow import run_workflow

    log = get_logger(__name__)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if design is not None:
        settings = {**(settings or {}), "design": design}
    with timed("the simulation of the synthetic demo inputs"):
        fragments = write_demo_inputs(out / "data", images=images, settings=settings, seed=seed)
    config = demo_config(fragments, settings=settings, seed=seed, jobs=cores)
    with atomic_write(out / "config.yaml") as fh:
        fh.write("# Workflow config written by `radiogenomics demo` (SYNTHETIC DATA).\n")
        yaml.safe_dump(config, fh, sort_keys=False)
    log.info("running the workflow on the synthetic cohort in %s", out)
    with timed("the demo workflow"):
        code = run_workflow(out / "config.yaml", cores=cores, quiet=quiet)
    if code != 0:
        raise RadiogenomicsError(f"the demo workflow failed (snakemake exit status {code}); see {out}/results/logs/.")
    return report_paths(out / "results")[0]


@app.command("demo")
@cli_errors
def demo(
    out: Path = typer.Option(Path("reports/demo"), "--out", help="Output folder of the demo."),
    cores: int = typer.Option(2, "--cores", min=1, help="Cores Snakemake may use."),
    images: bool = typer.Option(True, "--images/--no-images",
                                help="Simulate and extract ultrasound images (else synthetic feature tables)."),
    design: str = typer.Option(
        "paired", "--design",
        help="paired: the training patients were also sequenced (the planted link is recoverable); "
             "unpaired: the paper's design, imaging and expression from different patients."),
    seed: int = typer.Option(0, "--seed", min=0, help="Random seed of the synthetic cohort."),
) -> None:
    """Build a synthetic cohort, run the whole workflow offline and print the report's path."""
    from .workflow import interrupted

    try:
        report = run_demo(out, cores=cores, images=images, design=design, seed=seed)
    except KeyboardInterrupt:
        interrupted()
    typer.echo(str(report))
