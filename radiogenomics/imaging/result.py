"""The imaging stage's result: radiomic features per patient (extracted, or read from a table)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from .._io import _read_raw, check_numeric_columns, orient_samples, read_labels, read_table, split_label_column
from .._logging import get_logger
from .._results import StageResult, dropped_table, is_synthetic
from .._validation import InputError, align_samples, check_labels, check_table, format_names

__all__ = ["ExtractionResult", "load_features", "is_pyradiomics_output", "split_pyradiomics_output",
           "PYRADIOMICS_ID_COLUMNS"]

log = get_logger(__name__)


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


#: Columns that may name the sample in a pyradiomics batch output (the batch sheet's own columns), in order.
PYRADIOMICS_ID_COLUMNS = ("ID", "id", "case_id", "Case", "case", "sample_id", "patient_id", "PatientID", "Patient")


def is_pyradiomics_output(columns: pd.Index | list[str]) -> bool:
    """Whether a table's columns are those of pyradiomics' batch output (``pyradiomics cases.csv -f csv``).

    pyradiomics writes the batch sheet's columns first (``Image``, ``Mask``, optional ``Label``,
    ``ID``... as given), then its ``diagnostics_*`` columns, then the features.

    Parameters
    ----------
    columns
        Column names (with the first column, when it was read as the index).

    Returns
    -------
    bool
    """
    names = [str(c) for c in columns]
    return ("Image" in names and "Mask" in names) or any(n.startswith("diagnostics_") for n in names)


def split_pyradiomics_output(
    table: pd.DataFrame, *, name: str, label_column: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series | None, list[dict[str, Any]]]:
    """Set aside the batch sheet's columns and ``diagnostics_*`` of a pyradiomics batch output.

    The columns before the first ``diagnostics_*`` column are the batch sheet's own (``Image``,
    ``Mask``, ``Label``, ``ID``...); they and the diagnostics go to the diagnostics table, never
    dropped. The sample id is the first of :data:`PYRADIOMICS_ID_COLUMNS` present, else the
    image file's name. A row without any feature value is a case pyradiomics failed on: it is
    left out with its reason in ``dropped``.

    Parameters
    ----------
    table
        The output as read (default index, every column).
    name
        The file, for messages.
    label_column
        A column of the batch sheet holding HER2 labels (carried through by pyradiomics).

    Returns
    -------
    features : pandas.DataFrame
        Rows = cases (index ``sample_id``), the feature columns only.
    diagnostics : pandas.DataFrame
        Same index: the batch sheet's columns and every ``diagnostics_*`` column.
    labels : pandas.Series or None
        The ``label_column`` values (not checked yet).
    dropped : list of dict
        One record per failed case.
    """
    cols = [str(c) for c in table.columns]
    table = table.copy(deep=False)
    table.columns = cols
    first_diag = next((i for i, c in enumerate(cols) if c.startswith("diagnostics_")), None)
    sheet_cols = cols[:first_diag] if first_diag is not None else [c for c in cols if c in ("Image", "Mask", "Label",
                                                                                         "Label_channel")]
    if label_column is not None and label_column not in sheet_cols and label_column in cols:
        sheet_cols.append(label_column)
    diag_cols = [c for c in cols if c.startswith("diagnostics_")]
    aside = list(dict.fromkeys(sheet_cols + diag_cols))
    feature_cols = [c for c in cols if c not in aside]
    id_col = next((c for c in PYRADIOMICS_ID_COLUMNS if c in sheet_cols), None)
    if id_col is not None:
        ids = table[id_col].astype(str).str.strip()
    elif "Image" in cols:
        ids = table["Image"].astype(str).map(lambda p: Path(p.replace("\\", "/")).name.split(".")[0])
        if ids.duplicated().any():
            raise InputError(
                f"{name}: pyradiomics batch output without an id column, and its image file names repeat "
                f"({format_names(ids[ids.duplicated()].unique())}); add an 'ID' column to the batch sheet."
            )
        log.info("%s: no id column in the pyradiomics output; samples are named by their image file", name)
    else:
        raise InputError(f"{name}: pyradiomics batch output without an 'ID' or 'Image' column to name the samples.")
    if ids.duplicated().any():
        raise InputError(f"{name}: duplicated sample ids {format_names(ids[ids.duplicated()].unique())} in column "
                         f"{id_col!r}; each row must be one sample.")
    index = pd.Index(ids.to_numpy(), name="sample_id")
    features = table[feature_cols].copy()
    features.index = index
    features = features.apply(pd.to_numeric, errors="coerce") if len(feature_cols) else features
    diagnostics = table[aside].copy()
    diagnostics.index = index
    labels = None
    if label_column is not None:
        if label_column not in table.columns:
            raise InputError(f"{name}: no column {label_column!r} (--label-column); the batch sheet's columns are "
                             f"{format_names(sheet_cols)}.")
        labels = pd.Series(table[label_column].to_numpy(), index=index, name="her2")
    failed = features.index[features.isna().all(axis=1)] if len(feature_cols) else features.index
    dropped = [{"kind": "sample", "item": s, "reason": "pyradiomics extracted no feature for this case (see its log)",
                "patient_id": s, "file": str(diagnostics.at[s, "Image"]) if "Image" in aside else None,
                "failure": "extraction error"} for s in failed]
    if len(failed):
        log.warning("%s: %d case(s) without any feature value (pyradiomics failed on them) are left out: %s",
                    name, len(failed), format_names(failed))
        features = features.drop(index=failed)
        if labels is not None:
            labels = labels.drop(index=failed)
    log.info("%s: pyradiomics batch output: %d feature(s); %d batch-sheet and %d diagnostics column(s) set aside "
             "in the diagnostics table", name, len(feature_cols), len(sheet_cols), len(diag_cols))
    return features, diagnostics, labels, dropped


def load_features(
    features: str | os.PathLike | pd.DataFrame,
    labels: str | os.PathLike | pd.Series | None = None,
    *,
    label_column: str | None = None,
    transpose: bool = False,
    name: str | None = None,
) -> ExtractionResult:
    """A feature table given as it is (no extraction), with its labels, as an imaging result.

    Accepted layouts: rows = patients; features as rows (detected from the labels' ids, see
    :func:`radiogenomics._io.orient_samples`); the labels inside the table (``label_column``:
    a column, or a row when samples are columns); pyradiomics' batch output
    (``pyradiomics cases.csv -o out.csv -f csv``: the batch sheet's columns and the
    ``diagnostics_*`` columns go to ``diagnostics``).

    Parameters
    ----------
    features
        Table (or file: CSV/TSV/Parquet).
    labels
        0/1 labels (or a labels file: sample id, ``her2``); optional.
    label_column
        The column of the labels: in the table itself when ``labels`` is not given, else in the
        labels file.
    transpose
        The file stores samples as columns, whatever the labels say.
    name
        Name of the table in messages (default: the file).

    Returns
    -------
    ExtractionResult
        ``features`` and ``labels``; ``diagnostics`` for a pyradiomics output; ``dropped``
        lists the cases pyradiomics extracted nothing for. No image-level tables.
    """
    synthetic = is_synthetic(features, labels)
    fname = name or (str(features) if isinstance(features, (str, os.PathLike)) else "features")
    is_file = isinstance(features, (str, os.PathLike))
    raw = _read_raw(Path(features), index_col=None) if is_file else None
    if raw is not None and is_pyradiomics_output(raw.columns) and not transpose:
        table = raw
    elif is_file:
        table = read_table(features, transpose=transpose, numeric=False)
    else:
        table = features
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"{fname} must be a DataFrame or a table file; got {type(table).__name__}.")
    diagnostics, dropped, inside = None, [], None
    layout = "table"
    if is_pyradiomics_output([table.index.name, *table.columns]) and not transpose:
        raw = table.reset_index() if table.index.name is not None else table
        inner = label_column if labels is None else None
        table, diagnostics, inside, dropped = split_pyradiomics_output(raw, name=fname, label_column=inner)
        layout = "pyradiomics"
    elif label_column is not None and labels is None:
        table, inside = split_label_column(table, label_column, name=fname)
        layout = "labels inside"
    y = None
    if labels is not None:
        if isinstance(labels, (str, os.PathLike)):
            y = read_labels(labels, column=label_column)
        else:
            y = check_labels(labels)
        if not transpose and layout != "pyradiomics":
            table = orient_samples(table, y.index, name=fname)
        failed = [d["item"] for d in dropped]
        y = y.drop(index=[f for f in failed if f in y.index])  # already in dropped, with the reason
    elif inside is not None:
        y = check_labels(inside, name=f"{fname} (column {label_column!r})")
    check_numeric_columns(table, name=fname)
    table = check_table(table, name=fname)
    if y is not None:
        table, y = align_samples(table, y, data_name=fname,
                                 labels_name=str(labels) if isinstance(labels, (str, os.PathLike)) else "labels")
        y = y.rename("her2")
        y.index.name = "sample_id"
    table.index.name = "sample_id"
    parameters = {"source": "table", "features": str(features) if is_file else None, "transpose": transpose,
                  "layout": layout, "label_column": label_column}
    if diagnostics is not None:
        parameters["set_aside"] = [str(c) for c in diagnostics.columns]
    return ExtractionResult(features=table, labels=y, diagnostics=diagnostics, parameters=parameters,
                            dropped=dropped_table(dropped, extra=("patient_id", "file", "failure")),
                            synthetic=synthetic)
