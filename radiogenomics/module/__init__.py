"""Module stage: functional similarity of features, auxiliary features, the feature module and its network.

- :func:`module` (also ``rg.module(...)``: the package is callable): the stage, returning a :class:`ModuleResult`;
- :mod:`.similarity`: Simpson and Jaccard indices of features' significant term sets, replication;
- :mod:`.auxiliary`: auxiliary features (Simpson index > 0.6 with a differential feature) and
  the module table;
- :class:`ModuleSelector`: the module as a scikit-learn transformer (differential features of the
  fitted samples plus their auxiliaries from the precomputed similarity matrix), refitted inside
  each training split by the models stage's nested protocol;
- :mod:`.network`: the module network (networkx) and its exports (GraphML, Cytoscape.js JSON,
  node and edge tables).
"""

from __future__ import annotations

from .._results import callable_stage
from .auxiliary import FeatureModule, auxiliary_features, build_module, check_differential
from .network import build_network, from_cytoscape, from_graphml, network_tables, to_cytoscape, to_graphml
from .selector import ModuleSelector
from .similarity import (
    jaccard_index,
    pairwise_similarity,
    replication,
    significant_terms,
    similarity_matrix,
    simpson_index,
    term_id,
)
from .stage import ModuleResult, module

__all__ = [
    "ModuleResult",
    "ModuleSelector",
    "module",
    "FeatureModule",
    "auxiliary_features",
    "build_module",
    "check_differential",
    "build_network",
    "to_graphml",
    "from_graphml",
    "to_cytoscape",
    "from_cytoscape",
    "network_tables",
    "term_id",
    "significant_terms",
    "simpson_index",
    "jaccard_index",
    "similarity_matrix",
    "pairwise_similarity",
    "replication",
]

# the package is also its stage function: rg.module(...)
callable_stage(__name__, module)
