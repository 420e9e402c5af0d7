"""Figures of the differential stage: volcano plot and box plots of the top features."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ._style import GREY, NEGATIVE, POSITIVE, captioned, logs_warnings, short_name

__all__ = ["plot_volcano", "plot_feature_boxplots", "differential"]


def plot_volcano(differential: pd.DataFrame, *, threshold: float = 0.05, select_by: str = "p",
                 label_top: int = 8) -> Figure:
    """Volcano plot of a differential table: log2 fold change against −log10 p.

    The top features' labels are placed by adjustText (no two overlap, none on a point, a thin
    line to its point where moved); the legend sits outside the axes, on the right, and names
    the selection rule (threshold and correction).

    Parameters
    ----------
    differential
        Output of :func:`radiogenomics.core.differential` (columns ``log2_fold_change``,
        ``p_value``, ``selected`` and, with ``select_by="q"``, ``q_value``).
    threshold
        Selection threshold of ``select_by``.
    select_by
        ``"p"`` (raw p, no correction: the paper's rule) or ``"q"`` (Benjamini–Hochberg q); the
        dashed line marks the p at which the rule selects.
    label_top
        Label this many features with the smallest p.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from adjustText import adjust_text

    fig = Figure(figsize=(7.8, 4.6), dpi=100)
    ax = fig.add_subplot()
    x = differential["log2_fold_change"].astype(float).to_numpy()
    p = differential["p_value"].astype(float).clip(lower=1e-300).to_numpy()
    y = -np.log10(p)
    sel = differential["selected"].astype(bool).to_numpy() if "selected" in differential else p < threshold
    up = sel & (x > 0)
    down = sel & (x <= 0)
    rule = (f"p < {threshold:g}, no correction" if select_by == "p"
            else f"BH q < {threshold:g} (Benjamini–Hochberg)")
    ax.scatter(x[~sel], y[~sel], s=14, color=GREY, label=f"not selected ({int((~sel).sum())})")
    ax.scatter(x[up], y[up], s=18, color=POSITIVE, label=f"higher in HER2+ ({int(up.sum())})")
    ax.scatter(x[down], y[down], s=18, color=NEGATIVE, label=f"lower in HER2+ ({int(down.sum())})")
    # the p at which the rule selects: the threshold itself for p, the largest selected p for BH q
    cut = threshold if select_by == "p" or not sel.any() else float(p[sel].max())
    ax.axhline(-np.log10(cut), color="k", lw=0.8, ls="--",
               label=f"selection: {rule}" + ("" if select_by == "p" else f"; here p ≤ {cut:.2g}"))
    ax.axvline(0, color="k", lw=0.5)
    ax.set_xlabel("log2 fold change (HER2+ / HER2−)")
    ax.set_ylabel("−log10 p (Wilcoxon rank-sum)")
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    finite = np.isfinite(x) & np.isfinite(y)
    order = [i for i in np.argsort(p, kind="mergesort") if finite[i]][:label_top]
    if order:  # room above the top points for their labels, before the layout is fixed
        top = float(np.nanmax(y[finite]))
        ax.set_ylim(top=top * 1.12 + 0.3)
    fig.tight_layout()
    texts = [ax.text(x[i], y[i], short_name(differential.index[i], 28), fontsize=6.5) for i in order]
    if texts:
        # iter_lim, not the default 1 s time limit: the same labels on any machine (its random shifts are seeded)
        adjust_text(texts, x=x[finite], y=y[finite], ax=ax, expand=(1.1, 1.3), ensure_inside_axes=True, iter_lim=1000,
                    arrowprops={"arrowstyle": "-", "color": "0.35", "lw": 0.5})
    return fig


def plot_feature_boxplots(
    features: pd.DataFrame,
    labels: pd.Series,
    *,
    columns: Sequence[str],
    ncols: int = 3,
) -> Figure:
    """Box plots (with points) of selected features by HER2 class.

    Parameters
    ----------
    features
        Rows = samples, columns = features.
    labels
        1/0 labels on the same index.
    columns
        Features to draw (at most 12 are drawn).
    ncols
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure
    """
    columns = [c for c in columns if c in features.columns][:12]
    n = max(len(columns), 1)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig = Figure(figsize=(3.0 * ncols, 2.6 * nrows), dpi=100)
    common = features.index.intersection(labels.index)
    feats = features.loc[common]
    lab = labels.loc[common].astype(int)
    rng = np.random.default_rng(0)
    for k, col in enumerate(columns):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        groups = [feats.loc[lab == 1, col].dropna().to_numpy(), feats.loc[lab == 0, col].dropna().to_numpy()]
        bp = ax.boxplot(groups, widths=0.55, showfliers=False, patch_artist=True)
        for patch, color in zip(bp["boxes"], (POSITIVE, NEGATIVE)):
            patch.set_facecolor(color)
            patch.set_alpha(0.35)
        for j, g in enumerate(groups):
            ax.scatter(j + 1 + rng.uniform(-0.12, 0.12, len(g)), g, s=6, color=(POSITIVE, NEGATIVE)[j])
        ax.set_xticks([1, 2], ["HER2+", "HER2−"])
        ax.set_title(short_name(col, 34), fontsize=8)
        ax.tick_params(labelsize=7)
    if not columns:
        fig.add_subplot().text(0.5, 0.5, "no selected features", ha="center", va="center")
    fig.tight_layout()
    return fig


@logs_warnings
def differential(result: Any) -> dict[str, Figure]:
    """The figures of a differential result: volcano plot and box plots of the top features.

    Parameters
    ----------
    result
        A :class:`~radiogenomics.differential.DifferentialResult`.

    Returns
    -------
    dict
        ``volcano`` and, when the result holds feature values, ``boxplots``.
    """
    table = result.table
    threshold = float(result.parameters.get("threshold", 0.05))
    by = result.parameters.get("select_by", "p")
    label_top = 8
    n_sel = int(table["selected"].astype(bool).sum()) if "selected" in table else int((table["p_value"] < threshold).sum())
    figs = {"volcano": captioned(
        plot_volcano(table, threshold=threshold, select_by=by, label_top=label_top),
        f"Volcano plot of {len(table)} features: log2 fold change (mean HER2+ / mean HER2−) against −log10 p "
        f"(two-sided Wilcoxon rank-sum). Coloured: the {n_sel} selected, "
        + (f"p < {threshold:g} without multiple-testing correction (the paper's rule; BH q in the table)"
           if by == "p" else f"Benjamini–Hochberg q < {threshold:g}")
        + f"; dashed line: where the rule selects; labelled: the {min(label_top, len(table))} smallest p.")}
    values = result.top_values
    if values is not None and len(values):
        wide = values.pivot(index="sample", columns="feature", values="value")
        labels = values.drop_duplicates("sample").set_index("sample")["label"]
        order = list(dict.fromkeys(values["feature"]))
        selected = set(result.selected)
        top = [c for c in order if c in selected][:6] or order[:6]
        figs["boxplots"] = captioned(plot_feature_boxplots(wide, labels, columns=top),
                                     "Most significant features by HER2 class (box: quartiles; points: patients).")
    return figs
