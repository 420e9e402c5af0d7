"""The feature network (networkx) and its exchange formats: GraphML, Cytoscape.js JSON, node/edge tables.

Nodes carry a ``kind``: ``"feature"`` (module members, with ``role``, ``fold_change``,
``p_value``, ``n_terms`` and, when the association's permutation null was run, the verdict
``beats_null``, ``empirical_p``, ``empirical_fdr``), ``"term"`` (``library``, ``term``) or ``"gene"``. Node ids are prefixed
(``feature:``, ``term:``, ``gene:``) so a gene and a feature never share an id; ``label`` holds
the plain name. Edges carry a ``kind``: ``"similarity"`` (feature–feature, ``weight`` = Simpson
index, plus ``jaccard`` and ``shared_terms``), ``"enrichment"`` (feature–term, ``weight`` =
−log10 q, plus ``p_value``, ``q_value``, ``overlap``) or ``"association"`` (feature–gene,
``weight`` = positive-class hits, or 1).

Every attribute is a scalar (str, int, float, bool) so GraphML can hold it: missing values are
left out rather than written as ``None``/NaN, and lists are ``;``-joined. Converting to strings
and tables is done here; writing files is left to the caller (CLI, workflow).
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from .._logging import get_logger
from .._validation import InputError, check_int
from ..enrichment.ora import as_gene_sets
from .auxiliary import FeatureModule
from .similarity import term_id

__all__ = [
    "build_network",
    "to_graphml",
    "from_graphml",
    "to_cytoscape",
    "from_cytoscape",
    "network_tables",
]

log = get_logger(__name__)


def _scalar(value: Any) -> Any:
    """A GraphML-safe scalar, or ``None`` to leave the attribute out."""
    if value is None:
        return None
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return None if math.isnan(v) else v
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        return ";".join(map(str, value))
    return str(value)


def _attrs(**kwargs: Any) -> dict[str, Any]:
    out = {}
    for k, v in kwargs.items():
        s = _scalar(v)
        if s is not None:
            out[k] = s
    return out


def build_network(
    module: FeatureModule,
    enrichment: pd.DataFrame,
    *,
    associations: Mapping[str, Iterable[str]] | pd.DataFrame | None = None,
    top_terms: int = 5,
    top_genes: int = 10,
    min_similarity: float = 0.0,
    include_all_features: bool = False,
    verdict: pd.DataFrame | None = None,
) -> nx.Graph:
    """Build the feature network of a module.

    Parameters
    ----------
    module
        Output of :func:`~radiogenomics.network.build_module`.
    enrichment
        The enrichment table the module was built from.
    associations
        Feature gene sets: a mapping feature → genes or the long ``positive_specific`` table
        (columns ``feature``, ``gene`` and, if present, ``hits_positive`` used to rank genes).
    top_terms
        Significant terms linked to each feature (smallest p first).
    top_genes
        Genes linked to each feature.
    min_similarity
        Feature–feature edges need a Simpson index above this (and at least one shared term).
    include_all_features
        Add every feature with a function set, not only module members (role ``"other"``).
    verdict
        Per-feature verdict against the association's permutation null (index = feature;
        ``empirical_p``, ``empirical_fdr``, ``beats_null``): node attributes of the feature
        nodes. ``None``: no verdict attribute (never a guessed one).

    Returns
    -------
    networkx.Graph
        Undirected graph with the node and edge attributes described in the module docstring;
        graph attributes ``method``, ``threshold``, ``alpha``, ``top_terms``, ``top_genes``.
    """
    top_terms = check_int(top_terms, "top_terms", owner="build_network", min_value=0)
    top_genes = check_int(top_genes, "top_genes", owner="build_network", min_value=0)
    params = module.parameters
    g = nx.Graph(**_attrs(method=params.get("method"), threshold=params.get("threshold"),
                          alpha=params.get("alpha"), top_terms=top_terms, top_genes=top_genes))
    members = module.module.set_index("feature")
    features = list(members.index)
    if include_all_features:
        features += [f for f, s in module.term_sets.items() if s and f not in members.index]
    diff = module.differential
    for f in features:
        if f in members.index:
            r = members.loc[f]
            attrs = _attrs(kind="feature", label=f, role=r["role"], reason=r["reason"],
                           fold_change=r["fold_change"], p_value=r["p_value"], q_value=r["q_value"],
                           n_terms=int(r["n_terms"]), similarity=r["similarity"], partner=r["partner"] or None)
        else:
            d = diff.loc[f] if f in diff.index else {}
            attrs = _attrs(kind="feature", label=f, role="other", reason="", fold_change=d.get("fold_change"),
                           p_value=d.get("p_value"), q_value=d.get("q_value"),
                           n_terms=len(module.term_sets.get(f, ())))
        if verdict is not None and f in verdict.index:
            v = verdict.loc[f]
            attrs.update(_attrs(beats_null=None if pd.isna(v["beats_null"]) else bool(v["beats_null"]),
                                empirical_p=v["empirical_p"], empirical_fdr=v["empirical_fdr"]))
        g.add_node(f"feature:{f}", **attrs)
    fset = set(features)
    sim = module.similarity
    if not sim.empty:
        keep = sim["feature_a"].isin(fset) & sim["feature_b"].isin(fset) & (sim["shared_terms"] > 0) \
            & (sim["simpson"] > min_similarity)
        for r in sim[keep].itertuples(index=False):
            g.add_edge(f"feature:{r.feature_a}", f"feature:{r.feature_b}",
                       **_attrs(kind="similarity", weight=r.simpson, simpson=r.simpson, jaccard=r.jaccard,
                                shared_terms=int(r.shared_terms)))
    # feature -> top significant terms
    if top_terms and not enrichment.empty:
        col, alpha = params.get("column", "q_value"), params.get("alpha", 0.05)
        sig = enrichment[enrichment["feature"].astype(str).isin(fset) & (enrichment[col] < alpha)]
        sig = sig.sort_values(["feature", "p_value", "term"], kind="mergesort").groupby("feature").head(top_terms)
        for r in sig.itertuples(index=False):
            tid = f"term:{term_id(r.library, r.term)}"
            if tid not in g:
                g.add_node(tid, **_attrs(kind="term", label=str(r.term), library=str(r.library)))
            q = float(r.q_value)
            g.add_edge(f"feature:{r.feature}", tid,
                       **_attrs(kind="enrichment", weight=-math.log10(max(q, 1e-300)), p_value=r.p_value,
                                q_value=q, overlap=int(r.overlap), genes=getattr(r, "genes", None) or None))
    # feature -> top associated genes
    if associations is not None and top_genes:
        if isinstance(associations, pd.DataFrame):
            df = associations.reset_index() if "feature" not in associations.columns else associations
            if "feature" not in df.columns or "gene" not in df.columns:
                raise InputError("associations: a long table needs columns 'feature' and 'gene'.")
            df = df.copy()
            df["feature"] = df["feature"].astype(str)
            score = "hits_positive" if "hits_positive" in df.columns else None
            if score:
                df = df.sort_values(["feature", score, "gene"], ascending=[True, False, True], kind="mergesort")
            pairs = [(f, str(gg), (float(s) if score else 1.0))
                     for f, gg, s in zip(df["feature"], df["gene"], df[score] if score else [1.0] * len(df))]
        else:
            pairs = [(f, gg, 1.0) for f, genes in as_gene_sets(associations).items() for gg in genes]
        count: dict[str, int] = {}
        for f, gene, w in pairs:
            if f not in fset or count.get(f, 0) >= top_genes:
                continue
            count[f] = count.get(f, 0) + 1
            gid = f"gene:{gene}"
            if gid not in g:
                g.add_node(gid, **_attrs(kind="gene", label=gene))
            g.add_edge(f"feature:{f}", gid, **_attrs(kind="association", weight=w))
    log.info("network: %d nodes (%d features), %d edges", g.number_of_nodes(), len(features), g.number_of_edges())
    return g


def to_graphml(graph: nx.Graph) -> str:
    """Serialise a graph as GraphML text.

    Parameters
    ----------
    graph
        Graph whose attributes are scalars (as :func:`build_network` makes them).

    Returns
    -------
    str
        GraphML document.
    """
    bad = [(n, k) for n, d in graph.nodes(data=True) for k, v in d.items() if _scalar(v) != v or v is None]
    bad += [((u, v), k) for u, v, d in graph.edges(data=True) for k, x in d.items() if _scalar(x) != x or x is None]
    if bad:
        raise InputError(
            f"GraphML holds scalar attributes only; {len(bad)} attribute(s) are None, NaN or lists, "
            f"e.g. {bad[0][1]!r} of {bad[0][0]!r}."
        )
    return "\n".join(nx.generate_graphml(graph)) + "\n"


def from_graphml(text: str) -> nx.Graph:
    """Parse GraphML text back into a graph.

    Parameters
    ----------
    text
        GraphML document (from :func:`to_graphml` or Cytoscape).

    Returns
    -------
    networkx.Graph
    """
    g = nx.read_graphml(io.BytesIO(text.encode("utf-8")))
    for k in ("node_default", "edge_default"):  # bookkeeping networkx adds on reading
        if g.graph.get(k) == {}:
            del g.graph[k]
    return g


def to_cytoscape(graph: nx.Graph) -> dict[str, Any]:
    """Cytoscape.js JSON (``networkx.cytoscape_data``) of a graph.

    Parameters
    ----------
    graph
        The graph; node attributes named ``id``, ``name`` or ``value`` would be overwritten by
        Cytoscape's own keys, so :func:`build_network` uses ``label``.

    Returns
    -------
    dict
        ``{"data": graph attributes, "directed", "multigraph", "elements": {"nodes", "edges"}}``.
    """
    clash = {k for _, d in graph.nodes(data=True) for k in d} & {"id", "name", "value"}
    if clash:
        raise InputError(f"node attribute(s) {sorted(clash)} clash with Cytoscape's own keys; rename them.")
    return nx.cytoscape_data(graph)


def from_cytoscape(data: Mapping[str, Any]) -> nx.Graph:
    """Rebuild a graph from Cytoscape.js JSON written by :func:`to_cytoscape`.

    Parameters
    ----------
    data
        Cytoscape.js JSON object.

    Returns
    -------
    networkx.Graph
        The graph, without the keys Cytoscape adds (``id``/``name``/``value`` on nodes,
        ``source``/``target`` on edges).
    """
    g = nx.cytoscape_graph(dict(data))
    for _, d in g.nodes(data=True):
        for k in ("id", "name", "value"):
            d.pop(k, None)
    for _, _, d in g.edges(data=True):
        for k in ("source", "target"):
            d.pop(k, None)
    return g


def network_tables(graph: nx.Graph) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Node and edge tables that Cytoscape imports (File → Import → Network/Table from File).

    Parameters
    ----------
    graph
        The graph.

    Returns
    -------
    tuple of pandas.DataFrame
        Nodes: ``id`` and every node attribute; edges: ``source``, ``target``, ``interaction``
        (the edge ``kind``) and every edge attribute.
    """
    nodes = pd.DataFrame([{"id": n, **d} for n, d in graph.nodes(data=True)])
    if nodes.empty:
        nodes = pd.DataFrame(columns=["id"])
    edges = pd.DataFrame([{"source": u, "target": v, "interaction": d.get("kind", ""), **d}
                          for u, v, d in graph.edges(data=True)])
    if edges.empty:
        edges = pd.DataFrame(columns=["source", "target", "interaction"])
    return nodes, edges
