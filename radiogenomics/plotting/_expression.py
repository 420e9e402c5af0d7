"""Figures of the expression stages: label counts against the manifest, series separation on PCA."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ._style import captioned

__all__ = ["plot_label_counts", "plot_series_pca", "plot_batch_check", "expression"]


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
    from ..expression.merge import pca_scores, standardized

    fig = Figure(figsize=(4.0 * len(stages), 3.6))
    names = sorted(pd.unique(series))
    cmap = {n: f"C{i % 10}" for i, n in enumerate(names)}
    for i, (stage, data) in enumerate(stages.items()):
        ax = fig.add_subplot(1, len(stages), i + 1)
        scores, share = pca_scores(standardized(data), 2)
        if scores.shape[1] < 2:
            scores, share = np.column_stack([scores[:, 0], np.zeros(len(scores))]), np.r_[share[:1], 0.0]
        groups = series.reindex(data.index).to_numpy()
        for n in names:
            m = groups == n
            ax.scatter(scores[m, 0], scores[m, 1], s=8, alpha=0.7, color=cmap[n], label=str(n))
        ev = share * 100
        ax.set_xlabel(f"PC1 ({ev[0]:.0f}%)")
        ax.set_ylabel(f"PC2 ({ev[1]:.0f}%)")
        ax.set_title(stage)
    fig.axes[0].legend(frameon=False, fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_batch_check(batch_check: pd.DataFrame, *, title: str | None = None) -> Figure:
    """How strongly samples separate by series at each merge step (silhouette, variance share).

    Parameters
    ----------
    batch_check
        The ``batch_check`` table of a merged result: ``stage``, ``silhouette``,
        ``variance_fraction``.
    title
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels, one bar per step.
    """
    fig = Figure(figsize=(7.0, 3.0))
    steps = batch_check["stage"].astype(str).tolist()
    x = np.arange(len(steps))
    for i, (col, label) in enumerate((("silhouette", "silhouette of series (PCA)"),
                                      ("variance_fraction", "variance share of series"))):
        ax = fig.add_subplot(1, 2, i + 1)
        values = pd.to_numeric(batch_check[col], errors="coerce").astype(float).to_numpy()
        ax.bar(x, np.nan_to_num(values), color=[f"C{k}" for k in range(len(steps))])
        for k, v in enumerate(values):
            ax.annotate("n/a" if np.isnan(v) else f"{v:.2f}", (x[k], 0 if np.isnan(v) else v), ha="center",
                        va="bottom", fontsize=7)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xticks(x, [s.replace("_", " ") for s in steps], fontsize=8)
        ax.set_ylabel(label, fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _merged_counts(labels: pd.Series, series: pd.Series) -> pd.DataFrame:
    """Observed HER2 classes per series of a merged table, in the layout of ``check_counts``."""
    rows = []
    for name in pd.unique(series.reindex(labels.index)):
        lab = labels[series.reindex(labels.index) == name]
        for status, value in (("positive", 1), ("negative", 0)):
            rows.append({"series": name, "status": status, "observed": int((lab == value).sum()),
                         "expected": pd.NA, "match": pd.NA})
    return pd.DataFrame(rows)


def _can_pca(data: pd.DataFrame) -> bool:
    return data.shape[0] >= 3 and int((data.std(axis=0) > 0).sum()) >= 2


def expression(result: Any) -> dict[str, Figure]:
    """The figures of an expression result: a series (stage ``"series"``) or the merged table.

    Parameters
    ----------
    result
        A :class:`~radiogenomics.expression.SeriesResult` or
        :class:`~radiogenomics.expression.ExpressionResult` (read back from disk or not).

    Returns
    -------
    dict
        A series: ``label_counts`` (observed against the manifest's expected counts). The
        merged table: ``label_counts`` (per series), ``batch_check`` and ``series_pca``
        (when the table has at least two varying genes).
    """
    figs: dict[str, Figure] = {}
    if result.stage == "series":
        if result.counts is not None and len(result.counts):
            expected = result.counts["expected"].notna().any()
            figs["label_counts"] = captioned(
                plot_label_counts(result.counts, title=f"{result.name}: HER2 labels"),
                f"{result.name}: samples labelled HER2-positive, HER2-negative and excluded "
                + ("against the counts its manifest expects (hatched, ≠: a mismatch)." if expected
                   else "(no expected counts to compare with)."))
        return figs
    figs["label_counts"] = captioned(
        plot_label_counts(_merged_counts(result.labels, result.series), title="Merged series: HER2 labels"),
        "HER2-positive and HER2-negative samples of each series in the merged expression table.")
    figs["batch_check"] = captioned(
        plot_batch_check(result.batch_check),
        "Separation of samples by series after concatenation, after per-series max-normalisation"
        + (" and after ComBat" if "combat" in set(result.batch_check["stage"]) else "")
        + ": mean silhouette of the series labels on the first principal components, and the share of "
        "the standardised genes' variance explained by series (lower = less batch effect).")
    if _can_pca(result.expression):
        figs["series_pca"] = captioned(
            plot_series_pca({"merged": result.expression}, result.series),
            "First two principal components of the merged, standardised expression table, coloured by series.")
    return figs
