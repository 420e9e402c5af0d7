"""Static figure of the feature network (features, terms, genes)."""

from __future__ import annotations

import networkx as nx
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

__all__ = ["plot_network"]

COLOURS = {"differential": "#d62728", "auxiliary": "#ff7f0e", "other": "#7f7f7f", "term": "#1f77b4", "gene": "#2ca02c"}


def plot_network(graph: nx.Graph, *, seed: int = 0, labels: str = "features", figsize: tuple[float, float] = (9, 7)) -> Figure:
    """Draw the feature network: features by role, terms and genes by kind.

    Parameters
    ----------
    graph
        Output of :func:`~radiogenomics.network.build_network`.
    seed
        Seed of the spring layout.
    labels
        ``"features"`` (label feature nodes), ``"all"`` or ``"none"``.
    figsize
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=figsize)
    ax = fig.add_subplot()
    ax.set_axis_off()
    if graph.number_of_nodes() == 0:
        ax.text(0.5, 0.5, "empty network", ha="center", va="center")
        return fig
    pos = nx.spring_layout(graph, seed=seed, weight="weight")
    def colour(d: dict) -> str:
        return COLOURS.get(d.get("role", d.get("kind", "other")) if d.get("kind") == "feature" else d.get("kind", "other"), "#7f7f7f")
    nodes = list(graph.nodes)
    data = [graph.nodes[n] for n in nodes]
    sizes = [300 if d.get("kind") == "feature" else 80 for d in data]
    styles = {"similarity": "solid", "enrichment": "dashed", "association": "dotted"}
    for kind, style in styles.items():
        edges = [(u, v) for u, v, d in graph.edges(data=True) if d.get("kind") == kind]
        if edges:
            widths = [0.5 + 2.5 * float(graph.edges[e].get("weight", 1.0)) if kind == "similarity" else 0.7 for e in edges]
            nx.draw_networkx_edges(graph, pos, edgelist=edges, style=style, width=widths, alpha=0.5, ax=ax)
    nx.draw_networkx_nodes(graph, pos, nodelist=nodes, node_color=[colour(d) for d in data], node_size=sizes, ax=ax)
    if labels != "none":
        lab = {n: str(d.get("label", n)) for n, d in zip(nodes, data) if labels == "all" or d.get("kind") == "feature"}
        nx.draw_networkx_labels(graph, pos, labels=lab, font_size=7, ax=ax)
    present = {colour(d) for d in data}
    handles = [Line2D([], [], marker="o", ls="", color=c, label=k) for k, c in COLOURS.items() if c in present]
    ax.legend(handles=handles, loc="best", fontsize=7, frameon=False)
    ax.set_title("Feature module: similarity (solid), terms (dashed), genes (dotted)")
    return fig
