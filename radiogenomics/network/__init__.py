"""Network stage: auxiliary features, the feature module and its network exports.

- :mod:`.module`: auxiliary features (Simpson index > 0.6 with a differential feature) and the module.
- :mod:`.export`: networkx graph of the module; GraphML, Cytoscape.js JSON, node/edge tables.
"""

from __future__ import annotations

from .export import build_network, from_cytoscape, from_graphml, network_tables, to_cytoscape, to_graphml
from .module import FeatureModule, auxiliary_features, build_module, check_differential

__all__ = [
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
]
