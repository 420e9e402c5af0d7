"""Tumour crops for the deep path: the imaging path's sheet and readers, crops around each mask, splits.

Cases come from the imaging path's case sheet (:func:`radiogenomics.imaging.cases.load_cases`)
and are read by its readers (:func:`radiogenomics.imaging.readers.read_case`), so the deep path
sees exactly the pixels pyradiomics sees: RGB turned into BT.601 luma, the mask binarised by
``mask_label``, image and mask checked to lie on the same grid. Each image is then scaled to
[0, 1] (``"uint8"``: /255; ``"percentile"``: its own 0.5 and 99.5 percentiles), cropped to a
square around the mask's bounding box enlarged by ``margin`` (a fraction of the box's longer
side on every side) and resampled to ``size × size`` (linear for the image, nearest for the
mask). Parts of the square outside the image are filled with 0. Nothing here needs torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._logging import get_logger, progress
from .._results import dropped_table
from .._validation import (
    DataFileError,
    InputError,
    LabelError,
    MissingDataFileError,
    check_choice,
    check_float,
    check_int,
    format_names,
)

__all__ = [
    "CropSet",
    "read_arrays",
    "crop_around_mask",
    "load_crops",
    "split_patients",
    "DROPPED_EXTRA",
]

log = get_logger(__name__)

SPLITS = ("train", "validation", "test")
BACKGROUNDS = ("keep", "zero")
INTENSITIES = ("uint8", "percentile")
#: Extra columns of the ``dropped`` table of crops (as the imaging stage's).
DROPPED_EXTRA = ("patient_id", "file", "failure")


def _no_drops() -> pd.DataFrame:
    return dropped_table(extra=DROPPED_EXTRA)


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
        One row per crop, index ``case_id``: the normalised case sheet's rows (``patient_id``,
        ``label`` 0/1 or ``<NA>``, ``image``, ``mask``...) and ``split`` once assigned.
    dropped
        Cases that could not be cropped: ``kind`` (``"case"``), ``item`` (case id), ``reason``,
        ``patient_id``, ``file``, ``failure`` (as the imaging stage's).
    size, margin, background, intensity, window
        The crop settings.
    """

    images: np.ndarray
    masks: np.ndarray
    cases: pd.DataFrame
    dropped: pd.DataFrame = field(default_factory=_no_drops)
    size: int = 64
    margin: float = 0.1
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
            dropped=self.dropped, size=self.size, margin=self.margin, background=self.background,
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


def read_arrays(
    image: str | os.PathLike,
    mask: str | os.PathLike,
    *,
    mask_label: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One case's image and 0/1 mask as 2D arrays, read by the imaging path's readers.

    Parameters
    ----------
    image, mask
        Files (see :func:`radiogenomics.imaging.readers.read_case`).
    mask_label
        Lesion value in the mask (``None``: the mask must be binary).

    Returns
    -------
    tuple of numpy.ndarray
        ``(image, mask)``: ``float64`` gray values (RGB → BT.601 luma) and ``uint8`` 0/1, shape
        ``(rows, columns)``.
    """
    import SimpleITK as sitk

    from ..imaging.readers import read_case

    img, msk = read_case(image, mask, mask_label=mask_label)
    arr, marr = sitk.GetArrayFromImage(img), sitk.GetArrayFromImage(msk)
    if arr.shape[0] != 1:
        raise DataFileError(f"image {image}: a volume of {arr.shape[0]} slices; the deep path crops 2D images.")
    return arr[0].astype(np.float64), marr[0].astype(np.uint8)


def _scale(image: np.ndarray, *, intensity: str, path: Any = "") -> np.ndarray:
    if intensity == "uint8":
        if image.min() < 0 or image.max() > 255:
            raise DataFileError(f"image {path}: intensity='uint8' but values span [{image.min()}, {image.max()}].")
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
    margin: float = 0.1,
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
    cases: str | os.PathLike | pd.DataFrame,
    *,
    size: int = 64,
    margin: float = 0.1,
    background: str = "keep",
    intensity: str = "uint8",
    window: int | None = None,
    strict: bool = False,
    show_progress: bool | None = None,
) -> CropSet:
    """Read every case of a sheet (with the imaging readers) and crop it around its mask.

    Parameters
    ----------
    cases
        Case sheet: a file or a table (:func:`radiogenomics.imaging.cases.load_cases`).
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
        Raise on the first unreadable case instead of dropping it.
    show_progress
        Progress bar; ``None`` follows the package log level.

    Returns
    -------
    CropSet
        Crops of the readable cases; the others are logged and listed in ``dropped`` with the
        imaging stage's failure kinds.
    """
    from ..imaging.cases import load_cases
    from ..imaging.readers import failed_file, failure_kind

    size = check_int(size, "size", owner="load_crops", min_value=8)
    margin = check_float(margin, "margin", owner="load_crops", min_value=0.0, max_value=5.0)
    check_choice(background, "background", owner="load_crops", choices=BACKGROUNDS)
    check_choice(intensity, "intensity", owner="load_crops", choices=INTENSITIES)
    sheet = load_cases(cases)
    images, masks, kept, drops = [], [], [], []
    disable = None if show_progress is None else not show_progress
    for case_id, row in progress(sheet.iterrows(), desc="cropping", total=len(sheet), disable=disable):
        ml = None if pd.isna(row["mask_label"]) else int(row["mask_label"])
        try:
            img, msk = read_arrays(row["image"], row["mask"], mask_label=ml)
            crop, cmask = crop_around_mask(_scale(img, intensity=intensity, path=row["image"]), msk, size=size,
                                           margin=margin, background=background, window=window)
        except (InputError, MissingDataFileError) as exc:
            if strict:
                raise type(exc)(f"case {case_id!r}: {exc}") from exc
            log.warning("case %r dropped: %s", case_id, exc)
            drops.append({"kind": "case", "item": str(case_id), "reason": str(exc), "patient_id": row["patient_id"],
                          "file": failed_file(exc, row["image"], row["mask"]), "failure": failure_kind(exc)})
            continue
        images.append(crop)
        masks.append(cmask)
        kept.append(case_id)
    if not kept:
        raise InputError(
            f"no case could be cropped ({len(drops)} failed; first: {drops[0]['reason'] if drops else 'none'})."
        )
    return CropSet(
        images=np.stack(images)[:, None].astype(np.float32),
        masks=np.stack(masks)[:, None].astype(np.uint8),
        cases=sheet.loc[kept].copy(), dropped=dropped_table(drops, extra=DROPPED_EXTRA), size=size, margin=margin,
        background=background, intensity=intensity, window=window,
    )


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
        Table with ``patient_id`` and ``label`` columns, index = case id; every case labelled.
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
    from ..imaging.aggregate import patient_labels

    owner = "split_patients"
    validation = check_float(validation, "validation", owner=owner, min_value=0.0, max_value=1.0, closed="left")
    test = check_float(test, "test", owner=owner, min_value=0.0, max_value=1.0, closed="left")
    seed = check_int(seed, "seed", owner=owner, min_value=0)
    if validation + test >= 1.0:
        raise InputError(f"validation + test fractions must be < 1; got {validation} + {test}.")
    if cases["label"].isna().any():
        raise LabelError(f"case(s) {format_names(cases.index[cases['label'].isna()])} have no label; a "
                         "patient-wise split needs a 0/1 label for every case.")
    per_patient = cases.groupby(cases["patient_id"].astype(str), sort=False)["label"].nunique()
    if (per_patient > 1).any():
        raise LabelError(f"patient(s) {format_names(per_patient.index[per_patient > 1])} have images with "
                         "different labels.")
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
    out = cases["patient_id"].astype(str).map(assignment).rename("split")
    counts = {s: int((out == s).sum()) for s in SPLITS}
    log.info("patient-wise split (seed %d): %s images", seed, counts)
    return out
