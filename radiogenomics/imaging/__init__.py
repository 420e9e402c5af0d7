"""Imaging stage: radiomic features from images and masks (pyradiomics), presets, case sheets,
per-patient aggregation, parallel/cached/Dask extraction, stability (ICC), harmonisation (ComBat)
and a synthetic ultrasound cohort for the demo."""

from __future__ import annotations

from .aggregate import aggregate_patients, patient_table
from .cases import normalize_cases, read_cases
from .extract import (
    ExtractionResult,
    case_cache_key,
    extract_case,
    extract_features,
    extract_images,
    list_presets,
    load_preset,
    validate_params,
)
from .harmonize import ComBatHarmonizer
from .readers import read_case, read_image, read_mask
from .stability import filter_stable, icc_table, perturb_case, perturbation_icc, reader_icc
from .synthetic import make_ultrasound_cohort, simulate_ultrasound

__all__ = [
    "simulate_ultrasound", "make_ultrasound_cohort",
    "read_cases", "normalize_cases",
    "read_image", "read_mask", "read_case",
    "list_presets", "load_preset", "validate_params",
    "extract_case", "extract_images", "extract_features", "case_cache_key", "ExtractionResult",
    "aggregate_patients", "patient_table",
    "icc_table", "filter_stable", "reader_icc", "perturb_case", "perturbation_icc",
    "ComBatHarmonizer",
]
