"""Figures of the imaging stage: a case with its mask outline, and per-feature ICC with CIs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["plot_case", "plot_icc"]


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


def extraction(result: Any) -> dict[str, Figure]:
    """The figures of a extraction result (to be filled by the stage's own plotting).

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
