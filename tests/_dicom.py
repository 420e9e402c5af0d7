"""Write small DICOM series for the reader tests (pydicom), plus a SEG (highdicom) and an RTSTRUCT (rt-utils) on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_series(image, folder: Path, *, modality: str = "MR") -> list[Path]:
    """Write a 3D SimpleITK image as one DICOM file per slice (MR Image Storage, int16), with full geometry."""
    import pydicom  # noqa: F401
    import SimpleITK as sitk
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    arr = sitk.GetArrayFromImage(image).astype(np.int16)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    d, sp = image.GetDirection(), image.GetSpacing()
    sop_class = "1.2.840.10008.5.1.4.1.1.4"  # MR Image Storage
    paths = []
    for k in range(arr.shape[0]):
        uid = generate_uid()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop_class, uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = sop_class, uid
        ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Test^Phantom", "P1", "", "O"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.StudyID, ds.SeriesNumber, ds.InstanceNumber, ds.AccessionNumber = "1", 1, k + 1, ""
        ds.StudyDate = ds.SeriesDate = "20240101"
        ds.StudyTime = ds.SeriesTime = "120000"
        ds.ReferringPhysicianName, ds.Modality, ds.Manufacturer = "", modality, "radiogenomics tests"
        ds.PositionReferenceIndicator = ""
        ds.ImagePositionPatient = [float(v) for v in image.TransformIndexToPhysicalPoint((0, 0, k))]
        ds.ImageOrientationPatient = [float(v) for v in (d[0], d[3], d[6], d[1], d[4], d[7])]
        ds.PixelSpacing = [float(sp[1]), float(sp[0])]
        ds.SliceThickness = float(sp[2])
        ds.Rows, ds.Columns = arr.shape[1], arr.shape[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = arr[k].tobytes()
        path = folder / f"slice{k:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def write_seg(series_files: list[Path], mask: np.ndarray, path: Path) -> Path:
    """A DICOM SEG (binary, one segment) of ``mask`` (z, y, x in the files' order) written by highdicom."""
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    sources = [pydicom.dcmread(f) for f in series_files]
    desc = hd.seg.SegmentDescription(
        segment_number=1, segment_label="lesion",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=mask.astype(np.uint8), segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[desc], series_instance_uid=hd.UID(), series_number=2, sop_instance_uid=hd.UID(),
        instance_number=1, manufacturer="radiogenomics tests", manufacturer_model_name="test",
        software_versions="0", device_serial_number="0")
    seg.save_as(path)
    return path


def write_rtstruct(series_folder: Path, mask: np.ndarray, path: Path) -> Path:
    """A DICOM RTSTRUCT with one ROI drawn from ``mask`` (z, y, x, ascending slices) written by rt-utils."""
    from rt_utils import RTStructBuilder

    rt = RTStructBuilder.create_new(dicom_series_path=str(series_folder))
    rt.add_roi(mask=np.transpose(mask.astype(bool), (1, 2, 0)), name="lesion")  # rt-utils: rows, columns, slices
    rt.save(str(path))
    return path
