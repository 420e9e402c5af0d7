"""Shared style of the package's figures: colours, name shortening, captions."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from matplotlib.figure import Figure

from .._logging import get_logger, warnings_to_log

__all__ = ["POSITIVE", "NEGATIVE", "GREY", "short_name", "captioned", "logs_warnings"]

F = TypeVar("F", bound=Callable[..., Any])
_log = get_logger(__name__)

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


def logs_warnings(func: F) -> F:
    """Decorate a stage's figure function: warnings raised while drawing become one log line per kind.

    Parameters
    ----------
    func
        A function ``result -> dict of figures``.

    Returns
    -------
    callable
        The same function, its matplotlib / pandas warnings logged
        (:func:`radiogenomics._logging.warnings_to_log`) instead of printed.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings_to_log(_log, where=f"figures ({func.__name__}): "):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
