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

    Feature nodes whose gene sets do not beat the association's permutation null (node
    attribute ``beats_null`` False) are drawn hollow: their links to terms and genes are what
    the rule finds by chance.

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
    hollow = [d.get("kind") == "feature" and d.get("beats_null") is False for d in data]
    faces = ["white" if h else colour(d) for d, h in zip(data, hollow)]
    nx.draw_networkx_nodes(graph, pos, nodelist=nodes, node_color=faces, edgecolors=[colour(d) for d in data],
                           linewidths=[2.0 if h else 0.0 for h in hollow], node_size=sizes, ax=ax)
    if labels != "none":
        lab = {n: str(d.get("label", n)) for n, d in zip(nodes, data) if labels == "all" or d.get("kind") == "feature"}
        nx.draw_networkx_labels(graph, pos, labels=lab, font_size=7, ax=ax)
    present = {colour(d) for d in data}
    handles = [Line2D([], [], marker="o", ls="", color=c, label=k) for k, c in COLOURS.items() if c in present]
    if any(hollow):
        handles.append(Line2D([], [], marker="o", ls="", markerfacecolor="white", markeredgecolor="#555555",
                              markeredgewidth=1.5, label="hollow: gene set within chance"))
    ax.legend(handles=handles, loc="best", fontsize=7, frameon=False)
    ax.set_title("Feature module: similarity (solid), terms (dashed), genes (dotted)")
    return fig


def plot_similarity(matrix: pd.DataFrame, *, label: str = "Simpson index", within_chance: set[str] | None = None) -> Figure:
    """Heatmap of a feature × feature similarity matrix (NaN, an empty function set, left blank).

    Parameters
    ----------
    matrix
        Square matrix with values in [0, 1] (:func:`~radiogenomics.module.similarity_matrix`).
    label
        Colour-bar label.
    within_chance
        Features whose gene sets do not beat the association's permutation null: their labels
        are grey and marked with "°".

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
    chance = set(map(str, within_chance or ()))

    def name(c: Any) -> str:
        return short_name(c, 30) + (" °" if str(c) in chance else "")

    ax.set_xticks(range(matrix.shape[1]), [name(c) for c in matrix.columns], rotation=90, fontsize=fs)
    ax.set_yticks(range(n), [name(c) for c in matrix.index], fontsize=fs)
    for tick in [*ax.get_xticklabels(), *ax.get_yticklabels()]:
        if tick.get_text().endswith(" °"):
            tick.set_color("#8a8a8a")
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
    chance = within_chance(result)
    restricted = bool(result.parameters.get("beats_null_only", False))
    scope = (" Restricted to features whose gene sets beat the association's permutation null." if restricted else
             " Every feature compared (the paper's method); hollow features' gene sets do not beat the "
             "association's permutation null." if chance else "")
    if result.graph is not None:
        figs["network"] = captioned(plot_network(result.graph),
                                    "Feature module network (differential and auxiliary features, their genes and terms)."
                                    + scope)
    method = str(result.parameters.get("method", "simpson"))
    mat = comparable_features(result.similarity_matrix)
    if mat.shape[0] >= 2:
        name = "Simpson" if method == "simpson" else "Jaccard"
        note = (" Features marked ° (grey) have gene sets that do not beat the association's permutation null."
                if chance & set(map(str, mat.index)) else "")
        figs["similarity"] = captioned(plot_similarity(mat.fillna(0.0), label=f"{name} index", within_chance=chance),
                                       f"{name} index between features' significant term sets.{note}")
    return figs


def within_chance(result: Any) -> set[str]:
    """Features of a module result whose gene sets do not beat the association's permutation null.

    Parameters
    ----------
    result
        A :class:`~radiogenomics.module.ModuleResult` (the verdict columns of its ``similarity``
        and ``module`` tables).

    Returns
    -------
    set of str
        Empty when the result holds no verdict.
    """
    out: set[str] = set()
    sim = result.similarity
    for side in ("a", "b"):
        col = f"beats_null_{side}"
        if sim is not None and col in sim:
            flags = sim[col].astype("boolean")
            out |= set(sim.loc[flags.eq(False).fillna(False).to_numpy(bool), f"feature_{side}"].astype(str))
    mod = result.module
    if mod is not None and "beats_null" in mod:
        flags = mod["beats_null"].astype("boolean")
        out |= set(mod.loc[flags.eq(False).fillna(False).to_numpy(bool), "feature"].astype(str))
    return out
