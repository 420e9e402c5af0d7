"""Figures of the association stage: selected genes per feature against the null model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ._style import GREY, POSITIVE, captioned, logs_warnings, short_name

__all__ = ["plot_association_null", "association", "null_caption"]


def plot_association_null(null_summary: pd.DataFrame, *, top: int = 40, null_alpha: float = 0.05) -> Figure:
    """Genes selected per feature by the association rule, against the null model.

    Bars: observed HER2-positive-specific genes per feature, red where the feature beats the
    permutation null (``beats_null``: its empirical p < ``null_alpha``), grey where its count
    is within what random pairings give. Orange: the permutation null's 95 % interval (line)
    and mean (dot), the primary null. Black ticks: the analytic binomial's expectation and 99 %
    band, drawn only for the features whose binomial passed its checks. The legend sits above
    the axes (never on a bar); the x label says how many features are shown when not all are.

    Parameters
    ----------
    null_summary
        One row per feature (index = feature) with ``observed`` and any of
        ``permutation_mean``, ``permutation_low95``, ``permutation_high95``, ``beats_null``,
        ``expected_binomial``, ``binomial_low99``, ``binomial_high99`` (the association
        stage's ``null_summary``).
    top
        Draw the features with the most observed genes, at most this many.
    null_alpha
        Level of the verdict, named in the legend.

    Returns
    -------
    matplotlib.figure.Figure
    """
    ns = null_summary.sort_values("observed", ascending=False, kind="mergesort").head(top)
    fig = Figure(figsize=(7.2, 2.3 + 0.2 * max(len(ns), 4)), dpi=100)
    ax = fig.add_subplot()
    y = np.arange(len(ns))
    obs = ns["observed"].astype(float).to_numpy()
    beats = (ns["beats_null"].astype("boolean").fillna(False).to_numpy(dtype=bool) if "beats_null" in ns
             else np.zeros(len(ns), dtype=bool))
    ax.barh(y, obs, color=np.where(beats, POSITIVE, GREY))
    handles: list[Any] = [Patch(color=POSITIVE, label=f"beats the permutation null (empirical p < {null_alpha:g})"),
                          Patch(color=GREY, label="within chance (as many as random pairings give)")]
    cols = ("permutation_mean", "permutation_low95", "permutation_high95")
    if all(c in ns for c in cols) and ns["permutation_mean"].notna().any():
        lo, hi = ns["permutation_low95"].astype(float), ns["permutation_high95"].astype(float)
        ax.hlines(y - 0.12, lo, hi, color="#ff8f00", lw=2.2, zorder=3)
        ax.scatter(ns["permutation_mean"].astype(float), y - 0.12, s=14, color="#e65100", zorder=4)
        handles.append(Line2D([], [], color="#ff8f00", lw=2.2, marker="o", markerfacecolor="#e65100",
                              markeredgecolor="#e65100", label="permutation null: mean and 95 % interval"))
    if "expected_binomial" in ns and ns["expected_binomial"].notna().any():
        shown = ns["expected_binomial"].notna().to_numpy()
        ax.scatter(ns["expected_binomial"].astype(float)[shown], y[shown] + 0.2, marker="|", s=60, color="k",
                   zorder=5)
        if "binomial_low99" in ns and "binomial_high99" in ns:
            ax.hlines(y[shown] + 0.2, ns["binomial_low99"].astype(float)[shown],
                      ns["binomial_high99"].astype(float)[shown], color="k", lw=0.8, zorder=5)
        handles.append(Line2D([], [], color="k", marker="|", markersize=9, lw=0.8,
                              label="binomial null (where its checks pass): expected, 99 % band"))
    ax.set_yticks(y, [short_name(n, 40) for n in ns.index], fontsize=7)
    ax.set_ylim(len(ns) - 0.5, -0.5)  # the largest count on top
    n, k = len(null_summary), len(ns)
    ax.set_xlabel("HER2-positive-specific genes per feature"
                  + (f"\n({k} of {n} features shown: the {k} with the most genes)" if k < n else ""))
    # above the axes, outside them: it can never cover a bar
    ax.legend(handles=handles, fontsize=7, frameon=False, loc="lower left", ncol=1, bbox_to_anchor=(0.0, 1.02),
              borderaxespad=0.0)
    fig.tight_layout()
    return fig


def null_caption(null_summary: pd.DataFrame) -> str:
    """One sentence on which null is shown and why the binomial is withheld where it is.

    Parameters
    ----------
    null_summary
        The association stage's ``null_summary``.

    Returns
    -------
    str
    """
    n = len(null_summary)
    parts = []
    if "beats_null" in null_summary and null_summary["beats_null"].notna().any():
        k = int(null_summary["beats_null"].astype("boolean").fillna(False).sum())
        parts.append(f"{k} of {n} feature(s) beat the permutation null (red)")
    else:
        parts.append("no permutation null was run, so no feature has a verdict against chance")
    if "expected_binomial" in null_summary:
        shown = int(null_summary["expected_binomial"].notna().sum())
        if shown == n:
            parts.append("the binomial null's checks pass for every feature")
        else:
            notes = null_summary.get("binomial_note", pd.Series("", index=null_summary.index))
            first = next((s for s in notes if s), "")
            parts.append(f"binomial null withheld for {n - shown} of {n} feature(s)"
                         + (f" ({first.removeprefix('withheld: ').split('; ')[0]})" if first else ""))
    return "; ".join(parts) + "."


@logs_warnings
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
    ns = result.null_summary
    alpha = float(result.parameters.get("null_alpha", 0.05))
    top = 40
    n, k = len(ns), min(top, len(ns))
    shown = f"{k} of {n} features shown (the {k} with the most genes). " if k < n else f"All {n} features shown. "
    return {"null": captioned(
        plot_association_null(ns, top=top, null_alpha=alpha),
        "HER2-positive-specific genes per feature against the null model. Bars: the genes the rule selected; red: "
        f"the feature beats the permutation null (empirical p < {alpha:g}: more genes than random pairings of "
        "imaging and expression samples give), grey: within chance (as many genes as random pairings give). "
        "Orange: the permutation null (mean, 95 % interval); black: the binomial null where its assumptions hold. "
        f"{shown}{null_caption(ns)}")}
