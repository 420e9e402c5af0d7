"""The differential stage against scipy and statsmodels, planted truth and SCAN-B biology."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

import radiogenomics as rg
from radiogenomics.differential import DifferentialResult, differential
from radiogenomics.imaging.result import load_features


def test_differential_equals_scipy_and_statsmodels():
    rng = np.random.default_rng(1)
    n = 50
    df = pd.DataFrame(rng.lognormal(size=(n, 40)), index=[f"s{i}" for i in range(n)],
                      columns=[f"f{j}" for j in range(40)])
    y = pd.Series((rng.random(n) < 0.4).astype(int), index=df.index)
    df.loc[y == 1, "f0"] *= 3
    df["tied"] = np.round(rng.random(n) * 3)  # heavy ties exercise the tie correction
    res = differential(df, y).table
    pos, neg = df[y == 1], df[y == 0]
    assert len(pos) < 50 and len(neg) < 50
    for col in df.columns:
        # R's wilcox.test rule: exact when both groups < 50 and no ties, else the normal approximation
        tied = df[col].duplicated().any()
        how = "asymptotic" if tied else "exact"
        ref = stats.mannwhitneyu(pos[col], neg[col], alternative="two-sided", method=how)
        assert res.loc[col, "test"] == how and bool(res.loc[col, "ties"]) == tied
        assert res.loc[col, "p_value"] == pytest.approx(ref.pvalue, rel=1e-12, abs=1e-300)
        assert res.loc[col, "u_statistic"] == ref.statistic
        assert res.loc[col, "fold_change"] == pytest.approx(pos[col].mean() / neg[col].mean(), rel=1e-12)
    asym = differential(df, y, method="asymptotic").table
    for col in df.columns:
        ref = stats.mannwhitneyu(pos[col], neg[col], alternative="two-sided", method="asymptotic")
        assert asym.loc[col, "p_value"] == pytest.approx(ref.pvalue, rel=1e-12, abs=1e-300)
    assert (asym["test"] == "asymptotic").all()
    q_ref = multipletests(res["p_value"].to_numpy(), method="fdr_bh")[1]  # BH over the p-values used
    np.testing.assert_allclose(res["q_value"].to_numpy(), q_ref, rtol=1e-12)
    assert res.loc["f0", "direction"] == "up" and res.loc["f0", "rank"] == 1
    assert res.loc["f0", "log2_fold_change"] == pytest.approx(np.log2(res.loc["f0", "fold_change"]))
    assert set(res.index[res["selected"]]) == set(res.index[res["p_value"] < 0.05])
    by_q = differential(df, y, select_by="q", threshold=0.05).table
    assert set(by_q.index[by_q["selected"]]) == set(res.index[res["q_value"] < 0.05])


def test_differential_finds_planted_features():
    c = rg.make_cohort(seed=2)
    res = differential(c.features, c.feature_labels).table
    assert set(c.differential_features) <= set(res.index[res["selected"]])
    assert (res.loc[c.differential_features, "direction"] == "up").all()


def test_exact_p_as_r_wilcox_test_and_the_rule_with_ties(caplog):
    # R's documentation example of wilcox.test: W = 35, one-sided exact p = 0.1272 (382 / 3003),
    # so two-sided 764 / 3003 = 0.2544
    x = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
    yv = [1.15, 0.88, 0.90, 0.74, 1.21]
    df = pd.DataFrame({"f": x + yv}, index=[f"s{i}" for i in range(15)])
    lab = pd.Series([1] * 10 + [0] * 5, index=df.index)
    res = differential(df, lab).table
    assert res.loc["f", "u_statistic"] == 35 and res.loc["f", "test"] == "exact"
    assert res.loc["f", "p_value"] == pytest.approx(764 / 3003, rel=1e-12)
    # ties: method="exact" never ignores them. Those columns get the tie-corrected normal
    # approximation with continuity correction (R: "cannot compute exact p-value with ties"), logged
    df["tied"] = [1, 2, 2, 3, 4, 5, 5, 6, 7, 8, 1, 2, 3, 3, 4]
    with caplog.at_level("WARNING", logger="radiogenomics"):
        ex = differential(df, lab, method="exact").table
    assert "tied" in caplog.text and "normal approximation" in caplog.text
    assert ex.loc["tied", "test"] == "asymptotic" and ex.loc["f", "test"] == "exact"
    ref = stats.mannwhitneyu(df.loc[lab == 1, "tied"], df.loc[lab == 0, "tied"], method="asymptotic")
    assert ex.loc["tied", "p_value"] == pytest.approx(ref.pvalue, rel=1e-12)
    # by hand: z = (|U - mn/2| - 0.5) / sigma, sigma with the tie correction
    r = stats.rankdata(df["tied"])
    u = r[:10].sum() - 10 * 11 / 2
    _, t = np.unique(df["tied"], return_counts=True)
    sigma = np.sqrt(50 / 12 * (16 - (t ** 3 - t).sum() / (15 * 14)))
    assert ex.loc["tied", "p_value"] == pytest.approx(2 * stats.norm.sf((abs(u - 25) - 0.5) / sigma), rel=1e-12)
    # 50 or more in a group: the normal approximation, as R
    rng = np.random.default_rng(0)
    big = pd.DataFrame({"f": rng.standard_normal(110)}, index=[f"b{i}" for i in range(110)])
    yb = pd.Series([1] * 50 + [0] * 60, index=big.index)
    assert differential(big, yb).table.loc["f", "test"] == "asymptotic"
    assert differential(big.iloc[1:], yb.iloc[1:]).table.loc["f", "test"] == "asymptotic"  # 49 and 60
    assert differential(big.iloc[1:99], yb.iloc[1:99]).table.loc["f", "test"] == "exact"  # 49 and 49
    with pytest.raises(rg.ParameterError, match="'method' parameter"):
        differential(df, lab, method="permutation")


def test_direction_follows_the_fold_change_and_the_pseudo_count():
    # log2 data: the positive group is lower on the log scale but higher un-logged (one large value)
    df = pd.DataFrame({"skewed": [1, 1, 1, 1, 10, 3, 3, 3, 3, 3.0]}, index=[f"s{i}" for i in range(10)])
    lab = pd.Series([1] * 5 + [0] * 5, index=df.index)
    res = differential(df, lab, log_base=2).table
    assert res.loc["skewed", "mean_positive"] < res.loc["skewed", "mean_negative"]  # on the log scale
    assert res.loc["skewed", "fold_change"] == pytest.approx((4 * 2 + 1024) / 5 / 8)
    assert res.loc["skewed", "direction"] == "up"
    # log2(x + 1) data: the pseudo-count is removed before the fold change
    rng = np.random.default_rng(3)
    x = pd.DataFrame(rng.gamma(2.0, 5.0, (40, 6)), index=[f"s{i}" for i in range(40)], columns=list("abcdef"))
    y = pd.Series((np.arange(40) < 15).astype(int), index=x.index)
    x.loc[y == 1, "a"] *= 3
    res = differential(np.log2(x + 1), y, log_base=2, log_offset=1.0)
    table = res.table
    ref = x[y == 1].mean() / x[y == 0].mean()
    np.testing.assert_allclose(table["fold_change"], ref, rtol=1e-12)
    assert ((table["direction"] == "up") == (table["fold_change"] > 1)).all()
    assert res.parameters["log_offset"] == 1.0
    with pytest.raises(rg.ParameterError, match="log_offset"):
        differential(x, y, log_offset=1.0)


@pytest.mark.shared
def test_differential_on_scanb_ranks_her2_amplicon_on_top(scanb):
    expr, samples = scanb
    lab = samples.dropna(subset=["her2_status"]).set_index("title")["her2_status"].astype(int)
    res = differential(expr.loc[lab.index], lab, log_base=2).table
    top10 = res.sort_values("p_value").index[:10]
    for gene in ("ERBB2", "GRB7", "STARD3", "PGAP3"):
        assert gene in top10, (gene, list(top10))
    assert res.loc["ERBB2", "mean_positive"] == pytest.approx(8.8, abs=0.1)
    assert res.loc["ERBB2", "mean_negative"] == pytest.approx(5.7, abs=0.1)
    assert res.loc["ESR1", "direction"] == "down"
    # the values are log2(FPKM + 0.1): with the pseudo-count the fold changes are FPKM ratios, and the
    # direction always agrees with them
    fpkm = differential(expr.loc[lab.index], lab, log_base=2, log_offset=0.1).table
    lin = 2.0 ** expr.loc[lab.index, "ERBB2"] - 0.1
    assert fpkm.loc["ERBB2", "fold_change"] == pytest.approx(lin[lab == 1].mean() / lin[lab == 0].mean(), rel=1e-12)
    ok = fpkm["fold_change"].notna()
    assert ((fpkm.loc[ok, "direction"] == "up") == (fpkm.loc[ok, "fold_change"] > 1)).all()
    assert (fpkm["test"] == "asymptotic").all()  # 343 and 42 samples: R's rule takes the normal approximation




def test_differential_is_a_stage_result_that_composes_and_round_trips(tmp_path):
    c = rg.make_cohort(seed=2)
    features = load_features(c.features, c.feature_labels)
    res = rg.differential(features)  # an upstream result carries its labels
    same = rg.differential(c.features, c.feature_labels)
    pd.testing.assert_frame_equal(res.table, same.table)
    assert isinstance(res, DifferentialResult) and res.stage == "differential"
    assert res.selected == [f for f in res.table.sort_values("p_value").index if res.table.loc[f, "selected"]]
    assert res.parameters["n_positive"] == int((c.feature_labels == 1).sum())
    assert list(res.dropped.columns[:3]) == ["kind", "item", "reason"]
    # the values behind the box plots: the 12 smallest-p features, one row per sample
    assert res.top_values["feature"].nunique() == 12 and len(res.top_values) == 12 * len(c.features)
    written = res.write(tmp_path / "diff")
    assert {p.name for p in written} >= {"differential.parquet", "differential.csv", "volcano.png", "provenance.json"}
    back = DifferentialResult.read(tmp_path / "diff")
    pd.testing.assert_frame_equal(back.table, res.table)
    assert back.parameters["threshold"] == 0.05 and back.selected == res.selected
    assert set(back.figures()) == {"volcano", "boxplots"}
    assert back.figures()["volcano"].get_label().startswith("Volcano plot")


def test_differential_write_never_replaces_a_folder_of_other_files(tmp_path):
    c = rg.make_cohort(seed=2)
    res = rg.differential(c.features, c.feature_labels)
    (tmp_path / "mine.txt").write_text("user data")
    with pytest.raises(rg.InputError, match="not a radiogenomics result folder"):
        res.write(tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "user data"
    res.write(tmp_path / "out")
    first = (tmp_path / "out" / "differential.parquet").stat().st_mtime_ns
    res.write(tmp_path / "out", figures=False)  # an earlier result is replaced whole
    assert not (tmp_path / "out" / "volcano.png").exists()
    assert (tmp_path / "out" / "differential.parquet").stat().st_mtime_ns >= first
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_volcano_labels_never_overlap_and_the_legend_is_off_the_data():
    """The demo's degenerate row: many features at one p, fold changes close together (issue 16)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from radiogenomics.plotting import plot_volcano

    rng = np.random.default_rng(0)
    n = 88
    lfc = rng.normal(0, 0.4, n)
    p = np.full(n, 7e-8)  # 79 of 88 at the same p: one row of points
    p[79:] = rng.uniform(0.06, 0.9, 9)
    lfc[:12] = np.linspace(0.30, 0.42, 12)  # the top features' points almost on one spot
    table = pd.DataFrame({"log2_fold_change": lfc, "p_value": p, "selected": p < 0.05},
                         index=[f"original_glcm_Feature{i:02d}" for i in range(n)])
    fig = plot_volcano(table, threshold=0.05, label_top=8)
    ax = fig.axes[0]
    renderer = FigureCanvasAgg(fig).get_renderer()
    labels = [t for t in ax.texts if t.get_text()]
    assert len(labels) == 8 and all(t.get_text().startswith("glcm_Feature") for t in labels)
    boxes = [t.get_window_extent(renderer) for t in labels]
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            a, b = boxes[i], boxes[j]
            assert a.x1 <= b.x0 or b.x1 <= a.x0 or a.y1 <= b.y0 or b.y1 <= a.y0, (labels[i].get_text(),
                                                                                   labels[j].get_text())
    # the legend lies outside the axes (right of them), so it covers no point; it names the rule
    legend = ax.get_legend()
    assert legend.get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1
    texts = [t.get_text() for t in legend.get_texts()]
    assert "selection: p < 0.05, no correction" in texts and "higher in HER2+ (" in texts[1]
    # with the BH rule the dashed line sits at the largest selected p, and the legend says so
    q = table.assign(selected=table["p_value"] < 1e-3)
    texts = [t.get_text() for t in plot_volcano(q, threshold=0.05, select_by="q").axes[0].get_legend().get_texts()]
    assert "selection: BH q < 0.05 (Benjamini–Hochberg); here p ≤ 7e-08" in texts
