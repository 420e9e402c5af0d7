"""Command-line interface: ``radiogenomics <stage> ...``.

Each stage registers its commands on the shared Typer app from its own module here; heavy
imports happen inside the command functions so that ``--help`` stays fast.
"""

from __future__ import annotations

from . import association as _association  # noqa: F401  (registers associate)
from . import deep as _deep  # noqa: F401  (registers deep ...)
from . import demo as _demo  # noqa: F401  (registers demo)
from . import differential as _differential  # noqa: F401  (registers differential)
from . import enrichment as _enrichment  # noqa: F401  (registers enrich)
from . import expression as _expression  # noqa: F401  (registers geo ...)
from . import imaging as _imaging  # noqa: F401  (registers extract, stability, harmonize)
from . import models as _models  # noqa: F401  (registers models)
from . import module as _module  # noqa: F401  (registers module)
from . import workflow as _workflow  # noqa: F401  (registers run)
from ._app import app

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``radiogenomics`` console script."""
    app()
