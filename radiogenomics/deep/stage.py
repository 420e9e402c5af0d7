"""The deep stage: train a MONAI network on tumour crops with patient-wise splits, then predict, embed
and explain (Grad-CAM), in one call (:func:`run`); or apply a trained model to cases (:func:`apply_model`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .._logging import get_logger
from .._validation import check_choice
from .crops import CropSet, load_crops, split_patients
from .result import DeepResult, overlay_names

__all__ = ["run", "apply_model", "gradcam_slices"]

log = get_logger(__name__)


def gradcam_slices(images: np.ndarray, masks: np.ndarray, cams: np.ndarray) -> dict[str, np.ndarray]:
    """What the overlays are drawn from: 2D crops as they are, volumes cut at their largest lesion slice.

    Parameters
    ----------
    images
        Crops ``(n, channels, *spatial)``; the first channel is drawn.
    masks
        Masks ``(n, 1, *spatial)``.
    cams
        Heat maps ``(n, *spatial)``.

    Returns
    -------
    dict
        ``images``, ``masks``, ``cams`` as ``(n, H, W)`` arrays and, for volumes, ``slice``
        (the slice index, along the first spatial axis, with the most lesion voxels).
    """
    first, m = images[:, 0], masks[:, 0]
    if m.ndim == 3:
        return {"images": first, "masks": m, "cams": cams}
    slices = m.reshape(len(m), m.shape[1], -1).sum(axis=2).argmax(axis=1)
    rows = np.arange(len(m))
    return {"images": first[rows, slices], "masks": m[rows, slices], "cams": cams[rows, slices],
            "slice": slices.astype(np.int64)}


def _describe(
    model: Any,
    crops: CropSet,
    *,
    checkpoint: bytes | None,
    history: pd.DataFrame | None,
    parameters: Mapping[str, Any],
    embeddings: bool,
    gradcam_layer: str | None,
    batch_size: int,
    synthetic: bool,
    show_progress: bool | None,
) -> DeepResult:
    """Predictions, metrics, deep features and Grad-CAM of ``model`` on ``crops``, as a result."""
    from ..imaging.aggregate import patient_labels
    from .embed import embed
    from .gradcam import grad_cam
    from .predict import patient_predictions, predict, prediction_metrics

    images = predict(model, crops, batch_size=batch_size)
    patients = patient_predictions(images)
    emb_image, emb_patient = embed(model, crops, batch_size=batch_size) if embeddings else (None, None)
    gradcam, maps = None, None
    if gradcam_layer:
        cam = grad_cam(model, crops, target_layer=gradcam_layer, batch_size=batch_size, show_progress=show_progress)
        gradcam = cam.table.assign(overlay=overlay_names(cam.table.index))
        maps = {"case_id": np.asarray(cam.table.index, dtype=str),
                **gradcam_slices(crops.images, crops.masks, cam.cams)}
        parameters = {**parameters, "gradcam_layer_used": cam.table.attrs.get("target_layer", gradcam_layer)}
    labelled = crops.cases["label"].notna().any()
    return DeepResult(
        predictions=patients, predictions_image=images, metrics=prediction_metrics(images, patients),
        history=history,
        splits=crops.cases[["patient_id", "label", "split"]].copy() if "split" in crops.cases.columns else None,
        embeddings_patient=emb_patient, embeddings_image=emb_image,
        labels=patient_labels(crops.cases) if labelled else None, gradcam=gradcam, checkpoint=checkpoint,
        gradcam_maps=maps, parameters={**parameters, "n_cropped": len(crops), "spatial_dims": crops.spatial_dims,
                                       "channels": list(crops.channels)}, dropped=crops.dropped,
        synthetic=synthetic,
    )


def run(
    cases: str | os.PathLike | pd.DataFrame,
    *,
    arch: str = "resnet18",
    sequences: list[str] | None = None,
    register: bool = False,
    size: int = 64,
    margin: float = 0.1,
    background: str = "keep",
    intensity: str = "uint8",
    epochs: int = 30,
    batch_size: int = 16,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    class_weights: str = "balanced",
    patience: int = 5,
    min_epochs: int = 3,
    validation: float = 0.2,
    test: float = 0.2,
    augment: bool = True,
    max_pool: bool = False,
    pretrained: str | os.PathLike | None = None,
    gradcam_layer: str | None = "auto",
    device: str = "auto",
    allow_outside_paths: bool = False,
    seed: int = 0,
    show_progress: bool | None = None,
) -> DeepResult:
    """The deep path: a MONAI network trained on tumour crops, its predictions, deep features and Grad-CAM.

    Cases are read with the imaging path's sheet and readers and cropped around their masks
    (:func:`~radiogenomics.deep.crops.load_crops`): one channel per sequence, 2D crops for
    images and 3D crops for volumes, as the data are; whole patients go to train, validation and
    test, stratified by label (:func:`~radiogenomics.deep.crops.split_patients`); the network
    is trained with early stopping on validation AUC
    (:func:`~radiogenomics.deep.train.train_classifier`), then scores every crop, gives its
    penultimate-layer features and Grad-CAM heat maps.

    Parameters
    ----------
    cases
        Case sheet (file or table, see :func:`radiogenomics.imaging.cases.load_cases`); every
        case needs a 0/1 ``label``.
    arch
        A backbone of :data:`~radiogenomics.deep.model.ARCHITECTURES`: ``resnet18/34/50/101``,
        ``seresnext50``, ``densenet121``, ``efficientnet-b0``, ``vit``, ``swin``.
    sequences
        Image columns of the sheet, one per sequence (e.g. ``["t1", "t2", "dce"]``; the mask
        is drawn on the first): resampled onto the first one's grid and stacked as channels.
        ``None``: the sheet's ``image`` column.
    register
        Rigidly register every sequence to the first before resampling (SimpleITK).
    size
        Crop side in pixels (voxels).
    margin
        Context around the mask's box, as a fraction of its longer side on each side.
    background
        ``"keep"`` or ``"zero"`` the tissue around the lesion.
    intensity
        Per sequence: ``"uint8"`` (/255), ``"percentile"`` (0.5-99.5 % to [0, 1]) or
        ``"zscore"``.
    epochs
        Maximum number of epochs.
    batch_size
        Images per step (and per inference pass).
    lr, weight_decay
        AdamW learning rate and weight decay.
    class_weights
        ``"balanced"`` (inverse class frequency) or ``"none"``.
    patience
        Epochs without validation-AUC gain before stopping.
    min_epochs
        Epochs before a model may be kept.
    validation, test
        Fractions of each label's patients held out for validation and test.
    augment
        Rotations, flips, zoom and contrast on training crops.
    max_pool
        ResNets: keep the max-pool after the first convolution.
    pretrained
        Local weights file to start from (never downloaded).
    gradcam_layer
        Module explained by Grad-CAM; ``"auto"``: the backbone's last feature map
        (``layer4`` of a ResNet); ``None`` skips Grad-CAM.
    device
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda[:N]"``.
    allow_outside_paths
        A case-sheet file's image/mask paths may be absolute or lead out of its folder; by
        default they must lie inside it (see :func:`~radiogenomics.imaging.cases.normalize_cases`).
    seed
        Seed of the split, the weights, the shuffling and the augmentation.
    show_progress
        Progress bars; ``None`` follows the package log level.

    Returns
    -------
    DeepResult
        Every table of :data:`~radiogenomics._results.LAYOUT` ``["deep"]``, the checkpoint and
        the Grad-CAM maps.
    """
    from .model import checkpoint_bytes
    from .train import train_classifier

    check_choice(class_weights, "class_weights", owner="rg.deep.run", choices=("balanced", "none"))
    sheet, crops, synthetic = read_and_crop(cases, sequences=sequences, register=register, size=size, margin=margin,
                                            background=background, intensity=intensity,
                                            allow_outside_paths=allow_outside_paths, show_progress=show_progress)
    crops.cases["split"] = split_patients(crops.cases, validation=validation, test=test, seed=seed)
    trained = train_classifier(
        crops, arch=arch, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
        class_weights=None if class_weights == "none" else "balanced", patience=patience, min_epochs=min_epochs,
        augment=augment, max_pool=max_pool, pretrained=pretrained, device=device, seed=seed,
        show_progress=show_progress,
    )
    extra = {"epoch": trained.best_epoch, "validation_auc": trained.best_validation_auc}
    parameters = {
        "arch": arch, "sequences": None if sequences is None else list(sequences), "register": register, "size": size, "margin": margin, "background": background, "intensity": intensity,
        "epochs": epochs, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
        "class_weights": class_weights, "class_weight_values": trained.config["class_weights"],
        "patience": patience, "min_epochs": min_epochs, "validation": validation, "test": test, "augment": augment,
        "max_pool": max_pool, "pretrained": None if pretrained is None else str(pretrained),
        "gradcam_layer": gradcam_layer, "device": device, "device_used": trained.device,
        "allow_outside_paths": allow_outside_paths, "seed": seed,
        "best_epoch": trained.best_epoch, "best_validation_auc": trained.best_validation_auc,
        "epochs_run": int(len(trained.history)), "n_cases": int(len(sheet)),
    }
    log.info("deep: %s kept at epoch %d (validation AUC %.3f; %dD crops, %d channel(s))", arch, trained.best_epoch,
             trained.best_validation_auc, crops.spatial_dims, crops.in_channels)
    return _describe(trained.model, crops, checkpoint=checkpoint_bytes(trained.model, config=trained.config, extra=extra),
                     history=trained.history, parameters=parameters, embeddings=True, gradcam_layer=gradcam_layer,
                     batch_size=batch_size, synthetic=synthetic, show_progress=show_progress)


def apply_model(
    model: str | os.PathLike | bytes | DeepResult,
    cases: str | os.PathLike | pd.DataFrame,
    *,
    embeddings: bool = True,
    gradcam_layer: str | None = "auto",
    batch_size: int = 32,
    device: str = "auto",
    allow_outside_paths: bool = False,
    show_progress: bool | None = None,
) -> DeepResult:
    """A trained model's predictions (and deep features, Grad-CAM) on cases, cropped as it was trained.

    Parameters
    ----------
    model
        A checkpoint file (``model.pt``), a deep result folder, its content, or a
        :class:`DeepResult`.
    cases
        Case sheet (file or table); labels are optional here.
    embeddings
        Also compute the deep features.
    gradcam_layer
        Module explained by Grad-CAM (``"auto"``: the backbone's last feature map); ``None``
        skips it.
    batch_size
        Images per pass.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``.
    allow_outside_paths
        A case-sheet file's image/mask paths may be absolute or lead out of its folder; by
        default they must lie inside it (see :func:`~radiogenomics.imaging.cases.normalize_cases`).
    show_progress
        Progress bars; ``None`` follows the package log level.

    Returns
    -------
    DeepResult
        ``predictions``, ``predictions_image``, ``metrics`` (where labels are known), and the
        deep features and Grad-CAM when asked; the checkpoint is carried along.
    """
    from pathlib import Path

    from .._results import is_synthetic
    from ..imaging.cases import cases_are_synthetic, load_cases
    from .model import load_checkpoint
    from .result import MODEL_FILE

    if isinstance(model, DeepResult):
        content = model.checkpoint
        source = "result"
    elif isinstance(model, bytes):
        content, source = model, "bytes"
    else:
        path = Path(model) / MODEL_FILE if Path(model).is_dir() else Path(model)
        content, source = (path.read_bytes() if path.exists() else None), str(path)
        if content is None:
            from .._validation import MissingDataFileError

            raise MissingDataFileError(f"{path}: model checkpoint not found.")
    if content is None:
        from .._validation import InputError

        raise InputError("the deep result holds no model (model.pt).")
    net, cfg = load_checkpoint(content, device=device)
    channels = cfg.get("channels") or ["image"]
    sheet = load_cases(cases, images=() if channels == ["image"] else channels,
                       allow_outside_paths=allow_outside_paths)
    synthetic = cases_are_synthetic(cases, sheet) or is_synthetic(model if not isinstance(model, bytes) else None)
    crops = crops_for(cfg, sheet, show_progress=show_progress)
    parameters = {"model": source, "model_config": cfg, "embeddings": embeddings, "gradcam_layer": gradcam_layer,
                  "batch_size": batch_size, "device": device, "device_used": str(next(net.parameters()).device),
                  "n_cases": int(len(sheet))}
    return _describe(net, crops, checkpoint=content, history=None, parameters=parameters, embeddings=embeddings,
                     gradcam_layer=gradcam_layer, batch_size=batch_size, synthetic=synthetic,
                     show_progress=show_progress)


def read_and_crop(
    cases: Any,
    *,
    sequences: list[str] | None,
    register: bool,
    size: int,
    margin: float,
    background: str,
    intensity: str,
    allow_outside_paths: bool = False,
    show_progress: bool | None = None,
) -> tuple[pd.DataFrame, CropSet, bool]:
    """A training stage's input: the case sheet read once, its crops, and whether it is synthetic.

    The one reading of :func:`run`, :func:`~radiogenomics.deep.compare` and
    :func:`~radiogenomics.deep.cross_fit` (the imaging path's sheet reader, then
    :func:`~radiogenomics.deep.crops.load_crops` with the stage's crop settings).

    Parameters
    ----------
    cases
        Case sheet (file or table).
    sequences, register, size, margin, background, intensity, show_progress
        As in :func:`~radiogenomics.deep.crops.load_crops`.
    allow_outside_paths
        A case-sheet file's image/mask paths may be absolute or lead out of its folder; by
        default they must lie inside it (see :func:`~radiogenomics.imaging.cases.normalize_cases`).

    Returns
    -------
    tuple
        ``(sheet, crops, synthetic)``.
    """
    from ..imaging.cases import cases_are_synthetic, load_cases

    sheet = load_cases(cases, images=sequence_columns(sequences), allow_outside_paths=allow_outside_paths)
    crops = load_crops(sheet, sequences=sequences, register=register, size=size, margin=margin,
                       background=background, intensity=intensity, show_progress=show_progress)
    return sheet, crops, cases_are_synthetic(cases, sheet)


def sequence_columns(sequences: Any) -> tuple[str, ...]:
    """The extra image columns a case sheet must hold for ``sequences`` (none for the plain ``image``).

    Parameters
    ----------
    sequences
        ``None``, a list of column names, or one comma-separated string.

    Returns
    -------
    tuple of str
    """
    from .crops import _columns

    return () if sequences is None else tuple(_columns(sequences))


def crops_for(config: Mapping[str, Any], cases: Any, *, show_progress: bool | None = None) -> CropSet:
    """Crops of ``cases`` made as a checkpoint's network was trained on (its ``config``).

    Parameters
    ----------
    config
        A checkpoint's configuration (``size``, ``margin``, ``background``, ``intensity``,
        ``window``, ``channels``, ``register``).
    cases
        Case sheet (file or table) holding the same sequence columns.
    show_progress
        Progress bar; ``None`` follows the package log level.

    Returns
    -------
    CropSet
    """
    from .._validation import InputError

    channels = list(config.get("channels") or ["image"])
    crops = load_crops(cases, sequences=None if channels == ["image"] else channels,
                       register=bool(config.get("register", False)), size=int(config["size"]),
                       margin=float(config["margin"]), background=config.get("background", "keep"),
                       intensity=config.get("intensity", "uint8"), window=config.get("window"),
                       show_progress=show_progress)
    want = int(config.get("spatial_dims", 2))
    if crops.spatial_dims != want:
        raise InputError(f"the model was trained on {want}D crops but these cases give {crops.spatial_dims}D "
                         "crops (images vs volumes).")
    return crops
