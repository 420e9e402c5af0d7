"""Tumour crops for the deep path: the imaging path's sheet and readers, one channel per sequence,
2D or 3D crops around each mask, patient-wise splits and folds.

Cases come from the imaging path's case sheet (:func:`radiogenomics.imaging.cases.load_cases`)
and are read by its readers (:func:`radiogenomics.imaging.readers.read_case`), so the deep path
sees exactly the voxels pyradiomics sees: RGB turned into BT.601 luma, the mask binarised by
``mask_label``, image and mask checked to lie on the same grid.

**Sequences.** With ``sequences=("t1", "t2", "dce")`` the sheet holds one image column per
sequence and one mask, drawn on the first sequence. Every other sequence is resampled onto the
first sequence's grid with SimpleITK (linear interpolation, physical geometry: spacing, origin,
direction; 0 outside its field of view); with ``register=True`` it is first aligned to the first
sequence by a rigid (Euler) registration through SimpleITK's registration framework (Mattes
mutual information over every voxel, regular-step gradient descent, two resolution levels; off
by default: scanners usually store co-registered sequences, and a registration that fails
silently is worse than none). PNG and JPEG carry no geometry (spacing 1, origin 0): 2D
sequences of another pixel grid are resampled by pixel index. Each sequence is scaled on its
own (``"uint8"``: /255; ``"percentile"``: its 0.5 and 99.5 percentiles to 0 and 1; ``"zscore"``:
its mean to 0 and standard deviation to 1), and the crops are stacked as channels.

**2D or 3D, from the data.** A first sequence with one slice (ultrasound, PNG) gives 2D crops
``(channels, size, size)``; a volume (CT, MRI) gives 3D crops ``(channels, size, size, size)``.
A cohort mixing both is an error naming the first case that differs.

**The crop.** A square (cube) around the mask's bounding box, enlarged by ``margin`` (a fraction
of the box's longest physical side, on every side), sampled on a ``size``-voxel grid in
physical units: anisotropic voxels (5 mm slices under 0.7 mm pixels) become isotropic crop
voxels (linear interpolation for the image, nearest for the mask). Parts outside the image are
filled with 0. Nothing here needs torch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
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
    "read_volumes",
    "resample_onto",
    "register_rigid",
    "crop_around_mask",
    "load_crops",
    "perturbed_crops",
    "split_patients",
    "fold_patients",
    "DROPPED_EXTRA",
]

log = get_logger(__name__)

#: Largest crop side (pixels): a 100,000-pixel crop asked for by a checkpoint would need tens of GiB.
MAX_CROP_SIZE = 4096

SPLITS = ("train", "validation", "test")
BACKGROUNDS = ("keep", "zero")
INTENSITIES = ("uint8", "percentile", "zscore")
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
        ``float32`` array ``(n, channels, size, size)`` (2D) or ``(n, channels, size, size,
        size)`` (3D); in [0, 1] for ``uint8`` and ``percentile`` scaling.
    masks
        ``uint8`` array ``(n, 1, size, size[, size])`` of 0/1.
    cases
        One row per crop, index ``case_id``: the normalised case sheet's rows (``patient_id``,
        ``label`` 0/1 or ``<NA>``, ``image``, ``mask``, the sequence columns...) and ``split``
        or ``fold`` once assigned.
    dropped
        Cases that could not be cropped: ``kind`` (``"case"``), ``item`` (case id), ``reason``,
        ``patient_id``, ``file``, ``failure`` (as the imaging stage's).
    size, margin, background, intensity, window
        The crop settings.
    channels
        Name of each channel: the sequence columns, or ``("image",)``.
    register
        Sequences were registered to the first one.
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
    channels: tuple[str, ...] = ("image",)
    register: bool = False

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def spatial_dims(self) -> int:
        """2 for image crops, 3 for volume crops."""
        return int(self.images.ndim - 2)

    @property
    def in_channels(self) -> int:
        """Number of channels (sequences)."""
        return int(self.images.shape[1])

    def settings(self) -> dict[str, Any]:
        """The crop settings, as a checkpoint stores them (to crop new cases the same way).

        Returns
        -------
        dict
            ``size``, ``margin``, ``background``, ``intensity``, ``window``, ``channels``
            (list), ``register``, ``spatial_dims``, ``in_channels``.
        """
        return {"size": self.size, "margin": self.margin, "background": self.background,
                "intensity": self.intensity, "window": self.window, "channels": list(self.channels),
                "register": bool(self.register), "spatial_dims": self.spatial_dims, "in_channels": self.in_channels}

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
            intensity=self.intensity, window=self.window, channels=self.channels, register=self.register,
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
        raise DataFileError(f"image {image}: a volume of {arr.shape[0]} slices; read_arrays reads 2D images "
                            "(read_volumes reads both).")
    return arr[0].astype(np.float64), marr[0].astype(np.uint8)


def _same_grid(a: Any, b: Any, *, tolerance: float = 1e-4) -> bool:
    return (a.GetSize() == b.GetSize()
            and np.allclose(a.GetSpacing(), b.GetSpacing(), rtol=tolerance, atol=0)
            and np.allclose(a.GetOrigin(), b.GetOrigin(), atol=tolerance * max(max(a.GetSpacing()), 1.0))
            and np.allclose(a.GetDirection(), b.GetDirection(), atol=tolerance))


def _slice2d(image: Any) -> Any:
    """A single-slice volume as a 2D image (keeps in-plane geometry)."""
    return image[:, :, 0]


def register_rigid(fixed: Any, moving: Any, *, iterations: int = 200) -> Any:
    """A rigid transform that maps ``fixed`` points onto ``moving`` (SimpleITK registration framework).

    Mattes mutual information (32 bins) over every voxel (no random sampling, so the result is
    deterministic), regular-step gradient descent with scales from physical shifts, two
    resolution levels (shrink 2 and 1, smoothing 1 and 0 voxels), started from the identity
    (the images' geometric centres aligned). 2D images (or single-slice volumes) use an
    ``Euler2DTransform``, volumes an ``Euler3DTransform``.

    Parameters
    ----------
    fixed, moving
        SimpleITK float images of the same dimension.
    iterations
        Maximum optimiser iterations per level.

    Returns
    -------
    SimpleITK.Transform
        Pass it to ``sitk.Resample(moving, fixed, transform, ...)``.
    """
    import SimpleITK as sitk

    dim = fixed.GetDimension()
    base = sitk.Euler2DTransform() if dim == 2 else sitk.Euler3DTransform()
    initial = sitk.CenteredTransformInitializer(fixed, moving, base,
                                                sitk.CenteredTransformInitializerFilter.GEOMETRY)
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    reg.SetMetricSamplingStrategy(reg.NONE)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-4, numberOfIterations=iterations,
                                                 gradientMagnitudeTolerance=1e-8)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([2, 1])
    reg.SetSmoothingSigmasPerLevel([1, 0])
    reg.SetInitialTransform(initial, inPlace=False)
    transform = reg.Execute(sitk.Cast(fixed, sitk.sitkFloat32), sitk.Cast(moving, sitk.sitkFloat32))
    log.debug("rigid registration: %s after %d iterations (metric %.4f)", reg.GetOptimizerStopConditionDescription(),
              reg.GetOptimizerIteration(), reg.GetMetricValue())
    return transform


def resample_onto(image: Any, reference: Any, *, register: bool = False, name: str = "image") -> Any:
    """``image`` on ``reference``'s grid: linear interpolation in physical space, 0 outside.

    Parameters
    ----------
    image, reference
        3D SimpleITK float images (2D images as single-slice volumes, as the readers give them).
    register
        Align ``image`` to ``reference`` first (:func:`register_rigid`).
    name
        The image's file, for messages.

    Returns
    -------
    SimpleITK.Image
        On the reference's grid (the image itself when it already is and ``register`` is off).
    """
    import SimpleITK as sitk

    if _same_grid(image, reference) and not register:
        return image
    flat = reference.GetSize()[2] == 1 and image.GetSize()[2] == 1
    if flat:
        ref2, img2 = _slice2d(reference), _slice2d(image)
        if not register and not np.allclose(ref2.GetSpacing(), img2.GetSpacing()):
            log.info("%s: resampled onto the first sequence's %s-pixel grid", name, ref2.GetSize())
        transform = register_rigid(ref2, img2) if register else sitk.Transform(2, sitk.sitkIdentity)
        out2 = sitk.Resample(img2, ref2, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        out = sitk.JoinSeries(out2)
        out.CopyInformation(reference)
    else:
        transform = register_rigid(reference, image) if register else sitk.Transform(3, sitk.sitkIdentity)
        out = sitk.Resample(image, reference, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    arr = sitk.GetArrayViewFromImage(out)
    if not np.any(arr) and np.any(sitk.GetArrayViewFromImage(image)):
        raise DataFileError(f"image {name}: does not overlap the first sequence's field of view (check origin "
                            "and direction, or the sequence order).")
    return out


def read_volumes(
    images: Sequence[str | os.PathLike],
    mask: str | os.PathLike,
    *,
    mask_label: int | None = None,
    register: bool = False,
) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]]:
    """One case's sequences on the first one's grid, its 0/1 mask and the voxel spacing.

    Parameters
    ----------
    images
        One file per sequence; the mask is drawn on the first (checked as
        :func:`radiogenomics.imaging.readers.read_case` checks image and mask).
    mask
        Mask file.
    mask_label
        Lesion value in the mask (``None``: the mask must be binary).
    register
        Align the other sequences to the first (:func:`register_rigid`) before resampling.

    Returns
    -------
    tuple
        ``(channels, mask, spacing)``: ``float64`` array ``(n_sequences, rows, columns)`` (one
        slice) or ``(n_sequences, slices, rows, columns)``, ``uint8`` mask of the spatial shape,
        and the spacing per spatial axis in the arrays' order (mm).
    """
    import SimpleITK as sitk

    from ..imaging.readers import read_case, read_image

    if not images:
        raise InputError("read_volumes needs at least one image.")
    reference, msk = read_case(images[0], mask, mask_label=mask_label)
    volumes = [reference]
    for path in images[1:]:
        volumes.append(resample_onto(read_image(path), reference, register=register, name=str(path)))
    arr = np.stack([sitk.GetArrayFromImage(v) for v in volumes]).astype(np.float64)
    marr = sitk.GetArrayFromImage(msk).astype(np.uint8)
    spacing = tuple(float(s) for s in reference.GetSpacing()[::-1])  # (z, y, x) as the arrays
    if arr.shape[1] == 1:
        return arr[:, 0], marr[0], spacing[1:]
    return arr, marr, spacing


def _scale(image: np.ndarray, *, intensity: str, path: Any = "") -> np.ndarray:
    if intensity == "uint8":
        if image.min() < 0 or image.max() > 255:
            raise DataFileError(f"image {path}: intensity='uint8' but values span [{image.min():g}, {image.max():g}]; "
                                "use intensity='percentile' or 'zscore' for CT and MRI.")
        return image / 255.0
    if intensity == "zscore":
        sd = float(image.std())
        return (image - float(image.mean())) / (sd if sd > 0 else 1.0)
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
    spacing: Sequence[float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Square (cube) crop around the mask's bounding box, enlarged by ``margin``, resampled to ``size``.

    Parameters
    ----------
    image
        Image of the mask's shape (2D or 3D, already scaled), or channels first
        ``(channels, *mask.shape)``.
    mask
        2D or 3D mask; non-zero = lesion.
    size
        Output side in voxels.
    margin
        Extra context on every side as a fraction of the box's longest physical side.
    background
        ``"keep"`` the tissue around the lesion, or ``"zero"`` it (lesion-only input, as in
        studies that feed the segmented tumour alone).
    window
        Side of the crop in input pixels of the finest axis, centred on the box (``margin`` is
        then unused). A fixed window keeps every crop at the same scale: resizing each box to
        ``size`` lets the lesion's extent change the apparent texture scale of the tissue
        around it, a cue a network learns readily.
    spacing
        Voxel spacing per axis (mm; default 1 for every axis): the crop is a physical square
        (cube) sampled isotropically.

    Returns
    -------
    tuple of numpy.ndarray
        ``(crop, crop_mask)``: ``float32`` crop shaped like the input (``(size,) * d`` or
        ``(channels, *(size,) * d)``) and ``uint8`` mask ``(size,) * d``.
    """
    from scipy import ndimage

    size = check_int(size, "size", owner="crop_around_mask", min_value=8, max_value=MAX_CROP_SIZE)
    margin = check_float(margin, "margin", owner="crop_around_mask", min_value=0.0, max_value=5.0)
    check_choice(background, "background", owner="crop_around_mask", choices=BACKGROUNDS)
    mask = np.asarray(mask)
    image = np.asarray(image)
    if mask.ndim not in (2, 3):
        raise InputError(f"the mask must be 2D or 3D; got shape {mask.shape}.")
    stacked = image.ndim == mask.ndim + 1
    if image.shape[int(stacked):] != mask.shape:
        raise InputError(f"image shape {image.shape} and mask shape {mask.shape} differ.")
    d = mask.ndim
    step = np.ones(d) if spacing is None else np.asarray(spacing, dtype=float)
    if step.shape != (d,) or np.any(~np.isfinite(step)) or np.any(step <= 0):
        raise InputError(f"spacing must hold {d} positive numbers; got {spacing!r}.")
    idx = np.nonzero(mask)
    if idx[0].size == 0:
        raise InputError("the mask is empty (no non-zero pixel).")
    lo = np.array([i.min() for i in idx], dtype=float)
    hi = np.array([i.max() + 1 for i in idx], dtype=float)
    if window is not None:
        side = float(check_int(window, "window", owner="crop_around_mask", min_value=4)) * float(step.min())
    else:
        side = float(((hi - lo) * step).max()) * (1.0 + 2.0 * margin)
    centre = (lo + hi) / 2.0
    # voxel centres of the output grid, in input voxel coordinates of each axis
    offsets = (np.arange(size) + 0.5) / size * side - side / 2.0
    axes = [centre[a] + offsets / step[a] - 0.5 for a in range(d)]
    coords = np.stack(np.meshgrid(*axes, indexing="ij"))
    channels = image if stacked else image[None]
    crop = np.stack([ndimage.map_coordinates(ch, coords, order=1, mode="constant", cval=0.0) for ch in channels])
    cmask = ndimage.map_coordinates((mask > 0).astype(np.float32), coords, order=0, mode="constant", cval=0.0)
    cmask = (cmask > 0.5).astype(np.uint8)
    if background == "zero":
        crop = crop * cmask
    crop = crop.astype(np.float32)
    return (crop if stacked else crop[0]), cmask


def _columns(sequences: Sequence[str] | None) -> list[str]:
    if sequences is None:
        return ["image"]
    if isinstance(sequences, str):
        sequences = [s.strip() for s in sequences.split(",") if s.strip()]
    names = [str(s) for s in sequences]
    if not names:
        raise InputError("sequences: give at least one image column (or None for the sheet's 'image').")
    if len(set(names)) < len(names):
        raise InputError(f"sequences: repeated column among {names}.")
    return names


def _case_crop(row: pd.Series, columns: list[str], *, register: bool, intensity: str, size: int, margin: float,
               background: str, window: int | None) -> tuple[np.ndarray, np.ndarray]:
    ml = None if pd.isna(row["mask_label"]) else int(row["mask_label"])
    paths = [row[c] for c in columns]
    arr, marr, spacing = read_volumes(paths, row["mask"], mask_label=ml, register=register)
    scaled = np.stack([_scale(a, intensity=intensity, path=p) for a, p in zip(arr, paths)])
    return crop_around_mask(scaled, marr, size=size, margin=margin, background=background, window=window,
                            spacing=spacing)


def load_crops(
    cases: str | os.PathLike | pd.DataFrame,
    *,
    sequences: Sequence[str] | None = None,
    register: bool = False,
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
    sequences
        Image columns, one per sequence (e.g. ``["t1", "t2", "dce"]``); the mask is drawn on
        the first. ``None``: the sheet's ``image`` column alone.
    register
        Rigidly register every sequence to the first before resampling (see the module
        docstring).
    size
        Crop side in voxels after resampling.
    margin
        Context around the mask's box, as a fraction of its longest side on each side.
    background
        ``"keep"`` the surrounding tissue or ``"zero"`` it (see :func:`crop_around_mask`).
    intensity
        Per sequence: ``"uint8"``: divide by 255 (8-bit PNG/JPEG, the same scale for every
        image); ``"percentile"``: map each image's 0.5 and 99.5 percentiles to 0 and 1;
        ``"zscore"``: each image's mean and SD to 0 and 1 (CT/MRI). Per-image scaling lets
        bright spots inside a lesion change how dark the tissue around it looks, so the fixed
        scale is the default for 8-bit images.
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
        Crops of the readable cases (2D or 3D as the first sequence is an image or a volume);
        the others are logged and listed in ``dropped`` with the imaging stage's failure kinds.
    """
    from ..imaging.cases import load_cases
    from ..imaging.readers import failed_file, failure_kind

    size = check_int(size, "size", owner="load_crops", min_value=8, max_value=MAX_CROP_SIZE)
    margin = check_float(margin, "margin", owner="load_crops", min_value=0.0, max_value=5.0)
    check_choice(background, "background", owner="load_crops", choices=BACKGROUNDS)
    check_choice(intensity, "intensity", owner="load_crops", choices=INTENSITIES)
    columns = _columns(sequences)
    sheet = load_cases(cases, images=columns if sequences is not None else ())
    images, masks, kept, drops = [], [], [], []
    disable = None if show_progress is None else not show_progress
    for case_id, row in progress(sheet.iterrows(), desc="cropping", total=len(sheet), disable=disable):
        try:
            crop, cmask = _case_crop(row, columns, register=register, intensity=intensity, size=size, margin=margin,
                                     background=background, window=window)
        except (InputError, MissingDataFileError) as exc:
            if strict:
                raise type(exc)(f"case {case_id!r}: {exc}") from exc
            log.warning("case %r dropped: %s", case_id, exc)
            drops.append({"kind": "case", "item": str(case_id), "reason": str(exc), "patient_id": row["patient_id"],
                          "file": failed_file(exc, row[columns[0]], row["mask"]), "failure": failure_kind(exc)})
            continue
        if images and cmask.ndim != masks[0].ndim:
            first = "3D volume" if masks[0].ndim == 3 else "2D image"
            raise InputError(f"case {case_id!r} is a {cmask.ndim}D {'volume' if cmask.ndim == 3 else 'image'} but "
                             f"case {kept[0]!r} is a {first}; a cohort's crops are all 2D or all 3D.")
        images.append(crop)
        masks.append(cmask)
        kept.append(case_id)
    if not kept:
        raise InputError(
            f"no case could be cropped ({len(drops)} failed; first: {drops[0]['reason'] if drops else 'none'})."
        )
    out = CropSet(
        images=np.stack(images).astype(np.float32),
        masks=np.stack(masks)[:, None].astype(np.uint8),
        cases=sheet.loc[kept].copy(), dropped=dropped_table(drops, extra=DROPPED_EXTRA), size=size, margin=margin,
        background=background, intensity=intensity, window=window, channels=tuple(columns), register=bool(register),
    )
    log.info("cropped %d case(s): %dD, %d channel(s) %s, %d px", len(out), out.spatial_dims, out.in_channels,
             list(out.channels), size)
    return out


def perturbed_crops(crops: CropSet, *, n_perturbations: int = 5, seed: int = 0) -> CropSet:
    """Crops of perturbed versions of every case (MIRP-style mask and crop perturbations).

    Each case is read again; version ``v`` (1..``n_perturbations``) applies one draw of
    :func:`radiogenomics.imaging.stability.perturb_case` (in-plane rotation of image and mask,
    a translation of the mask, a one-voxel erosion or dilation, Gaussian noise) to every sequence
    with the same geometry, then crops around the perturbed mask with the crops' own settings:
    the crop moves and resizes with the mask. Draws come from per-case streams spawned from
    ``seed``.

    Parameters
    ----------
    crops
        The original crops (their cases and settings are used).
    n_perturbations
        Versions per case (>= 1).
    seed
        Seed of the perturbations.

    Returns
    -------
    CropSet
        ``len(crops) * n_perturbations`` crops, index ``<case_id>~v<k>``, with the cases'
        columns plus ``target`` (the case id) and ``version`` (``"v1"``...).
    """
    from ..imaging.stability import perturb_case

    n_perturbations = check_int(n_perturbations, "n_perturbations", owner="perturbed_crops", min_value=1)
    columns = list(crops.channels)
    streams = np.random.SeedSequence(check_int(seed, "seed", owner="perturbed_crops", min_value=0)).spawn(len(crops))
    images, masks, rows = [], [], []
    for (case_id, row), stream in zip(crops.cases.iterrows(), streams):
        ml = None if pd.isna(row["mask_label"]) else int(row["mask_label"])
        paths = [row[c] for c in columns]
        arr, marr, spacing = read_volumes(paths, row["mask"], mask_label=ml, register=crops.register)
        scaled = [_scale(a, intensity=crops.intensity, path=p) for a, p in zip(arr, paths)]
        for v, child in enumerate(stream.spawn(n_perturbations), start=1):
            state = child.generate_state(4)
            versions = [perturb_case(ch, marr, seed=np.random.default_rng(state)) for ch in scaled]
            pmask = versions[0][1]
            crop, cmask = crop_around_mask(np.stack([p[0] for p in versions]), pmask, size=crops.size,
                                           margin=crops.margin, background=crops.background, window=crops.window,
                                           spacing=spacing)
            images.append(crop)
            masks.append(cmask)
            rows.append({**row.to_dict(), "case_id": f"{case_id}~v{v}", "target": str(case_id), "version": f"v{v}"})
    table = pd.DataFrame(rows).set_index("case_id")
    return CropSet(images=np.stack(images).astype(np.float32), masks=np.stack(masks)[:, None].astype(np.uint8),
                   cases=table, size=crops.size, margin=crops.margin, background=crops.background,
                   intensity=crops.intensity, window=crops.window, channels=crops.channels, register=crops.register)


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


def fold_patients(cases: pd.DataFrame, *, folds: int = 5, seed: int = 0) -> pd.Series:
    """Assign whole patients to ``folds`` folds, stratified by label (cross-fitting).

    Within each label the patients are shuffled with ``seed`` and dealt to the folds in turn,
    so fold sizes differ by at most one patient per label and no patient is in two folds.

    Parameters
    ----------
    cases
        Table with ``patient_id`` and ``label`` columns, index = case id; every case labelled.
    folds
        Number of folds (>= 2); each label needs at least that many patients.
    seed
        Seed of the shuffle.

    Returns
    -------
    pandas.Series
        Fold number (0 .. folds-1) per case, indexed like ``cases``, named ``fold``.
    """
    from ..imaging.aggregate import patient_labels

    owner = "fold_patients"
    folds = check_int(folds, "folds", owner=owner, min_value=2)
    seed = check_int(seed, "seed", owner=owner, min_value=0)
    if cases["label"].isna().any():
        raise LabelError(f"case(s) {format_names(cases.index[cases['label'].isna()])} have no label; "
                         "cross-fitting needs a 0/1 label for every case.")
    labels = patient_labels(cases)
    rng = np.random.default_rng(seed)
    assignment: dict[str, int] = {}
    for value in (0, 1):
        patients = np.array(sorted(labels.index[labels == value]))
        if len(patients) < folds:
            raise InputError(f"only {len(patients)} patient(s) with label {value}: too few for {folds} folds "
                             "(each fold needs a patient of each label).")
        rng.shuffle(patients)
        offset = len(assignment) % folds  # the second label starts where the first stopped: even totals
        for i, p in enumerate(patients):
            assignment[p] = (i + offset) % folds
    out = cases["patient_id"].astype(str).map(assignment).astype(int).rename("fold")
    log.info("%d-fold patient-wise assignment (seed %d): %s images per fold", folds, seed,
             out.value_counts().sort_index().tolist())
    return out
