"""Case sheets (batch manifests): one row per image with its mask, patient and label.

Columns (ours, or pyradiomics' batch names in brackets):

``case_id`` [``ID``]
    Unique image id. Defaults to ``<patient_id>_<n>`` when absent.
``patient_id``
    Patient the image belongs to (several images per patient are averaged). Defaults to
    ``case_id`` (one image per patient).
``image`` [``Image``], ``mask`` [``Mask``]
    Paths, relative to the sheet's folder unless absolute.
``label`` [``Label``] (optional)
    HER2 status, 1 positive / 0 negative; must agree across a patient's images. (pyradiomics'
    ``Label`` column is the *mask* label in its batch script; we accept it as ``mask_label``
    when the sheet also has our ``label``, or when its values are not 0/1.)
``mask_label`` (optional)
    Value of the lesion in the mask (see :func:`radiogenomics.imaging.readers.read_mask`).
``reader`` (optional)
    Who drew the mask; images of the same ``case_key`` by several readers feed the ICC.
``scanner`` (optional)
    Scanner or site, the batch variable of ComBat harmonisation.
extra image columns (optional, the deep path's ``sequences``)
    One image column per MRI/CT sequence (e.g. ``t1``, ``t2``, ``dce``), named by the caller
    (``images=``); their paths are resolved like ``image``'s, and when the sheet has no
    ``image`` column the first of them is the image the imaging path reads.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .._logging import get_logger
from .._validation import DataFileError, InputError, LabelError, format_names

__all__ = ["read_cases", "normalize_cases", "load_cases", "cases_are_synthetic", "CASE_COLUMNS"]

log = get_logger(__name__)

CASE_COLUMNS = ("case_id", "patient_id", "image", "mask", "label", "mask_label", "reader", "scanner")
_RENAMES = {"ID": "case_id", "Image": "image", "Mask": "mask", "Patient": "patient_id", "Reader": "reader",
            "Scanner": "scanner"}


def normalize_cases(sheet: pd.DataFrame, *, base_dir: str | os.PathLike | None = None,
                    name: str = "case sheet", images: Sequence[str] = (),
                    allow_outside_paths: bool = False) -> pd.DataFrame:
    """Validate a case sheet and bring it to the canonical columns.

    Parameters
    ----------
    sheet
        Raw sheet (our column names or pyradiomics' ``ID, Image, Mask, Label``).
    base_dir
        Folder relative paths are resolved against (the sheet's folder); ``None`` keeps them.
    name
        Name used in messages (the file).
    images
        Further image columns (one per sequence); checked and resolved like ``image``. Without
        an ``image`` column, the first of them fills it.
    allow_outside_paths
        With ``base_dir``: accept absolute paths and paths that lead out of ``base_dir``
        (``../``); by default every image and mask must lie inside the sheet's folder, so a
        sheet cannot make the package open ``/etc/shadow`` or ``../../secret``.

    Returns
    -------
    pandas.DataFrame
        One row per image, indexed by ``case_id`` (str), columns ``patient_id`` (str),
        ``image``, ``mask`` (str, absolute paths when ``base_dir`` is given), ``label`` (Int8,
        may be missing), ``mask_label`` (Int64, may be missing), ``reader`` and ``scanner``
        (str, may be missing), plus any extra columns of the input unchanged (the ``images``
        columns resolved like ``image``).
    """
    df = sheet.copy()
    df.columns = [str(c).strip() for c in df.columns]
    # pyradiomics' 'Label' is a mask label in its batch script
    if "Label" in df.columns:
        values = pd.to_numeric(df["Label"], errors="coerce")
        if "label" in df.columns or not values.dropna().isin([0, 1]).all():
            df = df.rename(columns={"Label": "mask_label"})
            log.info("%s: pyradiomics' 'Label' column read as the mask label (mask_label)", name)
        else:
            df = df.rename(columns={"Label": "label"})
            log.info("%s: 'Label' column of 0/1 values read as the HER2 label (give 'label' and 'mask_label' "
                     "to say otherwise)", name)
    df = df.rename(columns={k: v for k, v in _RENAMES.items() if k in df.columns and v not in df.columns})
    images = [str(c) for c in images]
    absent = [c for c in images if c not in df.columns]
    if absent:
        raise InputError(f"{name}: missing image column(s) {format_names(absent)} (the sequences asked for); "
                         f"columns found: {format_names(df.columns, limit=10)}.")
    if images and "image" not in df.columns:
        df["image"] = df[images[0]]
    paths = list(dict.fromkeys(["image", "mask", *images]))
    missing = [c for c in ("image", "mask") if c not in df.columns]
    if missing:
        raise InputError(
            f"{name}: missing column(s) {format_names(missing)}; a case sheet needs 'image' and 'mask' "
            "(or pyradiomics' 'Image' and 'Mask'), with optional case_id, patient_id, label, mask_label, "
            f"reader, scanner. Columns found: {format_names(df.columns, limit=10)}."
        )
    if df.empty:
        raise InputError(f"{name}: the case sheet has no rows.")
    for col in paths:
        blank = df[col].isna() | (df[col].astype(str).str.strip() == "")
        if blank.any():
            raise InputError(f"{name}: empty '{col}' path in row(s) {format_names(df.index[blank] + 2)}.")
    if "case_id" not in df.columns:
        if "patient_id" in df.columns:
            df["case_id"] = df["patient_id"].astype(str) + "_" + (df.groupby("patient_id").cumcount() + 1).astype(str)
        else:
            df["case_id"] = [f"case{i + 1:04d}" for i in range(len(df))]
    df["case_id"] = df["case_id"].astype(str).str.strip()
    if "patient_id" not in df.columns:
        df["patient_id"] = df["case_id"]
    df["patient_id"] = df["patient_id"].astype(str).str.strip()
    dup = df["case_id"][df["case_id"].duplicated()].unique()
    if len(dup):
        raise InputError(f"{name}: duplicated case_id(s) {format_names(dup)}; each row must be one image.")

    if base_dir is not None:
        base = Path(base_dir)
        _windows_separators(df, paths, base, name)  # before the confinement check sees them
        if not allow_outside_paths:
            _confine(df, paths, base, name)
        for col in paths:
            df[col] = [str(p) if Path(p).is_absolute() else str((base / str(p).strip()).resolve())
                       for p in df[col].astype(str).str.strip()]
    else:
        for col in paths:
            df[col] = df[col].astype(str).str.strip()

    if "label" in df.columns:
        raw = df["label"]
        values = pd.to_numeric(raw, errors="coerce")
        bad = raw.notna() & ~values.isin([0, 1])
        if bad.any():
            shown = format_names([f"{c}={v!r}" for c, v in zip(df.loc[bad, "case_id"], raw[bad])])
            raise LabelError(f"{name}: 'label' must be 1 (HER2-positive) or 0 (negative); case(s) {shown} are not.")
        df["label"] = values.astype("Int8")
        per_patient = df.dropna(subset=["label"]).groupby("patient_id")["label"].nunique()
        conflict = per_patient.index[per_patient > 1]
        if len(conflict):
            raise LabelError(f"{name}: patient(s) {format_names(conflict)} have images with different labels.")
    else:
        df["label"] = pd.array([pd.NA] * len(df), dtype="Int8")

    if "mask_label" in df.columns:
        raw = df["mask_label"]
        values = pd.to_numeric(raw, errors="coerce")
        bad = raw.notna() & (values.isna() | (values != np.round(values)))
        if bad.any():
            raise InputError(
                f"{name}: 'mask_label' must be an integer; case(s) {format_names(df.loc[bad, 'case_id'])} are not."
            )
        df["mask_label"] = values.astype("Int64")
    else:
        df["mask_label"] = pd.array([pd.NA] * len(df), dtype="Int64")
    for col in ("reader", "scanner"):
        if col in df.columns:
            df[col] = df[col].astype("string")
        else:
            df[col] = pd.array([pd.NA] * len(df), dtype="string")
    df = df.set_index("case_id")
    df.index.name = "case_id"
    order = [c for c in CASE_COLUMNS if c != "case_id"]
    return df[order + [c for c in df.columns if c not in order]]


def _windows_separators(df: pd.DataFrame, columns: Sequence[str], base: Path, name: str) -> None:
    """Read ``imgs\\case1.nrrd`` (a sheet written on Windows) as ``imgs/case1.nrrd`` where no file
    has the name as written (on POSIX a backslash is a legal file-name character); in place."""
    if os.sep == "\\":
        return
    changed = 0
    for col in columns:
        values = df[col].astype(str).str.strip()
        fixed = [v.replace("\\", "/") if "\\" in v and not (base / v).exists() else v for v in values]
        changed += sum(a != b for a, b in zip(values, fixed))
        df[col] = fixed
    if changed:
        log.info("%s: %d path(s) written with Windows separators ('\\') read with '/'", name, changed)


def _confine(df: pd.DataFrame, columns: Sequence[str], base: Path, name: str) -> None:
    """Refuse image/mask paths that are absolute or lead out of ``base`` (the sheet's folder)."""
    root = os.path.normpath(os.path.abspath(base))
    for col in columns:
        for case, raw in zip(df["case_id"], df[col].astype(str).str.strip()):
            full = os.path.normpath(os.path.join(root, raw))
            if Path(raw).is_absolute() or os.path.commonpath([root, full]) != root:
                raise InputError(
                    f"{name}: case {case!r}: the {col} path {raw!r} is "
                    f"{'absolute' if Path(raw).is_absolute() else 'outside the sheet folder'}; case-sheet paths "
                    f"must lie inside the sheet's folder {root}. Move the files there, or allow other paths "
                    "explicitly (--allow-outside-paths, config imaging.allow_outside_paths: true, "
                    "allow_outside_paths=True)."
                )


def read_cases(path: str | os.PathLike, *, images: Sequence[str] = (),
               allow_outside_paths: bool = False) -> pd.DataFrame:
    """Read a case sheet (CSV, TSV or Parquet) and resolve its paths relative to its folder.

    Parameters
    ----------
    path
        The case sheet.
    images
        Further image columns (see :func:`normalize_cases`).
    allow_outside_paths
        Accept absolute paths and paths outside the sheet's folder (see :func:`normalize_cases`).

    Returns
    -------
    pandas.DataFrame
        See :func:`normalize_cases`.
    """
    path = Path(path)
    if not path.exists():
        from .._validation import MissingDataFileError

        raise MissingDataFileError(f"{path}: case sheet not found.")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            raw = pd.read_parquet(path)
        else:
            from .._io import _header_names

            sep = "\t" if path.suffix.lower() in (".tsv", ".txt") else ","
            _header_names(path, sep)  # refuses duplicated column names (pandas would rename them)
            raw = pd.read_csv(path, sep=sep, dtype={"case_id": str, "patient_id": str, "ID": str})
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataFileError(f"{path}: cannot be read as a case sheet ({exc}).") from exc
    return normalize_cases(raw, base_dir=path.resolve().parent, name=str(path), images=images,
                           allow_outside_paths=allow_outside_paths)


def load_cases(cases: str | os.PathLike | pd.DataFrame, *, name: str | None = None,
               images: Sequence[str] = (), allow_outside_paths: bool = False) -> pd.DataFrame:
    """A case sheet given as a file or a table, normalised: what the imaging and deep stages read.

    Parameters
    ----------
    cases
        A case-sheet file (:func:`read_cases`: paths relative to its folder), a raw sheet, or
        a sheet already normalised (index ``case_id``); a table's relative paths stay relative
        to the working folder.
    name
        Name of the sheet in messages (default: the file, or ``"case sheet"``).
    images
        Further image columns (see :func:`normalize_cases`).
    allow_outside_paths
        A file's paths may be absolute or lead out of its folder (see :func:`normalize_cases`).

    Returns
    -------
    pandas.DataFrame
        See :func:`normalize_cases`.
    """
    if isinstance(cases, (str, os.PathLike)):
        return read_cases(cases, images=images, allow_outside_paths=allow_outside_paths)
    if not isinstance(cases, pd.DataFrame):
        raise InputError(f"cases must be a case-sheet file or a DataFrame; got {type(cases).__name__}.")
    sheet = cases.reset_index() if cases.index.name == "case_id" else cases
    return normalize_cases(sheet, name=name or "case sheet", images=images)


def cases_are_synthetic(source: str | os.PathLike | pd.DataFrame, sheet: pd.DataFrame) -> bool:
    """Whether a case sheet is the synthetic demo cohort's.

    True when :func:`radiogenomics._results.is_synthetic` says so of the sheet (a ``SYNTHETIC*``
    marker beside the file, or a table's ``attrs``) or of its images' folders, or when the sheet
    has a ``synthetic`` column that is true.

    Parameters
    ----------
    source
        What was given (file or table).
    sheet
        The normalised sheet (:func:`load_cases`).

    Returns
    -------
    bool
    """
    from .._results import is_synthetic

    if "synthetic" in sheet.columns and sheet["synthetic"].astype(str).str.lower().eq("true").any():
        return True
    folders = list(dict.fromkeys(str(Path(p).parent) for p in sheet["image"]))[:20]
    return is_synthetic(source, *folders)
