"""Logging for the package: one logger tree under ``radiogenomics``, timings, progress bars.

Library code never prints; it logs through :func:`get_logger` and shows progress through
:func:`progress` (tqdm, written to stderr, silenced when the verbosity is above INFO or stderr is
not a terminal, e.g. a workflow stage's log file).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from tqdm.auto import tqdm

__all__ = ["get_logger", "set_verbosity", "timed", "progress"]

ROOT = "radiogenomics"
T = TypeVar("T")


def get_logger(name: str | None = None) -> logging.Logger:
    """Return the package logger or one of its children.

    Parameters
    ----------
    name
        Module name (``__name__``); names outside the package become children of it.

    Returns
    -------
    logging.Logger
    """
    if not name or name == ROOT:
        return logging.getLogger(ROOT)
    if not name.startswith(ROOT + "."):
        name = f"{ROOT}.{name}"
    return logging.getLogger(name)


class _StderrHandler(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` is when a record is emitted (it may be swapped)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def set_verbosity(level: int | str = "INFO") -> None:
    """Set the package's log level once and attach a stderr handler if none is attached.

    Parameters
    ----------
    level
        A ``logging`` level or its name (``"DEBUG"``, ``"INFO"``, ``"WARNING"``...).
    """
    logger = logging.getLogger(ROOT)
    logger.setLevel(level if isinstance(level, int) else level.upper())
    if not any(getattr(h, "_radiogenomics", False) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        handler._radiogenomics = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


@contextmanager
def timed(message: str, *, logger: logging.Logger | None = None) -> Iterator[None]:
    """Log ``message`` at INFO on entry and ``finished`` with the elapsed time on exit.

    Parameters
    ----------
    message
        What is running, e.g. ``"perturbation association"``.
    logger
        Logger to use; the package logger by default.
    """
    log = logger or get_logger()
    start = time.perf_counter()
    log.info("running %s", message)
    yield
    log.info("finished %s (%.2f s)", message, time.perf_counter() - start)


def _stderr_is_terminal() -> bool:
    try:
        return bool(sys.stderr is not None and sys.stderr.isatty())
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


def progress(
    iterable: Iterable[T],
    *,
    desc: str,
    total: int | None = None,
    disable: bool | None = None,
) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm progress bar on stderr.

    Parameters
    ----------
    iterable
        The work items.
    desc
        Label of the bar.
    total
        Number of items when ``iterable`` has no length.
    disable
        ``True`` hides the bar, ``False`` shows it; ``None`` shows it only when stderr is a
        terminal and the package log level is INFO or lower (so a stage's log file, where the
        workflow sends stderr, never fills with bars).

    Returns
    -------
    Iterable
        The wrapped iterable.
    """
    if disable is None:
        disable = not (logging.getLogger(ROOT).isEnabledFor(logging.INFO) and _stderr_is_terminal())
    return tqdm(iterable, desc=desc, total=total, disable=disable, leave=False)
