"""The imaging stage's result: radiomic features per patient (extracted, or read from a table)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd

from .._io import orient_samples, read_labels, read_table
from .._results import StageResult, dropped_table, is_synthetic
from .._validation import align_samples, check_labels, check_table

__all__ = ["ExtractionResult", "load_features"]


@dataclass(frozen=True)
class ExtractionResult(StageResult):
    """Radiomic features of one imaging cohort: what every later stage reads.

    Attributes
    ----------
    features
        One row per patient (index ``sample_id``), one column per feature. Written as
        ``features_patient``.
    labels
        HER2 labels (1/0, ``her2``) of the patients that have them, indexed by ``sample_id``;
        ``None`` when the cohort has none.
    features_image
        One row per extracted image (index ``case_id``); ``None`` for a table read as given.
    diagnostics
        pyradiomics' ``diagnostics_*`` per image plus ``patient_id``, ``cached``, ``seconds``.
    patients
        Per patient: ``n_images``, ``n_extracted``, ``n_failed``, ``label``.
    cases
        The normalised case sheet (index ``case_id``).
    parameters
        The settings used (preset and its pyradiomics settings, aggregation, workers...).
    dropped
        Every image or patient left out: ``kind`` (``"case"``: ``item`` is the case id;
        ``"sample"``: a patient none of whose images was extracted), ``reason``, and
        ``patient_id``, ``file``, ``failure`` (missing file, unreadable file, geometry mismatch,
        empty mask, mask label absent, non-binary mask, ROI too small, extraction error; or
        no image extracted).
    synthetic
        The inputs were synthetic.
    """

    stage: ClassVar[str] = "extraction"
    TABLE_ATTRS: ClassVar[Mapping[str, str]] = {"features_patient": "features"}
    SERIES_TABLES: ClassVar[tuple[str, ...]] = ("labels",)

    features: pd.DataFrame
    labels: pd.Series | None = None
    features_image: pd.DataFrame | None = None
    diagnostics: pd.DataFrame | None = None
    patients: pd.DataFrame | None = None
    cases: pd.DataFrame | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    dropped: pd.DataFrame = field(default_factory=lambda: dropped_table(extra=("patient_id", "file", "failure")))
    synthetic: bool = False

    def overview(self) -> dict[str, Any]:
        """Counts of the result.

        Returns
        -------
        dict
            ``n_patients``, ``n_features``, ``n_images``, ``dropped``.
        """
        return {"n_patients": int(len(self.features)), "n_features": int(self.features.shape[1]),
                "n_images": None if self.features_image is None else int(len(self.features_image)),
                "dropped": int(len(self.dropped))}


def load_features(
    features: str | os.PathLike | pd.DataFrame,
    labels: str | os.PathLike | pd.Series | None = None,
    *,
    transpose: bool = False,
    name: str | None = None,
) -> ExtractionResult:
    """A feature table given as it is (no extraction), with its labels, as an imaging result.

    Parameters
    ----------
    features
        Table (or file: CSV/TSV/Parquet) with rows = patients. A table whose columns are the
        labelled samples is transposed (the orientation is detected from the labels' ids).
    labels
        0/1 labels (or a labels file: sample id, ``her2``); optional.
    transpose
        The file stores samples as columns, whatever the labels say.
    name
        Name of the table in messages (default: the file).

    Returns
    -------
    ExtractionResult
        ``features`` and ``labels``; no image-level tables.
    """
    synthetic = is_synthetic(features, labels)
    fname = name or (str(features) if isinstance(features, (str, os.PathLike)) else "features")
    table = read_table(features, transpose=transpose) if isinstance(features, (str, os.PathLike)) else features
    y = None
    if labels is not None:
        y = read_labels(labels) if isinstance(labels, (str, os.PathLike)) else check_labels(labels)
        if not transpose:
            table = orient_samples(table, y.index, name=fname)
    table = check_table(table, name=fname)
    if y is not None:
        table, y = align_samples(table, y, data_name=fname,
                                 labels_name=str(labels) if isinstance(labels, (str, os.PathLike)) else "labels")
        y = y.rename("her2")
        y.index.name = "sample_id"
    table.index.name = "sample_id"
    parameters = {"source": "table", "features": str(features) if isinstance(features, (str, os.PathLike)) else None,
                  "transpose": transpose}
    return ExtractionResult(features=table, labels=y, parameters=parameters, synthetic=synthetic)

