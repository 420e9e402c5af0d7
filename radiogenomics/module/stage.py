"""The module stage: functional similarity of features, auxiliary features, the module and its network."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import networkx as nx
import pandas as pd

from .._logging import get_logger
from .._results import StageResult, dropped_table, is_synthetic
from .._validation import InputError, check_choice
from .auxiliary import build_module
from .network import build_network, from_graphml, network_tables, to_cytoscape, to_graphml
from .similarity import replication, similarity_matrix

__all__ = ["ModuleResult", "module"]

log = get_logger(__name__)


@dataclass(frozen=True)
class ModuleResult(StageResult):
    """Result of :func:`module`.

    Attributes
    ----------
    module
        One row per member: ``feature``, ``role`` (``"differential"`` or ``"auxiliary"``),
        ``reason``, ``partner``, ``similarity``, ``partners``, ``n_terms``, ``fold_change``,
        ``p_value``, ``q_value`` (see :func:`~radiogenomics.module.build_module`).
    similarity
        Every pair of features with non-empty function sets: ``feature_a``, ``feature_b``,
        ``n_terms_a``, ``n_terms_b``, ``shared_terms``, ``simpson``, ``jaccard``.
    similarity_matrix
        Features × features index of the chosen ``method`` (NaN where a set is empty).
    network_nodes, network_edges
        The module network as Cytoscape node and edge tables.
    replication
        With a validation enrichment: which features' functions recur there.
    graph
        The module network (networkx); written as ``network.graphml`` and ``network.cyjs``.
    parameters
        ``method``, ``threshold``, ``inclusive``, ``alpha``, ``column``, ``enrichment_format``,
        ``top_terms``, ``top_genes``.
    dropped
        Empty (every feature is considered).
    synthetic
        The inputs were synthetic.
    """

    stage: ClassVar[str] = "module"

    module: pd.DataFrame
    similarity: pd.DataFrame
    similarity_matrix: pd.DataFrame
    network_nodes: pd.DataFrame
    network_edges: pd.DataFrame
    replication: pd.DataFrame | None = None
    graph: nx.Graph | None = field(default=None, compare=False)
    parameters: Mapping[str, Any] = field(default_factory=dict)
    dropped: pd.DataFrame = field(default_factory=dropped_table)
    synthetic: bool = False

    @property
    def members(self) -> list[str]:
        """The module's features: differential first, then auxiliary."""
        return [str(f) for f in self.module["feature"]]

    def feature_set(self) -> list[str]:
        """The feature set this stage defines for the models: the module's members.

        Returns
        -------
        list of str
        """
        return self.members

    def overview(self) -> dict[str, Any]:
        """Counts of the result.

        Returns
        -------
        dict
            ``n_differential``, ``n_auxiliary``, ``nodes``, ``edges``.
        """
        role = self.module["role"]
        g = self.graph
        return {"n_differential": int((role == "differential").sum()), "n_auxiliary": int((role == "auxiliary").sum()),
                "nodes": None if g is None else g.number_of_nodes(), "edges": None if g is None else g.number_of_edges()}

    def _files(self) -> dict[str, bytes]:
        if self.graph is None:
            return {}
        return {"network.graphml": to_graphml(self.graph).encode("utf-8"),
                "network.cyjs": (json.dumps(to_cytoscape(self.graph), indent=1) + "\n").encode("utf-8")}

    @classmethod
    def _from_tables(cls, tables: dict[str, pd.DataFrame], *, record: Mapping[str, Any], folder: Path) -> ModuleResult:
        """Read the network back from its GraphML file."""
        res = super()._from_tables(tables, record=record, folder=folder)
        graphml = folder / "network.graphml"
        if graphml.exists():
            object.__setattr__(res, "graph", from_graphml(graphml.read_text(encoding="utf-8")))
        return res  # type: ignore[return-value]


def _table(obj: Any, attr: str, name: str) -> pd.DataFrame:
    if isinstance(obj, pd.DataFrame):
        return obj
    table = getattr(obj, attr, None)
    if isinstance(table, pd.DataFrame):
        return table
    raise InputError(f"{name} must be a DataFrame or the {name} stage's result; got {type(obj).__name__}.")


def _enrichment(obj: Any, enrichment_format: str, name: str) -> pd.DataFrame:
    """The enrichment table of a result, or a table in the given layout converted to the toolkit's."""
    from ..enrichment.formats import enrichment_table

    if isinstance(obj, pd.DataFrame):
        return enrichment_table(obj, enrichment_format=enrichment_format, name=name) \
            if enrichment_format != "radiogenomics" else obj
    return _table(obj, "table", name)


def module(
    enrichment: pd.DataFrame | Any,
    differential: pd.DataFrame | Any,
    *,
    association: pd.DataFrame | Mapping[str, Iterable[str]] | Any | None = None,
    validation_enrichment: pd.DataFrame | Any | None = None,
    alpha: float | None = None,
    column: str = "q_value",
    method: str = "simpson",
    threshold: float = 0.6,
    inclusive: bool = False,
    enrichment_format: str = "radiogenomics",
    top_terms: int = 5,
    top_genes: int = 10,
) -> ModuleResult:
    """Build the feature module: differential features plus their auxiliary features, and its network.

    Parameters
    ----------
    enrichment
        The enrichment stage's result (:func:`radiogenomics.enrich`) or its table; or another
        tool's table in the layout ``enrichment_format`` (see
        :mod:`radiogenomics.enrichment.formats`; :func:`~radiogenomics.enrichment.read_enrichment_files`
        reads files and per-feature folders).
    differential
        The differential stage's result (:func:`radiogenomics.differential`) or its table.
    association
        The association stage's result (or its ``positive_specific`` table): links each module
        feature to its top genes in the network.
    validation_enrichment
        Enrichment of an independent cohort: which features' functions replicate.
    alpha
        A term is significant for a feature when ``column < alpha``; default: the enrichment's
        own FDR level (0.05 for a plain table).
    column
        ``"q_value"`` (default) or ``"p_value"`` (the paper's term rule).
    method
        ``"simpson"`` (the paper) or ``"jaccard"``.
    threshold
        A non-differential feature is auxiliary when its similarity to a differential feature is
        above this (paper: 0.6).
    inclusive
        Also when the similarity equals ``threshold`` (≥); the paper's rule is strict (>).
    enrichment_format
        Layout of an ``enrichment`` table: ``"radiogenomics"`` (the enrichment stage's),
        ``"clusterprofiler"`` (``as.data.frame`` of enrichGO/enrichKEGG/compareCluster, feature in
        ``Cluster``) or ``"gseapy"`` (``gseapy.enrich(...).results``, feature in ``Cluster``).
        Validation enrichment tables are read in the same layout.
    top_terms, top_genes
        Terms and genes linked to each feature in the network.

    Returns
    -------
    ModuleResult
    """
    from ..enrichment.formats import ENRICHMENT_FORMATS, check_enrichment_table

    check_choice(enrichment_format, "enrichment_format", owner="module", choices=ENRICHMENT_FORMATS)
    check_choice(column, "column", owner="module", choices=("q_value", "p_value"))
    synthetic = is_synthetic(enrichment, differential, association, validation_enrichment)
    enr = _enrichment(enrichment, enrichment_format, "enrichment")
    check_enrichment_table(enr, column=column, name="enrichment")
    diff = _table(differential, "table", "differential")
    if alpha is None:
        alpha = float(getattr(enrichment, "alpha", 0.05))
    links = association
    if association is not None and not isinstance(association, (pd.DataFrame, Mapping)):
        links = _table(association, "positive_specific", "association")
    built = build_module(enr, diff, alpha=alpha, column=column, method=method, threshold=threshold,
                         inclusive=inclusive)
    matrix = similarity_matrix(built.term_sets, method=method)
    rep = None
    if validation_enrichment is not None:
        rep = replication(enr, _enrichment(validation_enrichment, enrichment_format, "validation enrichment"),
                          alpha=alpha, column=column)
    graph = build_network(built, enr, associations=links, top_terms=top_terms, top_genes=top_genes)
    nodes, edges = network_tables(graph)
    parameters = {**built.parameters, "enrichment_format": enrichment_format, "top_terms": top_terms,
                  "top_genes": top_genes}
    return ModuleResult(
        module=built.module, similarity=built.similarity, similarity_matrix=matrix, network_nodes=nodes,
        network_edges=edges, replication=rep, graph=graph, parameters=parameters, synthetic=synthetic,
    )
