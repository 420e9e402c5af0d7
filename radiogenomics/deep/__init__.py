"""Deep-learning path: MONAI ResNet classifier on tumour crops, Grad-CAM, deep features.

Needs the optional extra ``pip install 'radiogenomics[deep]'`` (torch and MONAI). This package
imports without it; functions that need torch raise
:class:`~radiogenomics._validation.OptionalDependencyError` naming the extra.

* :mod:`.data`: case sheet, crops around each mask, patient-wise splits, MONAI augmentations;
* :mod:`.train`: ResNet18/34/50 (2D, one channel), training with early stopping on
  validation AUC, checkpoints, image and patient predictions;
* :mod:`.gradcam`: Grad-CAM heat maps, share of heat inside the lesion, PNG overlays;
* :mod:`.embed`: penultimate-layer features per image and per patient (``deep_0`` ...).
"""

from __future__ import annotations

from ._backend import require_torch, resolve_device
from .data import CropSet, crop_around_mask, load_crops, make_augmentation, patient_labels, read_case_sheet, split_patients
from .embed import embed, embed_images, embed_patients
from .gradcam import GradCamResult, grad_cam, heat_in_mask, write_overlays
from .train import (
    ARCHITECTURES,
    TrainResult,
    aggregate_patients,
    build_model,
    load_checkpoint,
    load_pretrained,
    predict,
    prediction_metrics,
    save_checkpoint,
    train_classifier,
)

__all__ = [
    "ARCHITECTURES",
    "CropSet",
    "GradCamResult",
    "TrainResult",
    "aggregate_patients",
    "build_model",
    "crop_around_mask",
    "embed",
    "embed_images",
    "embed_patients",
    "grad_cam",
    "heat_in_mask",
    "load_checkpoint",
    "load_crops",
    "load_pretrained",
    "make_augmentation",
    "patient_labels",
    "predict",
    "prediction_metrics",
    "read_case_sheet",
    "require_torch",
    "resolve_device",
    "save_checkpoint",
    "split_patients",
    "train_classifier",
    "write_overlays",
]
