"""CLI command ``radiogenomics demo``: synthetic cohort, the whole workflow offline, HTML report.

The demo writes everything under one folder::

    DIR/data/        synthetic inputs (ultrasound images + masks, two expression series, GMT)
    DIR/config.yaml  the workflow config that points at them (synthetic: true)
    DIR/results/     every stage's tables, figures and provenance (all marked synthetic)
    DIR/results/report/report.html

Every output says the data are synthetic: the report carries a banner and every
provenance record has ``"synthetic": true``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from ._app import app, cli_errors

__all__ = ["build_demo_data", "demo_config", "run_demo"]

#: Small settings so the demo runs in minutes on 2 cores (the paper's are in config/config.yaml).
DEMO_SETTINGS: dict[str, Any] = {
    "n_patients": 40,            # training imaging patients
    "n_validation": 24,          # independent validation imaging patients
    "images_per_patient": 2,
    "image_size": 96,
    "n_expression_positive": 60,  # expression samples over both series
    "n_expression_negative": 60,
    "n_genes": 600,
    "n_perturbations": 75,
    "min_hits": 6,
    "n_null": 30,
    "splits": 100,
}

SYNTHETIC_README = (
    "SYNTHETIC DATA written by `radiogenomics demo`. The images, masks, expression values,\n"
    "labels and gene sets here were simulated; they are not from patients and carry no\n"
    "clinical meaning.\n"
)


def build_demo_data(
    data_dir: str | os.PathLike,
    *,
    images: bool = True,
    settings: dict[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Write the synthetic demo inputs and return the config entries that point at them.

    Parameters
    ----------
    data_dir
        Destination folder (created).
    images
        Simulate ultrasound images + masks (extracted by the workflow); otherwise write the
        synthetic cohort's feature tables directly (faster; used by the tests).
    settings
        Overrides of :data:`DEMO_SETTINGS`.
    seed
        Random seed.

    Returns
    -------
    dict
        Config fragments: ``imaging``, ``expression`` and ``enrichment`` (paths relative to
        the parent of ``data_dir``).
    """
    import numpy as np  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    from .._io import atomic_write  # noqa: PLC0415
    from ..datasets import make_cohort  # noqa: PLC0415

    s = {**DEMO_SETTINGS, **(settings or {})}
    data = Path(data_dir)
    data.mkdir(parents=True, exist_ok=True)
    rel = data.name  # config paths are relative to the config's folder (data_dir's parent)
    with atomic_write(data / "SYNTHETIC.txt") as fh:
        fh.write(SYNTHETIC_README)

    n_pos = s["n_patients"] // 2
    cohort = make_cohort(
        n_positive=n_pos, n_negative=s["n_patients"] - n_pos,
        n_expression_positive=s["n_expression_positive"], n_expression_negative=s["n_expression_negative"],
        n_genes=s["n_genes"], design="unpaired", seed=seed,
    )

    # two unpaired expression series: the synthetic expression samples split in two, stratified
    expr, elab = cohort.expression, cohort.expression_labels.astype(int)
    rng = np.random.default_rng(seed)
    series_cfg = []
    parts: dict[str, list[str]] = {"GSE_SYNTH_A": [], "GSE_SYNTH_B": []}
    for cls in (1, 0):
        ids = rng.permutation(elab.index[elab == cls].to_numpy())
        half = len(ids) // 2
        parts["GSE_SYNTH_A"] += list(ids[:half])
        parts["GSE_SYNTH_B"] += list(ids[half:])
    for name, ids in parts.items():
        stem = name.lower()
        with atomic_write(data / f"{stem}_expression.csv") as fh:
            expr.loc[ids].rename_axis("sample_id").to_csv(fh)
        with atomic_write(data / f"{stem}_labels.csv") as fh:
            elab.loc[ids].rename("her2").rename_axis("sample_id").to_frame().to_csv(fh)
        series_cfg.append({"name": name, "expression": f"{rel}/{stem}_expression.csv",
                           "labels": f"{rel}/{stem}_labels.csv"})

    with atomic_write(data / "gene_sets.gmt") as fh:
        fh.write("\n".join(cohort.to_gmt_lines()) + "\n")

    imaging: dict[str, Any]
    if images:
        from ..imaging.synthetic import make_ultrasound_cohort  # noqa: PLC0415

        make_ultrasound_cohort(data / "images_training", n_patients=s["n_patients"],
                               images_per_patient=s["images_per_patient"], size=s["image_size"], seed=seed)
        sheet = make_ultrasound_cohort(data / "images_validation", n_patients=s["n_validation"],
                                       images_per_patient=s["images_per_patient"], size=s["image_size"],
                                       seed=seed + 1)
        # validation patients are other people: give them their own ids (V-prefixed)
        sheet["case_id"] = "V" + sheet["case_id"].astype(str)
        sheet["patient_id"] = "V" + sheet["patient_id"].astype(str)
        with atomic_write(data / "images_validation" / "cases.csv") as fh:
            sheet.to_csv(fh, index=False)
        train_sheet = pd.read_csv(data / "images_training" / "cases.csv")
        patients = pd.concat([
            train_sheet.groupby("patient_id")["label"].first(), sheet.groupby("patient_id")["label"].first(),
        ])
        imaging = {
            "cases": f"{rel}/images_training/cases.csv",
            "validation": {"cases": f"{rel}/images_validation/cases.csv"},
        }
    else:
        vpos = s["n_validation"] // 2
        validation = make_cohort(
            n_positive=vpos, n_negative=s["n_validation"] - vpos, n_genes=s["n_genes"],
            design="unpaired", seed=seed + 1,
        )
        for name, c in (("training", cohort), ("validation", validation)):
            feats = c.features.rename_axis("sample_id")
            if name == "validation":
                feats = feats.rename(index=lambda i: f"V{i}")
            labs = c.feature_labels.astype(int).rename("her2").rename_axis("sample_id")
            labs.index = feats.index
            with atomic_write(data / f"features_{name}.csv") as fh:
                feats.to_csv(fh)
            with atomic_write(data / f"labels_{name}.csv") as fh:
                labs.to_frame().to_csv(fh)
            if name == "training":
                patients = labs.copy()
            else:
                patients = pd.concat([patients, labs])
        imaging = {
            "features": f"{rel}/features_training.csv", "labels": f"{rel}/labels_training.csv",
            "validation": {"features": f"{rel}/features_validation.csv", "labels": f"{rel}/labels_validation.csv"},
        }
    # a synthetic clinical table (age, tumour size, grade) for the baseline table and the nomogram
    crng = np.random.default_rng(seed + 7)
    her2 = patients.astype(int).to_numpy()
    clinical = pd.DataFrame({
        "age": np.round(crng.normal(54, 10, len(her2))).clip(28, 85),
        "tumour_size_mm": np.round(crng.lognormal(np.log(18) + 0.25 * her2, 0.35), 1),
        "grade": np.where(crng.random(len(her2)) < 0.35 + 0.3 * her2, "G3", "G1-2"),
    }, index=pd.Index(patients.index.astype(str), name="sample_id"))
    with atomic_write(data / "clinical.csv") as fh:
        clinical.to_csv(fh)
    pd.Series(cohort.differential_features, name="feature").to_csv(data / "planted_differential_features.csv",
                                                                    index=False)
    cohort.links.to_csv(data / "planted_links.csv", index=False)
    return {
        "imaging": imaging,
        "expression": {"series": series_cfg, "combat": False},
        "enrichment": {"gmt": [f"{rel}/gene_sets.gmt"]},
        "clinical": f"{rel}/clinical.csv",
    }


def demo_config(
    fragments: dict[str, Any],
    *,
    settings: dict[str, Any] | None = None,
    seed: int = 0,
    jobs: int = 2,
) -> dict[str, Any]:
    """The workflow config of the demo (small settings, ``synthetic: true``).

    Parameters
    ----------
    fragments
        Output of :func:`build_demo_data`.
    settings
        Overrides of :data:`DEMO_SETTINGS`.
    seed
        Master seed.
    jobs
        Parallel processes of extraction and association.

    Returns
    -------
    dict
        A config valid against ``workflows/workflow/schemas/config.schema.yaml``.
    """
    s = {**DEMO_SETTINGS, **(settings or {})}
    imaging = dict(fragments["imaging"])
    if "cases" in imaging:
        imaging.update({"preset": s.get("preset", "ultrasound2d"), "aggregate": "mean", "jobs": jobs})
    return {
        "results": "results",
        "synthetic": True,
        "seed": seed,
        "imaging": imaging,
        "expression": fragments["expression"],
        "differential": {"select_by": "p", "threshold": 0.05},
        "association": {"mode": "unpaired", "n_perturbations": s["n_perturbations"], "sample_size": None,
                        "min_hits": s["min_hits"], "n_null": s["n_null"], "jobs": jobs},
        "enrichment": fragments["enrichment"],
        "module": {"simpson_threshold": 0.6},
        "models": {"splits": s["splits"], "bootstrap": s.get("bootstrap", 200), "jobs": jobs,
                   "clinical": fragments.get("clinical"), "feature_sets": ["differential", "module"]},
        "deep": {"enabled": False, "epochs": 1, "device": "cpu"},
        "report": {"title": "HER2 radiogenomics demo report (SYNTHETIC DATA)"},
    }


def run_demo(
    out: str | os.PathLike,
    *,
    cores: int = 2,
    images: bool = True,
    settings: dict[str, Any] | None = None,
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
        Overrides of :data:`DEMO_SETTINGS`.
    seed
        Random seed.
    quiet
        Show Snakemake's output only on failure.

    Returns
    -------
    pathlib.Path
        ``out/results/report/report.html``.
    """
    import yaml  # noqa: PLC0415

    from .._io import atomic_write  # noqa: PLC0415
    from .._logging import get_logger, timed  # noqa: PLC0415
    from .._validation import RadiogenomicsError  # noqa: PLC0415
    from .workflow import run_workflow  # noqa: PLC0415

    log = get_logger(__name__)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with timed("building the synthetic demo cohort"):
        fragments = build_demo_data(out / "data", images=images, settings=settings, seed=seed)
    config = demo_config(fragments, settings=settings, seed=seed, jobs=cores)
    with atomic_write(out / "config.yaml") as fh:
        fh.write("# Workflow config written by `radiogenomics demo` (SYNTHETIC DATA).\n")
        yaml.safe_dump(config, fh, sort_keys=False)
    log.info("running the workflow on the synthetic cohort in %s", out)
    with timed("running the workflow"):
        code = run_workflow(out / "config.yaml", cores=cores, quiet=quiet)
    if code != 0:
        raise RadiogenomicsError(f"the demo workflow failed (snakemake exit status {code}); see {out}/results/logs/.")
    return out / "results" / "report" / "report.html"


@app.command("demo")
@cli_errors
def demo(
    out: Path = typer.Option(Path("reports/demo"), "--out", help="Output folder of the demo."),
    cores: int = typer.Option(2, "--cores", min=1, help="Cores Snakemake may use."),
    images: bool = typer.Option(True, "--images/--no-images",
                                help="Simulate and extract ultrasound images (else synthetic feature tables)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Random seed of the synthetic cohort."),
) -> None:
    """Build a synthetic cohort, run the whole workflow offline and print the report's path."""
    report = run_demo(out, cores=cores, images=images, seed=seed)
    typer.echo(str(report))
