"""Figures of the enrichment stage: each feature's most enriched terms."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ._style import captioned, logs_warnings, short_name

__all__ = ["plot_enrichment", "enrichment", "verdict_text"]


def verdict_text(rows: pd.DataFrame) -> str:
    """A feature's null verdict in words, from rows carrying ``empirical_p``, ``empirical_fdr``, ``beats_null``.

    Parameters
    ----------
    rows
        Rows of one feature (the first row's verdict is used).

    Returns
    -------
    str
        E.g. ``"beats the permutation null (empirical p 0.01, FDR 0.20)"``, ``"does not beat
        the permutation null (empirical p 0.45, FDR 0.93)"``, or ``"no null verdict"`` when the
        columns are missing or empty.
    """
    if not len(rows) or "beats_null" not in rows or pd.isna(rows["beats_null"].iloc[0]):
        return "no null verdict"
    r = rows.iloc[0]
    fdr = r.get("empirical_fdr", np.nan)
    detail = f"empirical p {float(r['empirical_p']):.2g}" + ("" if pd.isna(fdr) else f", FDR {float(fdr):.2g}")
    return f"{'beats' if bool(r['beats_null']) else 'does not beat'} the permutation null ({detail})"


def plot_enrichment(enrichment: pd.DataFrame, *, feature: str, top: int = 10) -> Figure:
    """Dot plot of a feature's most enriched terms: gene ratio, −log10 q and overlap.

    Parameters
    ----------
    enrichment
        Long table with columns ``feature``, ``term``, ``overlap``, ``set_size`` and
        ``q_value`` (``p_value`` is used when q is absent); with the verdict columns
        (``empirical_p``, ``empirical_fdr``, ``beats_null``) the title says whether the
        feature's gene set beats the association's permutation null.
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
    verdict = verdict_text(sub) if "beats_null" in sub else ""
    ax.set_title(short_name(feature, 60) + (f"\ngene set {verdict}" if verdict else ""), fontsize=9,
                 color="k" if not verdict or verdict.startswith("beats") else "#6d6d6d")
    fig.tight_layout()
    return fig


@logs_warnings
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
    out = {}
    for k, f in enumerate(ranked.index[:n_features]):
        verdict = verdict_text(table[table["feature"] == f])
        note = "" if verdict == "no null verdict" else f" Its gene set {verdict}."
        if verdict.startswith("does not"):
            note += " The association rule selects as many genes for it by chance, so these terms may be noise."
        out[f"dotplot_{k + 1}"] = captioned(plot_enrichment(table, feature=f), f"Most enriched terms of {f}.{note}")
    return out
