"""Figures (``rg.pl``): one function per stage that draws a result's figures, and the figure functions.

Every function returns matplotlib Figures and never shows or saves them; each figure's caption
is its label (``fig.get_label()``). ``rg.pl.<stage>(result)`` returns name → figure, what
``result.figures()`` and the HTML report show::

    rg.pl.differential(diff)["volcano"]
    rg.pl.association(assoc)["null"]
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from ._association import association, plot_association_null
from ._cohort import cohort, cohort_counts, plot_cohort
from ._deep import deep, deep_comparison, deep_features, gradcam_overlay_pngs
from ._differential import differential, plot_feature_boxplots, plot_volcano
from ._enrichment import enrichment, plot_enrichment
from ._expression import expression, plot_batch_check, plot_label_counts, plot_series_pca
from ._imaging import extraction
from ._models import (
    models,
    plot_calibration,
    plot_decision_curve,
    plot_learning_curves,
    plot_nomogram,
    plot_precision_recall,
    plot_roc,
    plot_roc_by_set,
    plot_split_auc,
)
from ._module import module, plot_network, plot_similarity
from ._style import captioned

__all__ = [
    "figures",
    "files",
    "cohort",
    "extraction",
    "expression",
    "differential",
    "association",
    "enrichment",
    "module",
    "models",
    "deep",
    "deep_comparison",
    "deep_features",
    "captioned",
    "cohort_counts",
    "plot_cohort",
    "plot_volcano",
    "plot_feature_boxplots",
    "plot_association_null",
    "plot_enrichment",
    "plot_network",
    "plot_similarity",
    "plot_label_counts",
    "plot_series_pca",
    "plot_batch_check",
    "plot_roc",
    "plot_roc_by_set",
    "plot_precision_recall",
    "plot_calibration",
    "plot_decision_curve",
    "plot_nomogram",
    "plot_split_auc",
    "plot_learning_curves",
]

_BY_STAGE = {
    "extraction": extraction,
    "series": expression,
    "expression": expression,
    "differential": differential,
    "association": association,
    "enrichment": enrichment,
    "module": module,
    "models": models,
    "deep": deep,
    "deep_comparison": deep_comparison,
    "deep_features": deep_features,
}


#: Stage → drawn files beside its figures (what ``result.write()`` saves with them).
_FILES_BY_STAGE = {"deep": gradcam_overlay_pngs}


def files(result: Any) -> dict[str, bytes]:
    """Drawn files of a result beside its figures: the deep stage's per-case Grad-CAM overlays.

    Parameters
    ----------
    result
        A stage result.

    Returns
    -------
    dict
        Path in the result folder → PNG content (empty for stages without such files).
    """
    func = _FILES_BY_STAGE.get(result.stage)
    return {} if func is None else func(result)


def figures(result: Any) -> dict[str, Figure]:
    """The figures of any stage's result (what ``result.figures()`` returns).

    Parameters
    ----------
    result
        A stage result (its ``stage`` attribute picks the function).

    Returns
    -------
    dict
        Name → figure.
    """
    return _BY_STAGE[result.stage](result)
