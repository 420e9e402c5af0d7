"""Predictions of a trained network: image and patient probabilities, and their AUC and accuracy.

The AUC is the package's one AUC (:func:`radiogenomics.models.metrics.auc_score`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._validation import check_int
from ._backend import require_torch
from .crops import CropSet

__all__ = ["probabilities", "predict", "patient_predictions", "prediction_metrics"]


def probabilities(model: Any, images: np.ndarray, *, batch_size: int = 32, device: Any = None) -> np.ndarray:
    """HER2-positive probability of every crop (softmax of a 2-unit head, sigmoid of a 1-unit one).

    Parameters
    ----------
    model
        The network (put in eval mode).
    images
        Crops ``(n, 1, size, size)``.
    batch_size
        Images per forward pass.
    device
        Where the model is (default: its parameters' device).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` ``float64`` probabilities.
    """
    torch, _ = require_torch()
    device = _model_device(model) if device is None else device
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = torch.from_numpy(images[start:start + batch_size]).to(device)
            logits = model(x)
            if logits.shape[1] == 1:
                p = torch.sigmoid(logits[:, 0])
            else:
                p = torch.softmax(logits, dim=1)[:, 1]
            out.append(p.detach().cpu().numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def _model_device(model: Any) -> Any:
    return next(model.parameters()).device


def predict(model: Any, crops: CropSet, *, batch_size: int = 32) -> pd.DataFrame:
    """Image-level HER2-positive probabilities.

    Parameters
    ----------
    model
        A trained network (on any device).
    crops
        Crops to score.
    batch_size
        Images per forward pass.

    Returns
    -------
    pandas.DataFrame
        Index ``case_id``; columns ``patient_id``, ``label`` (``<NA>`` when unknown),
        ``split`` (when assigned) and ``probability``.
    """
    require_torch("predict")
    batch_size = check_int(batch_size, "batch_size", owner="predict", min_value=1)
    probs = probabilities(model, crops.images, batch_size=batch_size, device=_model_device(model))
    cols = ["patient_id", "label"] + (["split"] if "split" in crops.cases.columns else [])
    out = crops.cases[cols].copy()
    out["probability"] = probs
    return out


def patient_predictions(predictions: pd.DataFrame) -> pd.DataFrame:
    """Mean image probability per patient.

    Parameters
    ----------
    predictions
        Output of :func:`predict`.

    Returns
    -------
    pandas.DataFrame
        Index ``sample_id`` (patient); columns ``probability`` (mean over the patient's
        images), ``n_images``, ``label`` and ``split`` (when present).
    """
    grouped = predictions.groupby("patient_id", sort=False)
    out = pd.DataFrame({"probability": grouped["probability"].mean(), "n_images": grouped.size()})
    out["label"] = grouped["label"].first()
    if "split" in predictions.columns:
        out["split"] = grouped["split"].first()
    out.index = out.index.map(str)
    out.index.name = "sample_id"
    return out


def prediction_metrics(images: pd.DataFrame, patients: pd.DataFrame) -> pd.DataFrame:
    """AUC and accuracy (threshold 0.5) per level and split.

    Parameters
    ----------
    images, patients
        Outputs of :func:`predict` and :func:`patient_predictions`.

    Returns
    -------
    pandas.DataFrame
        Columns ``level`` (``image``/``patient``), ``split`` (``all`` or a split name),
        ``n``, ``n_positive``, ``auc`` (NaN with one class) and ``accuracy``.
    """
    from ..models.metrics import auc_score

    rows = []
    for level, table in (("image", images), ("patient", patients)):
        table = table[table["label"].notna()]
        groups = [("all", table)]
        if "split" in table.columns:
            groups += [(s, table[table["split"] == s]) for s in ("train", "validation", "test")]
        for split, sub in groups:
            if len(sub) == 0:
                continue
            y = sub["label"].to_numpy(dtype=int)
            p = sub["probability"].to_numpy(dtype=float)
            auc = auc_score(y, p) if np.unique(y).size == 2 else float("nan")
            rows.append({"level": level, "split": split, "n": len(sub), "n_positive": int(y.sum()),
                         "auc": auc, "accuracy": float(np.mean((p >= 0.5) == y))})
    return pd.DataFrame(rows, columns=["level", "split", "n", "n_positive", "auc", "accuracy"])
