"""radiogenomics: link medical-image features to gene expression and build validated HER2 models.

Stages follow the data flow (see ``DESIGN.md``): :mod:`~radiogenomics.imaging`,
:mod:`~radiogenomics.expression`, :mod:`~radiogenomics.core`, :mod:`~radiogenomics.enrichment`,
:mod:`~radiogenomics.network`, :mod:`~radiogenomics.models`, :mod:`~radiogenomics.deep`,
:mod:`~radiogenomics.plotting`, :mod:`~radiogenomics.report`. Subpackages are imported on first
use, so ``import radiogenomics as rg`` stays fast and optional extras stay optional.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = (
    "core", "datasets", "imaging", "expression", "enrichment", "network", "models", "deep",
    "plotting", "report",
)
# short aliases: name -> (module, attribute)
_ALIASES = {
    "differential": ("radiogenomics.core", "differential"),
    "associate": ("radiogenomics.core", "associate"),
    "max_normalize": ("radiogenomics.core", "max_normalize"),
    "make_cohort": ("radiogenomics.datasets", "make_cohort"),
    "set_verbosity": ("radiogenomics._logging", "set_verbosity"),
}

__all__ = [*_SUBMODULES, *_ALIASES, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"radiogenomics.{name}")
    if name in _ALIASES:
        module, attr = _ALIASES[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'radiogenomics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
