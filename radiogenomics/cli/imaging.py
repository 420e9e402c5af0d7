"""CLI commands of the imaging stage: extract, stability (ICC), harmonize (ComBat), simulate-ultrasound.

``extract`` is the stage (options -> :func:`radiogenomics.extract` -> ``result.write``); the
others write plain tables with their provenance.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import CONFIG_HELP, LABEL_COLUMN_HELP, app, cli_errors, default, features_input, stage_options

S = "imaging"
_CACHE_HELP = ("Extraction cache folder (default: $RADIOGENOMICS_CACHE/features, else "
               "~/.cache/radiogenomics/features; never inside --out, which is replaced as a whole).")


@app.command("extract")
@cli_errors
def extract_cmd(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="Output folder (an imaging result)."),
    cases: Path | None = typer.Option(None, "--cases", help="Case sheet (CSV/TSV/Parquet): case_id, patient_id, "
                                      "image, mask, and optional label, mask_label, reader, scanner; pyradiomics' ID, "
                                      "Image, Mask, Label accepted."),
    features: Path | None = typer.Option(None, "--features", help="Instead of --cases: a feature table used as it "
                                         "is (rows = patients; features as rows are detected from --labels)."),
    labels: Path | None = typer.Option(None, "--labels", help="With --features: labels file (sample id, her2)."),
    transpose: bool = typer.Option(False, "--transpose", help="With --features: the table stores samples as columns."),
    label_column: str | None = typer.Option(None, "--label-column", help="With --features: " + LABEL_COLUMN_HELP),
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
    preset: str = typer.Option(default(S, "preset"), "--preset", help="Preset name (ultrasound2d, ct, mri, "
                               "log_wavelet) or a pyradiomics parameter YAML."),
    aggregate: str = typer.Option(default(S, "aggregate"), "--aggregate", help="Per-patient aggregation: mean "
                                  "(paper) or median."),
    n_jobs: int = typer.Option(default(S, "n_jobs"), "--n-jobs", "--jobs", help="Workers (-1 = all cores)."),
    backend: str = typer.Option(default(S, "backend"), "--backend", help="processes, threads or dask."),
    scheduler: str | None = typer.Option(default(S, "scheduler"), "--scheduler", help="Dask scheduler address "
                                         "(tcp://host:8786; config: scheduler); implies --backend dask."),
    cache_dir: Path | None = typer.Option(None, "--cache", help=_CACHE_HELP),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the cache."),
    strict: bool = typer.Option(default(S, "strict"), "--strict/--no-strict", help="Fail (exit 2) if any case fails."),
    allow_outside_paths: bool = typer.Option(
        default(S, "allow_outside_paths"), "--allow-outside-paths/--confine-paths",
        help="Accept case-sheet paths that are absolute or outside the sheet's folder (default: refused).",
    ),
) -> None:
    """Radiomic features per image and per patient (pyradiomics), or a feature table taken as it is."""
    from .._results import check_output_folder
    from .._validation import ParameterError
    from ..imaging import extract
    from ..imaging.extract import default_cache_dir

    if (cases is None) == (features is None) or (cases is not None and (labels is not None or label_column)):
        raise ParameterError("give exactly one of --cases (a case sheet to extract; labels in its 'label' column) "
                             "and --features (a feature table, with --labels or --label-column).")
    check_output_folder(out)
    if features is not None:
        res = features_input(features, labels, transpose=transpose, label_column=label_column, require_labels=False)
        inputs = {"features": features, "labels": labels}
    else:
        opts = stage_options(ctx, S, dict(preset=preset, aggregate=aggregate, n_jobs=n_jobs, backend=backend,
                                          strict=strict, scheduler=scheduler,
                                          allow_outside_paths=allow_outside_paths), config)
        res = extract(cases, cache_dir=None if no_cache else default_cache_dir(cache_dir), **opts)
        inputs = {"cases": cases}
    res.write(out, inputs={k: v for k, v in inputs.items() if v is not None})


@app.command("stability")
@cli_errors
def stability(
    cases: Path = typer.Option(..., "--cases", help="Case sheet (see 'extract')."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    preset: str = typer.Option(default(S, "preset"), "--preset", help="Preset name or YAML."),
    mode: str = typer.Option("perturbation", "--mode", help="perturbation (MIRP-style mask/image perturbations) "
                             "or readers (the sheet's 'reader' column)."),
    n_perturbations: int = typer.Option(5, "--n-perturbations", min=1, help="Perturbed versions per case."),
    threshold: float = typer.Option(0.9, "--threshold", help="Keep features with ICC >= this."),
    kind: str = typer.Option(None, "--kind", help="ICC kind for the filter: oneway (ICC(1,1)), agreement or "
                             "consistency (default: oneway for perturbations, agreement for readers)."),
    n_jobs: int = typer.Option(1, "--n-jobs", "--jobs", help="Extraction workers (readers mode; -1 = all cores)."),
    cache_dir: Path | None = typer.Option(None, "--cache", help=_CACHE_HELP),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the cache."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the perturbations."),
    allow_outside_paths: bool = typer.Option(
        False, "--allow-outside-paths/--confine-paths",
        help="Accept case-sheet paths that are absolute or outside the sheet's folder (default: refused).",
    ),
) -> None:
    """ICC of every feature across readers or mask perturbations; writes icc.* and stable_features.*."""
    import pandas as pd

    from .._io import staged_folder, write_table
    from .._provenance import build_provenance, write_provenance
    from .._results import check_output_folder
    from ..imaging.extract import default_cache_dir
    from ..imaging.stability import feature_stability, filter_stable, stability_kind

    check_output_folder(out)
    icc, measurements = feature_stability(
        cases, mode=mode, preset=preset, n_perturbations=n_perturbations, n_jobs=n_jobs, seed=seed,
        cache_dir=None if no_cache else default_cache_dir(cache_dir), allow_outside_paths=allow_outside_paths)
    kind = kind or stability_kind(mode)
    stable = filter_stable(icc, threshold=threshold, kind=kind)
    with staged_folder(out) as tmp:  # a fresh folder swapped in whole: no file of an earlier run stays
        if measurements is not None:
            write_table(measurements, tmp, "perturbation_features", index=False)
        write_table(icc, tmp, "icc")
        write_table(pd.DataFrame({"feature": stable}), tmp, "stable_features", index=False)
        write_provenance(tmp, build_provenance(
            "stability", parameters={"mode": mode, "preset": preset, "n_perturbations": n_perturbations,
                                     "threshold": threshold, "kind": kind},
            seeds={"perturbations": seed}, inputs={"cases": cases},
            extra={"n_features": len(icc), "n_stable": len(stable)}))


@app.command("harmonize")
@cli_errors
def harmonize(
    features: Path = typer.Option(..., "--features", help="Training features: an `extract` result folder or a "
                                  "table (rows = samples)."),
    scanners: Path = typer.Option(..., "--scanners", help="Table: sample_id, scanner (training and new samples)."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    new_features: Path | None = typer.Option(None, "--new-features", help="New data (result folder or table) to "
                                             "harmonise with the model fitted on --features."),
    unseen: str = typer.Option("error", "--unseen", help="Scanners of the new data not in training: error (refuse), "
                               "pooled (the training scanners' average estimates) or grand (left unadjusted)."),
) -> None:
    """ComBat harmonisation across scanners (neuroHarmonize), fitted on training data."""
    import pickle

    from .._io import atomic_write, read_table, staged_folder, write_table
    from .._provenance import build_provenance, write_provenance
    from .._results import check_output_folder
    from .._validation import DataFileError
    from ..imaging.harmonize import ComBatHarmonizer

    check_output_folder(out)
    train = features_input(features, None, require_labels=False).features
    sc = read_table(scanners, numeric=False)
    if "scanner" not in sc.columns:
        raise DataFileError(f"{scanners}: needs a 'scanner' column (columns: {list(sc.columns)}).")
    model = ComBatHarmonizer(unseen=unseen).fit(train, sc["scanner"])
    harmonized = model.transform(train, sc["scanner"])
    inputs = {"features": features, "scanners": scanners}
    new_harmonized = None
    if new_features is not None:  # transformed before anything is written: a refusal leaves no file
        new_harmonized = model.transform(features_input(new_features, None, require_labels=False).features, sc["scanner"])
        inputs["new_features"] = new_features
    with staged_folder(out) as tmp:  # a fresh folder swapped in whole
        write_table(harmonized, tmp, "features_harmonized")
        if new_harmonized is not None:
            write_table(new_harmonized, tmp, "new_features_harmonized")
        with atomic_write(tmp / "combat_model.pkl", mode="wb") as fh:
            pickle.dump(model, fh)
        write_provenance(tmp, build_provenance("harmonize", parameters={"eb": True, "unseen": unseen},
                                               inputs=inputs, extra={"passthrough": model.passthrough_,
                                                                     "scanners": model.batches_}))


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
