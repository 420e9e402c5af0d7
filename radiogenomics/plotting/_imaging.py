"""Figures of the imaging stage: extraction summary, feature correlation, a case with its mask
outline, and per-feature ICC with CIs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ._style import GREY, NEGATIVE, POSITIVE, captioned, short_name

__all__ = ["plot_case", "plot_icc", "plot_extraction_summary", "plot_feature_correlation", "extraction"]


def plot_case(image: np.ndarray, mask: np.ndarray, *, title: str | None = None) -> Figure:
    """Show a 2D image in gray with its lesion mask outlined.

    Parameters
    ----------
    image
        2D array (a single-slice 3D array is squeezed).
    mask
        0/1 array of the same shape.
    title
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    image, mask = np.squeeze(np.asarray(image)), np.squeeze(np.asarray(mask))
    fig = Figure(figsize=(4, 4))
    ax = fig.add_subplot()
    ax.imshow(image, cmap="gray")
    ax.contour(mask.astype(float), levels=[0.5], colors="tab:red", linewidths=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


def plot_icc(icc_table: pd.DataFrame, *, kind: str = "agreement", threshold: float = 0.9, top: int = 40) -> Figure:
    """Dot plot of ICC with 95% CI per feature, sorted, with the stability threshold.

    Parameters
    ----------
    icc_table
        Output of :func:`radiogenomics.imaging.stability.icc_table`.
    kind
        ``"agreement"`` or ``"consistency"``.
    threshold
        Vertical line (the ICC ≥ 0.9 rule).
    top
        Show at most this many features (the lowest ICCs first, where stability is at stake).

    Returns
    -------
    matplotlib.figure.Figure
    """
    col = f"icc_{kind}"
    data = icc_table.dropna(subset=[col]).sort_values(col).head(top)
    fig = Figure(figsize=(6, max(2.5, 0.18 * len(data) + 1)))
    ax = fig.add_subplot()
    y = np.arange(len(data))
    ax.errorbar(data[col], y, xerr=[data[col] - data[f"{col}_low"], data[f"{col}_high"] - data[col]],
                fmt="o", ms=3, color="tab:blue", ecolor="0.6", lw=1)
    ax.axvline(threshold, color="tab:red", ls="--", lw=1)
    ax.set_yticks(y, [str(i).replace("original_", "") for i in data.index], fontsize=6)
    ax.set_xlabel(f"ICC ({kind}, single rater) with 95% CI")
    ax.set_xlim(min(-0.1, float(data[f"{col}_low"].min()) if len(data) else 0), 1.02)
    fig.tight_layout()
    return fig


def plot_extraction_summary(patients: pd.DataFrame, dropped: pd.DataFrame) -> Figure:
    """Images extracted and failed (by failure kind), and images per patient.

    Parameters
    ----------
    patients
        ``ExtractionResult.patients`` (``n_images``, ``n_extracted``, ``n_failed``).
    dropped
        ``ExtractionResult.dropped`` (``kind``, ``failure``).

    Returns
    -------
    matplotlib.figure.Figure
        Two panels: bars of extracted images and of each failure kind; histogram of extracted
        images per patient.
    """
    cases = dropped[dropped["kind"] == "case"] if len(dropped) else dropped
    counts = {"extracted": int(patients["n_extracted"].sum())}
    if len(cases):
        counts.update(cases["failure"].astype(str).value_counts().sort_index().to_dict())
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    ax0, ax1 = fig.subplots(1, 2)
    names = list(counts)
    ax0.barh(names, [counts[n] for n in names], color=[NEGATIVE] + [POSITIVE] * (len(names) - 1))
    for i, n in enumerate(names):
        ax0.annotate(str(counts[n]), (counts[n], i), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax0.invert_yaxis()
    ax0.set_xlabel("images")
    per = patients["n_extracted"].astype(int).value_counts().sort_index()
    ax1.bar(per.index, per.to_numpy(), width=0.8, color=GREY)
    ax1.set_xticks(range(0, int(per.index.max()) + 1 if len(per) else 1))
    ax1.set_xlabel("extracted images per patient")
    ax1.set_ylabel("patients")
    return fig


def plot_feature_correlation(features: pd.DataFrame, *, max_features: int = 120) -> Figure:
    """Spearman correlation between features across patients, features ordered by clustering.

    Parameters
    ----------
    features
        Rows = patients, columns = features (constant columns are left out).
    max_features
        Draw at most this many (the first ones, in table order).

    Returns
    -------
    matplotlib.figure.Figure
        A heat map of rho in [-1, 1]; blocks along the diagonal are groups of redundant features.
    """
    from scipy.cluster import hierarchy
    from scipy.spatial.distance import squareform

    data = features.loc[:, features.nunique(dropna=True) > 1].iloc[:, :max_features]
    rho = data.rank().corr().fillna(0.0).to_numpy() if data.shape[1] else np.zeros((0, 0))
    order = np.arange(len(rho))
    if len(rho) > 2:
        dist = squareform(np.clip(1.0 - np.abs(rho), 0.0, None), checks=False)
        order = hierarchy.leaves_list(hierarchy.linkage(dist, method="average"))
    side = min(9.0, 2.5 + 0.06 * len(rho))
    fig = Figure(figsize=(side + 1.0, side), layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(rho[np.ix_(order, order)], cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    names = [short_name(c, 30) for c in data.columns[order]]
    if len(names) <= 40:
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=5)
        ax.set_yticks(range(len(names)), names, fontsize=5)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"{len(names)} features (clustered)")
    fig.colorbar(im, ax=ax, shrink=0.7, label="Spearman rho")
    return fig


def extraction(result: Any) -> dict[str, Figure]:
    """The figures of an imaging result, drawn from its tables.

    Parameters
    ----------
    result
        An :class:`~radiogenomics.imaging.ExtractionResult`.

    Returns
    -------
    dict
        ``images`` (extracted and failed images, images per patient; only for an extraction,
        not for a table read as given) and ``feature_correlation`` (when there are at least
        two varying features and three patients).
    """
    figs: dict[str, Figure] = {}
    if result.patients is not None:
        n_failed = int((result.dropped["kind"] == "case").sum()) if len(result.dropped) else 0
        figs["images"] = captioned(
            plot_extraction_summary(result.patients, result.dropped),
            f"Images extracted ({int(result.patients['n_extracted'].sum())}) and failed ({n_failed}, by reason), "
            "and extracted images per patient.")
    feats = result.features
    if len(feats) >= 3 and (feats.nunique(dropna=True) > 1).sum() >= 2:
        figs["feature_correlation"] = captioned(
            plot_feature_correlation(feats),
            "Spearman correlation between radiomic features across patients (ordered by average-linkage "
            "clustering of 1 - |rho|); blocks are groups of redundant features.")
    return figs
