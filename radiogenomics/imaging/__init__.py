"""Imaging stage: radiomic features from images and masks (pyradiomics), presets, case sheets,
per-patient aggregation, parallel/cached/Dask extraction, stability (ICC), harmonisation (ComBat)
and a synthetic ultrasound cohort for the demo.

- :func:`extract` (also ``rg.extract``): the stage, a case sheet → :class:`ExtractionResult`;
- :func:`load_features`: a feature table given as it is (features as rows, labels inside, or
  pyradiomics' batch output), as the same result;
- :mod:`.cases`, :mod:`.readers`: the one case-sheet and image reader (the deep path uses them too;
  masks may be DICOM SEG or RTSTRUCT);
- :mod:`.extract`: presets, one case, the batch engine and its cache (the module; the package's
  ``extract`` attribute is the stage function).
"""

from __future__ import annotations

from .aggregate import aggregate_patients, patient_labels, patient_table
from .cases import cases_are_synthetic, load_cases, normalize_cases, read_cases
from .extract import (
    case_cache_key,
    default_cache_dir,
    extract_case,
    extract_images,
    list_presets,
    load_preset,
    validate_params,
)
from .harmonize import ComBatHarmonizer
from .readers import (
    dicom_mask_kind,
    failed_file,
    failure_kind,
    read_case,
    read_image,
    read_mask,
    read_rtstruct,
    read_seg,
)
from .result import ExtractionResult, is_pyradiomics_output, load_features
from .stability import feature_stability, filter_stable, icc_table, perturb_case, perturbation_icc, reader_icc

# after .extract: the stage function takes the package's name ``extract`` from the module of that name
from .stage import extract
from .synthetic import make_ultrasound_cohort, simulate_ultrasound

__all__ = [
    "extract", "ExtractionResult", "load_features",
    "simulate_ultrasound", "make_ultrasound_cohort",
    "read_cases", "normalize_cases", "load_cases", "cases_are_synthetic",
    "read_image", "read_mask", "read_case", "read_seg", "read_rtstruct", "dicom_mask_kind", "failure_kind",
    "failed_file", "is_pyradiomics_output",
    "list_presets", "load_preset", "validate_params",
    "extract_case", "extract_images", "case_cache_key", "default_cache_dir",
    "aggregate_patients", "patient_table", "patient_labels",
    "icc_table", "filter_stable", "reader_icc", "perturb_case", "perturbation_icc", "feature_stability",
    "ComBatHarmonizer",
]
