"""Logging for the package: one logger tree under ``radiogenomics``, timings, progress bars.

Library code never prints; it logs through :func:`get_logger` and shows progress through
:func:`progress` (tqdm, written to stderr, silenced when the verbosity is above INFO or stderr is
not a terminal, e.g. a workflow stage's log file).
"""

from __future__ import annotations

import logging
import re
import sys
import time
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from tqdm.auto import tqdm

__all__ = ["get_logger", "set_verbosity", "timed", "progress", "warnings_to_log"]

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


#: Warning categories meant for developers: logged at DEBUG, not WARNING, by :func:`warnings_to_log`.
_DEVELOPER_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


@contextmanager
def warnings_to_log(logger: logging.Logger | None = None, *, where: str = "") -> Iterator[list[warnings.WarningMessage]]:
    """Catch the warnings of dependencies raised inside and log each kind once, on one line, with its count.

    A warning repeated with other numbers (one per split, per fold, per iteration count) is one
    kind: it is logged once with how many times it was raised, its first text, never the
    multi-line ``file:line`` form Python prints. Deprecation and future warnings go to DEBUG.

    Parameters
    ----------
    logger
        Logger to use; the package logger by default.
    where
        Prefix of each line (e.g. ``"models: "``).

    Yields
    ------
    list
        The caught ``warnings.WarningMessage`` records.
    """
    log = logger or get_logger()
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield caught
    finally:  # also when the block raises: what it warned before is still said
        _log_warnings(log, caught, where)


def _log_warnings(log: logging.Logger, caught: list[warnings.WarningMessage], where: str) -> None:
    kinds: dict[tuple[str, str], list[Any]] = {}
    for w in caught:
        text = " ".join(str(w.message).split())
        key = (w.category.__name__, re.sub(r"\d+(?:\.\d+)?(?:e[-+]?\d+)?", "#", text))
        kinds.setdefault(key, [w, text, 0])[2] += 1
    for (category, _), (w, text, count) in kinds.items():
        level = logging.DEBUG if issubclass(w.category, _DEVELOPER_WARNINGS) else logging.WARNING
        log.log(level, "%s%s from %s: %s%s", where, category, _origin(w.filename), text[:400],
                f" ({count} times)" if count > 1 else "")


def _origin(filename: str) -> str:
    """The package a warning came from (``sklearn``, ``pandas``...), from its file name."""
    parts = Path(filename).parts
    if "site-packages" in parts and parts.index("site-packages") + 1 < len(parts):
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    return Path(filename).stem
