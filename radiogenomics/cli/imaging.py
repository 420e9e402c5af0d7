"""CLI commands of the imaging stage: extract, stability (ICC), harmonize (ComBat), simulate-ultrasound."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import app, cli_errors


@app.command("extract")
@cli_errors
def extract(
    cases: Path = typer.Option(..., "--cases", help="Case sheet (CSV/TSV/Parquet): case_id, patient_id, image, mask "
                               "[label, mask_label, reader, scanner]; pyradiomics' ID, Image, Mask, Label accepted."),
    preset: str = typer.Option("ultrasound2d", "--preset", help="Preset name (ultrasound2d, ct, mri, log_wavelet) "
                               "or a pyradiomics parameter YAML."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    jobs: int = typer.Option(1, "--jobs", min=1, help="Worker processes."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask distributed scheduler address "
                                            "(tcp://host:8786); overrides --jobs."),
    aggregate: str = typer.Option("mean", "--aggregate", help="Per-patient aggregation: mean (paper) or median."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Cache folder (default OUT/cache)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the cache."),
    strict: bool = typer.Option(False, "--strict", help="Fail (exit 2) if any case fails."),
) -> None:
    """Extract radiomic features per image and per patient (pyradiomics)."""
    from .._io import write_table
    from .._logging import get_logger
    from .._provenance import build_provenance, write_provenance
    from .._validation import check_choice
    from ..imaging.cases import read_cases
    from ..imaging.extract import extract_features

    log = get_logger("radiogenomics.cli.imaging")
    check_choice(aggregate, "aggregate", owner="extract", choices=("mean", "median"))
    sheet = read_cases(cases)
    cache_dir = None if no_cache else (cache or out / "cache")
    result = extract_features(sheet, preset=preset, n_jobs=jobs, scheduler=scheduler, cache_dir=cache_dir,
                              strict=strict)
    # a SYNTHETIC.txt beside the sheet is detected by build_provenance; the sheet may also say so
    synthetic = bool("synthetic" in sheet.columns and sheet["synthetic"].astype(str).str.lower().eq("true").any())
    patients = result.patients()
    write_table(result.features, out, "features_image")
    write_table(result.patient_features(how=aggregate), out, "features_patient")
    write_table(patients, out, "patients")
    write_table(result.diagnostics, out, "diagnostics")
    write_table(result.failures, out, "failures", index=False)
    if sheet["label"].notna().any():
        write_table(result.labels().to_frame(), out, "labels")
    record = build_provenance(
        "extract",
        parameters={"preset": preset, "settings": result.params, "jobs": jobs, "scheduler": scheduler,
                    "aggregate": aggregate, "cache": str(cache_dir) if cache_dir else None, "strict": strict},
        inputs={"cases": cases},
        extra={"n_images": len(sheet), "n_extracted": len(result.features), "n_failed": len(result.failures),
               "n_computed": result.n_computed, "n_cached": result.n_cached,
               "n_patients": int((patients["n_extracted"] > 0).sum())},
        synthetic=synthetic,
    )
    write_provenance(out, record)
    log.info("extracted %d of %d image(s) (%d cached, %d failed), %d feature(s) -> %s", len(result.features),
             len(sheet), result.n_cached, len(result.failures), result.features.shape[1], out)


@app.command("stability")
@cli_errors
def stability(
    cases: Path = typer.Option(..., "--cases", help="Case sheet (see 'extract')."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    preset: str = typer.Option("ultrasound2d", "--preset", help="Preset name or YAML."),
    mode: str = typer.Option("perturbation", "--mode", help="perturbation (MIRP-style mask/image perturbations) "
                             "or readers (the sheet's 'reader' column)."),
    n_perturbations: int = typer.Option(5, "--n-perturbations", min=1, help="Perturbed versions per case."),
    threshold: float = typer.Option(0.9, "--threshold", help="Keep features with ICC >= this."),
    kind: str = typer.Option("agreement", "--kind", help="ICC kind for the filter: agreement or consistency."),
    jobs: int = typer.Option(1, "--jobs", min=1, help="Worker processes (readers mode)."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the perturbations."),
) -> None:
    """ICC of every feature across readers or mask perturbations; writes icc.* and stable_features.*."""
    import pandas as pd

    from .._io import write_table
    from .._provenance import build_provenance, write_provenance
    from .._validation import check_choice
    from ..imaging.cases import read_cases
    from ..imaging.extract import extract_features
    from ..imaging.stability import filter_stable, perturbation_icc, reader_icc

    check_choice(mode, "mode", owner="stability", choices=("perturbation", "readers"))
    sheet = read_cases(cases)
    if mode == "perturbation":
        icc, measurements = perturbation_icc(sheet, preset=preset, n_perturbations=n_perturbations, seed=seed)
        write_table(measurements, out, "perturbation_features", index=False)
    else:
        result = extract_features(sheet, preset=preset, n_jobs=jobs, cache_dir=out / "cache")
        icc = reader_icc(result.features, sheet)
    stable = filter_stable(icc, threshold=threshold, kind=kind)
    write_table(icc, out, "icc")
    write_table(pd.DataFrame({"feature": stable}), out, "stable_features", index=False)
    write_provenance(out, build_provenance(
        "stability", parameters={"mode": mode, "preset": preset, "n_perturbations": n_perturbations,
                                 "threshold": threshold, "kind": kind},
        seeds={"perturbations": seed}, inputs={"cases": cases},
        extra={"n_features": len(icc), "n_stable": len(stable)}))


@app.command("harmonize")
@cli_errors
def harmonize(
    features: Path = typer.Option(..., "--features", help="Training features (rows = samples)."),
    scanners: Path = typer.Option(..., "--scanners", help="Table: sample_id, scanner (training and new samples)."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    new_features: Optional[Path] = typer.Option(None, "--new-features", help="New data to harmonise with the "
                                                "model fitted on --features."),
) -> None:
    """ComBat harmonisation across scanners (neuroHarmonize), fitted on training data."""
    import pickle

    from .._io import atomic_write, read_table, write_table
    from .._provenance import build_provenance, write_provenance
    from .._validation import DataFileError
    from ..imaging.harmonize import ComBatHarmonizer

    train = read_table(features)
    sc = read_table(scanners, numeric=False)
    if "scanner" not in sc.columns:
        raise DataFileError(f"{scanners}: needs a 'scanner' column (columns: {list(sc.columns)}).")
    model = ComBatHarmonizer().fit(train, sc["scanner"])
    write_table(model.transform(train, sc["scanner"]), out, "features_harmonized")
    inputs = {"features": features, "scanners": scanners}
    if new_features is not None:
        new = read_table(new_features)
        write_table(model.transform(new, sc["scanner"]), out, "new_features_harmonized")
        inputs["new_features"] = new_features
    with atomic_write(out / "combat_model.pkl", mode="wb") as fh:
        pickle.dump(model, fh)
    write_provenance(out, build_provenance("harmonize", parameters={"eb": True}, inputs=inputs,
                                           extra={"passthrough": model.passthrough_, "scanners": model.batches_}))


@app.command("simulate-ultrasound")
@cli_errors
def simulate_ultrasound_cmd(
    out: Path = typer.Option(..., "--out", help="Output folder (images/, masks/, cases.csv, SYNTHETIC.txt)."),
    n_patients: int = typer.Option(40, "--n-patients", help="Number of patients."),
    images_per_patient: int = typer.Option(2, "--images-per-patient", help="Images per patient."),
    size: int = typer.Option(128, "--size", help="Image side in pixels."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
) -> None:
    """Write a SYNTHETIC ultrasound cohort (demo data, not patients)."""
    from ..imaging.synthetic import make_ultrasound_cohort

    make_ultrasound_cohort(out, n_patients=n_patients, images_per_patient=images_per_patient, size=size, seed=seed)
