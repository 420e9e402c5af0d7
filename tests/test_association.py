"""The association stage: the engine against scipy's pearsonr on its own draws, planted links,
its null model, seeds and backends, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import radiogenomics as rg
from radiogenomics._validation import AlignmentError, InputError, LabelError, ParameterError
from radiogenomics.association import (
    AssociationResult,
    associate,
    binomial_null,
    critical_r,
    null_hit_probability,
    pearson_matrix,
)
from radiogenomics.imaging.result import load_features


def _noise(seed=3, n_feat=6, n_genes=400, n_img=(40, 60), n_exp=(60, 90)):
    rng = np.random.default_rng(seed)
    ni, ne = sum(n_img), sum(n_exp)
    X = pd.DataFrame(rng.standard_normal((ni, n_feat)), index=[f"p{i}" for i in range(ni)],
                     columns=[f"f{j}" for j in range(n_feat)])
    E = pd.DataFrame(rng.standard_normal((ne, n_genes)), index=[f"s{i}" for i in range(ne)],
                     columns=[f"g{j}" for j in range(n_genes)])
    yl = pd.Series(np.r_[np.ones(n_img[0]), np.zeros(n_img[1])].astype(int), index=X.index)
    el = pd.Series(np.r_[np.ones(n_exp[0]), np.zeros(n_exp[1])].astype(int), index=E.index)
    return X, E, yl, el


# ---------------------------------------------------------------- association: exactness
def test_critical_r_matches_pearsonr_pvalue():
    for n in (5, 10, 30, 100):
        c = critical_r(n, 0.05)
        t = c * np.sqrt((n - 2) / (1 - c * c))
        assert 2 * stats.t.sf(t, n - 2) == pytest.approx(0.05, rel=1e-10)
    assert null_hit_probability(30) == pytest.approx(0.05, rel=1e-9)  # r_crit(30) > 0.3
    assert null_hit_probability(200) < 0.05  # here |r| > 0.3 is the binding rule


def test_pearson_matrix_equals_scipy_and_constant_column_is_zero():
    rng = np.random.default_rng(5)
    x = rng.lognormal(size=(12, 4))
    y = rng.standard_normal((12, 7))
    y[:, 3] = 2.5  # constant in this draw
    r = pearson_matrix(x, y)
    assert not np.isnan(r).any()
    for i in range(4):
        for j in range(7):
            if j == 3:
                assert r[i, j] == 0.0
            else:
                assert r[i, j] == pytest.approx(stats.pearsonr(x[:, i], y[:, j]).statistic, abs=1e-12)


def test_engine_hits_equal_pearsonr_rule_on_its_own_draws():
    X, E, yl, el = _noise(seed=7, n_feat=3, n_genes=40)
    E.iloc[:5, 0] = 1.0  # gene g0 constant for some samples: constant in some draws
    E.loc[el[el == 1].index, "g1"] = 4.0  # g1 constant in the positive class
    res = associate(X, E, yl, expression_labels=el, n_perturbations=8, sample_size=10, min_hits=1,
                    n_null=0, seed=11, show_progress=False)
    draws = res.draws
    for cls in ("positive", "negative"):
        ref = np.zeros((3, 40), dtype=int)
        for p in range(8):
            d = draws[(draws.her2_class == cls) & (draws.perturbation == p)].sort_values("position")
            xs = X.loc[d.feature_sample].to_numpy()
            es = E.loc[d.expression_sample].to_numpy()
            r_engine = pearson_matrix(xs, es)
            for f in range(3):
                for g in range(40):
                    if np.ptp(es[:, g]) == 0:
                        assert r_engine[f, g] == 0.0
                        continue
                    ref_r = stats.pearsonr(xs[:, f], es[:, g])
                    assert r_engine[f, g] == pytest.approx(ref_r.statistic, abs=1e-12)
                    ref[f, g] += (ref_r.pvalue < 0.05) and (abs(ref_r.statistic) > 0.3)
        np.testing.assert_array_equal(res.hits[cls].to_numpy(), ref)
    assert res.hits["positive"]["g1"].sum() == 0


def test_threshold_rule_equals_pearsonr_on_random_data():
    rng = np.random.default_rng(8)
    for n in (6, 15, 40, 80):
        x = rng.standard_normal((n, 1))
        y = rng.standard_normal((n, 3000)) + 0.4 * x
        r = pearson_matrix(x, y)[0]
        ours = np.abs(r) > max(0.3, critical_r(n, 0.05))
        ref = np.array([(lambda t: t.pvalue < 0.05 and abs(t.statistic) > 0.3)(stats.pearsonr(x[:, 0], y[:, j]))
                        for j in range(y.shape[1])])
        np.testing.assert_array_equal(ours, ref)


# ---------------------------------------------------------------- association: behaviour
def test_paired_mode_recovers_planted_links():
    c = rg.make_cohort(design="paired", n_positive=80, n_negative=80, seed=4)
    res = associate(c.features, c.expression, c.feature_labels, mode="paired", sample_size=60,
                    n_null=0, seed=0, show_progress=False)
    planted = c.positive_specific_links
    got = set(zip(res.positive_specific.feature, res.positive_specific.gene))
    want = set(zip(planted.feature, planted.gene))
    assert len(got & want) / len(want) >= 0.9
    shared = c.links[c.links.her2_class == "both"]
    assert not set(zip(shared.feature, shared.gene)) & got  # links in both classes are not positive-specific
    pos_assoc = res.associated[res.associated.her2_class == "positive"]
    assert want <= set(zip(pos_assoc.feature, pos_assoc.gene))


def test_paired_mode_on_noise_is_no_more_than_its_permutation_null():
    # overlapping draws (60 of 80) make perturbations correlated: the binomial null (independent
    # perturbations) underestimates chance selection ~15-fold; the permutation null does not
    rng = np.random.default_rng(9)
    X = pd.DataFrame(rng.standard_normal((160, 5)), index=[f"p{i}" for i in range(160)],
                     columns=[f"f{j}" for j in range(5)])
    yl = pd.Series(np.r_[np.ones(80), np.zeros(80)].astype(int), index=X.index)
    E = pd.DataFrame(np.random.default_rng(1).standard_normal((160, 1000)), index=X.index,
                     columns=[f"g{j}" for j in range(1000)])
    res = associate(X, E, yl, mode="paired", sample_size=60, n_null=20, seed=0, show_progress=False)
    ns = res.null_summary
    assert (ns.observed / 1000 < 0.08).all()  # few: under 8 % of genes per feature
    assert (ns.empirical_p > 0.05).all() and (ns.empirical_fdr > 0.9).all()
    assert not ns.beats_null.any()
    # the binomial is withheld in paired mode, with the reason; computed anyway, it is far too low
    assert ns.expected_binomial.isna().all() and ns.binomial_low99.isna().all()
    assert ns.binomial_note.str.startswith("withheld: paired mode").all()
    checks = res.null_checks.set_index("check")
    assert not checks.loc["design", "passed"]
    binom = binomial_null(1000, n_perturbations=75, sample_size=60, min_hits=6)
    assert (ns.permutation_mean > 10 * binom["expected"]).all()


def test_default_rule_on_small_samples_selects_many_by_chance():
    # the paper's rule at n = 32 selects ~14 % of genes per feature from pure noise:
    # the binomial null and the permutation null agree, and the observation sits inside both
    X, E, yl, el = _noise(seed=3, n_feat=6, n_genes=1000)
    res = associate(X, E, yl, expression_labels=el, n_null=20, seed=0, show_progress=False)
    ns = res.null_summary
    assert res.parameters["sample_size"] == 32
    # Gaussian, unpaired, independent genes: every check passes and the binomial is shown
    assert res.null_checks["passed"].all() and (ns.binomial_note == "").all()
    assert ((ns.observed >= ns.binomial_low99) & (ns.observed <= ns.binomial_high99)).all()
    assert ns.expected_binomial.iloc[0] == pytest.approx(1000 * 0.17237 * (1 - 0.17237), rel=1e-3)
    assert ns.permutation_mean.mean() == pytest.approx(ns.expected_binomial.iloc[0], rel=0.05)
    assert (ns.empirical_fdr > 0.8).all()
    assert ((ns.observed >= ns.permutation_low95) & (ns.observed <= ns.permutation_high95)).all()
    assert res.overview()["binomial_shown"] == 6


def test_seed_gives_identical_results_for_any_jobs_chunks_and_backend():
    c = rg.make_cohort(seed=5, n_genes=600)
    kw = dict(expression_labels=c.expression_labels, n_null=3, seed=13, show_progress=False)
    a = associate(c.features, c.expression, c.feature_labels, n_jobs=1, **kw)
    b = associate(c.features, c.expression, c.feature_labels, n_jobs=2, chunk_size=97, **kw)
    p = associate(c.features, c.expression, c.feature_labels, n_jobs=2, chunk_size=150, backend="processes", **kw)
    d = associate(c.features, c.expression, c.feature_labels, backend="dask", chunk_size=250, **kw)
    for other in (b, p, d):
        for cls in ("positive", "negative"):
            pd.testing.assert_frame_equal(a.hits[cls], other.hits[cls])
        pd.testing.assert_frame_equal(a.null_counts, other.null_counts)
        pd.testing.assert_frame_equal(a.positive_specific, other.positive_specific)
    e = associate(c.features, c.expression, c.feature_labels, **{**kw, "seed": 14})
    assert not a.hits["positive"].equals(e.hits["positive"])


def test_validation_setting_and_outputs():
    c = rg.make_cohort(seed=6, n_genes=300)
    res = associate(c.features, c.expression, c.feature_labels, expression_labels=c.expression_labels,
                    n_perturbations=25, min_hits=2, n_null=0, show_progress=False)
    assert res.hits["positive"].to_numpy().max() <= 25
    assert (res.positive_specific.hits_positive >= 2).all() and (res.positive_specific.hits_negative < 2).all()
    assert set(res.tables()) >= {"hits_positive", "positive_specific", "top_genes", "null_summary", "draws"}
    sets = res.gene_sets()
    assert set(sets) == set(c.features.columns)
    assert sum(map(len, sets.values())) == len(res.positive_specific)
    assert list(res.top_genes["n_features"]) == sorted(res.top_genes["n_features"], reverse=True)


def test_association_accepts_upstream_results_and_round_trips(tmp_path):
    c = rg.make_cohort(seed=6, n_genes=300)
    features = load_features(c.features, c.feature_labels)
    kw = dict(n_perturbations=20, min_hits=3, n_null=2, show_progress=False)
    res = rg.associate(features, c.expression, expression_labels=c.expression_labels, **kw)
    same = associate(c.features, c.expression, c.feature_labels, expression_labels=c.expression_labels, **kw)
    pd.testing.assert_frame_equal(res.positive_specific, same.positive_specific)
    assert res.genes == list(c.expression.columns) and res.features == list(c.features.columns)
    assert res.parameters["backend"] == "threads" and res.parameters["seed"] == 0
    res.write(tmp_path / "assoc")
    back = AssociationResult.read(tmp_path / "assoc")
    for name, table in res.tables().items():
        pd.testing.assert_frame_equal(back.tables()[name], table, check_dtype=False, obj=name)
    assert back.gene_sets() == res.gene_sets()
    assert back.parameters["sample_size"] == res.parameters["sample_size"]
    assert list(back.figures()) == ["null"]


def test_max_normalize_option_leaves_every_hit_unchanged():
    c = rg.make_cohort(seed=6, n_genes=200)
    kw = dict(expression_labels=c.expression_labels, n_perturbations=15, min_hits=2, n_null=0, show_progress=False)
    plain = associate(c.features, c.expression, c.feature_labels, **kw)
    scaled = associate(c.features, c.expression, c.feature_labels, max_normalize=True, **kw)
    pd.testing.assert_frame_equal(plain.hits_positive, scaled.hits_positive)
    assert scaled.parameters["max_normalize"] is True


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "mutate, error, match",
    [
        (lambda X, E, yl, el: (X, E, yl.replace({1: 2}), el), LabelError, "1 \\(HER2-positive\\) or 0"),
        (lambda X, E, yl, el: (X, E, yl.rename({"p0": "zz"}), el), AlignmentError, "'p0'"),
        (lambda X, E, yl, el: (pd.concat([X, X.iloc[:1]]), E, yl, el), InputError, "duplicated sample ids 'p0'"),
        (lambda X, E, yl, el: (X, E.mask(E.index.to_series().eq("s3").to_numpy()[:, None] & np.ones((1, E.shape[1]), bool)), yl, el), InputError, "s3"),
    ],
)
def test_bad_input_names_the_culprit(mutate, error, match):
    X, E, yl, el = _noise(n_genes=20)
    X, E, yl, el = mutate(X, E, yl, el)
    with pytest.raises(error, match=match):
        associate(X, E, yl, expression_labels=el, n_null=0, show_progress=False)


def test_sample_size_larger_than_class_and_bad_parameters():
    X, E, yl, el = _noise(n_genes=20)
    with pytest.raises(InputError, match="exceeds the 40 HER2-positive samples in features"):
        associate(X, E, yl, expression_labels=el, sample_size=45, show_progress=False)
    with pytest.raises(ParameterError, match="'min_hits' parameter of associate"):
        associate(X, E, yl, expression_labels=el, min_hits=0, show_progress=False)
    with pytest.raises(ParameterError, match="expression_labels"):
        associate(X, E, yl, show_progress=False)
    with pytest.raises(AlignmentError, match="same samples imaged and sequenced"):
        associate(X, E, yl, mode="paired", show_progress=False)
    # both sides named, and the two ways out
    E2 = pd.DataFrame(np.random.default_rng(0).normal(size=(len(X) - 2, E.shape[1])), columns=E.columns,
                      index=[*X.index[3:], "not imaged"])
    with pytest.raises(AlignmentError) as err:
        associate(X, E2, yl, mode="paired", show_progress=False)
    assert (f"3 imaged sample(s) lack expression ('{X.index[0]}', '{X.index[1]}', '{X.index[2]}'); "
            "1 expression sample(s) were not imaged ('not imaged'). Keep only the patients of both tables, or use "
            "mode='unpaired'") in str(err.value)


def test_dask_backend_reads_a_lazy_parquet_expression_chunk_by_chunk(tmp_path):
    dd = pytest.importorskip("dask.dataframe")
    from distributed import Client, LocalCluster

    c = rg.make_cohort(seed=8, n_genes=300)
    c.expression.to_parquet(tmp_path / "expr.parquet")
    lazy = dd.read_parquet(tmp_path / "expr.parquet")
    kw = dict(expression_labels=c.expression_labels, n_null=2, seed=3, show_progress=False)
    eager = associate(c.features, c.expression, c.feature_labels, **kw)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster, \
            Client(cluster):
        got = associate(c.features, lazy, c.feature_labels, backend="dask", chunk_size=64, **kw)
    pd.testing.assert_frame_equal(eager.hits["positive"], got.hits["positive"])
    pd.testing.assert_frame_equal(eager.null_counts, got.null_counts)
    pd.testing.assert_frame_equal(eager.draws, got.draws)
    pd.testing.assert_frame_equal(eager.null_checks, got.null_checks)  # gene checks chunk by chunk, too
    pd.testing.assert_frame_equal(eager.null_summary, got.null_summary)
    paired = rg.make_cohort(seed=8, n_genes=150, design="paired")
    shuffled = paired.expression.iloc[::-1]  # row order differs from the features: pairs are kept by id
    shuffled.to_parquet(tmp_path / "paired.parquet")
    a = associate(paired.features, paired.expression, paired.feature_labels, mode="paired", n_null=0,
                  show_progress=False)
    b = associate(paired.features, dd.read_parquet(tmp_path / "paired.parquet"), paired.feature_labels,
                  mode="paired", n_null=0, backend="dask", show_progress=False)
    pd.testing.assert_frame_equal(a.hits["negative"], b.hits["negative"])
    assert (a.draws.feature_sample == a.draws.expression_sample).all()
    bad = c.expression.copy()
    bad.iloc[4, 250] = np.nan
    bad.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(InputError, match=f"{bad.index[4]}, {bad.columns[250]}"):
        associate(c.features, dd.read_parquet(tmp_path / "bad.parquet"), c.feature_labels, backend="dask",
                  chunk_size=64, **kw)
    with pytest.raises(ParameterError, match="backend='dask'"):
        associate(c.features, lazy, c.feature_labels, **kw)


# ---------------------------------------------------------------- the null model and its checks
def _unpaired_noise(seed, *, n=30, n_feat=3, n_genes=60, lognormal=False, rho=0.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((2 * n, n_feat))
    E = rng.standard_normal((2 * n, n_genes))
    if rho:
        E = np.sqrt(rho) * rng.standard_normal((2 * n, 1)) + np.sqrt(1 - rho) * E
    if lognormal:
        X, E = np.exp(X), np.exp(E)
    X = pd.DataFrame(X, index=[f"p{i}" for i in range(2 * n)], columns=[f"f{j}" for j in range(n_feat)])
    E = pd.DataFrame(E, index=[f"s{i}" for i in range(2 * n)], columns=[f"g{j}" for j in range(n_genes)])
    y = pd.Series(np.r_[np.ones(n), np.zeros(n)].astype(int), index=X.index)
    return X, E, y, y.set_axis(E.index)


@pytest.mark.parametrize("scenario, note", [
    (dict(lognormal=True), "far from Gaussian"),
    (dict(rho=0.3), "gene-gene correlation inflates the count's variance"),
])
def test_permutation_null_covers_pure_noise_where_the_binomial_is_withheld(scenario, note):
    # unpaired pure noise: the observed round is one more random pairing, so the permutation
    # null's 95 % interval must cover the observed count; the binomial's assumptions fail here
    covered, total = 0, 0
    for seed in range(20):
        X, E, y, ye = _unpaired_noise(seed, **scenario)
        res = associate(X, E, y, expression_labels=ye, n_perturbations=25, min_hits=2, n_null=40, seed=seed,
                        show_progress=False)
        ns = res.null_summary
        inside = (ns.observed >= ns.permutation_low95) & (ns.observed <= ns.permutation_high95)
        covered += int(inside.sum())
        total += len(ns)
        assert ns[["expected_binomial", "binomial_low99", "binomial_high99"]].isna().all().all()
        assert ns.binomial_note.str.startswith("withheld: ").all()
        assert ns.binomial_note.str.contains(note).any()
        assert ns.beats_null.dtype == "boolean" and ns.beats_null.notna().all()
    assert covered / total >= 0.9, (covered, total)


def test_null_checks_equal_independent_references():
    X, E, y, ye = _unpaired_noise(4, n=40, n_genes=50, lognormal=True, rho=0.2)
    res = associate(X, E, y, expression_labels=ye, n_perturbations=10, min_hits=2, n_null=0, show_progress=False)
    checks = res.null_checks.set_index(["check", "her2_class"])
    for cls, v in (("positive", 1), ("negative", 0)):
        block = E[ye == v].to_numpy()
        r = np.corrcoef(block, rowvar=False)
        g, n = block.shape[1], block.shape[0]
        mean_r2 = (np.sum(r ** 2) - g) / (g * (g - 1))
        d = 1 + (g - 1) * max(0.0, mean_r2 - 1 / (n - 1))
        assert checks.loc[("gene_correlation", cls), "value"] == pytest.approx(d, rel=1e-10)
        bad = (np.abs(stats.skew(block)) > 1) | (np.abs(stats.kurtosis(block)) > 2)
        assert checks.loc[("gene_distribution", cls), "value"] == pytest.approx(bad.mean(), rel=1e-12)
    feats = X.to_numpy()
    skew = np.fmax(*(np.abs(stats.skew(feats[y.to_numpy() == v])) for v in (1, 0)))
    kurt = np.fmax(*(np.abs(stats.kurtosis(feats[y.to_numpy() == v])) for v in (1, 0)))
    np.testing.assert_allclose(res.null_summary.skewness, skew, rtol=1e-10)
    np.testing.assert_allclose(res.null_summary.excess_kurtosis, kurt, rtol=1e-10)


def test_no_permutation_null_means_no_verdict():
    X, E, y, ye = _unpaired_noise(1)
    res = associate(X, E, y, expression_labels=ye, n_perturbations=10, min_hits=2, n_null=0, show_progress=False)
    ns = res.null_summary
    assert ns.beats_null.isna().all() and ns.empirical_p.isna().all()
    assert res.null_verdict() is None and res.overview()["features_beating_null"] is None
    assert res.top_genes["n_features_beating_null"].isna().all()


def test_verdict_follows_planted_links_and_reaches_top_genes(tmp_path):
    # paired cohort: f0 drives 40 genes in HER2-positive patients only; f1..f4 are noise
    rng = np.random.default_rng(2)
    n = 80
    X = pd.DataFrame(rng.standard_normal((2 * n, 5)), index=[f"p{i}" for i in range(2 * n)],
                     columns=[f"f{j}" for j in range(5)])
    y = pd.Series(np.r_[np.ones(n), np.zeros(n)].astype(int), index=X.index)
    E = pd.DataFrame(rng.standard_normal((2 * n, 200)), index=X.index, columns=[f"g{j}" for j in range(200)])
    E.iloc[:n, :40] += 0.8 * X.iloc[:n, [0]].to_numpy()
    res = associate(X, E, y, mode="paired", sample_size=60, n_null=20, seed=0, show_progress=False)
    verdict = res.null_verdict()
    assert list(verdict.columns) == ["empirical_p", "empirical_fdr", "beats_null"]
    assert verdict.loc["f0", "beats_null"] and verdict.loc["f0", "empirical_p"] == pytest.approx(1 / 21)
    assert verdict.loc["f0", "empirical_fdr"] < 0.5
    assert (verdict["beats_null"].to_numpy(bool) == (verdict["empirical_p"] < 0.05).to_numpy()).all()
    assert not verdict.loc[["f1", "f2", "f3", "f4"], "beats_null"].any()
    beats = set(verdict.index[verdict["beats_null"].to_numpy(bool)])
    # top genes: how many of each gene's features beat the null, from the long table by hand
    ps = res.positive_specific
    for row in res.top_genes.itertuples():
        feats = ps.loc[ps.gene == row.gene, "feature"]
        assert row.n_features == len(feats)
        assert row.n_features_beating_null == int(feats.isin(beats).sum())
    res.write(tmp_path / "assoc")
    back = AssociationResult.read(tmp_path / "assoc")
    pd.testing.assert_frame_equal(back.null_verdict(), verdict)
    pd.testing.assert_frame_equal(back.null_checks, res.null_checks)


def test_null_figure_explains_its_colours_says_what_it_shows_and_keeps_the_legend_off_the_bars():
    from types import SimpleNamespace

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from radiogenomics.plotting import association as association_figures

    rng = np.random.default_rng(1)
    n = 88
    mean = rng.uniform(20, 60, n)
    ns = pd.DataFrame({"observed": np.round(mean + rng.normal(0, 15, n)).clip(0), "permutation_mean": mean,
                       "permutation_low95": mean - 18, "permutation_high95": mean + 18},
                      index=[f"original_firstorder_F{i:02d}" for i in range(n)])
    ns["beats_null"] = ns["observed"] > ns["permutation_high95"]
    assert 0 < ns["beats_null"].sum() < 40
    fig = association_figures(SimpleNamespace(null_summary=ns, parameters={"null_alpha": 0.05}))["null"]
    ax = fig.axes[0]
    renderer = FigureCanvasAgg(fig).get_renderer()
    bars = [b.get_window_extent(renderer) for b in ax.patches]
    assert len(bars) == 40
    legend = ax.get_legend().get_window_extent(renderer)
    assert not any(legend.overlaps(b) for b in bars) and legend.y0 >= ax.get_window_extent(renderer).y1
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[:2] == ["beats the permutation null (empirical p < 0.05)",
                         "within chance (as many as random pairings give)"]
    assert "(40 of 88 features shown: the 40 with the most genes)" in ax.get_xlabel()
    caption = fig.get_label()
    assert "40 of 88 features shown (the 40 with the most genes)" in caption
    assert "red: the feature beats the permutation null (empirical p < 0.05" in caption
    assert "grey: within chance" in caption
    assert f"{int(ns['beats_null'].sum())} of 88 feature(s) beat the permutation null (red)" in caption
    # the bars are the top 40 by observed genes, largest on top
    shown = [t.get_text() for t in ax.get_yticklabels()]
    top = ns.sort_values("observed", ascending=False, kind="mergesort").index[:40]
    assert shown == [n.removeprefix("original_") for n in top]
