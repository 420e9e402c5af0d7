"""The report's cohort summary figure (samples per cohort across stages)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ._style import NEGATIVE, POSITIVE, captioned

__all__ = ["plot_cohort", "cohort_counts", "cohort"]


def plot_cohort(counts: pd.DataFrame) -> Figure:
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


def cohort_counts(results: Any) -> pd.DataFrame:
    """HER2-positive and -negative samples per cohort of a run.

    Parameters
    ----------
    results
        :class:`~radiogenomics.Results` (from :func:`radiogenomics.read_results`).

    Returns
    -------
    pandas.DataFrame
        Rows = cohorts (``imaging (training)``, ``imaging (validation)``, ``expression <series>``,
        ``expression (merged)``); columns ``positive``, ``negative``, ``total``.
    """
    rows: dict[str, tuple[int, int]] = {}
    sources = [("imaging (training)", results.extraction), ("imaging (validation)", results.extraction_validation)]
    sources += [(f"expression {name}", res) for name, res in results.series.items()]
    sources.append(("expression (merged)", results.expression))
    for name, res in sources:
        labels = getattr(res, "labels", None)
        if labels is None:
            continue
        lab = labels.iloc[:, 0] if isinstance(labels, pd.DataFrame) else labels
        lab = pd.to_numeric(lab, errors="coerce")
        rows[name] = (int((lab == 1).sum()), int((lab == 0).sum()))
    counts = pd.DataFrame.from_dict(rows, orient="index", columns=["positive", "negative"])
    counts["total"] = counts.sum(axis=1)
    return counts


def cohort(results: Any) -> dict[str, Figure]:
    """The cohort summary of a run: samples per cohort and HER2 class.

    Parameters
    ----------
    results
        :class:`~radiogenomics.Results`.

    Returns
    -------
    dict
        ``cohort`` (empty when no stage holds labels).
    """
    counts = cohort_counts(results)
    if counts.empty:
        return {}
    return {"cohort": captioned(plot_cohort(counts), "HER2-positive and -negative samples per cohort.")}
