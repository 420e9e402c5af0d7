"""Enrichment: GMT/Enrichr libraries, ORA parity with scipy and gseapy, similarity, real SCAN-B biology."""

from __future__ import annotations

import json
import re
from math import comb

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

import radiogenomics as rg
from radiogenomics._validation import DataFileError, MissingDataFileError, ParameterError
from radiogenomics.enrichment import EnrichmentResult, bh_by_group, enrich, library_from_dict, load_library, read_gmt
from radiogenomics.module import (
    jaccard_index,
    pairwise_similarity,
    replication,
    significant_terms,
    similarity_matrix,
    simpson_index,
)

AMPLICON = {"ERBB2", "GRB7", "STARD3", "PGAP3", "MIEN1"}


@pytest.fixture(scope="module")
def cohort():
    return rg.make_cohort(seed=3)


def _cohort_gene_sets(cohort, *, noise: int = 20, seed: int = 0) -> dict[str, list[str]]:
    rng = np.random.default_rng(seed)
    genes = list(cohort.expression.columns)
    out = {}
    for f in cohort.features.columns:
        planted = list(cohort.positive_specific_links.query("feature == @f")["gene"])
        out[f] = list(dict.fromkeys(planted + list(rng.choice(genes, noise, replace=False))))
    return out


# ---------------------------------------------------------------- hypergeometric, by hand


def test_hand_worked_hypergeometric_case():
    # universe of 20 genes, a term of 5, a query of 4 sharing 3 with the term
    universe = [f"G{i:02d}" for i in range(20)]
    term = universe[:5]
    query = universe[2:5] + [universe[10]]
    res = enrich({"f": query}, {"T": term, "U": universe[5:20]}, background=universe, universe="background",
                 min_size=1, max_size=100)
    row = res.table.set_index("term").loc["T"]
    expected = (comb(5, 3) * comb(15, 1) + comb(5, 4) * comb(15, 0)) / comb(20, 4)  # 155 / 4845
    assert expected == pytest.approx(155 / 4845)
    assert row["p_value"] == pytest.approx(expected, rel=1e-12)
    assert row["p_value"] == pytest.approx(stats.hypergeom.sf(2, 20, 5, 4), rel=1e-12)
    assert (row["overlap"], row["set_size"], row["query_size"], row["background_size"]) == (3, 5, 4, 20)
    assert row["genes"] == "G02;G03;G04"
    # Haldane–Anscombe odds ratio: a=3, b=2, c=1, d=14
    assert row["odds_ratio"] == pytest.approx((3.5 * 14.5) / (2.5 * 1.5))
    # the other term shares one gene: P(X >= 1) with n = 15
    assert res.table.set_index("term").loc["U", "p_value"] == pytest.approx(stats.hypergeom.sf(0, 20, 15, 4))


def test_universe_modes_and_size_limits():
    annotated = [f"A{i}" for i in range(30)]
    measured = annotated[:20] + [f"M{i}" for i in range(10)]  # 20 annotated + 10 unannotated
    lib = {"big": annotated[:25], "small": annotated[:3], "mid": annotated[10:22]}
    q = {"f": annotated[:8] + ["A10", "M1", "M2"]}
    ma = enrich(q, lib, background=measured, min_size=4, max_size=50).table.set_index("term")
    # measured ∩ annotated = A0..A19 (20 genes); 'small' (3) is below min_size
    assert set(ma.index) == {"big", "mid"}
    assert ma.loc["big", "set_size"] == 20 and ma.loc["mid", "set_size"] == 10
    assert ma.loc["big", "background_size"] == 20 and ma.loc["big", "query_size"] == 9
    an = enrich(q, lib, min_size=4).table.set_index("term")  # no background: all annotated genes (A0..A24)
    assert an.loc["big", "background_size"] == 25 and an.loc["big", "set_size"] == 25
    bg = enrich(q, lib, background=measured, universe="background", min_size=4).table.set_index("term")
    assert bg.loc["big", "background_size"] == 30 and bg.loc["big", "query_size"] == 11
    with pytest.raises(ParameterError, match="background"):
        enrich(q, lib, universe="background")
    with pytest.raises(ParameterError, match="min_size"):
        enrich(q, lib, min_size=0)


def test_dropped_and_summary_are_explicit():
    lib = {"T": [f"G{i}" for i in range(12)]}
    res = enrich({"ok": ["G1", "G2", "X"], "none": ["X", "Y"]}, lib, min_size=1)
    assert res.dropped["item"].tolist() == ["none"] and res.dropped["kind"].tolist() == ["feature"]
    summ = res.summary.set_index("feature")
    assert summ.loc["ok", "genes_outside_universe"] == 1 and summ.loc["none", "genes_in_universe"] == 0


def test_long_table_input_equals_mapping(cohort):
    sets = _cohort_gene_sets(cohort)
    long = pd.DataFrame([(f, g, 7) for f, gs in sets.items() for g in gs], columns=["feature", "gene", "hits_positive"])
    a = enrich(sets, cohort.gene_sets, background=cohort.expression.columns).table
    b = enrich(long, cohort.gene_sets, background=cohort.expression.columns).table
    pd.testing.assert_frame_equal(a, b)


def test_bh_per_feature_matches_statsmodels(cohort):
    res = enrich(_cohort_gene_sets(cohort), cohort.gene_sets, background=cohort.expression.columns)
    for _, t in res.table.groupby("feature"):
        np.testing.assert_allclose(t["q_value"], multipletests(t["p_value"], method="fdr_bh")[1], rtol=1e-12)
    rng = np.random.default_rng(0)
    p, g = rng.uniform(size=300) ** 3, rng.integers(0, 7, size=300)
    q = bh_by_group(p, g)
    for k in range(7):
        np.testing.assert_allclose(q[g == k], multipletests(p[g == k], method="fdr_bh")[1], rtol=1e-12)


def test_fast_hypergeometric_tail_matches_scipy():
    from radiogenomics.enrichment import hypergeom_sf

    rng = np.random.default_rng(7)
    m = 4000
    big_m = rng.integers(20, 20000, m)
    n = (rng.uniform(size=m) * big_m * 0.5).astype(int) + 1
    big_n = (rng.uniform(size=m) * big_m * 0.3).astype(int) + 1
    hi = np.minimum(n, big_n)
    k = (rng.uniform(size=m) * (hi + 1)).astype(int)  # anywhere in the support, p from ~0 to 1
    k[:1500] = np.minimum(hi[:1500], rng.integers(0, 6, 1500))  # small overlaps, as in ORA
    ours = hypergeom_sf(k, n, big_n, population=big_m)
    ref = stats.hypergeom.sf(k - 1, big_m, n, big_n)
    ok = ref > 1e-290
    assert ok.sum() > 3000 and ours.min() >= 0 and ours.max() <= 1
    np.testing.assert_allclose(ours[ok], ref[ok], rtol=1e-9, atol=0)
    assert np.all(ours[~ok] < 1e-280)


# ---------------------------------------------------------------- parity with gseapy.enrich


def _gseapy_table(genes, sets, background):
    gseapy = pytest.importorskip("gseapy")
    res = gseapy.enrich(gene_list=list(genes), gene_sets={k: list(v) for k, v in sets.items()},
                        background=list(background), outdir=None, cutoff=1, no_plot=True)
    return res.res2d.set_index("Term")


@pytest.mark.parametrize("universe", ["background", "measured_annotated"])
def test_parity_with_gseapy_enrich(cohort, universe):
    sets = _cohort_gene_sets(cohort)
    measured = list(cohort.expression.columns[:800]) + ["NOT_ANNOTATED_1", "NOT_ANNOTATED_2"]
    res = enrich(sets, cohort.gene_sets, background=measured, universe=universe, min_size=1, max_size=10**6)
    annotated = set().union(*map(set, cohort.gene_sets.values()))
    # gseapy counts every background gene; 'measured_annotated' = gseapy given measured ∩ annotated
    gs_bg = measured if universe == "background" else [g for g in measured if g in annotated]
    n_checked = 0
    for f in list(sets)[:6]:
        ours = res.table[res.table["feature"] == f].set_index("term")
        ref = _gseapy_table(sets[f], cohort.gene_sets, gs_bg)
        assert set(ours.index) == set(ref.index)
        ref = ref.loc[ours.index]
        np.testing.assert_allclose(ours["p_value"], ref["P-value"], rtol=1e-9)
        np.testing.assert_allclose(ours["q_value"], ref["Adjusted P-value"], rtol=1e-9)
        np.testing.assert_allclose(ours["odds_ratio"], ref["Odds Ratio"], rtol=1e-9)
        assert (ours["overlap"].astype(str) + "/" + ours["set_size"].astype(str) == ref["Overlap"]).all()
        assert (ours["genes"] == ref["Genes"].map(lambda s: ";".join(sorted(s.split(";"))))).all()
        n_checked += len(ours)
    assert n_checked > 50


def test_parity_with_gseapy_on_kegg_gmt(shared_data):
    lib = read_gmt(shared_data / "genesets" / "KEGG_2021_Human.gmt")
    rng = np.random.default_rng(1)
    measured = list(rng.choice(sorted(lib.genes), 4000, replace=False)) + [f"X{i}" for i in range(500)]
    query = list(rng.choice(measured, 300, replace=False))
    ours = enrich({"q": query}, lib, background=measured, universe="background", min_size=1, max_size=10**6)
    ours = ours.table.set_index("term")
    gseapy = pytest.importorskip("gseapy")
    ref = gseapy.enrich(gene_list=query, gene_sets=str(lib.path), background=measured, outdir=None, cutoff=1,
                        no_plot=True).res2d.set_index("Term")
    assert set(ours.index) == set(ref.index) and len(ours) > 100
    np.testing.assert_allclose(ours["p_value"], ref.loc[ours.index, "P-value"], rtol=1e-9)


def test_planted_gene_set_is_top_term(cohort):
    res = enrich(_cohort_gene_sets(cohort), cohort.gene_sets, background=cohort.expression.columns)
    links = cohort.positive_specific_links
    factors = links.groupby("feature")["factor"].first()
    assert len(factors) >= 4
    for f, k in factors.items():
        top = res.table[res.table["feature"] == f].iloc[0]
        assert top["term"] == f"SYNTHETIC_PATHWAY_{k}", f
        assert top["q_value"] < 1e-10
    # features with random genes only: nothing near the planted signal (one chance hit at q ~ 0.009
    # among 18 such features with this seed is expected at q < 0.05)
    unlinked = [f for f in cohort.features.columns if f not in factors.index]
    best = res.table[res.table["feature"].isin(unlinked)].groupby("feature")["q_value"].min()
    assert len(best) == len(unlinked) and best.min() > 1e-3
    assert (best < 0.05).sum() <= 2


# ---------------------------------------------------------------- libraries


def test_read_gmt_formats(tmp_path):
    p = tmp_path / "lib_2024.gmt"
    p.write_text("T1\t\tA\tB\tB\tC\nT2\tNA\tA,1.0\tD\t\n\nT3\tdesc\t\n")
    lib = read_gmt(p)
    assert lib.name == "lib_2024" and lib.version == "2024" and lib.sha256 and lib.source == "gmt"
    assert dict(lib.sets) == {"T1": ("A", "B", "C"), "T2": ("A", "D")}
    assert lib.info()["n_genes"] == 4
    (tmp_path / "dup.gmt").write_text("T\t\tA\nT\t\tB\n")
    with pytest.raises(DataFileError, match="line 2"):
        read_gmt(tmp_path / "dup.gmt")
    with pytest.raises(MissingDataFileError, match="nothere.gmt"):
        load_library(tmp_path / "nothere.gmt")


def test_enrichr_library_fetched_once_and_cached(tmp_path, monkeypatch):
    gseapy = pytest.importorskip("gseapy")
    calls = []

    def fake_get_library(name, organism="Human", **kw):
        calls.append((name, organism))
        return {"pathway one": ["A", "B", "C"], "pathway two": ["C", "D"]}

    monkeypatch.setattr(gseapy, "get_library", fake_get_library)
    lib = load_library("KEGG_2021_Human", cache_dir=tmp_path)
    assert calls == [("KEGG_2021_Human", "Human")]
    assert lib.source == "enrichr" and lib.n_terms == 2 and lib.fetched
    assert (tmp_path / "KEGG_2021_Human.gmt").is_file()
    meta = json.loads((tmp_path / "KEGG_2021_Human.json").read_text())
    assert meta["sha256"] == lib.sha256 and meta["gseapy"] == gseapy.__version__
    assert "fetched" in lib.info()["version"]

    def offline(*a, **k):
        raise ConnectionError("no network")

    monkeypatch.setattr(gseapy, "get_library", offline)
    again = load_library("KEGG_2021_Human", cache_dir=tmp_path)  # served from the cache
    assert dict(again.sets) == dict(lib.sets) and len(calls) == 1
    with pytest.raises(MissingDataFileError, match=re.escape(str(tmp_path / "GO_Biological_Process_2023.gmt"))):
        load_library("GO_Biological_Process_2023", cache_dir=tmp_path)
    with pytest.raises(MissingDataFileError, match="offline"):
        load_library("Reactome_2022", cache_dir=tmp_path, offline=True)


def test_default_cache_dir_env(tmp_path, monkeypatch):
    from radiogenomics.enrichment import default_cache_dir

    monkeypatch.setenv("RADIOGENOMICS_GENESETS", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("RADIOGENOMICS_GENESETS")
    assert default_cache_dir().parts[-3:] == (".cache", "radiogenomics", "genesets")


# ---------------------------------------------------------------- similarity


def test_simpson_and_jaccard_on_hand_made_sets():
    a, b, c, e = {"t1", "t2", "t3"}, {"t2", "t3", "t4", "t5"}, {"t9"}, set()
    assert simpson_index(a, b) == pytest.approx(2 / 3)
    assert jaccard_index(a, b) == pytest.approx(2 / 5)
    assert simpson_index({"t1"}, a) == 1.0 and simpson_index(a, c) == 0.0
    assert np.isnan(simpson_index(a, e)) and np.isnan(jaccard_index(a, e))
    sets = {"A": a, "B": b, "C": c, "E": e}
    m = similarity_matrix(sets)
    assert m.loc["A", "B"] == pytest.approx(2 / 3) and m.loc["B", "A"] == pytest.approx(2 / 3)
    assert m.loc["A", "A"] == 1.0 and np.isnan(m.loc["A", "E"])
    mj = similarity_matrix(sets, method="jaccard")
    assert mj.loc["A", "B"] == pytest.approx(0.4)
    pw = pairwise_similarity(sets)
    assert len(pw) == 3  # pairs with E (empty) left out
    top = pw.iloc[0]
    assert (top["feature_a"], top["feature_b"], top["shared_terms"]) == ("A", "B", 2)
    assert top["simpson"] == pytest.approx(2 / 3) and top["jaccard"] == pytest.approx(0.4)


def test_significant_terms_and_replication():
    disc = pd.DataFrame({
        "feature": ["f1", "f1", "f1", "f2", "f2"], "library": ["L"] * 5,
        "term": ["a", "b", "c", "a", "z"], "p_value": [1e-5, 1e-4, 0.2, 1e-6, 1e-3],
        "q_value": [1e-4, 1e-3, 0.3, 1e-5, 0.01],
    })
    val = pd.DataFrame({
        "feature": ["f1", "f1", "f2"], "library": ["L"] * 3, "term": ["b", "c", "y"],
        "p_value": [1e-4, 1e-4, 1e-4], "q_value": [0.01, 0.01, 0.01],
    })
    terms = significant_terms(disc, features=["f3"])
    assert terms == {"f3": frozenset(), "f1": frozenset({"L: a", "L: b"}), "f2": frozenset({"L: a", "L: z"})}
    rep = replication(disc, val).set_index("feature")
    assert rep.loc["f1", "shared_terms"] == 1 and bool(rep.loc["f1", "replicated"])
    assert rep.loc["f1", "simpson"] == pytest.approx(0.5) and rep.loc["f1", "shared"] == "L: b"
    assert not bool(rep.loc["f2", "replicated"]) and rep.loc["f2", "shared_terms"] == 0


def test_library_from_dict_rejects_empty():
    with pytest.raises(Exception, match="no term"):
        library_from_dict({"a": []}, name="x")


# ---------------------------------------------------------------- real data: SCAN-B HER2-up genes in GO BP


def _go_id(term: str) -> str:
    m = re.search(r"\((GO:\d+)\)\s*$", term)
    return m.group(1) if m else term


@pytest.mark.shared
def test_scanb_her2_up_genes_enriched_and_stable_across_go_versions(scanb, shared_data):
    expr, samples = scanb
    labels = samples.set_index("title")["her2_status"].dropna().astype(int)
    diff = rg.differential(expr.loc[labels.index], labels, log_base=2).table
    up = diff[diff["direction"] == "up"].sort_values("p_value").head(200)
    assert {"ERBB2", "GRB7"} <= set(up.index[:10])
    libs = [read_gmt(shared_data / "genesets" / f"GO_Biological_Process_{y}.gmt") for y in (2021, 2023)]
    res = enrich({"her2_up": list(up.index)}, libs, background=expr.columns)
    t21 = res.table[res.table["library"] == "GO_Biological_Process_2021"].copy()
    t23 = res.table[res.table["library"] == "GO_Biological_Process_2023"].copy()
    has_amp = lambda t: t["genes"].str.split(";").map(lambda g: bool(AMPLICON & set(g)))  # noqa: E731
    # GO BP 2021: significant (BH q < 0.05) terms carry amplicon genes (STARD3: cholesterol metabolism)
    sig21 = t21[(t21["q_value"] < 0.05) & has_amp(t21)]
    assert len(sig21) >= 1
    assert "cholesterol metabolic process (GO:0008203)" in set(sig21["term"])
    # in both versions, the ERBB2-containing EGF-response term is nominally enriched (p < 0.01)
    for t in (t21, t23):
        t["go"] = t["term"].map(_go_id)
        row = t[t["go"] == "GO:0071364"]
        assert len(row) == 1 and "ERBB2" in row["genes"].iloc[0].split(";")
        assert row["p_value"].iloc[0] < 0.01
    # stability 2021 vs 2023 (terms matched by GO id; 2023 names are Title Case):
    a, b = t21.set_index("go"), t23.set_index("go")
    shared = a.index.intersection(b.index)
    assert len(shared) > 500
    rho = stats.spearmanr(a.loc[shared, "p_value"], b.loc[shared, "p_value"]).statistic
    assert rho > 0.7  # measured 0.79 on 933 shared terms
    sa, sb = set(a.index[a["p_value"] < 0.01]), set(b.index[b["p_value"] < 0.01])
    assert simpson_index(sa, sb) > 0.4  # measured 10 shared of 29 and 18 terms: 0.56


def test_enrich_takes_the_association_result_and_its_genes_as_background(tmp_path):
    c = rg.make_cohort(seed=1, n_genes=300)
    assoc = rg.associate(c.features, c.expression, c.feature_labels, expression_labels=c.expression_labels,
                         n_perturbations=20, min_hits=3, n_null=0, show_progress=False)
    res = rg.enrich(assoc, c.gene_sets)
    same = enrich(assoc.gene_sets(), c.gene_sets, background=c.expression.columns)
    pd.testing.assert_frame_equal(res.table, same.table)
    assert res.parameters["universe"] == "measured_annotated" and res.parameters["background_genes"] == 300
    assert res.libraries[0]["n_terms"] == len(c.gene_sets)
    res.write(tmp_path / "enr")
    back = EnrichmentResult.read(tmp_path / "enr")
    pd.testing.assert_frame_equal(back.table, res.table)
    assert back.alpha == 0.05 and back.libraries == res.libraries
    assert set(back.figures()) == {f"dotplot_{k}" for k in range(1, 5)}


def test_enrichment_carries_each_features_null_verdict(tmp_path):
    c = rg.make_cohort(seed=1, n_genes=300)
    assoc = rg.associate(c.features, c.expression, c.feature_labels, expression_labels=c.expression_labels,
                         n_perturbations=20, min_hits=3, n_null=20, show_progress=False)
    verdict = assoc.null_verdict()
    res = rg.enrich(assoc, c.gene_sets)
    assert list(res.table.columns[-3:]) == ["empirical_p", "empirical_fdr", "beats_null"]
    for frame in (res.table, res.summary):
        ref = verdict.reindex(frame["feature"])
        np.testing.assert_array_equal(frame["empirical_p"].to_numpy(), ref["empirical_p"].to_numpy())
        np.testing.assert_array_equal(frame["empirical_fdr"].to_numpy(), ref["empirical_fdr"].to_numpy())
        assert (frame["beats_null"].to_numpy(bool) == ref["beats_null"].to_numpy(bool)).all()
    assert res.parameters["null_verdict"].startswith("association permutation null")
    pd.testing.assert_frame_equal(res.null_verdict().loc[verdict.index], verdict)
    res.write(tmp_path / "enr")
    back = EnrichmentResult.read(tmp_path / "enr")
    pd.testing.assert_frame_equal(back.table, res.table)
    assert back.table["beats_null"].dtype == "boolean"
    # plain gene sets carry no verdict: the columns are missing values and the parameters say why
    plain = enrich(assoc.gene_sets(), c.gene_sets, background=c.expression.columns)
    assert plain.table["beats_null"].isna().all() and plain.table["empirical_p"].isna().all()
    assert plain.null_verdict() is None and plain.parameters["null_verdict"].startswith("none")
    cols = [col for col in plain.table.columns if col not in ("empirical_p", "empirical_fdr", "beats_null")]
    pd.testing.assert_frame_equal(plain.table[cols], res.table[cols])
    without = rg.enrich(rg.associate(c.features, c.expression, c.feature_labels,
                                     expression_labels=c.expression_labels, n_perturbations=20, min_hits=3,
                                     n_null=0, show_progress=False), c.gene_sets)
    assert without.null_verdict() is None and "n_null=0" in without.parameters["null_verdict"]


def test_genes_outside_the_universe_are_counted_once_each(caplog):
    import logging

    annotated = [f"A{i}" for i in range(30)]
    measured = annotated[:20] + ["M1", "M2", "M3"]
    lib = {"big": annotated[:25], "mid": annotated[10:22]}
    # M1 and M2 (measured, not annotated) are in three features' sets: 5 pairs, 2 distinct genes
    q = {"f1": annotated[:6] + ["M1", "M2"], "f2": annotated[5:12] + ["M1", "M2"], "f3": annotated[8:14] + ["M1"],
         "f4": annotated[:5]}
    with caplog.at_level(logging.INFO, logger="radiogenomics"):
        res = enrich(q, lib, background=measured, min_size=4)
    assert res.summary.set_index("feature")["genes_outside_universe"].to_dict() == {"f1": 2, "f2": 2, "f3": 1, "f4": 0}
    lines = [r.getMessage() for r in caplog.records if "outside the" in r.getMessage()]
    assert lines == ["library custom: 2 distinct query gene(s) outside the measured_annotated universe were not "
                     "counted (5 gene-feature pair(s) in 3 of 4 feature(s))"]


def test_no_associated_gene_at_all_is_an_empty_result_not_an_error(caplog):
    """The paper's unpaired design can leave every feature without a gene (nothing beats chance): the
    enrichment is then whole and empty, says why, and the later stages (module, report) go on."""
    import logging

    lib = {"T1": [f"G{i}" for i in range(12)], "T2": [f"G{i}" for i in range(6, 20)]}
    with caplog.at_level(logging.WARNING, logger="radiogenomics"):
        res = enrich({"f1": [], "f2": []}, lib, min_size=1)
    assert len(res.table) == 0 and list(res.table.columns)[:3] == ["feature", "library", "term"]
    assert res.summary.set_index("feature")["genes_given"].to_dict() == {"f1": 0, "f2": 0}
    assert sorted(res.dropped["item"]) == ["f1", "f2"]
    assert any("every feature's gene set is empty (2 feature(s))" in r.getMessage() for r in caplog.records)
    assert len(significant_terms(res.table)) == 0
