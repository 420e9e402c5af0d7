"""Tumour crops for the deep path: case sheet, crops around each mask, patient-wise splits, augmentation.

The case sheet is the imaging path's (``case_id, patient_id, image, mask[, label]``, paths
relative to the sheet). Each image is read with SimpleITK, scaled to [0, 1] (8-bit images: /255; others:
by their own 0.5 and 99.5 percentiles), and cropped to a square around the mask's bounding box enlarged by
``margin`` (a fraction of the box's longer side on every side), then resampled to
``size × size`` (linear for the image, nearest for the mask). Parts of the square outside the
image are filled with 0. Nothing here needs torch except :func:`make_augmentation`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._logging import get_logger, progress
from .._validation import (
    DataFileError,
    InputError,
    LabelError,
    MissingDataFileError,
    check_choice,
    check_float,
    check_int,
    check_labels,
    format_names,
)

__all__ = [
    "CropSet",
    "read_case_sheet",
    "read_image",
    "crop_around_mask",
    "load_crops",
    "patient_labels",
    "split_patients",
    "make_augmentation",
]

log = get_logger(__name__)

SPLITS = ("train", "validation", "test")
BACKGROUNDS = ("keep", "zero")
INTENSITIES = ("uint8", "percentile")
_ALIASES = {"id": "case_id", "case": "case_id", "patient": "patient_id", "her2": "label"}


@dataclass
class CropSet:
    """Crops of every readable case, in the case sheet's order.

    Attributes
    ----------
    images
        ``float32`` array ``(n, 1, size, size)`` in [0, 1].
    masks
        ``uint8`` array ``(n, 1, size, size)`` of 0/1.
    cases
        One row per crop, index ``case_id``; columns ``patient_id``, ``label`` (0/1 or ``<NA>``),
        ``image``, ``mask`` (absolute paths) and ``split`` when one was assigned.
    failures
        Cases that could not be cropped: columns ``case_id``, ``image``, ``mask``, ``reason``.
    size, margin, background, intensity, window
        The crop settings.
    """

    images: np.ndarray
    masks: np.ndarray
    cases: pd.DataFrame
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["case_id", "image", "mask", "reason"]))
    size: int = 64
    margin: float = 0.25
    background: str = "keep"
    intensity: str = "uint8"
    window: int | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, case_ids: Any) -> CropSet:
        """Return the crops of ``case_ids`` (a list of ids or a boolean mask over the cases).

        Parameters
        ----------
        case_ids
            Case ids, or a boolean array aligned with :attr:`cases`.

        Returns
        -------
        CropSet
        """
        if isinstance(case_ids, (np.ndarray, pd.Series)) and np.asarray(case_ids).dtype == bool:
            pos = np.flatnonzero(np.asarray(case_ids))
        else:
            ids = pd.Index([str(c) for c in case_ids])
            missing = ids.difference(self.cases.index)
            if len(missing):
                raise InputError(f"case(s) {format_names(missing)} are not among the cropped cases.")
            pos = self.cases.index.get_indexer(ids)
        return CropSet(
            images=self.images[pos], masks=self.masks[pos], cases=self.cases.iloc[pos].copy(),
            failures=self.failures, size=self.size, margin=self.margin, background=self.background,
            intensity=self.intensity, window=self.window,
        )

    def split(self, name: str) -> CropSet:
        """Crops whose ``split`` column equals ``name`` (``train``, ``validation``, ``test``).

        Parameters
        ----------
        name
            Split name.

        Returns
        -------
        CropSet
        """
        if "split" not in self.cases.columns:
            raise InputError("the crops have no 'split' column; assign one with split_patients first.")
        return self.subset((self.cases["split"] == name).to_numpy())

    @property
    def labels(self) -> np.ndarray:
        """Image labels as an ``int64`` array (error when any is missing)."""
        lab = self.cases["label"]
        if lab.isna().any():
            raise LabelError(
                f"case(s) {format_names(lab.index[lab.isna()])} have no label; training and "
                "evaluation need a 0/1 'label' for every case."
            )
        return lab.to_numpy(dtype=np.int64)


def read_case_sheet(path: str | os.PathLike, *, require_labels: bool = False) -> pd.DataFrame:
    """Read the imaging case sheet and resolve its paths against the sheet's folder.

    Parameters
    ----------
    path
        CSV (or Parquet) with columns ``case_id``, ``patient_id``, ``image``, ``mask`` and
        optionally ``label`` (1 HER2-positive, 0 negative). ``ID``/``Image``/``Mask``/``Label``
        (pyradiomics batch style) are accepted; without ``patient_id`` every case is its own
        patient.
    require_labels
        Every case must have a 0/1 label.

    Returns
    -------
    pandas.DataFrame
        Index ``case_id`` (str); columns ``patient_id`` (str), ``image``, ``mask`` (absolute
        paths as str) and ``label`` (``Int8``, ``<NA>`` where unknown).
    """
    path = Path(path)
    if not path.exists():
        raise MissingDataFileError(f"{path}: case sheet not found.")
    try:
        df = pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path, dtype=str)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataFileError(f"{path}: cannot be read as a case sheet ({exc}).") from exc
    df = df.rename(columns=lambda c: _ALIASES.get(str(c).strip().lower(), str(c).strip().lower()))
    missing = [c for c in ("case_id", "image", "mask") if c not in df.columns]
    if missing:
        raise DataFileError(
            f"{path}: missing column(s) {format_names(missing)}; a case sheet needs case_id, "
            f"patient_id, image, mask[, label] (has {format_names(df.columns)})."
        )
    df["case_id"] = df["case_id"].astype(str)
    dup = df["case_id"][df["case_id"].duplicated()].unique()
    if len(dup):
        raise DataFileError(f"{path}: duplicated case_id {format_names(dup)}.")
    if "patient_id" not in df.columns:
        log.info("%s: no patient_id column; every case is its own patient", path)
        df["patient_id"] = df["case_id"]
    df["patient_id"] = df["patient_id"].astype(str)
    base = path.resolve().parent
    for col in ("image", "mask"):
        df[col] = [str(p if Path(p).is_absolute() else (base / p)) for p in df[col].astype(str)]
    if "label" in df.columns:
        raw = df.set_index("case_id")["label"]
        known = raw.dropna()
        known = known[known.astype(str).str.strip() != ""]
        checked = check_labels(known, name=f"{path} label column")
        df["label"] = pd.array(checked.reindex(raw.index).to_numpy(dtype=float), dtype="Int8")
    else:
        df["label"] = pd.array([pd.NA] * len(df), dtype="Int8")
    if require_labels and df["label"].isna().any():
        raise LabelError(
            f"{path}: case(s) {format_names(df['case_id'][df['label'].isna()])} have no 0/1 label; "
            "training needs one for every case."
        )
    return df.set_index("case_id")[["patient_id", "image", "mask", "label"]]


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a 2D image (PNG, NRRD, NIfTI, DICOM...) with SimpleITK as a float array.

    Colour images are averaged to grey; a 3D volume with one slice is squeezed.

    Parameters
    ----------
    path
        Image file.

    Returns
    -------
    numpy.ndarray
        2D ``float64`` array (rows, columns).
    """
    import SimpleITK as sitk

    path = Path(path)
    if not path.exists():
        raise MissingDataFileError(f"{path}: image file not found.")
    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise DataFileError(f"{path}: SimpleITK cannot read it ({str(exc).strip().splitlines()[-1]}).") from exc
    arr = sitk.GetArrayFromImage(img).astype(np.float64)
    if img.GetNumberOfComponentsPerPixel() > 1:
        arr = arr[..., :3].mean(axis=-1)
    arr = np.squeeze(arr)
    if arr.ndim != 2:
        raise DataFileError(f"{path}: expected a 2D image, got shape {arr.shape}.")
    return arr


def _scale(image: np.ndarray, *, intensity: str, path: Any = "") -> np.ndarray:
    if intensity == "uint8":
        if image.min() < 0 or image.max() > 255:
            raise DataFileError(f"{path}: intensity='uint8' but values span [{image.min()}, {image.max()}].")
        return image / 255.0
    lo, hi = np.percentile(image, [0.5, 99.5])
    if hi <= lo:
        hi = lo + 1.0
    return np.clip((image - lo) / (hi - lo), 0.0, 1.0)


def crop_around_mask(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    size: int = 64,
    margin: float = 0.25,
    background: str = "keep",
    window: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Square crop around the mask's bounding box, enlarged by ``margin``, resampled to ``size``.

    Parameters
    ----------
    image
        2D image (already scaled).
    mask
        2D mask of the same shape; non-zero = lesion.
    size
        Output side in pixels.
    margin
        Extra context on every side as a fraction of the box's longer side.
    background
        ``"keep"`` the tissue around the lesion, or ``"zero"`` it (lesion-only input, as in
        studies that feed the segmented tumour alone).
    window
        Side of the square in input pixels, centred on the box (``margin`` is then unused).
        A fixed window keeps every crop at the same scale: resizing each box to ``size`` lets
        the lesion's extent change the apparent texture scale of the tissue around it, a cue a
        network learns readily.

    Returns
    -------
    tuple of numpy.ndarray
        ``(crop, crop_mask)``: ``float32`` and ``uint8`` arrays of shape ``(size, size)``.
    """
    from scipy import ndimage

    size = check_int(size, "size", owner="crop_around_mask", min_value=8)
    margin = check_float(margin, "margin", owner="crop_around_mask", min_value=0.0, max_value=5.0)
    check_choice(background, "background", owner="crop_around_mask", choices=BACKGROUNDS)
    if image.shape != mask.shape:
        raise InputError(f"image shape {image.shape} and mask shape {mask.shape} differ.")
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        raise InputError("the mask is empty (no non-zero pixel).")
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    if window is not None:
        side = float(check_int(window, "window", owner="crop_around_mask", min_value=4))
    else:
        side = max(r1 - r0, c1 - c0) * (1.0 + 2.0 * margin)
    cr, cc = (r0 + r1) / 2.0, (c0 + c1) / 2.0
    # pixel centres of the output grid, in input pixel coordinates
    grid = (np.arange(size) + 0.5) / size * side - side / 2.0 - 0.5
    rr, cc_ = np.meshgrid(cr + grid, cc + grid, indexing="ij")
    coords = np.stack([rr, cc_])
    crop = ndimage.map_coordinates(image, coords, order=1, mode="constant", cval=0.0)
    cmask = ndimage.map_coordinates((mask > 0).astype(np.float32), coords, order=0, mode="constant", cval=0.0)
    cmask = (cmask > 0.5).astype(np.uint8)
    if background == "zero":
        crop = crop * cmask
    return crop.astype(np.float32), cmask


def load_crops(
    cases: pd.DataFrame,
    *,
    size: int = 64,
    margin: float = 0.25,
    background: str = "keep",
    intensity: str = "uint8",
    window: int | None = None,
    strict: bool = False,
) -> CropSet:
    """Read every case of a sheet and crop it around its mask.

    Parameters
    ----------
    cases
        Output of :func:`read_case_sheet` (index ``case_id``).
    size
        Crop side in pixels after resampling.
    margin
        Context around the mask's box, as a fraction of its longer side on each side.
    background
        ``"keep"`` the surrounding tissue or ``"zero"`` it (see :func:`crop_around_mask`).
    intensity
        ``"uint8"``: divide by 255 (8-bit PNG/JPEG, the same scale for every image);
        ``"percentile"``: map each image's 0.5 and 99.5 percentiles to 0 and 1 (CT/MRI).
        Per-image scaling lets bright spots inside a lesion change how dark the tissue around
        it looks, so the fixed scale is the default for 8-bit images.
    window
        Fixed crop side in input pixels (see :func:`crop_around_mask`); ``None`` crops the
        mask's box plus ``margin``.
    strict
        Raise on the first unreadable case instead of recording it in ``failures``.

    Returns
    -------
    CropSet
        Crops of the readable cases; the others are logged and listed in ``failures``
        (columns ``case_id``, ``image``, ``mask``, ``reason``).
    """
    size = check_int(size, "size", owner="load_crops", min_value=8)
    margin = check_float(margin, "margin", owner="load_crops", min_value=0.0, max_value=5.0)
    check_choice(background, "background", owner="load_crops", choices=BACKGROUNDS)
    check_choice(intensity, "intensity", owner="load_crops", choices=INTENSITIES)
    images, masks, kept, failures = [], [], [], []
    for case_id, row in progress(cases.iterrows(), desc="cropping", total=len(cases)):
        try:
            img = read_image(row["image"])
            msk = read_image(row["mask"])
            if img.shape != msk.shape:
                raise DataFileError(f"image shape {img.shape} differs from mask shape {msk.shape}")
            crop, cmask = crop_around_mask(_scale(img, intensity=intensity, path=row['image']), msk > 0, size=size, margin=margin, background=background,
                                           window=window)
        except (InputError, MissingDataFileError) as exc:
            if strict:
                raise type(exc)(f"case {case_id!r}: {exc}") from exc
            log.warning("case %r dropped: %s", case_id, exc)
            failures.append({"case_id": str(case_id), "image": row["image"], "mask": row["mask"], "reason": str(exc)})
            continue
        images.append(crop)
        masks.append(cmask)
        kept.append(case_id)
    if not kept:
        raise InputError(
            f"no case could be cropped ({len(failures)} failed; first: {failures[0]['reason'] if failures else 'none'})."
        )
    out_cases = cases.loc[kept].copy()
    out_cases.index.name = "case_id"
    fail = pd.DataFrame(failures, columns=["case_id", "image", "mask", "reason"])
    return CropSet(
        images=np.stack(images)[:, None].astype(np.float32),
        masks=np.stack(masks)[:, None].astype(np.uint8),
        cases=out_cases, failures=fail, size=size, margin=margin, background=background,
        intensity=intensity, window=window,
    )


def patient_labels(cases: pd.DataFrame) -> pd.Series:
    """One 0/1 label per patient; cases of one patient must agree.

    Parameters
    ----------
    cases
        Table with ``patient_id`` and ``label`` columns.

    Returns
    -------
    pandas.Series
        ``int8`` labels indexed by patient id (name ``her2``), in first-appearance order.
    """
    if cases["label"].isna().any():
        raise LabelError(f"case(s) {format_names(cases.index[cases['label'].isna()])} have no label.")
    grouped = cases.groupby("patient_id", sort=False)["label"]
    n = grouped.nunique()
    bad = n.index[n > 1]
    if len(bad):
        raise LabelError(f"patient(s) {format_names(bad)} have images with different labels.")
    out = grouped.first().astype("int8")
    out.index = out.index.map(str)
    out.index.name = "sample_id"
    out.name = "her2"
    return out


def split_patients(
    cases: pd.DataFrame,
    *,
    validation: float = 0.2,
    test: float = 0.2,
    seed: int = 0,
) -> pd.Series:
    """Assign whole patients to train, validation and test, stratified by label.

    Within each label the patients are shuffled with ``seed``; ``round(n * validation)`` and
    ``round(n * test)`` of them (at least one when the fraction is > 0) go to validation and
    test, the rest to train. No patient appears in two splits.

    Parameters
    ----------
    cases
        Table with ``patient_id`` and ``label`` columns, index = case id.
    validation, test
        Fractions of each label's patients.
    seed
        Seed of the shuffle.

    Returns
    -------
    pandas.Series
        Split name (``train``, ``validation``, ``test``) per case, indexed like ``cases``,
        named ``split``.
    """
    owner = "split_patients"
    validation = check_float(validation, "validation", owner=owner, min_value=0.0, max_value=1.0, closed="left")
    test = check_float(test, "test", owner=owner, min_value=0.0, max_value=1.0, closed="left")
    seed = check_int(seed, "seed", owner=owner, min_value=0)
    if validation + test >= 1.0:
        raise InputError(f"validation + test fractions must be < 1; got {validation} + {test}.")
    labels = patient_labels(cases)
    rng = np.random.default_rng(seed)
    assignment: dict[str, str] = {}
    for value in (0, 1):
        patients = np.array(sorted(labels.index[labels == value]))
        rng.shuffle(patients)
        n = len(patients)
        n_val = max(1, round(n * validation)) if validation > 0 else 0
        n_test = max(1, round(n * test)) if test > 0 else 0
        if n - n_val - n_test < 1:
            raise InputError(
                f"only {n} patient(s) with label {value}: too few for a train/validation/test split "
                f"with fractions {validation}/{test} (each split needs at least one patient per label)."
            )
        for p in patients[:n_val]:
            assignment[p] = "validation"
        for p in patients[n_val:n_val + n_test]:
            assignment[p] = "test"
        for p in patients[n_val + n_test:]:
            assignment[p] = "train"
    out = cases["patient_id"].map(assignment).rename("split")
    counts = {s: int((out == s).sum()) for s in SPLITS}
    log.info("patient-wise split (seed %d): %s images", seed, counts)
    return out


def make_augmentation(*, seed: int = 0, zoom: float = 0.1, contrast: float = 0.2, prob: float = 0.5) -> Any:
    """The seed study's augmentations as a MONAI ``Compose`` on ``(1, H, W)`` arrays.

    90° rotations, horizontal and vertical flips, a small zoom (kept size) and a small
    gamma contrast change, each applied with probability ``prob``.

    Parameters
    ----------
    seed
        Seed of the transforms' own random state.
    zoom
        Zoom range ``[1 - zoom, 1 + zoom]``; 0 disables zooming.
    contrast
        Gamma range ``[1 - contrast, 1 + contrast]``; 0 disables it.
    prob
        Probability of each transform.

    Returns
    -------
    monai.transforms.Compose
    """
    from ._backend import require_torch

    require_torch("augmentation")
    from monai.transforms import Compose, RandAdjustContrast, RandFlip, RandRotate90, RandZoom

    zoom = check_float(zoom, "zoom", owner="make_augmentation", min_value=0.0, max_value=0.5)
    contrast = check_float(contrast, "contrast", owner="make_augmentation", min_value=0.0, max_value=0.9)
    prob = check_float(prob, "prob", owner="make_augmentation", min_value=0.0, max_value=1.0)
    steps: list[Any] = [
        RandRotate90(prob=prob, max_k=3, spatial_axes=(0, 1)),
        RandFlip(prob=prob, spatial_axis=0),
        RandFlip(prob=prob, spatial_axis=1),
    ]
    if zoom > 0:
        steps.append(RandZoom(prob=prob, min_zoom=1 - zoom, max_zoom=1 + zoom, keep_size=True, padding_mode="constant"))
    if contrast > 0:
        steps.append(RandAdjustContrast(prob=prob, gamma=(1 - contrast, 1 + contrast)))
    compose = Compose(steps)
    compose.set_random_state(seed=seed)
    return compose
