"""Imaging stage: radiomic features from images and masks (pyradiomics), presets, case sheets,
per-patient aggregation, parallel/cached extraction, stability (ICC), harmonisation (ComBat)
and a synthetic ultrasound cohort for the demo."""

from __future__ import annotations

from .synthetic import make_ultrasound_cohort, simulate_ultrasound

__all__ = ["simulate_ultrasound", "make_ultrasound_cohort"]
