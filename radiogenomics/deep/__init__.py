"""Deep-learning path: MONAI ResNet classifier on tumour crops, Grad-CAM, deep features.

Needs the optional extra ``pip install 'radiogenomics[deep]'`` (torch and MONAI). This package
imports without it (torch is imported inside the functions); functions that need torch raise
:class:`~radiogenomics._validation.OptionalDependencyError` naming the extra.

- :func:`run` (``rg.deep.run``): the stage, a case sheet → :class:`DeepResult` (train with
  patient-wise splits, predict, embed, Grad-CAM); :func:`apply_model`: a trained model on cases;
- :mod:`.crops`: crops around each mask, read with the imaging path's case sheet and readers,
  patient-wise splits;
- :mod:`.model`: ResNet18/34/50 (2D, one channel), local pretrained weights, checkpoints;
- :mod:`.train`: augmentation, training with early stopping on validation AUC;
- :mod:`.predict`: image and patient probabilities, AUC and accuracy;
- :mod:`.gradcam`: Grad-CAM heat maps and the share of heat inside the lesion;
- :mod:`.embed`: penultimate-layer features per image and per patient (``deep_0`` ...).

The overlays and curves are drawn by :mod:`radiogenomics.plotting` (``rg.pl.deep``).
"""

from __future__ import annotations

from ._backend import require_torch, resolve_device
from .crops import CropSet, crop_around_mask, load_crops, read_arrays, split_patients
from .embed import embed, embed_images, embed_patients
from .gradcam import GradCamResult, grad_cam, heat_in_mask
from .model import ARCHITECTURES, build_model, checkpoint_bytes, load_checkpoint, load_pretrained, save_checkpoint
from .predict import patient_predictions, predict, prediction_metrics, probabilities
from .result import DeepResult
from .stage import apply_model, run
from .train import TrainResult, make_augmentation, train_classifier

__all__ = [
    "run",
    "apply_model",
    "DeepResult",
    "ARCHITECTURES",
    "CropSet",
    "GradCamResult",
    "TrainResult",
    "build_model",
    "checkpoint_bytes",
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
    "patient_predictions",
    "predict",
    "prediction_metrics",
    "probabilities",
    "read_arrays",
    "require_torch",
    "resolve_device",
    "save_checkpoint",
    "split_patients",
    "train_classifier",
]
