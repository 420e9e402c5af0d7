"""Shared style of the package's figures: colours, name shortening, captions."""

from __future__ import annotations

from matplotlib.figure import Figure

__all__ = ["POSITIVE", "NEGATIVE", "GREY", "short_name", "captioned"]

POSITIVE = "#c0392b"
NEGATIVE = "#2c7fb8"
GREY = "#9e9e9e"


def short_name(name: str, width: int = 38) -> str:
    """A feature or term name for a figure: without pyradiomics' ``original_`` prefix, cut to ``width``.

    Parameters
    ----------
    name
        The name.
    width
        Maximum characters.

    Returns
    -------
    str
    """
    name = str(name)
    if name.startswith("original_"):
        name = name[len("original_"):]
    return name if len(name) <= width else name[: width - 1] + "…"


def captioned(fig: Figure, caption: str) -> Figure:
    """Attach a caption to a figure (its label; the report uses it as caption and alt text).

    Parameters
    ----------
    fig
        The figure.
    caption
        One or two sentences saying what the figure shows.

    Returns
    -------
    matplotlib.figure.Figure
        The same figure.
    """
    fig.set_label(caption)
    return fig
