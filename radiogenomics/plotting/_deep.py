"""Figures of the deep path: training curves, predictions, heat-in-mask summary, Grad-CAM overlays.

Every function returns a matplotlib Figure (or, for the result folder's per-case overlays, PNG
bytes); none shows a figure or writes a file. ``deep(result)`` draws only from the result's
tables and stored Grad-CAM arrays, so a result read back from disk draws the same figures.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .._validation import InputError
from ._style import GREY, NEGATIVE, POSITIVE, captioned

__all__ = ["gradcam_overlay", "gradcam_grid", "training_history", "heat_in_mask_summary", "plot_predictions",
           "gradcam_overlay_pngs", "deep"]


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
        ``DeepResult.history`` (columns ``epoch``, ``train_loss``, ``validation_loss``,
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
        ``DeepResult.gradcam`` (columns ``heat_in_mask``, ``mask_fraction``, ``label``).

    Returns
    -------
    matplotlib.figure.Figure
        Scatter with the identity line (uniform heat); points above it concentrate on the lesion.
    """
    fig = Figure(figsize=(3.6, 3.4), layout="constrained")
    ax = fig.subplots()
    for value, colour, name in ((0, NEGATIVE, "HER2−"), (1, POSITIVE, "HER2+")):
        sub = table[table["label"].eq(value).fillna(False).astype(bool)] if "label" in table.columns else table.iloc[0:0]
        if len(sub):
            ax.scatter(sub["mask_fraction"], sub["heat_in_mask"], s=14, color=colour, label=name)
    if "label" not in table.columns or table["label"].isna().all():
        ax.scatter(table["mask_fraction"], table["heat_in_mask"], s=14, color=GREY)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("lesion share of crop")
    ax.set_ylabel("Grad-CAM heat in lesion")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False, fontsize=8)
    return fig


def plot_predictions(predictions: pd.DataFrame) -> Figure:
    """Patient-level HER2-positive probability by split and true label.

    Parameters
    ----------
    predictions
        ``DeepResult.predictions`` (``probability``, ``label``, optional ``split``).

    Returns
    -------
    matplotlib.figure.Figure
        One column of points per split (or one for all patients), coloured by label, with the
        0.5 threshold.
    """
    table = predictions[predictions["label"].notna()] if "label" in predictions.columns else predictions.iloc[0:0]
    splits = [s for s in ("train", "validation", "test") if "split" in table.columns and (table["split"] == s).any()]
    groups = [(s, table[table["split"] == s]) for s in splits] or [("all", table)]
    fig = Figure(figsize=(1.4 + 1.3 * len(groups), 3.2), layout="constrained")
    ax = fig.subplots()
    rng = np.random.default_rng(0)
    for i, (_name, sub) in enumerate(groups):
        for value, colour, offset in ((1, POSITIVE, -0.15), (0, NEGATIVE, 0.15)):
            part = sub[sub["label"].astype(float) == value]
            x = i + offset + rng.uniform(-0.08, 0.08, len(part))
            ax.scatter(x, part["probability"], s=14, color=colour, label=("HER2+" if value else "HER2−") if i == 0 else None)
    if not len(table):
        ax.text(0.5, 0.5, "no labelled patient", ha="center", va="center", transform=ax.transAxes)
    ax.axhline(0.5, color=GREY, linestyle="--", linewidth=1)
    ax.set_xticks(range(len(groups)), [g[0] for g in groups])
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("predicted P(HER2+)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False, fontsize=8)
    return fig


def _overlay_title(row: pd.Series, case_id: Any) -> str:
    return f"{case_id}: p={row['probability']:.2f}, heat in mask {row['heat_in_mask']:.2f}"


def _maps(result: Any) -> tuple[dict[str, int], Any]:
    maps = result.gradcam_maps
    index = {str(c): i for i, c in enumerate(np.asarray(maps["case_id"]).astype(str))}
    return index, maps


def gradcam_overlay_pngs(result: Any, *, alpha: float = 0.45, dpi: int = 100) -> dict[str, bytes]:
    """One PNG overlay per Grad-CAM case (crop, heat map, mask outline), as bytes.

    What a deep result folder holds under ``gradcam/``; drawn from the result's ``gradcam``
    table and stored maps.

    Parameters
    ----------
    result
        A :class:`~radiogenomics.deep.DeepResult` with ``gradcam`` and ``gradcam_maps``.
    alpha
        Opacity of the heat map.
    dpi
        Resolution of the PNGs.

    Returns
    -------
    dict
        The table's ``overlay`` path (``gradcam/<case_id>.png``) → PNG content.
    """
    import io

    if result.gradcam is None or result.gradcam_maps is None:
        return {}
    index, maps = _maps(result)
    out = {}
    for case_id, row in result.gradcam.iterrows():
        i = index[str(case_id)]
        fig = gradcam_overlay(maps["images"][i], maps["cams"][i], mask=maps["masks"][i], alpha=alpha,
                              title=_overlay_title(row, case_id))
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        out[str(row["overlay"])] = buf.getvalue()
    return out


def deep(result: Any, *, n_examples: int = 6) -> dict[str, Figure]:
    """The figures of a deep result: training history, predictions, heat in the lesion, Grad-CAM examples.

    Parameters
    ----------
    result
        A :class:`~radiogenomics.deep.DeepResult`.
    n_examples
        Grad-CAM overlays in the examples grid (the most confident HER2-positive and -negative
        predictions, half each).

    Returns
    -------
    dict
        ``training_history`` (when the result trained a model), ``predictions``, and with
        Grad-CAM ``gradcam_heat`` and ``gradcam_examples``.
    """
    figs: dict[str, Figure] = {}
    if result.history is not None and len(result.history):
        best = result.parameters.get("best_epoch")
        figs["training_history"] = captioned(
            training_history(result.history),
            "Training and validation cross-entropy, and validation AUC, per epoch"
            + (f"; the weights of epoch {best} (best validation AUC) were kept." if best else "."))
    figs["predictions"] = captioned(
        plot_predictions(result.predictions),
        "Predicted probability of HER2 positivity per patient (mean over the patient's images), by split and "
        "true label; dashed: 0.5.")
    cam = result.gradcam
    if cam is not None and len(cam):
        uniform = float(cam["mask_fraction"].median())
        figs["gradcam_heat"] = captioned(
            heat_in_mask_summary(cam),
            "Share of Grad-CAM heat (HER2-positive evidence) inside the lesion against the lesion's share of the "
            f"crop (median {uniform:.2f}); points above the dashed line concentrate the evidence on the lesion.")
        if result.gradcam_maps is not None:
            index, maps = _maps(result)
            ranked = cam.sort_values("probability", kind="mergesort")
            k = max(1, n_examples // 2)
            picks = list(dict.fromkeys([*ranked.index[::-1][:k], *ranked.index[:k]]))
            pos = [index[str(c)] for c in picks]
            titles = [f"{c}: p={cam.at[c, 'probability']:.2f}" for c in picks]
            figs["gradcam_examples"] = captioned(
                gradcam_grid(maps["images"][pos], maps["cams"][pos], masks=maps["masks"][pos], titles=titles,
                             ncols=min(len(pos), 6)),
                "Grad-CAM heat maps (HER2-positive evidence, layer "
                f"{result.parameters.get('gradcam_layer') or 'layer4'}) of the most confident positive and "
                "negative crops; white: lesion outline.")
    return figs
