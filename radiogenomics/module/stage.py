"""The module stage: functional similarity of features, auxiliary features, the module and its network.

Every feature in the module's tables carries its verdict against the association's permutation
null (``empirical_p``, ``empirical_fdr``, ``beats_null``), taken from the upstream results the
stage receives: the association result, or the enrichment result made from it. Given plain
tables without a verdict, the columns are missing values and ``parameters["null_verdict"]``
says so. ``beats_null_only=True`` restricts the module to features whose gene sets beat that
null (off by default: the paper's method compares every feature).
"""

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
from .._validation import InputError, ParameterError, check_choice
from ..enrichment.ora import _verdict_of, add_verdict
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
        ``p_value``, ``q_value`` (see :func:`~radiogenomics.module.build_module`) and the null
        verdict ``empirical_p``, ``empirical_fdr``, ``beats_null``.
    similarity
        Every pair of features compared with non-empty function sets: ``feature_a``,
        ``feature_b``, ``n_terms_a``, ``n_terms_b``, ``shared_terms``, ``simpson``,
        ``jaccard``, ``beats_null_a``, ``beats_null_b``.
    similarity_matrix
        Features × features index of the chosen ``method`` (NaN where a set is empty).
    network_nodes, network_edges
        The module network as Cytoscape node and edge tables (feature nodes with the verdict
        attributes ``beats_null``, ``empirical_p``, ``empirical_fdr`` when there is one).
    replication
        With a validation enrichment: which features' functions recur there.
    graph
        The module network (networkx); written as ``network.graphml`` and ``network.cyjs``.
    parameters
        ``method``, ``threshold``, ``inclusive``, ``alpha``, ``column``, ``enrichment_format``,
        ``top_terms``, ``top_genes``, ``beats_null_only``, ``null_verdict`` (where the verdict
        comes from, or why there is none).
    dropped
        With ``beats_null_only``: the differential features left out because their gene sets
        do not beat the null (``kind`` ``"feature"``); empty otherwise.
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

    @property
    def beats_null_only(self) -> bool:
        """Whether the module was restricted to features that beat the association's permutation null."""
        return bool(self.parameters.get("beats_null_only", False))

    def overview(self) -> dict[str, Any]:
        """Counts of the result.

        Returns
        -------
        dict
            ``n_differential``, ``n_auxiliary``, ``members_beating_null`` (``None`` without a
            verdict), ``nodes``, ``edges``.
        """
        role = self.module["role"]
        g = self.graph
        beats = self.module["beats_null"] if "beats_null" in self.module else None
        known = beats is not None and beats.notna().any()
        return {"n_differential": int((role == "differential").sum()), "n_auxiliary": int((role == "auxiliary").sum()),
                "members_beating_null": int(beats.fillna(False).sum()) if known else None,
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
    beats_null_only: bool = False,
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
        feature to its top genes in the network, and gives each feature's verdict against the
        association's permutation null (else it is taken from the enrichment result).
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
    beats_null_only
        Restrict the module to features whose gene sets beat the association's permutation
        null: only their function sets are compared (no other feature recruits or is
        recruited) and differential features that do not beat it are left out (listed in
        ``dropped``). Off by default, the paper's method. Needs the verdict (the association
        result, or an enrichment made from it).
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
    verdict, source = _null_verdict(association, enrichment, enr)
    eligible = None
    if beats_null_only:
        if verdict is None:
            raise ParameterError(
                "module(beats_null_only=True) needs each feature's verdict against the association's permutation "
                f"null, and there is none ({source}); pass association= the association result (run with n_null > 0), "
                "or the enrichment result made from it."
            )
        eligible = [str(f) for f in verdict.index[verdict["beats_null"].fillna(False).to_numpy(dtype=bool)]]
    built = build_module(enr, diff, alpha=alpha, column=column, method=method, threshold=threshold, inclusive=inclusive,
                         eligible=eligible, ineligible_reason="differential, but its gene set does not beat the "
                                                              "association's permutation null")
    mod_table = add_verdict(built.module, verdict)
    sim = built.similarity.copy()
    for side in ("a", "b"):
        col = add_verdict(sim[[f"feature_{side}"]].rename(columns={f"feature_{side}": "feature"}), verdict)
        sim[f"beats_null_{side}"] = col["beats_null"].to_numpy()
    matrix = similarity_matrix(built.compared if built.compared is not None else built.term_sets, method=method)
    rep = None
    if validation_enrichment is not None:
        rep = replication(enr, _enrichment(validation_enrichment, enrichment_format, "validation enrichment"), alpha=alpha,
                          column=column)
    graph = build_network(built, enr, associations=links, top_terms=top_terms, top_genes=top_genes, verdict=verdict)
    nodes, edges = network_tables(graph)
    parameters = {**{k: v for k, v in built.parameters.items() if k != "restricted"}, "beats_null_only": beats_null_only,
                  "null_verdict": source, "enrichment_format": enrichment_format, "top_terms": top_terms,
                  "top_genes": top_genes}
    if verdict is not None and not beats_null_only:
        n_beat = int(mod_table["beats_null"].fillna(False).sum())
        log.info("module: %d of %d member(s) have gene sets that beat the association's permutation null",
                 n_beat, len(mod_table))
    dropped = dropped_table(
        {"kind": "feature", "item": r.feature, "reason": r.reason} for r in built.excluded.itertuples())
    return ModuleResult(
        module=mod_table, similarity=sim, similarity_matrix=matrix, network_nodes=nodes,
        network_edges=edges, replication=rep, graph=graph, parameters=parameters, dropped=dropped,
        synthetic=synthetic,
    )


def _null_verdict(association: Any, enrichment: Any, enrichment_table: pd.DataFrame) -> tuple[pd.DataFrame | None, str]:
    """Each feature's verdict from the upstream results (association first, then enrichment), and its source."""
    get = getattr(association, "null_verdict", None)
    if callable(get):
        verdict = get()
        if verdict is not None:
            return verdict, f"association permutation null (empirical p < {association.null_alpha:g})"
    get = getattr(enrichment, "null_verdict", None)
    verdict = get() if callable(get) else _verdict_of(enrichment_table)
    if verdict is not None:
        params = getattr(enrichment, "parameters", {}) or {}
        return verdict, str(params.get("null_verdict") or "the enrichment table's verdict columns")
    if association is None:
        why = "no association result was given and the enrichment holds no verdict"
    elif callable(getattr(association, "null_verdict", None)):
        why = "the association ran without a permutation null (n_null=0)"
    else:
        why = "the association was given as a plain table, which holds no verdict"
    return None, f"none: {why}"
