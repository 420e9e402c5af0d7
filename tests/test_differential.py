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
    for col in df.columns:
        ref = stats.mannwhitneyu(pos[col], neg[col], alternative="two-sided", method="asymptotic")
        assert res.loc[col, "p_value"] == pytest.approx(ref.pvalue, rel=1e-12, abs=1e-300)
        assert res.loc[col, "u_statistic"] == ref.statistic
        assert res.loc[col, "fold_change"] == pytest.approx(pos[col].mean() / neg[col].mean(), rel=1e-12)
    q_ref = multipletests(res["p_value"].to_numpy(), method="fdr_bh")[1]
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
