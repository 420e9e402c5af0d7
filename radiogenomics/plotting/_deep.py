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
           "gradcam_overlay_pngs", "deep", "plot_comparison", "plot_comparison_history", "deep_comparison",
           "plot_icc", "plot_fold_auc", "deep_features"]


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
                f"{result.parameters.get('gradcam_layer_used') or result.parameters.get('gradcam_layer') or 'layer4'})"
                " of the most confident positive and negative crops"
                + ("; volumes cut at their largest lesion slice" if "slice" in maps else "")
                + "; white: lesion outline.")
    return figs


# ------------------------------------------------------------------------------------------------
# backbone comparison (rg.deep.compare) and cross-fitted deep features (rg.deep.cross_fit)
# ------------------------------------------------------------------------------------------------
def plot_comparison(comparison: pd.DataFrame) -> Figure:
    """Validation and test AUC (DeLong 95 % CI) of every backbone × learning rate × weight decay.

    Parameters
    ----------
    comparison
        ``DeepComparisonResult.comparison``.

    Returns
    -------
    matplotlib.figure.Figure
        One row per setting, best validation AUC on top; the chosen setting in bold.
    """
    needed = {"setting", "validation_auc", "test_auc", "chosen"}
    if not needed <= set(comparison.columns):
        raise InputError(f"comparison needs columns {sorted(needed)}; has {list(comparison.columns)}.")
    table = comparison.sort_values(["validation_auc", "validation_loss"], ascending=[True, False], kind="mergesort")
    n = len(table)
    fig = Figure(figsize=(6.4, 0.9 + 0.32 * n), layout="constrained")
    ax = fig.subplots()
    y = np.arange(n)
    for offset, split, colour in ((0.15, "validation", "C0"), (-0.15, "test", "C1")):
        mid = table[f"{split}_auc"].to_numpy(float)
        lo = table.get(f"{split}_auc_low", pd.Series(mid)).to_numpy(float)
        hi = table.get(f"{split}_auc_high", pd.Series(mid)).to_numpy(float)
        err = np.vstack([np.clip(mid - lo, 0, None), np.clip(hi - mid, 0, None)])
        ax.errorbar(mid, y + offset, xerr=np.nan_to_num(err), fmt="o", color=colour, ms=4, capsize=2, label=split)
    ax.axvline(0.5, color=GREY, linestyle="--", linewidth=1)
    ax.set_yticks(y, table["setting"].astype(str).tolist(), fontsize=7)
    for label, chosen in zip(ax.get_yticklabels(), table["chosen"].astype(bool)):
        if chosen:
            label.set_fontweight("bold")
    ax.set_xlim(0, 1.02)
    ax.set_xlabel("patient-level AUC (95 % CI)")
    ax.legend(frameon=False, fontsize=8, loc="lower left")
    return fig


def plot_comparison_history(history: pd.DataFrame) -> Figure:
    """Training loss and validation AUC per epoch of every setting.

    Parameters
    ----------
    history
        ``DeepComparisonResult.history`` (``setting``, ``epoch``, ``train_loss``, ``validation_auc``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    ax0, ax1 = fig.subplots(1, 2)
    for i, (setting, sub) in enumerate(history.groupby("setting", sort=False)):
        colour = f"C{i % 10}"
        ax0.plot(sub["epoch"], sub["train_loss"], color=colour, linewidth=1, label=str(setting))
        ax1.plot(sub["epoch"], sub["validation_auc"], color=colour, linewidth=1)
    ax0.set_xlabel("epoch")
    ax0.set_ylabel("training cross-entropy")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("validation AUC")
    ax1.set_ylim(0, 1.02)
    if history["setting"].nunique() <= 12:
        ax0.legend(frameon=False, fontsize=6)
    return fig


def deep_comparison(result: Any) -> dict[str, Figure]:
    """The figures of a backbone comparison: AUC with CI per setting, and the training curves.

    Parameters
    ----------
    result
        A :class:`~radiogenomics.deep.DeepComparisonResult`.

    Returns
    -------
    dict
        ``comparison`` and (with a history) ``comparison_history``.
    """
    chosen = result.parameters.get("chosen")
    figs = {"comparison": captioned(
        plot_comparison(result.comparison),
        "Patient-level validation and test AUC (DeLong 95 % CI) of every backbone × learning rate × weight decay "
        "on one fixed patient-wise split" + (f"; bold: the chosen model ({chosen}), chosen by validation AUC, "
                                             "never by test AUC." if chosen else "."))}
    if result.history is not None and len(result.history):
        figs["comparison_history"] = captioned(
            plot_comparison_history(result.history),
            "Training loss and validation AUC per epoch of every setting (early stopping on validation AUC).")
    return figs


def plot_icc(icc: pd.DataFrame, *, threshold: float = 0.9, kind: str = "agreement") -> Figure:
    """Distribution of the deep features' ICC across perturbations, with the threshold.

    Parameters
    ----------
    icc
        ``DeepFeaturesResult.icc``.
    threshold
        The filter's threshold.
    kind
        The ICC column used (``icc_<kind>``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    column = f"icc_{kind}" if f"icc_{kind}" in icc.columns else next(c for c in icc.columns if c.startswith("icc_"))
    values = icc[column].dropna().clip(-1, 1)
    fig = Figure(figsize=(4.6, 3.2), layout="constrained")
    ax = fig.subplots()
    ax.hist(values, bins=np.linspace(min(-0.2, float(values.min()) if len(values) else 0), 1, 41), color=GREY)
    ax.axvline(threshold, color=POSITIVE, linestyle="--", linewidth=1.2)
    kept = int((values >= threshold).sum())
    ax.annotate(f"{kept} of {len(icc)} kept", (threshold, ax.get_ylim()[1] * 0.9), fontsize=8, ha="right")
    ax.set_xlabel(f"ICC across perturbations ({column.removeprefix('icc_')})")
    ax.set_ylabel("deep features")
    return fig


def plot_fold_auc(fold_metrics: pd.DataFrame) -> Figure:
    """Each fold network's early-stopping validation AUC and its AUC on the patients it never saw.

    Parameters
    ----------
    fold_metrics
        ``DeepFeaturesResult.fold_metrics``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(4.2, 3.0), layout="constrained")
    ax = fig.subplots()
    x = fold_metrics["fold"].to_numpy()
    ax.bar(x - 0.18, fold_metrics["validation_auc"], width=0.36, color="C0", label="early-stopping validation")
    ax.bar(x + 0.18, fold_metrics["heldout_auc"], width=0.36, color="C1", label="held-out fold")
    ax.axhline(0.5, color=GREY, linestyle="--", linewidth=1)
    ax.set_xticks(x, [str(int(v) + 1) for v in x])
    ax.set_xlabel("fold")
    ax.set_ylabel("patient-level AUC")
    ax.set_ylim(0, 1.05)
    ax.legend(frameon=False, fontsize=7)
    return fig


def deep_features(result: Any) -> dict[str, Figure]:
    """The figures of cross-fitted deep features: the ICC filter and the folds' AUCs.

    Parameters
    ----------
    result
        A :class:`~radiogenomics.deep.DeepFeaturesResult`.

    Returns
    -------
    dict
        ``icc`` (with perturbations) and ``fold_auc``.
    """
    figs: dict[str, Figure] = {}
    params = result.parameters
    if result.icc is not None and len(result.icc):
        thr = float(params.get("icc_threshold", 0.9))
        figs["icc"] = captioned(
            plot_icc(result.icc, threshold=thr, kind=str(params.get("icc_kind", "agreement"))),
            f"ICC of each cross-fitted deep feature across {params.get('n_perturbations', '?')} mask/crop "
            f"perturbations per case; features with ICC ≥ {thr:g} (dashed) enter the models.")
    if result.fold_metrics is not None and len(result.fold_metrics):
        figs["fold_auc"] = captioned(
            plot_fold_auc(result.fold_metrics),
            "Per fold: the network's AUC on its early-stopping validation patients and on the held-out fold's "
            "patients, whom it never saw (their embeddings are the features).")
    return figs
