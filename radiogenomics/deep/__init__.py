"""Deep-learning path: MONAI classifiers on 2D/3D multi-sequence tumour crops, backbone comparison,
Grad-CAM, cross-fitted deep features.

Needs the optional extra ``pip install 'radiogenomics[deep]'`` (torch and MONAI). This package
imports without it (torch is imported inside the functions); functions that need torch raise
:class:`~radiogenomics._validation.OptionalDependencyError` naming the extra.

- :func:`run` (``rg.deep.run``): the stage, a case sheet → :class:`DeepResult` (train with
  patient-wise splits, predict, embed, Grad-CAM); :func:`apply_model`: a trained model on cases;
- :func:`compare` (``rg.deep.compare``): backbone × learning rate × weight decay on one fixed
  patient-wise split → :class:`DeepComparisonResult` (the CT study's table, the chosen model);
- :func:`cross_fit` (``rg.deep.cross_fit``): cross-fitted embeddings (each patient embedded by a
  network that never saw it), their ICC across perturbations and the ≥ 0.9 filter →
  :class:`DeepFeaturesResult`, the deep features that may enter :func:`radiogenomics.evaluate`;
- :mod:`.crops`: one channel per sequence (resampled onto the first, optionally registered),
  2D or 3D crops around each mask as the data are, patient-wise splits and folds;
- :mod:`.model`: MONAI backbones (ResNet 18/34/50/101, SE-ResNeXt50, DenseNet121,
  EfficientNet-B0, ViT, Swin Transformer), 2D and 3D, any number of channels, local
  pretrained weights, checkpoints;
- :mod:`.train`: augmentation, training with early stopping on validation AUC;
- :mod:`.predict`: image and patient probabilities, AUC and accuracy;
- :mod:`.gradcam`: Grad-CAM heat maps and the share of heat inside the lesion;
- :mod:`.embed`: penultimate-layer features per image and per patient (``deep_0`` ...).

The overlays and curves are drawn by :mod:`radiogenomics.plotting` (``rg.pl.deep``).
"""

from __future__ import annotations

from ._backend import require_torch, resolve_device
from .compare import DeepComparisonResult, compare
from .crops import (
    CropSet,
    crop_around_mask,
    fold_patients,
    load_crops,
    perturbed_crops,
    read_arrays,
    read_volumes,
    register_rigid,
    resample_onto,
    split_patients,
)
from .crossfit import DeepFeaturesResult, cross_fit
from .embed import embed, embed_images, embed_patients
from .gradcam import GradCamResult, grad_cam, heat_in_mask
from .model import (
    ARCHITECTURES,
    BACKBONES,
    build_model,
    checkpoint_bytes,
    load_checkpoint,
    load_pretrained,
    save_checkpoint,
)
from .predict import patient_predictions, predict, prediction_metrics, probabilities
from .result import DeepResult
from .stage import apply_model, run
from .train import TrainResult, make_augmentation, train_classifier

__all__ = [
    "run",
    "apply_model",
    "compare",
    "cross_fit",
    "DeepResult",
    "DeepComparisonResult",
    "DeepFeaturesResult",
    "ARCHITECTURES",
    "BACKBONES",
    "CropSet",
    "GradCamResult",
    "TrainResult",
    "build_model",
    "checkpoint_bytes",
    "crop_around_mask",
    "embed",
    "embed_images",
    "embed_patients",
    "fold_patients",
    "grad_cam",
    "heat_in_mask",
    "load_checkpoint",
    "load_crops",
    "load_pretrained",
    "make_augmentation",
    "perturbed_crops",
    "patient_predictions",
    "predict",
    "prediction_metrics",
    "probabilities",
    "read_arrays",
    "read_volumes",
    "register_rigid",
    "resample_onto",
    "require_torch",
    "resolve_device",
    "save_checkpoint",
    "split_patients",
    "train_classifier",
]
