"""Figures of the association stage: selected genes per feature against the null model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ._style import GREY, POSITIVE, captioned, short_name

__all__ = ["plot_association_null", "association"]


def plot_association_null(null_summary: pd.DataFrame, *, top: int = 40) -> Figure:
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
    ax.set_yticks(y, [short_name(n, 40) for n in ns.index], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("HER2-positive-specific genes per feature")
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    fig.tight_layout()
    return fig


def association(result: Any) -> dict[str, Figure]:
    """The figures of an association result: observed counts against the null model.

    Parameters
    ----------
    result
        An :class:`~radiogenomics.association.AssociationResult`.

    Returns
    -------
    dict
        ``null``.
    """
    return {"null": captioned(
        plot_association_null(result.null_summary),
        "HER2-positive-specific genes per feature against the null model (solid line: binomial "
        "expectation; dashed: its 99 % upper bound; diamonds: permutation 95th percentile).")}
