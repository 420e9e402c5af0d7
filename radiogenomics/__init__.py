"""radiogenomics: link medical-image features to gene expression and build validated HER2 models.

One stage per step of the data flow (see ``DESIGN.md``), each returning one result object that
the next stage accepts::

    import radiogenomics as rg

    features = rg.extract("cases.csv")                      # imaging: radiomic features per patient
    diff = rg.differential(features)                        # HER2+ vs HER2- features
    assoc = rg.associate(features, expression, expression_labels=expression_labels)
    enr = rg.enrich(assoc, "GO_Biological_Process_2021.gmt")
    mod = rg.module(enr, diff, association=assoc)           # auxiliary features, the module
    models = rg.evaluate(features, feature_sets={"differential": diff, "module": mod})
    models.write("results/models")
    rg.pl.models(models)                                    # its figures
    results = rg.read_results("results")                    # every stage of a run, read back

Stages: :mod:`~radiogenomics.imaging`, :mod:`~radiogenomics.expression`,
:mod:`~radiogenomics.differential`, :mod:`~radiogenomics.association`,
:mod:`~radiogenomics.enrichment`, :mod:`~radiogenomics.module`, :mod:`~radiogenomics.models`,
:mod:`~radiogenomics.deep`; figures in :mod:`~radiogenomics.plotting` (``rg.pl``), the HTML
report in :mod:`~radiogenomics.report`. Subpackages are imported on first use, so
``import radiogenomics as rg`` stays fast and optional extras stay optional.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._validation import (  # the public error classes: rg.InputError, rg.LabelError...
    AlignmentError as AlignmentError,
)
from ._validation import (
    DataFileError as DataFileError,
)
from ._validation import (
    InputError as InputError,
)
from ._validation import (
    LabelError as LabelError,
)
from ._validation import (
    MissingDataFileError as MissingDataFileError,
)
from ._validation import (
    OptionalDependencyError as OptionalDependencyError,
)
from ._validation import (
    ParameterError as ParameterError,
)
from ._validation import (
    RadiogenomicsError as RadiogenomicsError,
)

__version__ = "0.1.0"

_SUBMODULES = (
    "datasets", "imaging", "expression", "differential", "association", "enrichment", "module", "models", "deep",
    "plotting", "report",
)
# short names: name -> (module, attribute); ``differential`` and ``module`` are callable packages
_ALIASES = {
    "extract": ("radiogenomics.imaging", "extract"),
    "associate": ("radiogenomics.association", "associate"),
    "enrich": ("radiogenomics.enrichment", "enrich"),
    "evaluate": ("radiogenomics.models", "evaluate"),
    "read_results": ("radiogenomics._results", "read_results"),
    "Results": ("radiogenomics._results", "Results"),
    "max_normalize": ("radiogenomics.expression.normalize", "max_normalize"),
    "make_cohort": ("radiogenomics.datasets", "make_cohort"),
    "set_verbosity": ("radiogenomics._logging", "set_verbosity"),
    "pl": ("radiogenomics", "plotting"),
}
_ERRORS = (
    "RadiogenomicsError", "InputError", "LabelError", "AlignmentError", "ParameterError", "DataFileError",
    "MissingDataFileError", "OptionalDependencyError",
)

__all__ = [*_SUBMODULES, *_ALIASES, *_ERRORS, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"radiogenomics.{name}")
    if name == "pl":
        return importlib.import_module("radiogenomics.plotting")
    if name in _ALIASES:
        module, attr = _ALIASES[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'radiogenomics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
