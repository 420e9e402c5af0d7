"""Figures of the module stage: the feature network and the Simpson similarity heatmap."""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ._style import captioned, short_name

__all__ = ["plot_network", "plot_similarity", "module"]

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


def plot_similarity(matrix: pd.DataFrame, *, label: str = "Simpson index") -> Figure:
    """Heatmap of a feature × feature similarity matrix (NaN, an empty function set, left blank).

    Parameters
    ----------
    matrix
        Square matrix with values in [0, 1] (:func:`~radiogenomics.module.similarity_matrix`).
    label
        Colour-bar label.

    Returns
    -------
    matplotlib.figure.Figure
    """
    n = matrix.shape[0]
    side = min(3.0 + 0.28 * n, 11.0)
    fig = Figure(figsize=(side + 1.2, side), dpi=100)
    ax = fig.add_subplot()
    im = ax.imshow(np.ma.masked_invalid(matrix.to_numpy(dtype=float)), vmin=0, vmax=1, cmap="magma_r")
    fs = 7 if n <= 25 else 5
    ax.set_xticks(range(matrix.shape[1]), [short_name(c, 30) for c in matrix.columns], rotation=90, fontsize=fs)
    ax.set_yticks(range(n), [short_name(c, 30) for c in matrix.index], fontsize=fs)
    cb = fig.colorbar(im, ax=ax, fraction=0.046)
    cb.set_label(label, fontsize=8)
    fig.tight_layout()
    return fig


def comparable_features(matrix: pd.DataFrame) -> pd.DataFrame:
    """The similarity matrix restricted to features that have significant terms.

    Parameters
    ----------
    matrix
        Square similarity matrix (NaN rows: features with no significant term).

    Returns
    -------
    pandas.DataFrame
    """
    keep = [f for f in matrix.index if np.isfinite(matrix.loc[f].to_numpy(dtype=float)).any()]
    return matrix.loc[keep, keep]


def module(result: Any) -> dict[str, Figure]:
    """The figures of a module result: its network and the similarity heatmap.

    Parameters
    ----------
    result
        A :class:`~radiogenomics.module.ModuleResult`.

    Returns
    -------
    dict
        ``network`` (when the result holds its graph) and ``similarity`` (when at least two
        features have significant terms).
    """
    figs: dict[str, Figure] = {}
    if result.graph is not None:
        figs["network"] = captioned(plot_network(result.graph),
                                    "Feature module network (differential and auxiliary features, their genes and terms).")
    method = str(result.parameters.get("method", "simpson"))
    mat = comparable_features(result.similarity_matrix)
    if mat.shape[0] >= 2:
        name = "Simpson" if method == "simpson" else "Jaccard"
        figs["similarity"] = captioned(plot_similarity(mat.fillna(0.0), label=f"{name} index"),
                                       f"{name} index between features' significant term sets.")
    return figs
