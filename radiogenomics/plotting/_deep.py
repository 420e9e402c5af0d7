"""Figures of the deep path: Grad-CAM overlays, training curves, heat-in-mask summary.

Every function returns a matplotlib Figure; none shows or saves it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .._validation import InputError

__all__ = ["gradcam_overlay", "gradcam_grid", "training_history", "heat_in_mask_summary"]


def _draw_overlay(ax: object, image: np.ndarray, cam: np.ndarray, mask: np.ndarray | None, alpha: float) -> None:
    ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.imshow(cam, cmap="jet", alpha=alpha, vmin=0.0, vmax=1.0, interpolation="bilinear")
    if mask is not None and np.any(mask):
        ax.contour(mask.astype(float), levels=[0.5], colors="white", linewidths=1.0)
    ax.set_xticks([])
    ax.set_yticks([])


def gradcam_overlay(
    image: np.ndarray,
    cam: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    alpha: float = 0.45,
    title: str | None = None,
) -> Figure:
    """One crop with its Grad-CAM heat map and the lesion outline.

    Parameters
    ----------
    image
        2D crop scaled to [0, 1].
    cam
        2D heat map of the same shape, in [0, 1].
    mask
        Optional 2D lesion mask drawn as a white outline.
    alpha
        Opacity of the heat map.
    title
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels: the crop alone, and crop + heat + outline.
    """
    image, cam = np.asarray(image), np.asarray(cam)
    if image.shape != cam.shape or image.ndim != 2:
        raise InputError(f"image {image.shape} and heat map {cam.shape} must be 2D arrays of the same shape.")
    fig = Figure(figsize=(5.2, 2.8), layout="constrained")
    ax0, ax1 = fig.subplots(1, 2)
    ax0.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    if mask is not None and np.any(mask):
        ax0.contour(np.asarray(mask).astype(float), levels=[0.5], colors="yellow", linewidths=0.8)
    ax0.set_xticks([])
    ax0.set_yticks([])
    ax0.set_title("crop", fontsize=8)
    _draw_overlay(ax1, image, cam, None if mask is None else np.asarray(mask), alpha)
    ax1.set_title("Grad-CAM (HER2+)", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=8)
    return fig


def gradcam_grid(
    images: np.ndarray,
    cams: np.ndarray,
    *,
    masks: np.ndarray | None = None,
    titles: list[str] | None = None,
    ncols: int = 6,
    alpha: float = 0.45,
) -> Figure:
    """A grid of Grad-CAM overlays (for the report).

    Parameters
    ----------
    images
        Crops ``(n, H, W)`` or ``(n, 1, H, W)`` in [0, 1].
    cams
        Heat maps ``(n, H, W)``.
    masks
        Optional lesion masks, same shape as ``images``.
    titles
        One short title per panel.
    ncols
        Panels per row.
    alpha
        Opacity of the heat maps.

    Returns
    -------
    matplotlib.figure.Figure
    """
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[:, 0]
    if masks is not None:
        masks = np.asarray(masks)
        if masks.ndim == 4:
            masks = masks[:, 0]
    n = len(images)
    if n == 0:
        raise InputError("gradcam_grid needs at least one image.")
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig = Figure(figsize=(1.8 * ncols, 1.9 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    for i, ax in enumerate(axes):
        if i >= n:
            ax.set_axis_off()
            continue
        _draw_overlay(ax, images[i], cams[i], None if masks is None else masks[i], alpha)
        if titles is not None:
            ax.set_title(titles[i], fontsize=7)
    return fig


def training_history(history: pd.DataFrame) -> Figure:
    """Training and validation loss, and validation AUC, per epoch.

    Parameters
    ----------
    history
        ``TrainResult.history`` (columns ``epoch``, ``train_loss``, ``validation_loss``,
        ``validation_auc``, ``improved``).

    Returns
    -------
    matplotlib.figure.Figure
        Two panels; the kept (best) epoch is marked.
    """
    needed = {"epoch", "train_loss", "validation_loss", "validation_auc"}
    if not needed <= set(history.columns):
        raise InputError(f"history needs columns {sorted(needed)}; has {list(history.columns)}.")
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    ax0, ax1 = fig.subplots(1, 2)
    ax0.plot(history["epoch"], history["train_loss"], marker="o", label="train")
    ax0.plot(history["epoch"], history["validation_loss"], marker="o", label="validation")
    ax0.set_xlabel("epoch")
    ax0.set_ylabel("cross-entropy")
    ax0.legend(frameon=False)
    ax1.plot(history["epoch"], history["validation_auc"], marker="o", color="C2")
    ax1.set_ylim(0, 1.02)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("validation AUC")
    if "improved" in history.columns and history["improved"].any():
        best = history.loc[history["improved"].to_numpy().nonzero()[0][-1]]
        ax1.axvline(best["epoch"], color="grey", linestyle="--", linewidth=1)
        ax1.annotate(f"kept: epoch {int(best['epoch'])}", (best["epoch"], 0.05), fontsize=8)
    return fig


def heat_in_mask_summary(table: pd.DataFrame) -> Figure:
    """Share of Grad-CAM heat inside the lesion versus the share of the crop the lesion covers.

    Parameters
    ----------
    table
        ``GradCamResult.table`` (columns ``heat_in_mask``, ``mask_fraction``, ``label``).

    Returns
    -------
    matplotlib.figure.Figure
        Scatter with the identity line (uniform heat); points above it concentrate on the lesion.
    """
    fig = Figure(figsize=(3.6, 3.4), layout="constrained")
    ax = fig.subplots()
    for value, colour, name in ((0, "C0", "HER2−"), (1, "C3", "HER2+")):
        sub = table[table["label"] == value] if "label" in table.columns else table.iloc[0:0]
        if len(sub):
            ax.scatter(sub["mask_fraction"], sub["heat_in_mask"], s=14, color=colour, label=name)
    if "label" not in table.columns or table["label"].isna().all():
        ax.scatter(table["mask_fraction"], table["heat_in_mask"], s=14, color="grey")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("lesion share of crop")
    ax.set_ylabel("Grad-CAM heat in lesion")
    ax.legend(frameon=False, fontsize=8)
    return fig


def deep(result: Any) -> dict[str, Figure]:
    """The figures of a deep result (to be filled by the stage's own plotting).

    Parameters
    ----------
    result
        The stage's result.

    Returns
    -------
    dict
        Name → figure.
    """
    return {}
