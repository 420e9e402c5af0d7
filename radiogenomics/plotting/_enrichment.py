"""Figures of the enrichment stage: each feature's most enriched terms."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ._style import captioned, short_name

__all__ = ["plot_enrichment", "enrichment"]


def plot_enrichment(enrichment: pd.DataFrame, *, feature: str, top: int = 10) -> Figure:
    """Dot plot of a feature's most enriched terms: gene ratio, −log10 q and overlap.

    Parameters
    ----------
    enrichment
        Long table with columns ``feature``, ``term``, ``overlap``, ``set_size`` and
        ``q_value`` (``p_value`` is used when q is absent).
    feature
        Feature whose terms are drawn.
    top
        Number of terms (smallest q).

    Returns
    -------
    matplotlib.figure.Figure
    """
    sub = enrichment[enrichment["feature"].astype(str) == str(feature)]
    qcol = "q_value" if "q_value" in sub else "p_value"
    sub = sub.sort_values(qcol).head(top)
    fig = Figure(figsize=(6.4, 0.9 + 0.32 * max(len(sub), 3)), dpi=100)
    ax = fig.add_subplot()
    if len(sub):
        ratio = sub["overlap"].astype(float) / sub["set_size"].astype(float).clip(lower=1)
        score = -np.log10(sub[qcol].astype(float).clip(lower=1e-300))
        y = np.arange(len(sub))
        sc = ax.scatter(ratio, y, s=20 + 12 * sub["overlap"].astype(float), c=score, cmap="viridis")
        ax.set_yticks(y, [short_name(t, 48) for t in sub["term"]], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("gene ratio (overlap / set size)")
        cb = fig.colorbar(sc, ax=ax)
        cb.set_label(f"−log10 {qcol.replace('_value', '')}", fontsize=8)
        ax.margins(x=0.25, y=0.1)
    else:
        ax.text(0.5, 0.5, "no enriched terms", ha="center", va="center")
        ax.set_axis_off()
    ax.set_title(short_name(feature, 60), fontsize=9)
    fig.tight_layout()
    return fig


def enrichment(result: Any, *, n_features: int = 4) -> dict[str, Figure]:
    """The figures of an enrichment result: dot plots of the most enriched features' terms.

    Parameters
    ----------
    result
        An :class:`~radiogenomics.enrichment.EnrichmentResult`.
    n_features
        How many features (smallest q first).

    Returns
    -------
    dict
        ``dotplot_1`` ... ``dotplot_<n>``.
    """
    table = result.table
    if not len(table):
        return {}
    ranked = table.groupby("feature")["q_value"].min().sort_values(kind="mergesort")
    return {f"dotplot_{k + 1}": captioned(plot_enrichment(table, feature=f), f"Most enriched terms of {f}.")
            for k, f in enumerate(ranked.index[:n_features])}
