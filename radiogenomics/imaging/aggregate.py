"""Per-patient aggregation of per-image features (the paper averages a patient's images)."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from .._logging import get_logger
from .._validation import InputError, check_choice, format_names

__all__ = ["aggregate_patients", "patient_table", "patient_labels"]

log = get_logger(__name__)


def aggregate_patients(features: pd.DataFrame, patient_ids: pd.Series, *, how: str = "mean") -> pd.DataFrame:
    """Average (or take the median of) each patient's image features.

    Parameters
    ----------
    features
        One row per image (index = case id), one column per feature.
    patient_ids
        Case id → patient id, covering every row of ``features``.
    how
        ``"mean"`` (the paper) or ``"median"``.

    Returns
    -------
    pandas.DataFrame
        One row per patient with at least one image (index ``sample_id``, sorted as patients first
        appear in ``features``), the same feature columns. A feature missing (NaN) on some images
        is aggregated over the others; the number of images per patient is in
        :func:`patient_table`.
    """
    check_choice(how, "how", owner="aggregate_patients", choices=("mean", "median"))
    patient_ids = patient_ids.copy()
    patient_ids.index = patient_ids.index.map(str)
    missing = features.index.difference(patient_ids.index)
    if len(missing):
        raise InputError(f"aggregate_patients: image(s) {format_names(missing)} have no patient id.")
    if features.empty:
        out = pd.DataFrame(columns=features.columns, dtype=float)
        out.index.name = "sample_id"
        return out
    groups = patient_ids.loc[features.index].astype(str).to_numpy()
    grouped = features.groupby(groups, sort=False)
    out = grouped.mean() if how == "mean" else grouped.median()
    all_nan = out.columns[out.isna().all()]
    if len(all_nan):
        log.warning("feature(s) %s are missing for every patient", format_names(all_nan))
    out.index.name = "sample_id"
    return out


def patient_table(cases: pd.DataFrame, extracted: Iterable[str], failed: Iterable[str]) -> pd.DataFrame:
    """Per-patient counts of images, extracted and failed, with the patient's label.

    Parameters
    ----------
    cases
        Normalised case sheet (index ``case_id``; ``patient_id``, ``label``).
    extracted
        Case ids extracted successfully.
    failed
        Case ids that failed.

    Returns
    -------
    pandas.DataFrame
        Index ``sample_id`` (patient id, in sheet order); columns ``n_images`` (rows in the sheet),
        ``n_extracted``, ``n_failed`` and ``label`` (Int8, 1/0, missing when unlabelled).
    """
    extracted, failed = set(map(str, extracted)), set(map(str, failed))
    df = pd.DataFrame({
        "patient_id": cases["patient_id"].astype(str),
        "ok": [c in extracted for c in cases.index],
        "failed": [c in failed for c in cases.index],
        "label": cases["label"] if "label" in cases else pd.NA,
    })
    grouped = df.groupby("patient_id", sort=False)
    out = pd.DataFrame({
        "n_images": grouped.size(),
        "n_extracted": grouped["ok"].sum().astype(int),
        "n_failed": grouped["failed"].sum().astype(int),
        "label": grouped["label"].first().astype("Int8"),
    })
    out.index.name = "sample_id"
    return out


def patient_labels(cases: pd.DataFrame) -> pd.Series:
    """One HER2 label per patient of a case sheet (the patients whose label is known).

    The one place patient labels are taken from image rows, for the imaging stage and the deep
    path. :func:`~radiogenomics.imaging.cases.normalize_cases` has already checked that a
    patient's images agree.

    Parameters
    ----------
    cases
        Normalised case sheet, or a subset of its rows (``patient_id``, ``label``).

    Returns
    -------
    pandas.Series
        ``her2`` (``int8``, 1/0) indexed by ``sample_id`` (patient id, in sheet order); patients
        without a label are left out.
    """
    known = cases.dropna(subset=["label"])
    first = known.groupby(known["patient_id"].astype(str), sort=False)["label"].first()
    out = first.astype("int8").rename("her2")
    out.index = out.index.map(str)
    out.index.name = "sample_id"
    return out
