"""Grad-CAM heat maps (``monai.visualize.GradCAM``) on the last feature map, and their share in the lesion.

Works for every backbone of :data:`~radiogenomics.deep.model.BACKBONES` (its ``gradcam_layer``:
the last convolutional block of the CNNs, the patch-token grid of the ViT, the last stage of
the Swin Transformer) and for 2D and 3D crops (the maps are upsampled to the crop's voxels).
Computation only: the overlays are drawn by :mod:`radiogenomics.plotting` (``rg.pl.deep``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._logging import get_logger, progress
from .._validation import InputError, ParameterError, check_int
from ._backend import require_torch
from .crops import CropSet

__all__ = ["GradCamResult", "grad_cam", "heat_in_mask"]

log = get_logger(__name__)

_HOOK_DICTS = ("_forward_hooks", "_backward_hooks")


@dataclass
class GradCamResult:
    """Heat maps of every crop and their summary.

    Attributes
    ----------
    cams
        ``float32`` array ``(n, size, size)`` (``(n, size, size, size)`` for volumes), each map
        scaled to [0, 1] (max -> 1); all-zero where the image holds no evidence for the class.
    table
        Index ``case_id``; columns ``patient_id``, ``label``, ``probability`` (HER2-positive),
        ``heat_in_mask`` (share of the heat inside the lesion mask), ``mask_fraction`` (share
        of the crop inside the mask: the value ``heat_in_mask`` would take for uniform heat)
        and ``peak_in_mask`` (the hottest pixel lies in the mask).
    """

    cams: np.ndarray
    table: pd.DataFrame


def _log_odds_module(torch: Any) -> Any:
    class LogOdds(torch.nn.Module):
        """Explain the log-odds ``l1 - l0`` instead of one raw logit of a 2-unit softmax."""

        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: Any) -> Any:
            logits = self.model(x)
            if logits.shape[1] == 1:
                return torch.cat([-logits, logits], dim=1)
            diff = logits[:, 1:2] - logits[:, 0:1]
            return torch.cat([-diff, diff], dim=1)

    return LogOdds


def _LogOdds(model: Any) -> Any:  # noqa: N802 - a factory standing in for the class
    import torch

    return _log_odds_module(torch)(model)


def _minmax(x: Any) -> Any:
    """Scale each map to [0, 1] (max -> 1); an all-zero map stays 0.

    MONAI's default post-processing maps (min, max) to (1, 0), i.e. it FLIPS the heat map
    (documented in ``default_normalizer``); used as is, the hottest region would read coldest.
    """
    flat = x.flatten(1)
    lo = flat.min(dim=1).values.view(-1, *[1] * (x.ndim - 1))
    hi = flat.max(dim=1).values.view(-1, *[1] * (x.ndim - 1))
    span = hi - lo
    return ((x - lo) / span.clamp_min(1e-12)) * (span > 0)


def heat_in_mask(cams: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Share of each heat map's total inside the mask: ``sum(cam * mask) / sum(cam)``.

    Parameters
    ----------
    cams
        Non-negative maps ``(n, H, W)`` or ``(n, D, H, W)``.
    masks
        Binary masks of the same shape (a channel axis of 1 is squeezed).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` fractions in [0, 1]; NaN where a map is all zero.
    """
    cams = np.asarray(cams, dtype=np.float64)
    masks = np.asarray(masks)
    if masks.ndim == cams.ndim + 1:
        masks = masks[:, 0]
    if cams.shape != masks.shape:
        raise InputError(f"heat maps {cams.shape} and masks {masks.shape} differ in shape.")
    if np.any(cams < 0):
        raise InputError("heat maps must be non-negative.")
    total = cams.reshape(len(cams), -1).sum(axis=1)
    inside = (cams * (masks > 0)).reshape(len(cams), -1).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / total, np.nan)


def grad_cam(
    model: Any,
    crops: CropSet,
    *,
    target_layer: str = "auto",
    class_index: int = 1,
    batch_size: int = 16,
    show_progress: bool | None = None,
) -> GradCamResult:
    """Grad-CAM maps for the HER2-positive class on every crop.

    The explained score is the log-odds ``logit_1 - logit_0`` (class 1) or its negative
    (class 0): with a two-unit softmax only the difference of the logits carries meaning, and
    a single raw logit can be negative everywhere, giving empty maps.

    Parameters
    ----------
    model
        A trained network (any device); its BatchNorm layers are used in eval mode.
    crops
        Crops to explain.
    target_layer
        Name of the module whose activations are weighted; ``"auto"``: the backbone's
        ``gradcam_layer`` (``layer4`` for the ResNets, see
        :data:`~radiogenomics.deep.model.BACKBONES`).
    class_index
        Output unit to explain (1 = HER2-positive).
    batch_size
        Images per pass.
    show_progress
        Progress bar; ``None`` follows the package log level.

    Returns
    -------
    GradCamResult
    """
    torch, _ = require_torch("grad_cam")
    from monai.visualize import GradCAM

    from .model import backbone_of

    batch_size = check_int(batch_size, "batch_size", owner="grad_cam", min_value=1)
    class_index = check_int(class_index, "class_index", owner="grad_cam", min_value=0)
    names = dict(model.named_modules())
    if target_layer == "auto":
        target_layer = backbone_of(model).gradcam_layer
    if target_layer not in names:
        convs = [n for n, m in names.items() if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d))]
        raise ParameterError(
            f"The 'target_layer' parameter of grad_cam must name a module of the model "
            f"(e.g. 'auto', {backbone_of(model).gradcam_layer!r} or {convs[-1]!r}). Got {target_layer!r} instead."
        )
    device = next(model.parameters()).device
    model.eval()
    layer = names[target_layer]
    before = {attr: set(getattr(layer, attr)) for attr in _HOOK_DICTS}
    # MONAI restores the wrapper's own train/eval flag after each call, which propagates
    # to the model: the wrapper must be in eval mode or batch norm would run in train mode
    wrapped = _LogOdds(model).eval()
    was_training = model.training
    cam = GradCAM(nn_module=wrapped, target_layers=f"model.{target_layer}", postprocessing=_minmax)
    maps, probs = [], []
    disable = None if show_progress is None else not show_progress
    for start in progress(range(0, len(crops), batch_size), desc="grad-cam", disable=disable):
        x = torch.from_numpy(crops.images[start:start + batch_size]).to(device)
        with torch.no_grad():
            logits = model(x)
            probs.append(torch.softmax(logits, dim=1)[:, 1].cpu().numpy() if logits.shape[1] > 1
                         else torch.sigmoid(logits[:, 0]).cpu().numpy())
        m = cam(x=x, class_idx=class_index)
        empty = int((m.flatten(1).amax(dim=1) <= 0).sum())
        if empty:
            log.info("%d crop(s) have no positive Grad-CAM evidence for class %d (all-zero map)", empty, class_index)
        maps.append(m.detach().cpu().numpy()[:, 0].astype(np.float32))
        model.zero_grad(set_to_none=True)
    # MONAI keeps its hooks registered on the layer; remove only the ones it added
    for attr in _HOOK_DICTS:
        hooks = getattr(layer, attr)
        for key in set(hooks) - before[attr]:
            del hooks[key]
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    cams = np.concatenate(maps)
    cams = np.nan_to_num(cams, nan=0.0)
    table = crops.cases[["patient_id", "label"]].copy()
    table["probability"] = np.concatenate(probs).astype(float)
    table["heat_in_mask"] = heat_in_mask(cams, crops.masks)
    table["mask_fraction"] = crops.masks.reshape(len(crops), -1).mean(axis=1)
    flat = cams.reshape(len(cams), -1).argmax(axis=1)
    table["peak_in_mask"] = crops.masks.reshape(len(crops), -1)[np.arange(len(crops)), flat] > 0
    table.attrs["target_layer"] = target_layer
    heat = table["heat_in_mask"].dropna()
    if heat.empty:  # every map is all zero: no crop has positive evidence for the class
        log.info("Grad-CAM on %s: no crop has positive evidence for class %d, heat in mask undefined",
                 target_layer, class_index)
    else:
        log.info("Grad-CAM on %s: median heat in mask %.2f (uniform heat would give %.2f)",
                 target_layer, float(heat.median()), float(table["mask_fraction"].median()))
    return GradCamResult(cams=cams, table=table)
