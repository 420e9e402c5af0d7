"""Figures of the HTML report that no stage module draws: differential volcano and box plots,
the association count against its null model, enrichment dot plots, the Simpson heatmap and
a cohort summary.

Every function returns a :class:`matplotlib.figure.Figure`; none shows or saves it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = [
    "cohort_figure",
    "volcano_figure",
    "feature_boxplots",
    "association_null_figure",
    "enrichment_dotplot",
    "simpson_heatmap",
]

POSITIVE = "#c0392b"
NEGATIVE = "#2c7fb8"
GREY = "#9e9e9e"


def _short(name: str, width: int = 38) -> str:
    name = str(name)
    for prefix in ("original_",):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name if len(name) <= width else name[: width - 1] + "…"


def cohort_figure(counts: pd.DataFrame) -> Figure:
    """Bar chart of HER2-positive and -negative samples per cohort.

    Parameters
    ----------
    counts
        Rows = cohorts, columns ``positive`` and ``negative`` (sample counts).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(6.0, 1.1 + 0.5 * max(len(counts), 1)), dpi=100)
    ax = fig.add_subplot()
    y = np.arange(len(counts))
    pos = counts["positive"].to_numpy(dtype=float)
    neg = counts["negative"].to_numpy(dtype=float)
    ax.barh(y, pos, color=POSITIVE, label="HER2-positive")
    ax.barh(y, neg, left=pos, color=NEGATIVE, label="HER2-negative")
    ax.set_yticks(y, [str(c) for c in counts.index])
    ax.invert_yaxis()
    ax.set_xlabel("samples")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def volcano_figure(differential: pd.DataFrame, *, threshold: float = 0.05, label_top: int = 8) -> Figure:
    """Volcano plot of a differential table: log2 fold change against −log10 p.

    Parameters
    ----------
    differential
        Output of :func:`radiogenomics.core.differential` (columns ``log2_fold_change``,
        ``p_value`` and ``selected``).
    threshold
        p-value drawn as a dashed line.
    label_top
        Label this many features with the smallest p.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(6.4, 4.6), dpi=100)
    ax = fig.add_subplot()
    x = differential["log2_fold_change"].astype(float).to_numpy()
    p = differential["p_value"].astype(float).clip(lower=1e-300).to_numpy()
    y = -np.log10(p)
    sel = differential["selected"].astype(bool).to_numpy() if "selected" in differential else p < threshold
    up = sel & (x > 0)
    down = sel & (x <= 0)
    ax.scatter(x[~sel], y[~sel], s=14, color=GREY, label="not selected")
    ax.scatter(x[up], y[up], s=18, color=POSITIVE, label="higher in HER2+")
    ax.scatter(x[down], y[down], s=18, color=NEGATIVE, label="lower in HER2+")
    ax.axhline(-np.log10(threshold), color="k", lw=0.8, ls="--")
    ax.axvline(0, color="k", lw=0.5)
    order = np.argsort(p)[:label_top]
    for i in order:
        ax.annotate(_short(differential.index[i], 28), (x[i], y[i]), fontsize=6, xytext=(3, 2),
                    textcoords="offset points")
    ax.set_xlabel("log2 fold change (HER2+ / HER2−)")
    ax.set_ylabel("−log10 p (Wilcoxon rank-sum)")
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    fig.tight_layout()
    return fig


def feature_boxplots(
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
        ax.set_title(_short(col, 34), fontsize=8)
        ax.tick_params(labelsize=7)
    if not columns:
        fig.add_subplot().text(0.5, 0.5, "no selected features", ha="center", va="center")
    fig.tight_layout()
    return fig


def association_null_figure(null_summary: pd.DataFrame, *, top: int = 40) -> Figure:
    """Genes selected per feature by the association rule, against the null model.

    Bars: observed HER2-positive-specific genes per feature. Solid line: the analytic binomial
    expectation (the same for every feature), dashed: its upper 99 % bound; diamonds: each
    feature's permutation-null 95th percentile. Red bars exceed the null.

    Parameters
    ----------
    null_summary
        One row per feature (index = feature) with ``observed`` and any of
        ``expected_binomial``, ``binomial_high99``, ``permutation_mean``, ``permutation_q95``
        (the association engine's ``null_summary``).
    top
        Draw the features with the most observed genes, at most this many.

    Returns
    -------
    matplotlib.figure.Figure
    """
    ns = null_summary.sort_values("observed", ascending=False).head(top)
    fig = Figure(figsize=(7.2, 1.0 + 0.2 * max(len(ns), 4)), dpi=100)
    ax = fig.add_subplot()
    y = np.arange(len(ns))
    obs = ns["observed"].astype(float).to_numpy()
    bound = None
    if "permutation_q95" in ns and ns["permutation_q95"].notna().any():
        bound = ns["permutation_q95"].astype(float).to_numpy()
    elif "binomial_high99" in ns:
        bound = ns["binomial_high99"].astype(float).to_numpy()
    above = obs > bound if bound is not None else np.zeros(len(obs), dtype=bool)
    ax.barh(y, obs, color=np.where(above, POSITIVE, GREY), label="observed")
    if "expected_binomial" in ns and len(ns):
        exp = float(ns["expected_binomial"].astype(float).mean())
        ax.axvline(exp, color="k", lw=1.2, label=f"null model (binomial): expected {exp:.1f}")
    if "binomial_high99" in ns and len(ns):
        hi = float(ns["binomial_high99"].astype(float).mean())
        ax.axvline(hi, color="k", lw=1.0, ls="--", label=f"binomial null: upper 99 % bound {hi:.0f}")
    if "permutation_q95" in ns and ns["permutation_q95"].notna().any():
        ax.scatter(ns["permutation_q95"].astype(float), y, marker="D", s=16, color="#ff8f00", zorder=3,
                   label="permutation null: 95th percentile")
    ax.set_yticks(y, [_short(n, 40) for n in ns.index], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("HER2-positive-specific genes per feature")
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    fig.tight_layout()
    return fig


def enrichment_dotplot(enrichment: pd.DataFrame, *, feature: str, top: int = 10) -> Figure:
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
        ax.set_yticks(y, [_short(t, 48) for t in sub["term"]], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("gene ratio (overlap / set size)")
        cb = fig.colorbar(sc, ax=ax)
        cb.set_label(f"−log10 {qcol.replace('_value', '')}", fontsize=8)
        ax.margins(x=0.25, y=0.1)
    else:
        ax.text(0.5, 0.5, "no enriched terms", ha="center", va="center")
        ax.set_axis_off()
    ax.set_title(_short(feature, 60), fontsize=9)
    fig.tight_layout()
    return fig


def simpson_heatmap(similarity: pd.DataFrame) -> Figure:
    """Heatmap of the Simpson index between features' enriched-term sets.

    Parameters
    ----------
    similarity
        Square feature × feature matrix with values in [0, 1].

    Returns
    -------
    matplotlib.figure.Figure
    """
    n = similarity.shape[0]
    side = min(3.0 + 0.28 * n, 11.0)
    fig = Figure(figsize=(side + 1.2, side), dpi=100)
    ax = fig.add_subplot()
    im = ax.imshow(similarity.to_numpy(dtype=float), vmin=0, vmax=1, cmap="magma_r")
    labels = [_short(c, 30) for c in similarity.columns]
    fs = 7 if n <= 25 else 5
    ax.set_xticks(range(similarity.shape[1]), labels, rotation=90, fontsize=fs)
    ax.set_yticks(range(n), [_short(c, 30) for c in similarity.index], fontsize=fs)
    cb = fig.colorbar(im, ax=ax, fraction=0.046)
    cb.set_label("Simpson index", fontsize=8)
    fig.tight_layout()
    return fig
