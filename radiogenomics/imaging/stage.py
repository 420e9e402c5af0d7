"""The imaging stage: radiomic features per image and per patient from a case sheet (``rg.extract``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pandas as pd

from .._logging import get_logger, timed
from .._results import dropped_table
from .._validation import BACKENDS, InputError, check_choice, check_n_jobs, format_names
from .aggregate import aggregate_patients, patient_labels, patient_table
from .cases import cases_are_synthetic, load_cases
from .extract import load_preset, run_cases
from .result import ExtractionResult

__all__ = ["extract"]

log = get_logger(__name__)

#: Extra columns of the imaging stage's ``dropped`` table.
DROPPED_EXTRA = ("patient_id", "file", "failure")


def _preset_name(preset: str | os.PathLike | Mapping[str, Any]) -> str:
    return "custom settings" if isinstance(preset, Mapping) else str(preset)


def extract(
    cases: str | os.PathLike | pd.DataFrame,
    *,
    preset: str | os.PathLike | Mapping[str, Any] = "ultrasound2d",
    aggregate: str = "mean",
    n_jobs: int = 1,
    backend: str = "processes",
    scheduler: str | Any | None = None,
    cache_dir: str | os.PathLike | None = None,
    strict: bool = False,
    allow_outside_paths: bool = False,
    show_progress: bool | None = None,
) -> ExtractionResult:
    """Extract radiomic features (pyradiomics) of every image of a case sheet, per image and per patient.

    Parameters
    ----------
    cases
        Case sheet: a file (CSV/TSV/Parquet, paths relative to its folder) or a table with
        ``image``, ``mask`` and optional ``case_id``, ``patient_id``, ``label``, ``mask_label``,
        ``reader``, ``scanner`` (see :mod:`radiogenomics.imaging.cases`).
    preset
        Shipped preset (``"ultrasound2d"``, ``"ct"``, ``"mri"``, ``"log_wavelet"``), a
        pyradiomics parameter YAML, or the settings themselves.
    aggregate
        A patient's features from its images: ``"mean"`` (the paper) or ``"median"``.
    n_jobs
        Workers (-1 = all cores); 1 runs serially in this process.
    backend
        ``"processes"`` (a process pool), ``"threads"`` or ``"dask"`` (cases as Dask tasks on
        ``scheduler``, the active client, or a local cluster of ``n_jobs`` workers).
    scheduler
        With ``backend="dask"``: a scheduler address (``"tcp://host:8786"``) or a
        ``distributed.Client``; giving one implies ``backend="dask"``.
    cache_dir
        Folder of cached per-case results (see
        :func:`~radiogenomics.imaging.extract.default_cache_dir`); ``None`` disables the cache.
    strict
        Raise :class:`~radiogenomics.InputError` if any case fails, instead of dropping it.
    allow_outside_paths
        A case-sheet file's image/mask paths may be absolute or lead out of its folder; by
        default they must lie inside it (see :func:`~radiogenomics.imaging.cases.normalize_cases`).
    show_progress
        Progress bar; ``None`` follows the package log level.

    Returns
    -------
    ExtractionResult
        ``features`` (per patient), ``labels``, ``features_image``, ``diagnostics``,
        ``patients``, ``cases``, ``dropped`` (every failed case with its ``failure`` kind, and
        every patient left without an image) and ``parameters`` (preset, validated settings,
        aggregation, workers, backend, cache, counts).
    """
    owner = "extract"
    check_choice(aggregate, "aggregate", owner=owner, choices=("mean", "median"))
    if scheduler is not None:
        backend = "dask"
    check_choice(backend, "backend", owner=owner, choices=BACKENDS)
    workers = check_n_jobs(n_jobs, owner=owner)
    sheet = load_cases(cases, allow_outside_paths=allow_outside_paths)
    synthetic = cases_are_synthetic(cases, sheet)
    settings = load_preset(preset)
    with timed(f"extraction of {len(sheet)} case(s) ({_preset_name(preset)})", logger=log):
        batch = run_cases(sheet, params=settings, n_jobs=workers, backend=backend, scheduler=scheduler,
                          cache_dir=cache_dir, show_progress=show_progress)
    fails = batch.failures
    if strict and len(fails):
        lines = "; ".join(f"{r.case_id}: {r.reason}" for r in fails.head(3).itertuples())
        raise InputError(f"{len(fails)} of {len(sheet)} case(s) failed (strict mode): {lines}"
                         f"{' ...' if len(fails) > 3 else ''}")
    features = aggregate_patients(batch.features, sheet["patient_id"], how=aggregate)
    patients = patient_table(sheet, batch.features.index, fails["case_id"])
    rows = [{"kind": "case", "item": r.case_id, "reason": r.reason, "patient_id": r.patient_id, "file": r.file,
             "failure": r.failure} for r in fails.itertuples()]
    lost = patients.index[patients["n_extracted"] == 0]
    if len(lost):
        log.warning("patient(s) %s have no extracted image and are left out", format_names(lost))
    rows += [{"kind": "sample", "item": p, "reason": f"none of its {patients.at[p, 'n_images']} image(s) was extracted",
              "patient_id": p, "file": None, "failure": "no image extracted"} for p in lost]
    labels = patient_labels(sheet.loc[batch.features.index]) if sheet["label"].notna().any() else None
    if labels is not None:  # a sheet with labels: a patient whose label is empty is reported, never left out quietly
        name = str(cases) if isinstance(cases, (str, os.PathLike)) else "case sheet"
        extracted = sheet.loc[batch.features.index]
        unlabelled = [p for p in dict.fromkeys(extracted["patient_id"]) if p not in labels.index]
        if unlabelled:
            blank = extracted.index[extracted["patient_id"].isin(unlabelled)]
            log.warning("%s: %d patient(s) have an empty label (case(s) %s) and are left out of the labels: %s",
                        name, len(unlabelled), format_names(blank), format_names(unlabelled))
            rows += [{"kind": "label", "item": p, "reason": f"empty label in {name}", "patient_id": p,
                      "file": None, "failure": "no label"} for p in unlabelled]
    if features.empty:  # zero cases is an error with the reason, never an empty result
        lines = "; ".join(f"{r.case_id}: {r.reason}" for r in fails.head(3).itertuples())
        raise InputError(f"no case of the {len(sheet)} in the case sheet was extracted: {lines}"
                         f"{' ...' if len(fails) > 3 else ''}")
    parameters = {
        "preset": _preset_name(preset), "settings": settings, "aggregate": aggregate, "n_jobs": n_jobs,
        "workers": batch.workers, "backend": backend,
        "scheduler": None if scheduler is None else (scheduler if isinstance(scheduler, str) else type(scheduler).__name__),
        "cache": None if cache_dir is None else str(cache_dir), "strict": strict,
        "n_images": int(len(sheet)), "n_extracted": int(len(batch.features)), "n_failed": int(len(fails)),
        "n_computed": batch.n_computed, "n_cached": batch.n_cached, "n_patients": int(len(features)),
    }
    log.info("extracted %d of %d image(s) (%d cached, %d failed): %d patient(s) x %d feature(s)",
             len(batch.features), len(sheet), batch.n_cached, len(fails), len(features), features.shape[1])
    return ExtractionResult(
        features=features, labels=labels, features_image=batch.features, diagnostics=batch.diagnostics,
        patients=patients, cases=sheet, parameters=parameters, dropped=dropped_table(rows, extra=DROPPED_EXTRA),
        synthetic=synthetic,
    )
