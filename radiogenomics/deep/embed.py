"""Deep features: the penultimate layer's embedding per image and per patient, as feature tables.

The embedding is the output of the backbone's global average pooling, the input of its final
linear layer (:data:`~radiogenomics.deep.model.BACKBONES`: ``avgpool`` of the ResNets, 512 values
for ResNet18/34 and 2048 for ResNet50/101; 1024 for DenseNet121, 1280 for EfficientNet-B0, 384 for
the ViT-Small, 768 for the Swin Transformer). Columns are named ``deep_0`` ...
``deep_{k-1}`` so the table enters the ICC filter, LASSO, the models and the association engine
like a radiomic feature table (rows = samples, index = sample id).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._logging import get_logger
from .._validation import InputError, ParameterError, check_int, format_names
from ._backend import require_torch
from .crops import CropSet

__all__ = ["embed_images", "embed_patients", "embed"]

log = get_logger(__name__)


def embed_images(model: Any, crops: CropSet, *, layer: str = "auto", batch_size: int = 32) -> pd.DataFrame:
    """Penultimate-layer embedding of every crop.

    Parameters
    ----------
    model
        A trained network (any device).
    crops
        Crops to embed.
    layer
        Module whose (flattened) output is the embedding; ``"auto"``: the backbone's
        ``embed_layer`` (``avgpool`` for the ResNets).
    batch_size
        Images per forward pass.

    Returns
    -------
    pandas.DataFrame
        Index ``case_id``; columns ``deep_0`` ... ``deep_{k-1}`` (``float64``).
    """
    torch, _ = require_torch("embed_images")
    from .model import backbone_of

    batch_size = check_int(batch_size, "batch_size", owner="embed_images", min_value=1)
    modules = dict(model.named_modules())
    if layer == "auto":
        layer = backbone_of(model).embed_layer
    if layer not in modules:
        raise ParameterError(f"The 'layer' parameter of embed_images must name a module of the model (e.g. 'auto' "
                             f"or {backbone_of(model).embed_layer!r}). Got {layer!r} instead.")
    captured: list[Any] = []
    handle = modules[layer].register_forward_hook(lambda _m, _i, out: captured.append(out.detach().flatten(1).cpu()))
    device = next(model.parameters()).device
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(crops), batch_size):
                model(torch.from_numpy(crops.images[start:start + batch_size]).to(device))
    finally:
        handle.remove()
    values = torch.cat(captured).numpy().astype(np.float64)
    out = pd.DataFrame(values, index=crops.cases.index.copy(),
                       columns=[f"deep_{i}" for i in range(values.shape[1])])
    out.index.name = "case_id"
    return out


def embed_patients(image_embeddings: pd.DataFrame, patients: pd.Series) -> pd.DataFrame:
    """Mean embedding over each patient's images.

    Parameters
    ----------
    image_embeddings
        Output of :func:`embed_images` (index ``case_id``).
    patients
        Patient id per case id.

    Returns
    -------
    pandas.DataFrame
        Index ``sample_id`` (patient, in first-appearance order); the same ``deep_*`` columns.
    """
    missing = image_embeddings.index.difference(patients.index)
    if len(missing):
        raise InputError(f"case(s) {format_names(missing)} have no patient id.")
    groups = patients.loc[image_embeddings.index].astype(str).to_numpy()
    out = image_embeddings.groupby(groups, sort=False).mean()
    out.index = out.index.map(str)
    out.index.name = "sample_id"
    return out


def embed(model: Any, crops: CropSet, *, batch_size: int = 32) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Image- and patient-level deep feature tables.

    Parameters
    ----------
    model
        A trained network.
    crops
        Crops to embed.
    batch_size
        Images per forward pass.

    Returns
    -------
    tuple of pandas.DataFrame
        ``(per_image, per_patient)``: index ``case_id`` and ``sample_id``; columns ``deep_0`` ...
    """
    images = embed_images(model, crops, batch_size=batch_size)
    patients = embed_patients(images, crops.cases["patient_id"])
    log.info("deep features: %d images, %d patients, %d features", len(images), len(patients), images.shape[1])
    return images, patients
