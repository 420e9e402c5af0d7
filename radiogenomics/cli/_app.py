"""The Typer application shared by every stage's commands, and its error handling."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from .._logging import set_verbosity
from .._validation import RadiogenomicsError

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="radiogenomics",
    help="Link medical-image features to gene expression and build validated HER2 models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debugging detail."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Log warnings and errors only."),
) -> None:
    """Radiogenomics: radiomic features, GEO expression, association, enrichment and models."""
    set_verbosity(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)


def cli_errors(func: F) -> F:
    """Turn package errors into a one-line message on stderr and exit status 2.

    Parameters
    ----------
    func
        A command function.

    Returns
    -------
    Callable
        The wrapped command.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (RadiogenomicsError, FileNotFoundError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]
