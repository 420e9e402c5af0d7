"""Figures of the expression stage: label counts against the manifest, series separation on PCA."""

from __future__ import annotations

from typing import Any

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["plot_label_counts", "plot_series_pca"]


def plot_label_counts(counts: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Bar chart of observed against expected label counts per series and class.

    Parameters
    ----------
    counts
        Output of :func:`radiogenomics.expression.check_counts` (one or several series
        concatenated): ``series``, ``status``, ``observed``, ``expected``, ``match``.
    title
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Mismatched classes are hatched and marked ``≠``.
    """
    fig = Figure(figsize=(max(4.0, 1.6 * len(counts)), 3.2))
    ax = fig.add_subplot()
    x = np.arange(len(counts))
    labels = [f"{s}\n{c}" for s, c in zip(counts["series"], counts["status"])]
    ax.bar(x - 0.2, counts["observed"].astype(float), width=0.4, label="observed", color="#4c72b0")
    expected = pd.to_numeric(counts["expected"], errors="coerce").astype(float)
    bars = ax.bar(x + 0.2, expected.fillna(0), width=0.4, label="expected", color="#dd8452")
    for i, (bar, match) in enumerate(zip(bars, counts["match"])):
        if match is False or (not pd.isna(match) and not bool(match)):
            bar.set_hatch("//")
            ax.annotate("≠", (x[i], max(counts["observed"].iloc[i], expected.fillna(0).iloc[i])),
                        ha="center", va="bottom", color="red")
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("samples")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(title or "HER2 labels: observed vs manifest")
    fig.tight_layout()
    return fig


def plot_series_pca(
    stages: Mapping[str, pd.DataFrame],
    series: pd.Series,
    *,
    title: str | None = None,
) -> Figure:
    """First two principal components of each stage (e.g. before/after ComBat), coloured by series.

    Parameters
    ----------
    stages
        Stage name → rows = samples, columns = genes.
    series
        Series of each sample (index = sample id).
    title
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per stage.
    """
    from sklearn.decomposition import PCA

    fig = Figure(figsize=(4.0 * len(stages), 3.6))
    names = sorted(pd.unique(series))
    cmap = {n: f"C{i % 10}" for i, n in enumerate(names)}
    for i, (stage, data) in enumerate(stages.items()):
        ax = fig.add_subplot(1, len(stages), i + 1)
        x = data.to_numpy(dtype=float)
        x = x[:, x.std(axis=0) > 0]
        z = (x - x.mean(axis=0)) / x.std(axis=0)
        pcs = PCA(n_components=2, svd_solver="full").fit(z)
        scores = pcs.transform(z)
        groups = series.reindex(data.index).to_numpy()
        for n in names:
            m = groups == n
            ax.scatter(scores[m, 0], scores[m, 1], s=8, alpha=0.7, color=cmap[n], label=str(n))
        ev = pcs.explained_variance_ratio_ * 100
        ax.set_xlabel(f"PC1 ({ev[0]:.0f}%)")
        ax.set_ylabel(f"PC2 ({ev[1]:.0f}%)")
        ax.set_title(stage)
    fig.axes[0].legend(frameon=False, fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def expression(result: Any) -> dict[str, Figure]:
    """The figures of a expression result (to be filled by the stage's own plotting).

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
