"""Image and mask readers (SimpleITK) with the checks pyradiomics leaves to the user.

Supported inputs: PNG, BMP, JPEG, TIFF (2D, gray or RGB/RGBA), NRRD, NIfTI, MetaImage and
DICOM series (a folder holding one series). Masks may also be DICOM segmentations, the form
TCIA and PACS exports give them (the ``[dicom]`` extra):

* **DICOM SEG** (a ``.dcm`` file of modality ``SEG``), read with highdicom: the segment
  ``mask_label`` (the only one when not given) as a volume in patient space, resampled
  (nearest neighbour) onto the image's grid; every voxel of the segment must land on it.
* **DICOM RTSTRUCT** (modality ``RTSTRUCT``; the image must be the DICOM series it was drawn on),
  read with rt-utils: the ROI numbered ``mask_label`` (the only one when not given). rt-utils'
  own ``get_roi_mask_by_name`` swaps rows and columns on non-square images (1.2.7), so each
  contour is mapped to pixels with rt-utils' patient-to-pixel transform and filled (OpenCV
  ``fillPoly``, as rt-utils does) on a grid of the slice's own rows × columns, and slices are
  matched to the image by SOP instance UID.

Conventions:

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

__all__ = ["read_image", "read_mask", "read_case", "read_seg", "read_rtstruct", "dicom_mask_kind", "failure_kind",
           "failed_file", "FAILURE_KINDS", "LUMA_WEIGHTS"]

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


def dicom_mask_kind(path: str | os.PathLike) -> str | None:
    """``"SEG"`` or ``"RTSTRUCT"`` for a DICOM segmentation file, else ``None`` (any other file or folder).

    Parameters
    ----------
    path
        A mask path.

    Returns
    -------
    str or None
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return None
    if head[128:132] != b"DICM" and path.suffix.lower() != ".dcm":
        return None
    try:
        import pydicom

        modality = str(pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["Modality"]).get("Modality", ""))
    except Exception:  # noqa: BLE001 - not readable as DICOM: the ordinary reader reports it
        return None
    return modality if modality in ("SEG", "RTSTRUCT") else None


def _need(module: str, what: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        from .._validation import OptionalDependencyError

        raise OptionalDependencyError(
            f"{what} masks need the [dicom] extra ({module.split('.')[0]}): pip install 'radiogenomics[dicom]'."
        ) from exc


def _check_on_grid(out, expected: int, path: Path, what: str) -> None:
    sitk = _sitk()
    got = int(sitk.GetArrayViewFromImage(out).sum())
    if got == 0:
        raise InputError(f"mask {path}: empty mask ({what} has no voxel on the image's grid).")
    if got != expected:
        raise InputError(f"mask {path}: geometry mismatch ({what}: {expected} voxel(s), {got} on the image's grid; "
                         "it was not drawn on this image).")


def read_seg(path: str | os.PathLike, reference: object, *, mask_label: int | None = None) -> object:
    """A DICOM SEG segment as a 0/1 mask on ``reference``'s grid (highdicom).

    Parameters
    ----------
    path
        The SEG file.
    reference
        The image (SimpleITK) whose grid the mask is placed on.
    mask_label
        Segment number; ``None``: the SEG must hold exactly one segment.

    Returns
    -------
    SimpleITK.Image
        3D ``uint8`` 0/1 image with ``reference``'s geometry.
    """
    sitk = _sitk()
    hd = _need("highdicom", "DICOM SEG")
    path = Path(path)
    try:
        seg = hd.seg.segread(path)
    except Exception as exc:
        raise DataFileError(f"mask {path}: cannot be read as DICOM SEG ({exc}).") from exc
    numbers = [int(n) for n in seg.segment_numbers]
    if mask_label is None:
        if len(numbers) != 1:
            names = ", ".join(f"{n} ({seg.get_segment_description(n).segment_label})" for n in numbers[:6])
            raise InputError(f"mask {path}: not binary (DICOM SEG with segments {names}); give the segment number in "
                             "the case sheet's 'mask_label' column.")
        label = numbers[0]
    else:
        label = int(mask_label)
        if label not in numbers:
            raise InputError(f"mask {path}: mask label {label} is absent (segments present: "
                             f"{', '.join(map(str, numbers))}).")
    volume = seg.get_volume(segment_numbers=[label], combine_segments=True)
    native = volume.to_simpleitk()
    arr = sitk.GetArrayViewFromImage(native)
    expected = int((arr > 0).sum())
    if expected == 0:
        raise InputError(f"mask {path}: empty mask (segment {label} has no voxel).")
    binary = sitk.Cast(native > 0, sitk.sitkUInt8)
    reference = _to_volume(reference)
    _check_aligned(binary, reference, path)
    out = sitk.Resample(binary, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    _check_on_grid(out, expected, path, f"segment {label}")
    return out


def _check_aligned(mask, reference, path: Path, *, tolerance: float = 1e-2) -> None:
    """The mask's voxel centres are voxel centres of ``reference`` (axes may be permuted or flipped)."""
    corners = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)]
    index = np.array([reference.TransformPhysicalPointToContinuousIndex(mask.TransformIndexToPhysicalPoint(c))
                      for c in corners])
    steps = np.abs(index[1:] - index[0])
    on_grid = np.allclose(index[0], np.round(index[0]), atol=tolerance)
    unit_steps = np.allclose(steps, np.round(steps), atol=tolerance) and np.array_equal(
        np.sort(np.round(steps), axis=1), np.tile([0.0, 0.0, 1.0], (3, 1)))
    if not (on_grid and unit_steps):
        raise InputError(
            f"mask {path}: geometry mismatch (the SEG's voxels do not lie on the image's voxels: its first voxel falls "
            f"at image index {tuple(float(v) for v in np.round(index[0], 3))}); it was not drawn on this image."
        )


def _series_uids(folder: Path) -> list[str]:
    """SOP instance UIDs of a DICOM series folder, in SimpleITK's slice order."""
    import pydicom

    sitk = _sitk()
    reader = sitk.ImageSeriesReader()
    series = reader.GetGDCMSeriesIDs(str(folder))
    files = reader.GetGDCMSeriesFileNames(str(folder), series[0]) if series else []
    return [str(pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["SOPInstanceUID"]).SOPInstanceUID)
            for f in files]


def read_rtstruct(path: str | os.PathLike, image_path: str | os.PathLike, reference: object, *,
                  mask_label: int | None = None) -> object:
    """A DICOM RTSTRUCT ROI as a 0/1 mask on the grid of the DICOM series it was drawn on (rt-utils).

    Parameters
    ----------
    path
        The RTSTRUCT file.
    image_path
        The DICOM series folder of the image (the RTSTRUCT's referenced series).
    reference
        That image as read by :func:`read_image`.
    mask_label
        ROI number; ``None``: the RTSTRUCT must hold exactly one ROI.

    Returns
    -------
    SimpleITK.Image
        3D ``uint8`` 0/1 image with ``reference``'s geometry.
    """
    sitk = _sitk()
    rt_utils = _need("rt_utils", "DICOM RTSTRUCT")
    image_helper = _need("rt_utils.image_helper", "DICOM RTSTRUCT")
    cv2 = _need("cv2", "DICOM RTSTRUCT")
    path, folder = Path(path), Path(image_path)
    if not folder.is_dir():
        raise InputError(f"mask {path}: an RTSTRUCT is read on the DICOM series it was drawn on; the case's image "
                         f"{folder} must be that series' folder.")
    try:
        rt = rt_utils.RTStructBuilder.create_from(dicom_series_path=str(folder), rt_struct_path=str(path))
    except Exception as exc:
        raise DataFileError(f"mask {path}: cannot be read as an RTSTRUCT of the series in {folder} ({exc}).") from exc
    rois = {int(r.ROINumber): str(r.ROIName) for r in rt.ds.StructureSetROISequence}
    if mask_label is None:
        if len(rois) != 1:
            shown = ", ".join(f"{n} ({name})" for n, name in list(rois.items())[:6])
            raise InputError(f"mask {path}: not binary (RTSTRUCT with ROIs {shown}); give the ROI number in the "
                             "case sheet's 'mask_label' column.")
        number = next(iter(rois))
    else:
        number = int(mask_label)
        if number not in rois:
            raise InputError(f"mask {path}: mask label {number} is absent (ROI numbers present: "
                             f"{', '.join(f'{n} ({name})' for n, name in rois.items())}).")
    contours = next((getattr(c, "ContourSequence", []) for c in rt.ds.ROIContourSequence
                     if int(c.ReferencedROINumber) == number), [])
    series = rt.series_data
    to_pixel = image_helper.get_patient_to_pixel_transformation_matrix(series)
    slices = {}
    for sl in series:
        polygons = [np.around(image_helper.apply_transformation_to_3d_points(
            np.reshape(np.asarray(c, dtype=float), (-1, 3)), to_pixel)[:, :2]).astype(np.int32)
            for c in image_helper.get_slice_contour_data(sl, contours)]
        plane = np.zeros((int(sl.Rows), int(sl.Columns)), dtype=np.uint8)
        if polygons:
            cv2.fillPoly(plane, polygons, 1)
        slices[str(sl.SOPInstanceUID)] = plane
    uids = _series_uids(folder)
    missing = [u for u in uids if u not in slices]
    if missing or len(uids) != reference.GetSize()[2]:
        raise InputError(f"mask {path}: geometry mismatch (the RTSTRUCT's series does not match the image {folder}).")
    arr = np.stack([slices[u] for u in uids])
    if not arr.any():
        raise InputError(f"mask {path}: empty mask (ROI {number} '{rois[number]}' has no contour on this series).")
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(reference)
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
        Files (or DICOM folders); the mask may be a DICOM SEG or RTSTRUCT file (see the module
        docstring).
    mask_label
        Lesion value in the mask (see :func:`read_mask`), or the SEG segment / RTSTRUCT ROI number.
    tolerance
        Relative tolerance on spacing, and absolute tolerance (in mm, scaled by the spacing) on
        origin and direction.

    Returns
    -------
    tuple
        ``(image, mask)``: float32 image and 0/1 ``uint8`` mask, both 3D SimpleITK images.
    """
    image = read_image(image_path)
    kind = dicom_mask_kind(mask_path)
    if kind == "SEG":
        mask = read_seg(mask_path, image, mask_label=mask_label)
    elif kind == "RTSTRUCT":
        mask = read_rtstruct(mask_path, image_path, image, mask_label=mask_label)
    else:
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
