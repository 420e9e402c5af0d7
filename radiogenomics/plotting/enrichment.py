"""Figures of the enrichment stage: top terms per feature and the feature similarity heatmap."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .._validation import InputError, check_int

__all__ = ["plot_enrichment", "plot_similarity"]


def plot_enrichment(
    enrichment: pd.DataFrame,
    *,
    top: int = 5,
    features: list[str] | None = None,
    column: str = "q_value",
    max_label: int = 60,
) -> Figure:
    """Dot plot of each feature's top terms: colour = −log10 q, size = overlap.

    Parameters
    ----------
    enrichment
        Enrichment table (columns ``feature``, ``term``, ``overlap``, ``p_value`` and ``column``).
    top
        Terms per feature (smallest p first).
    features
        Features to show (default: all, in table order, at most 20).
    column
        Value coloured (``"q_value"`` or ``"p_value"``).
    max_label
        Term names are cut to this many characters.

    Returns
    -------
    matplotlib.figure.Figure
    """
    top = check_int(top, "top", owner="plot_enrichment", min_value=1)
    missing = [c for c in ("feature", "term", "overlap", "p_value", column) if c not in enrichment.columns]
    if missing:
        raise InputError(f"enrichment table: missing column(s) {missing}.")
    feats = features if features is not None else list(dict.fromkeys(enrichment["feature"].astype(str)))[:20]
    sub = enrichment[enrichment["feature"].astype(str).isin(feats)]
    sub = sub.sort_values(["feature", "p_value"], kind="mergesort").groupby("feature").head(top)
    terms = list(dict.fromkeys(sub["term"].astype(str)))
    fig = Figure(figsize=(max(5.0, 0.45 * len(feats) + 4), max(3.0, 0.28 * len(terms) + 1.5)))
    ax = fig.add_subplot()
    if sub.empty:
        ax.text(0.5, 0.5, "no enriched terms", ha="center", va="center")
        ax.set_axis_off()
        return fig
    x = sub["feature"].astype(str).map({f: i for i, f in enumerate(feats)})
    y = sub["term"].astype(str).map({t: i for i, t in enumerate(terms)})
    c = -np.log10(np.clip(sub[column].astype(float), 1e-300, 1))
    sc = ax.scatter(x, y, s=20 + 12 * np.sqrt(sub["overlap"].astype(float)), c=c, cmap="viridis")
    fig.colorbar(sc, ax=ax, label=f"-log10 {column.replace('_value', '')}")
    ax.set_xticks(range(len(feats)), feats, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(terms)), [t if len(t) <= max_label else t[: max_label - 1] + "…" for t in terms], fontsize=7)
    ax.invert_yaxis()
    ax.set_title(f"Top {top} enriched terms per feature")
    fig.tight_layout()
    return fig


def plot_similarity(matrix: pd.DataFrame, *, title: str = "Simpson index of significant terms") -> Figure:
    """Heatmap of a feature × feature similarity matrix (NaN shown blank).

    Parameters
    ----------
    matrix
        Output of :func:`~radiogenomics.enrichment.similarity_matrix`.
    title
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    n = matrix.shape[0]
    fig = Figure(figsize=(max(4.0, 0.3 * n + 3), max(3.5, 0.3 * n + 2)))
    ax = fig.add_subplot()
    im = ax.imshow(np.ma.masked_invalid(matrix.to_numpy(dtype=float)), vmin=0, vmax=1, cmap="magma_r")
    fig.colorbar(im, ax=ax)
    ax.set_xticks(range(n), matrix.columns, rotation=90, fontsize=6)
    ax.set_yticks(range(n), matrix.index, fontsize=6)
    ax.set_title(title)
    fig.tight_layout()
    return fig
