"""CLI of the core stage: outputs, provenance, one-line errors, nothing written on bad input."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

import radiogenomics as rg
from radiogenomics.cli import app

runner = CliRunner()


def _write_cohort(tmp_path):
    c = rg.make_cohort(seed=1, n_genes=200)
    d = tmp_path / "in"
    d.mkdir()
    c.features.to_csv(d / "features.csv")
    c.feature_labels.rename_axis("sample_id").to_csv(d / "labels.csv")
    c.expression.T.to_csv(d / "expression.csv")  # genes x samples: orientation is detected
    c.expression_labels.rename_axis("sample_id").to_csv(d / "expression_labels.csv")
    (d / "SYNTHETIC.txt").write_text("synthetic\n")
    return c, d


def test_differential_and_associate_write_tables_and_provenance(tmp_path):
    c, d = _write_cohort(tmp_path)
    out = tmp_path / "out"
    r = runner.invoke(app, ["differential", "--features", str(d / "features.csv"),
                            "--labels", str(d / "labels.csv"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    diff = pd.read_parquet(out / "differential.parquet")
    ref = rg.differential(c.features, c.feature_labels)
    pd.testing.assert_series_equal(diff["p_value"], ref["p_value"])
    r = runner.invoke(app, ["associate", "--features", str(d / "features.csv"), "--expression",
                            str(d / "expression.csv"), "--labels", str(d / "labels.csv"),
                            "--expression-labels", str(d / "expression_labels.csv"),
                            "--null", "3", "--seed", "4", "--out", str(out)])
    assert r.exit_code == 0, r.output
    ps = pd.read_parquet(out / "positive_specific.parquet")
    api = rg.associate(rg.max_normalize(c.features), rg.max_normalize(c.expression), c.feature_labels,
                       expression_labels=c.expression_labels, n_null=3, seed=4, show_progress=False)
    pd.testing.assert_frame_equal(ps, api.positive_specific)
    assert (out / "null_summary.csv").exists() and (out / "hits_positive.parquet").exists()
    prov = json.loads((out / "provenance.json").read_text())
    assert set(prov["stages"]) == {"differential", "association"}
    assert prov["synthetic"] is True
    assert prov["stages"]["association"]["parameters"]["n_null"] == 3
    assert len(prov["stages"]["association"]["inputs"]["features"]["sha256"]) == 64


def test_bad_labels_exit_2_with_one_line_and_write_nothing(tmp_path):
    c, d = _write_cohort(tmp_path)
    bad = c.feature_labels.astype(object).rename_axis("sample_id")
    bad.iloc[3] = "positive"
    bad.to_csv(d / "bad_labels.csv")
    out = tmp_path / "out"
    r = runner.invoke(app, ["differential", "--features", str(d / "features.csv"),
                            "--labels", str(d / "bad_labels.csv"), "--out", str(out)])
    assert r.exit_code == 2
    assert r.output.count("\n") == 1 and bad.index[3] in r.output
    assert not out.exists()
    r = runner.invoke(app, ["associate", "--features", str(d / "features.csv"), "--expression",
                            str(d / "expression.csv"), "--labels", str(d / "labels.csv"),
                            "--expression-labels", str(d / "expression_labels.csv"),
                            "--sample-size", "500", "--out", str(out)])
    assert r.exit_code == 2 and "sample_size=500 exceeds" in r.output
    assert not out.exists()


def test_associate_with_a_dask_scheduler_reads_parquet_lazily(tmp_path):
    from distributed import LocalCluster

    c, d = _write_cohort(tmp_path)
    c.expression.to_parquet(d / "expression.parquet")
    out = tmp_path / "out"
    args = ["associate", "--features", str(d / "features.csv"), "--labels", str(d / "labels.csv"),
            "--expression-labels", str(d / "expression_labels.csv"), "--null", "2", "--seed", "4"]
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        r = runner.invoke(app, [*args, "--expression", str(d / "expression.parquet"), "--scheduler",
                                cluster.scheduler_address, "--out", str(out / "dask")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, [*args, "--expression", str(d / "expression.csv"), "--out", str(out / "local")])
    assert r.exit_code == 0, r.output
    pd.testing.assert_frame_equal(pd.read_parquet(out / "dask" / "positive_specific.parquet"),
                                  pd.read_parquet(out / "local" / "positive_specific.parquet"))
