"""Network stage: auxiliary features, the feature module, GraphML/Cytoscape round trips, CLI."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import radiogenomics as rg
from radiogenomics._validation import InputError
from radiogenomics.enrichment import enrich
from radiogenomics.module import (
    ModuleResult,
    auxiliary_features,
    build_module,
    build_network,
    from_cytoscape,
    from_graphml,
    network_tables,
    significant_terms,
    similarity_matrix,
    to_cytoscape,
    to_graphml,
)


def _hand_enrichment() -> tuple[pd.DataFrame, pd.DataFrame]:
    # D1, D2 differential; A: 3 of its 4 terms shared with D1 (Simpson 0.75, > 0.6) -> auxiliary
    # B: 3 of 5 shared with D1 (Simpson 3/5 = 0.6, not > 0.6) -> not auxiliary; C: nothing shared
    sig = {
        "D1": ["t1", "t2", "t3", "t4", "t5"],
        "D2": ["u1", "u2"],
        "A": ["t1", "t2", "t3", "x1"],
        "B": ["t1", "t2", "t3", "y1", "y2"],
        "C": ["z1"],
    }
    rows = [(f, "L", t, 3, 20, 50, 1000, 1e-4, 0.001, 5.0, "G1;G2;G3") for f, ts in sig.items() for t in ts]
    rows += [("C", "L", "t1", 1, 20, 50, 1000, 0.3, 0.6, 1.1, "G1")]  # not significant
    enr = pd.DataFrame(rows, columns=["feature", "library", "term", "overlap", "set_size", "query_size",
                                      "background_size", "p_value", "q_value", "odds_ratio", "genes"])
    diff = pd.DataFrame({
        "fold_change": [1.5, 0.7, 1.01, 0.99, 1.0, 1.02],
        "p_value": [0.001, 0.01, 0.5, 0.7, 0.9, 0.8],
        "q_value": [0.01, 0.05, 0.8, 0.8, 0.9, 0.9],
        "selected": [True, True, False, False, False, False],
    }, index=pd.Index(["D1", "D2", "A", "B", "C", "E"], name="feature"))
    return enr, diff


def test_auxiliary_features_threshold_is_strict():
    enr, diff = _hand_enrichment()
    mod = build_module(enr, diff)
    table = mod.module.set_index("feature")
    assert list(table.index) == ["D1", "D2", "A"]
    assert table.loc["A", "role"] == "auxiliary" and table.loc["D1", "role"] == "differential"
    assert table.loc["A", "reason"] == "Simpson 0.75 with D1"
    assert table.loc["A", "similarity"] == pytest.approx(0.75) and table.loc["A", "partner"] == "D1"
    assert table.loc["A", "n_terms"] == 4 and table.loc["A", "fold_change"] == pytest.approx(1.01)
    assert table.loc["D1", "reason"].startswith("differential (Wilcoxon p = 0.001")
    # B sits exactly on 0.6: a lower threshold lets it in, with the partner named
    mod2 = build_module(enr, diff, threshold=0.59)
    assert set(mod2.module["feature"]) == {"D1", "D2", "A", "B"}
    # Jaccard option: A–D1 = 3/6 = 0.5
    assert set(build_module(enr, diff, method="jaccard", threshold=0.45).module["feature"]) == {"D1", "D2", "A"}
    assert set(build_module(enr, diff, method="jaccard").module["feature"]) == {"D1", "D2"}
    # a non-differential feature above threshold with two differential features lists both
    sim = pd.DataFrame({"feature_a": ["X", "X"], "feature_b": ["D1", "D2"], "simpson": [0.7, 0.9], "jaccard": [0.1, 0.2]})
    aux = auxiliary_features(sim, ["D1", "D2"])
    assert aux.iloc[0]["partner"] == "D2" and aux.iloc[0]["partners"] == "D2;D1"


def test_similarity_table_of_module_matches_matrix():
    enr, diff = _hand_enrichment()
    mod = build_module(enr, diff)
    m = similarity_matrix(significant_terms(enr))
    for r in mod.similarity.itertuples():
        assert r.simpson == pytest.approx(m.loc[r.feature_a, r.feature_b])
    assert mod.term_sets["E"] == frozenset()  # in the differential table, no terms


def test_module_recovers_planted_auxiliary_features():
    cohort = rg.make_cohort(seed=0)
    rng = np.random.default_rng(0)
    genes = list(cohort.expression.columns)
    sets = {}
    for f in cohort.features.columns:
        planted = list(cohort.positive_specific_links.query("feature == @f")["gene"])
        sets[f] = list(dict.fromkeys(planted + list(rng.choice(genes, 20, replace=False))))
    enr = enrich(sets, cohort.gene_sets, background=genes).table
    diff = rg.differential(cohort.features, cohort.feature_labels).table
    mod = build_module(enr, diff)
    aux = mod.module[mod.module["role"] == "auxiliary"]
    # features n_differential + k (k = positive-only factors 0..2) share factor k's pathway
    n_diff = len(cohort.differential_features)
    planted_aux = {cohort.features.columns[n_diff + k] for k in range(3)}
    assert set(aux["feature"]) == planted_aux
    for r in aux.itertuples():
        assert r.partner in cohort.differential_features and r.similarity > 0.6


def _graph():
    enr, diff = _hand_enrichment()
    mod = build_module(enr, diff)
    assoc = pd.DataFrame({"feature": ["D1", "D1", "A", "Z"], "gene": ["ERBB2", "GRB7", "ERBB2", "X"],
                          "hits_positive": [9, 12, 7, 3], "hits_negative": [0, 1, 0, 0]})
    return mod, enr, build_network(mod, enr, associations=assoc, top_terms=3, top_genes=1)


def test_network_content():
    mod, enr, g = _graph()
    feats = [n for n, d in g.nodes(data=True) if d["kind"] == "feature"]
    assert sorted(feats) == ["feature:A", "feature:D1", "feature:D2"]
    assert g.nodes["feature:A"]["role"] == "auxiliary" and g.nodes["feature:D1"]["fold_change"] == 1.5
    e = g.edges["feature:A", "feature:D1"]
    assert e["kind"] == "similarity" and e["weight"] == pytest.approx(0.75) and e["shared_terms"] == 3
    assert not g.has_edge("feature:D1", "feature:D2")  # nothing shared
    # top_genes=1 keeps D1's best gene by hits_positive (GRB7: 12)
    assert g.has_edge("feature:D1", "gene:GRB7") and not g.has_edge("feature:D1", "gene:ERBB2")
    assert "gene:X" not in g  # Z is not in the module
    assert sum(1 for _, v, d in g.edges("feature:D1", data=True) if d["kind"] == "enrichment") == 3
    assert g.nodes["term:L: t1"]["kind"] == "term" and g.nodes["term:L: t1"]["label"] == "t1"


def test_graphml_and_cytoscape_round_trip_keep_all_attributes():
    _, _, g = _graph()
    h = from_graphml(to_graphml(g))
    assert dict(h.nodes(data=True)) == dict(g.nodes(data=True))
    assert sorted(map(sorted, h.edges())) == sorted(map(sorted, g.edges()))
    for u, v, d in g.edges(data=True):
        assert h.edges[u, v] == d
    assert h.graph == g.graph
    data = json.loads(json.dumps(to_cytoscape(g)))  # through JSON text, as written to network.cyjs
    c = from_cytoscape(data)
    assert dict(c.nodes(data=True)) == dict(g.nodes(data=True))
    for u, v, d in g.edges(data=True):
        assert c.edges[u, v] == d
    assert c.graph == g.graph
    # types survive GraphML: ints stay ints, floats floats, bools bools
    assert isinstance(h.nodes["feature:A"]["n_terms"], int) and isinstance(h.edges["feature:A", "feature:D1"]["weight"], float)


def test_graphml_rejects_non_scalar_attributes():
    g = nx.Graph()
    g.add_node("a", genes=["x", "y"])
    with pytest.raises(InputError, match="scalar"):
        to_graphml(g)
    g2 = nx.Graph()
    g2.add_node("a", value=float("nan"))
    with pytest.raises(InputError):
        to_graphml(g2)


def test_network_tables_and_figures():
    mod, enr, g = _graph()
    nodes, edges = network_tables(g)
    assert len(nodes) == g.number_of_nodes() and len(edges) == g.number_of_edges()
    assert {"id", "kind", "label", "role"} <= set(nodes.columns)
    assert {"source", "target", "interaction", "weight"} <= set(edges.columns)
    from radiogenomics.plotting import plot_enrichment, plot_network, plot_similarity

    feature = enr["feature"].iloc[0]
    for fig in (plot_network(g), plot_enrichment(enr, feature=feature), plot_similarity(similarity_matrix(mod.term_sets))):
        assert isinstance(fig, Figure) and fig.axes


def test_missing_selected_column_is_named():
    enr, diff = _hand_enrichment()
    with pytest.raises(InputError, match="selected"):
        build_module(enr, diff.drop(columns="selected"))


# ---------------------------------------------------------------- CLI


def _cli_app():
    try:
        from radiogenomics.cli import app
    except ImportError as exc:  # another stage's CLI module is not there yet
        pytest.skip(f"radiogenomics.cli cannot be imported yet: {exc}")
    return app


def test_cli_enrich_and_module(tmp_path):
    from typer.testing import CliRunner

    from radiogenomics._io import write_table

    app = _cli_app()
    cohort = rg.make_cohort(seed=0)
    rng = np.random.default_rng(0)
    genes = list(cohort.expression.columns)
    rows = []
    for f in cohort.features.columns:
        planted = list(cohort.positive_specific_links.query("feature == @f")["gene"])
        rows += [(f, g, 10, 0) for g in dict.fromkeys(planted + list(rng.choice(genes, 20, replace=False)))]
    inp = tmp_path / "in"
    write_table(pd.DataFrame(rows, columns=["feature", "gene", "hits_positive", "hits_negative"]), inp, "positive_specific")
    write_table(rg.differential(cohort.features, cohort.feature_labels).table, inp, "differential")
    write_table(cohort.expression.iloc[:3], inp, "expression")
    (inp / "syn.gmt").write_text("\n".join(cohort.to_gmt_lines()) + "\n")
    out = tmp_path / "out"
    runner = CliRunner()
    r = runner.invoke(app, ["enrich", "--associations", str(inp / "positive_specific.parquet"), "--gmt",
                            str(inp / "syn.gmt"), "--background", str(inp / "expression.parquet"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    enr = pd.read_parquet(out / "enrichment.parquet")
    assert list(enr.columns[:4]) == ["feature", "library", "term", "overlap"] and (enr["q_value"] < 1e-10).sum() >= 6
    prov = json.loads((out / "provenance.json").read_text())["stages"]["enrichment"]
    libs = prov["parameters"]["libraries"]
    assert libs[0]["name"] == "syn" and libs[0]["sha256"]
    assert prov["inputs"]["library:syn"]["sha256"] == libs[0]["sha256"]
    # the module reads the enrichment result folder (or a table) and the differential table
    out = tmp_path / "module"
    r = runner.invoke(app, ["module", "--enrichment", str(tmp_path / "out"), "--differential",
                            str(inp / "differential.parquet"), "--associations", str(inp / "positive_specific.csv"),
                            "--out", str(out)])
    assert r.exit_code == 0, r.output
    for name in ("similarity.parquet", "similarity_matrix.parquet", "module.csv", "network.graphml", "network.cyjs",
                 "network_nodes.csv", "network_edges.csv", "network.png", "similarity.png", "provenance.json"):
        assert (out / name).is_file(), name
    module = pd.read_csv(out / "module.csv")
    assert (module["role"] == "auxiliary").sum() == 3
    g = nx.read_graphml(out / "network.graphml")
    assert sum(d["kind"] == "feature" for _, d in g.nodes(data=True)) == len(module)
    # bad input: one line, exit 2
    r = runner.invoke(app, ["enrich", "--associations", str(inp / "nothere.parquet"), "--gmt", "KEGG_2021_Human",
                            "--offline", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "nothere.parquet" in r.output


def test_module_stage_composes_results_and_round_trips(tmp_path):
    cohort = rg.make_cohort(seed=0)
    enr_table, diff_table = _hand_enrichment()
    mod = rg.module(enr_table, diff_table)
    assert isinstance(mod, ModuleResult) and mod.members == list(build_module(enr_table, diff_table).module["feature"])
    # the square matrix is the long pair table's Simpson index, computed once in the stage
    pairs = mod.similarity
    for r in pairs.itertuples():
        assert mod.similarity_matrix.loc[r.feature_a, r.feature_b] == pytest.approx(r.simpson)
    assert mod.parameters["threshold"] == 0.6 and mod.parameters["alpha"] == 0.05
    # from upstream results: differential + enrichment (+ association for gene nodes)
    assoc = rg.associate(cohort.features, cohort.expression, cohort.feature_labels,
                         expression_labels=cohort.expression_labels, n_perturbations=20, min_hits=3, n_null=0,
                         show_progress=False)
    diff = rg.differential(cohort.features, cohort.feature_labels)
    enr = rg.enrich(assoc, cohort.gene_sets)
    res = rg.module(enr, diff, association=assoc, column="p_value")
    assert res.parameters["column"] == "p_value" and res.feature_set() == res.members
    assert set(res.members) >= set(diff.selected)
    assert any(d.get("kind") == "gene" for _, d in res.graph.nodes(data=True))
    res.write(tmp_path / "module")
    back = ModuleResult.read(tmp_path / "module")
    pd.testing.assert_frame_equal(back.module, res.module)
    assert back.graph.number_of_nodes() == res.graph.number_of_nodes()
    assert "network" in back.figures()


# ---------------------------------------------------------------- the null verdict in the module
def _with_verdict(enr: pd.DataFrame, beats: dict[str, bool]) -> pd.DataFrame:
    from radiogenomics.enrichment.ora import add_verdict

    verdict = pd.DataFrame({"empirical_p": [0.01 if b else 0.5 for b in beats.values()],
                            "empirical_fdr": [0.1 if b else 0.95 for b in beats.values()],
                            "beats_null": pd.array(list(beats.values()), dtype="boolean")},
                           index=pd.Index(list(beats), name="feature"))
    return add_verdict(enr, verdict)


def test_module_carries_the_verdict_into_its_tables_and_network(tmp_path):
    enr, diff = _hand_enrichment()
    enr = _with_verdict(enr, {"D1": True, "D2": False, "A": True, "B": False, "C": False})
    res = rg.module(enr, diff)  # the verdict from the enrichment table's columns
    table = res.module.set_index("feature")
    assert list(table.index) == ["D1", "D2", "A"]  # the paper's method: every feature compared
    assert table["beats_null"].tolist() == [True, False, True]
    assert table.loc["D2", "empirical_fdr"] == 0.95 and not res.beats_null_only
    assert res.overview()["members_beating_null"] == 2
    g = res.graph
    assert g.nodes["feature:D1"]["beats_null"] is True and g.nodes["feature:D2"]["beats_null"] is False
    assert g.nodes["feature:A"]["empirical_p"] == 0.01
    nodes = res.network_nodes.set_index("id")
    assert nodes.loc["feature:D2", "beats_null"] == False  # noqa: E712  (a node-table column)
    sim = res.similarity.set_index(["feature_a", "feature_b"])
    pair = sim.loc[("D1", "A")] if ("D1", "A") in sim.index else sim.loc[("A", "D1")]
    assert bool(pair["beats_null_a"]) and bool(pair["beats_null_b"])
    back = from_graphml(to_graphml(g))
    assert back.nodes["feature:D2"]["beats_null"] is False
    res.write(tmp_path / "m")
    again = ModuleResult.read(tmp_path / "m")
    pd.testing.assert_frame_equal(again.module, res.module)
    assert again.graph.nodes["feature:D1"]["beats_null"] is True
    assert "°" in " ".join(t.get_text() for t in res.figures()["similarity"].axes[0].get_yticklabels())


def test_module_can_be_restricted_to_features_that_beat_the_null():
    enr, diff = _hand_enrichment()
    # A (auxiliary of D1) and D1 beat the null, D2 does not: D2 leaves the module, with a reason
    res = rg.module(_with_verdict(enr, {"D1": True, "D2": False, "A": True, "B": True, "C": True}), diff,
                    beats_null_only=True)
    assert res.members == ["D1", "A"] and res.parameters["beats_null_only"] is True
    assert res.dropped["item"].tolist() == ["D2"]
    assert "does not beat the association's permutation null" in res.dropped["reason"].iloc[0]
    assert set(res.similarity_matrix.index) == {"D1", "A", "B", "C"}  # only features that beat the null compared
    # D1 within chance: it leaves, and A is no longer recruited by it
    res = rg.module(_with_verdict(enr, {"D1": False, "D2": True, "A": True, "B": True, "C": True}), diff,
                    beats_null_only=True)
    assert res.members == ["D2"] and res.dropped["item"].tolist() == ["D1"]
    # without a verdict the restriction cannot be made: an error that says what to pass
    with pytest.raises(rg.ParameterError, match="association result"):
        rg.module(enr, diff, beats_null_only=True)
    plain = rg.module(enr, diff)
    assert plain.module["beats_null"].isna().all() and plain.parameters["null_verdict"].startswith("none")


def test_module_takes_the_verdict_from_the_association_result():
    cohort = rg.make_cohort(seed=0)
    assoc = rg.associate(cohort.features, cohort.expression, cohort.feature_labels,
                         expression_labels=cohort.expression_labels, n_perturbations=20, min_hits=3, n_null=20,
                         show_progress=False)
    diff = rg.differential(cohort.features, cohort.feature_labels)
    enr = enrich(assoc.gene_sets(), cohort.gene_sets, background=cohort.expression.columns)  # plain: no verdict
    res = rg.module(enr, diff, association=assoc, column="p_value")
    verdict = assoc.null_verdict()
    table = res.module.set_index("feature")
    np.testing.assert_array_equal(table["empirical_p"], verdict.loc[table.index, "empirical_p"])
    assert res.parameters["null_verdict"].startswith("association permutation null")
    restricted = rg.module(enr, diff, association=assoc, column="p_value", beats_null_only=True)
    beating = set(verdict.index[verdict["beats_null"].to_numpy(bool)])
    assert set(restricted.members) <= beating
    assert set(restricted.dropped["item"]) == set(diff.selected) - beating
