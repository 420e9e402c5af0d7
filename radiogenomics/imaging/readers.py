"""Image and mask readers (SimpleITK) with the checks pyradiomics leaves to the user.

Supported inputs: PNG, BMP, JPEG, TIFF (2D, gray or RGB/RGBA), NRRD, NIfTI, MetaImage and
DICOM series (a folder holding one series). Conventions:

* **RGB → luminance.** Colour screenshots are converted to gray with the ITU-R BT.601 luma
  weights ``Y = 0.299 R + 0.587 G + 0.114 B`` (what Pillow's ``convert("L")`` and OpenCV
  use); an alpha channel is ignored. Ultrasound screenshots are gray images stored as RGB, so
  R = G = B and the conversion is exact there.
* **Float intensities.** Images are cast to 32-bit float. pyradiomics computes its bin edges
  in the image's own dtype, so an 8-bit image whose ROI reaches 255 overflows
  (``maximum + 2 * binWidth`` wraps around) and silently gets wrong bins; floats avoid it.
* **2D images become single-slice volumes** (size ``(x, y, 1)``), so that every modality goes
  through the same 3D code path and ``force2D`` with ``force2Ddimension: 0`` means "in-plane"
  (see the ``ultrasound2d`` preset for why this matters).
* **Masks are binarised** to 0/1 by ``mask_label``. Without a label, a mask with exactly one
  non-zero value (0/1, 0/255...) is binary and that value is the lesion; more values are an
  error that asks for ``mask_label``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._validation import DataFileError, InputError, MissingDataFileError

__all__ = ["read_image", "read_mask", "read_case", "failure_kind", "failed_file", "FAILURE_KINDS", "LUMA_WEIGHTS"]

#: ITU-R BT.601 luma weights used to turn RGB into gray.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

#: What can go wrong with one case (the ``failure`` column of a ``dropped`` table).
FAILURE_KINDS = ("missing file", "unreadable file", "geometry mismatch", "empty mask", "mask label absent",
                 "non-binary mask", "ROI too small", "extraction error")


def _sitk():
    import SimpleITK as sitk

    return sitk


def _read_raw(path: str | os.PathLike, *, what: str):
    sitk = _sitk()
    path = Path(path)
    if not path.exists():
        raise MissingDataFileError(f"{what} {path}: file not found.")
    try:
        if path.is_dir():
            reader = sitk.ImageSeriesReader()
            series = reader.GetGDCMSeriesIDs(str(path))
            if not series:
                raise DataFileError(f"{what} {path}: folder holds no DICOM series.")
            if len(series) > 1:
                raise DataFileError(
                    f"{what} {path}: folder holds {len(series)} DICOM series ({', '.join(series[:3])}); "
                    "point the case sheet at a folder with exactly one series."
                )
            files = reader.GetGDCMSeriesFileNames(str(path), series[0])
            reader.SetFileNames(files)
            return reader.Execute()
        return sitk.ReadImage(str(path))
    except RuntimeError as exc:  # SimpleITK raises RuntimeError for unreadable files
        first = str(exc).strip().splitlines()
        reason = next((ln for ln in first if "ERROR" in ln or "Unable" in ln), first[0] if first else "")
        raise DataFileError(f"{what} {path}: cannot be read ({reason.strip()[:200]}).") from exc


def _to_gray(image):
    sitk = _sitk()
    n = image.GetNumberOfComponentsPerPixel()
    if n == 1:
        return sitk.Cast(image, sitk.sitkFloat32)
    if n not in (3, 4):
        raise DataFileError(f"image has {n} components per pixel; expected 1 (gray), 3 (RGB) or 4 (RGBA).")
    arr = sitk.GetArrayFromImage(image).astype(np.float64)
    gray = arr[..., 0] * LUMA_WEIGHTS[0] + arr[..., 1] * LUMA_WEIGHTS[1] + arr[..., 2] * LUMA_WEIGHTS[2]
    out = sitk.GetImageFromArray(gray.astype(np.float32))
    out.CopyInformation(image)
    return out


def _to_volume(image):
    """Make a 2D image a single-slice 3D volume (keeps spacing and origin in-plane)."""
    sitk = _sitk()
    if image.GetDimension() == 3:
        return image
    if image.GetDimension() != 2:
        raise DataFileError(f"image has {image.GetDimension()} dimensions; expected 2 or 3.")
    return sitk.JoinSeries(image)


def read_image(path: str | os.PathLike) -> object:
    """Read an image as a 3D float32 SimpleITK image (RGB converted to luminance).

    Parameters
    ----------
    path
        Image file (PNG, BMP, JPEG, TIFF, NRRD, NIfTI, MHA...) or a folder with one DICOM series.

    Returns
    -------
    SimpleITK.Image
        3D scalar float32 image; 2D inputs have one slice.
    """
    image = _read_raw(path, what="image")
    try:
        image = _to_gray(image)
        return _to_volume(image)
    except DataFileError as exc:
        raise DataFileError(f"image {path}: {exc}") from exc


def read_mask(path: str | os.PathLike, *, mask_label: int | None = None) -> object:
    """Read a mask and binarise it: lesion = 1, everything else = 0.

    Parameters
    ----------
    path
        Mask file or DICOM folder (same formats as :func:`read_image`). RGB masks are
        converted to luminance first and must then be binary.
    mask_label
        Value of the lesion in the mask. ``None``: the mask must hold exactly one non-zero
        value, which is taken as the lesion.

    Returns
    -------
    SimpleITK.Image
        3D ``uint8`` image with values 0/1.
    """
    sitk = _sitk()
    raw = _read_raw(path, what="mask")
    if raw.GetNumberOfComponentsPerPixel() != 1:
        raw = _to_gray(raw)
    raw = _to_volume(raw)
    arr = sitk.GetArrayFromImage(raw)
    values = np.unique(arr)
    nonzero = values[values != 0]
    if mask_label is None:
        if nonzero.size == 0:
            raise InputError(f"mask {path}: empty mask (no non-zero voxel).")
        if nonzero.size > 1:
            shown = ", ".join(f"{v:g}" for v in nonzero[:6])
            raise InputError(
                f"mask {path}: not binary (non-zero values {shown}{'...' if nonzero.size > 6 else ''}); "
                "give the lesion's value in the case sheet's 'mask_label' column."
            )
        label = nonzero[0]
    else:
        label = mask_label
        if not np.any(values == label):
            shown = ", ".join(f"{v:g}" for v in values[:6])
            raise InputError(f"mask {path}: mask label {mask_label} is absent (values present: {shown}).")
    binary = (arr == label).astype(np.uint8)
    if not binary.any():
        raise InputError(f"mask {path}: empty mask (no voxel equals label {label}).")
    out = sitk.GetImageFromArray(binary)
    out.CopyInformation(raw)
    return out


def read_case(
    image_path: str | os.PathLike,
    mask_path: str | os.PathLike,
    *,
    mask_label: int | None = None,
    tolerance: float = 1e-4,
) -> tuple[object, object]:
    """Read an image and its mask and check that they lie on the same grid.

    Parameters
    ----------
    image_path, mask_path
        Files (or DICOM folders).
    mask_label
        Lesion value in the mask (see :func:`read_mask`).
    tolerance
        Relative tolerance on spacing, and absolute tolerance (in mm, scaled by the spacing) on
        origin and direction.

    Returns
    -------
    tuple
        ``(image, mask)``: float32 image and 0/1 ``uint8`` mask, both 3D SimpleITK images.
    """
    image = read_image(image_path)
    mask = read_mask(mask_path, mask_label=mask_label)
    isize, msize = image.GetSize(), mask.GetSize()
    if isize != msize:
        raise InputError(f"image {image_path} and mask {mask_path}: size mismatch ({isize} vs {msize}).")
    ispc, mspc = np.array(image.GetSpacing()), np.array(mask.GetSpacing())
    if not np.allclose(ispc, mspc, rtol=tolerance, atol=0):
        raise InputError(
            f"image {image_path} and mask {mask_path}: spacing mismatch "
            f"({tuple(ispc.round(6))} vs {tuple(mspc.round(6))})."
        )
    scale = float(ispc.max())
    if not np.allclose(image.GetOrigin(), mask.GetOrigin(), atol=tolerance * max(scale, 1.0)):
        raise InputError(
            f"image {image_path} and mask {mask_path}: origin mismatch ({image.GetOrigin()} vs {mask.GetOrigin()})."
        )
    if not np.allclose(image.GetDirection(), mask.GetDirection(), atol=tolerance):
        raise InputError(f"image {image_path} and mask {mask_path}: direction (orientation) mismatch.")
    mask.CopyInformation(image)  # remove sub-tolerance floating differences
    return image, mask


def failure_kind(exc: BaseException) -> str:
    """Which of :data:`FAILURE_KINDS` an error raised while reading or extracting a case is.

    The one classification of case failures, shared by the imaging stage and the deep path.

    Parameters
    ----------
    exc
        The exception (from :func:`read_case` or pyradiomics).

    Returns
    -------
    str
        One of :data:`FAILURE_KINDS`.
    """
    msg = str(exc).lower()
    if isinstance(exc, FileNotFoundError) or "not found" in msg:
        return "missing file"
    if "cannot be read" in msg or "components per pixel" in msg or "dimensions" in msg:
        return "unreadable file"
    if "mismatch" in msg:
        return "geometry mismatch"
    if "empty mask" in msg:
        return "empty mask"
    if "is absent" in msg:
        return "mask label absent"
    if "not binary" in msg:
        return "non-binary mask"
    if "too small" in msg or "roi" in msg or "dimension" in msg:
        return "ROI too small"
    return "extraction error"


def failed_file(exc: BaseException, image: str | os.PathLike, mask: str | os.PathLike) -> str:
    """Which file of a case a reading error is about (the readers' messages start with ``mask <path>``).

    Parameters
    ----------
    exc
        The error raised by :func:`read_case`.
    image, mask
        The case's files.

    Returns
    -------
    str
        The mask's path when the message names the mask, else the image's.
    """
    msg = str(exc)
    return str(mask) if msg.startswith("mask") or str(mask) in msg.split(":")[0] else str(image)
