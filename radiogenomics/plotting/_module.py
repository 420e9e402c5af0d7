"""Figures of the module stage: the feature network and the Simpson similarity heatmap."""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .._validation import InputError
from ._style import captioned, short_name

__all__ = ["plot_network", "plot_similarity", "module"]

COLOURS = {"differential": "#d62728", "auxiliary": "#ff7f0e", "other": "#7f7f7f", "term": "#1f77b4", "gene": "#2ca02c"}


def _module_order(features: list[str], terms: list[str], links: dict[str, list[str]]) -> tuple[list[str], dict[str, float]]:
    """Feature order and term rows of the layered layout: a few barycentre sweeps, then terms one row apart."""
    order = list(features)
    term_y: dict[str, float] = {}
    for _ in range(4):
        row = {f: i for i, f in enumerate(order)}
        bary = {t: float(np.mean([row[f] for f in links[t]])) for t in terms}
        ranked = sorted(terms, key=lambda t: (bary[t], t))
        term_rank = {t: i for i, t in enumerate(ranked)}
        fterms = {f: [t for t in terms if f in links[t]] for f in order}
        linked = [f for f in order if fterms[f]]
        linked.sort(key=lambda f: (float(np.mean([term_rank[t] for t in fterms[f]])), row[f]))
        order = linked + [f for f in order if not fterms[f]]
    row = {f: i for i, f in enumerate(order)}
    bary = {t: float(np.mean([row[f] for f in links[t]])) for t in terms}
    last = -1.0
    for t in sorted(terms, key=lambda t: (bary[t], t)):
        last = max(bary[t], last + 1.0)
        term_y[t] = last
    allowed = max(len(order), len(term_y)) - 1.0
    if term_y and max(term_y.values()) > allowed:  # pushed past the last row: move up, keeping one row apart
        last = allowed + 1.0
        for t in sorted(term_y, key=term_y.get, reverse=True):
            last = min(term_y[t], last - 1.0)
            term_y[t] = last
    return order, term_y


def plot_network(graph: nx.Graph, *, labels: str = "all", figsize: tuple[float, float] | None = None) -> Figure:
    """Draw the feature module: its features in one column, their enriched terms in another.

    A layered layout, so no label can overlap another: the module's features (differential and
    auxiliary; every feature node when none has a role) one per row on the left, labelled on
    their left, with the number of genes each is linked to; their terms on the right, each
    placed near its features and one row apart, labelled on their right. Dashed lines link a
    feature to its terms; arcs between features join features with similar term sets (width:
    Simpson index). Feature nodes whose gene sets do not beat the association's permutation null
    (node attribute ``beats_null`` False) are hollow, those that beat it have a black ring. Gene
    nodes are not drawn (they are listed in the report's interactive view and the node table).

    Parameters
    ----------
    graph
        Output of :func:`~radiogenomics.network.build_network` (or a subgraph of it).
    labels
        ``"all"`` (features and terms), ``"features"``, ``"terms"`` or ``"none"``.
    figsize
        Figure size in inches; default: 11 wide and tall enough for one row per feature or term.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as MplPath

    if labels not in ("all", "features", "terms", "none"):
        raise InputError(f"The 'labels' parameter of plot_network must be one of 'all', 'features', 'terms', 'none'. "
                         f"Got {labels!r} instead.")
    nodes = dict(graph.nodes(data=True))
    feats = [n for n, d in nodes.items() if d.get("kind") == "feature"]
    members = [n for n in feats if nodes[n].get("role") in ("differential", "auxiliary")] or feats
    mset = set(members)
    links: dict[str, list[str]] = {}
    genes: dict[str, int] = {f: 0 for f in members}
    for u, v, d in graph.edges(data=True):
        kind = d.get("kind")
        f, o = (u, v) if u in mset else (v, u)
        if f not in mset:
            continue
        if kind == "enrichment" and nodes.get(o, {}).get("kind") == "term":
            links.setdefault(o, []).append(f)
        elif kind == "association":
            genes[f] += 1
    role_rank = {"differential": 0, "auxiliary": 1}
    members.sort(key=lambda n: (role_rank.get(nodes[n].get("role"), 2), float(nodes[n].get("p_value", 1.0)), n))
    terms = sorted(links)
    order, term_y = _module_order(members, terms, links)
    n_rows = max(len(order), len(term_y), 1)
    fig = Figure(figsize=figsize or (11.0, min(1.6 + 0.27 * n_rows, 60.0)))
    ax = fig.add_subplot()
    ax.set_axis_off()
    if not order:
        ax.text(0.5, 0.5, "empty module: no feature to draw", ha="center", va="center")
        return fig
    x_feat, x_term = 0.36, 0.64
    fy = {f: float(i) for i, f in enumerate(order)}
    # feature-feature similarity: arcs bulging into the gap between the columns
    for u, v, d in graph.edges(data=True):
        if d.get("kind") != "similarity" or u not in fy or v not in fy:
            continue
        y1, y2 = fy[u], fy[v]
        bulge = min(0.02 + 0.012 * abs(y1 - y2), 0.12)
        path = MplPath([(x_feat, y1), (x_feat + bulge, (y1 + y2) / 2), (x_feat, y2)],
                       [MplPath.MOVETO, MplPath.CURVE3, MplPath.CURVE3])
        ax.add_patch(PathPatch(path, facecolor="none", edgecolor="#444444", alpha=0.45,
                               lw=0.5 + 1.5 * float(d.get("weight", 0.5)), zorder=1))
    for t, fs in links.items():
        for f in fs:
            ax.plot([x_feat, x_term], [fy[f], term_y[t]], ls="--", lw=0.9, color=COLOURS["term"], alpha=0.55, zorder=1)

    def colour(n: str) -> str:
        return COLOURS.get(str(nodes[n].get("role", "other")), COLOURS["other"])

    for f in order:
        d = nodes[f]
        verdict = d.get("beats_null")
        face = "white" if verdict is False else colour(f)
        ax.scatter([x_feat], [fy[f]], s=90, c=[face], edgecolors=["#111111" if verdict is True else colour(f)],
                   linewidths=2.0, zorder=3)
        if labels in ("all", "features"):
            text = short_name(d.get("label", f), 40) + (f"  ({genes[f]} gene{'s' if genes[f] != 1 else ''})"
                                                         if genes.get(f) else "")
            ax.text(x_feat - 0.012, fy[f], text, ha="right", va="center", fontsize=8,
                    color="#222222" if verdict is not False else "#666666")
    for t, y in term_y.items():
        ax.scatter([x_term], [y], s=70, marker="s", c=[COLOURS["term"]], zorder=3)
        if labels in ("all", "terms"):
            ax.text(x_term + 0.012, y, short_name(nodes[t].get("label", t), 48), ha="left", va="center",
                    fontsize=8, color="#0d3c61")
    top = -1.1
    ax.text(x_feat, top, "features", ha="center", va="bottom", fontsize=9, weight="bold")
    ax.text(x_term, top, "enriched terms" if term_y else "no significant term", ha="center", va="bottom",
            fontsize=9, weight="bold")
    ax.set_xlim(0, 1)
    ax.set_ylim(n_rows - 0.4, top - 0.9)
    present = {str(nodes[f].get("role", "other")) for f in order}
    handles = [Line2D([], [], marker="o", ls="", color=COLOURS[k], label=f"{k} feature")
               for k in ("differential", "auxiliary", "other") if k in present]
    if term_y:
        handles.append(Line2D([], [], marker="s", ls="", color=COLOURS["term"], label="term (dashed: enriched in)"))
    verdicts = {nodes[f].get("beats_null") for f in order}
    if True in verdicts:
        handles.append(Line2D([], [], marker="o", ls="", markerfacecolor="#bbbbbb", markeredgecolor="#111111",
                              markeredgewidth=2, label="black ring: gene set beats the null"))
    if False in verdicts:
        handles.append(Line2D([], [], marker="o", ls="", markerfacecolor="white", markeredgecolor="#555555",
                              markeredgewidth=1.5, label="hollow: gene set within chance"))
    if any(d.get("kind") == "similarity" for _, _, d in graph.edges(data=True)):
        handles.append(Line2D([], [], color="#444444", lw=1.5, label="arc: similar term sets (Simpson)"))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 3), fontsize=8, frameon=False)
    n_diff = sum(nodes[f].get("role") == "differential" for f in order)
    n_aux = sum(nodes[f].get("role") == "auxiliary" for f in order)
    ax.set_title(f"Feature module: {n_diff} differential and {n_aux} auxiliary feature(s), {len(term_y)} term(s)",
                 fontsize=11)
    fig.subplots_adjust(left=0.01, right=0.99, top=1 - 0.6 / fig.get_figheight(), bottom=0.9 / fig.get_figheight())
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
        figs["network"] = captioned(
            plot_network(result.graph),
            "Feature module: its differential and auxiliary features (left, with the number of genes each is "
            "linked to) and their top enriched terms (right; dashed: the feature's gene set is enriched in the "
            "term); arcs join features with similar term sets. The genes themselves are in the interactive "
            "view and the network tables." + scope)
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
