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
from ._deep import deep
from ._differential import differential, plot_feature_boxplots, plot_volcano
from ._enrichment import enrichment, plot_enrichment
from ._expression import expression
from ._imaging import extraction
from ._models import models
from ._module import module, plot_network, plot_similarity
from ._style import captioned

__all__ = [
    "figures",
    "cohort",
    "extraction",
    "expression",
    "differential",
    "association",
    "enrichment",
    "module",
    "models",
    "deep",
    "captioned",
    "cohort_counts",
    "plot_cohort",
    "plot_volcano",
    "plot_feature_boxplots",
    "plot_association_null",
    "plot_enrichment",
    "plot_network",
    "plot_similarity",
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
}


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
