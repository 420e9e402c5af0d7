"""CLI of the differential and association stages: outputs, provenance, --config, result folders as
inputs, one-line errors, nothing written on bad input."""

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
                            "--labels", str(d / "labels.csv"), "--out", str(out / "diff")])
    assert r.exit_code == 0, r.output
    diff = pd.read_parquet(out / "diff" / "differential.parquet")
    ref = rg.differential(c.features, c.feature_labels).table
    pd.testing.assert_series_equal(diff["p_value"], ref["p_value"])
    r = runner.invoke(app, ["associate", "--features", str(d / "features.csv"), "--expression",
                            str(d / "expression.csv"), "--labels", str(d / "labels.csv"),
                            "--expression-labels", str(d / "expression_labels.csv"),
                            "--null", "3", "--seed", "4", "--out", str(out / "assoc")])
    assert r.exit_code == 0, r.output
    ps = pd.read_parquet(out / "assoc" / "positive_specific.parquet")
    api = rg.associate(c.features, c.expression, c.feature_labels, expression_labels=c.expression_labels,
                       n_null=3, seed=4, show_progress=False)
    pd.testing.assert_frame_equal(ps, api.positive_specific)
    assert (out / "assoc" / "null_summary.csv").exists() and (out / "assoc" / "hits_positive.parquet").exists()
    prov = json.loads((out / "assoc" / "provenance.json").read_text())
    assert set(prov["stages"]) == {"association"}
    assert prov["synthetic"] is True
    rec = prov["stages"]["association"]
    assert rec["parameters"]["n_null"] == 3 and rec["seeds"] == {"seed": 4}
    assert len(rec["inputs"]["features"]["sha256"]) == 64
    assert "positive_specific.parquet" in rec["extra"]["outputs"]


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


def _associate_refused(tmp_path, d, expression):
    """`associate` on the cohort's files with another expression file: exit 2, and the output folder."""
    out = tmp_path / "out"
    r = runner.invoke(app, ["associate", "--features", str(d / "features.csv"), "--expression",
                            str(d / expression), "--labels", str(d / "labels.csv"),
                            "--expression-labels", str(d / "expression_labels.csv"), "--out", str(out)])
    assert r.exit_code == 2, r.output
    return r, out


def test_an_empty_expression_label_is_named_with_the_way_to_exclude_it(tmp_path):
    # GEO characteristics often leave HER2 status empty (15 of SCAN-B's samples): the error names the
    # sample as empty (not "nan") and says how to exclude it with a record
    c, d = _write_cohort(tmp_path)
    el = c.expression_labels.astype(object).rename_axis("sample_id")
    el.iloc[2] = None
    el.to_csv(d / "expression_labels.csv")
    r, out = _associate_refused(tmp_path, d, "expression.csv")
    assert f"'{el.index[2]} (empty)'" in r.output and "nan" not in r.output.lower()
    assert "1 of them have no label" in r.output and "geo import" in r.output
    assert not out.exists()


def test_a_missing_expression_value_is_named_with_its_file(tmp_path):
    c, d = _write_cohort(tmp_path)
    e = c.expression.T.copy()
    e.iloc[7, 3] = float("nan")
    e.to_csv(d / "expression_gap.csv")
    r, out = _associate_refused(tmp_path, d, "expression_gap.csv")
    assert f"expression_gap.csv: 1 NaN/missing value(s), first at sample, column ({e.columns[3]}, {e.index[7]})" \
        in r.output
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


def test_config_section_fills_options_not_given_and_cli_wins(tmp_path):
    c, d = _write_cohort(tmp_path)
    cfg = tmp_path / "config.yaml"
    cfg.write_text("imaging: {features: f.csv, labels: l.csv}\nexpression: {series: [{name: A}]}\n"
                   "enrichment: {gmt: [x.gmt]}\nseed: 7\ndifferential: {threshold: 0.2}\n"
                   "association: {n_perturbations: 12, min_hits: 2, n_null: 0}\n")
    base = ["--features", str(d / "features.csv"), "--labels", str(d / "labels.csv")]
    r = runner.invoke(app, ["differential", *base, "--config", str(cfg), "--out", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    params = json.loads((tmp_path / "a" / "provenance.json").read_text())["stages"]["differential"]["parameters"]
    assert params["threshold"] == 0.2 and params["select_by"] == "p"
    r = runner.invoke(app, ["differential", *base, "--config", str(cfg), "--threshold", "0.01", "--out", str(tmp_path / "b")])
    params = json.loads((tmp_path / "b" / "provenance.json").read_text())["stages"]["differential"]["parameters"]
    assert params["threshold"] == 0.01  # the command line wins over the config
    r = runner.invoke(app, ["associate", *base, "--expression", str(d / "expression.csv"), "--expression-labels",
                            str(d / "expression_labels.csv"), "--config", str(cfg), "--out", str(tmp_path / "c")])
    assert r.exit_code == 0, r.output
    params = json.loads((tmp_path / "c" / "provenance.json").read_text())["stages"]["association"]["parameters"]
    assert (params["n_perturbations"], params["min_hits"], params["n_null"], params["seed"]) == (12, 2, 0, 7)
    cfg.write_text("imaging: {features: f.csv, labels: l.csv}\nexpression: {series: [{name: A}]}\n"
                   "enrichment: {gmt: [x.gmt]}\nassociation: {n_perturbations: -1}\n")
    r = runner.invoke(app, ["associate", *base, "--expression", str(d / "expression.csv"), "--expression-labels",
                            str(d / "expression_labels.csv"), "--config", str(cfg), "--out", str(tmp_path / "d")])
    assert r.exit_code == 2 and "association/n_perturbations" in r.output and not (tmp_path / "d").exists()


def test_stage_folders_chain_as_inputs(tmp_path):
    c, d = _write_cohort(tmp_path)
    assoc = rg.associate(c.features, c.expression, c.feature_labels, expression_labels=c.expression_labels,
                         n_perturbations=15, min_hits=2, n_null=0, show_progress=False)
    assoc.write(tmp_path / "assoc")
    (d / "gs.gmt").write_text("\n".join(c.to_gmt_lines()) + "\n")
    r = runner.invoke(app, ["enrich", "--associations", str(tmp_path / "assoc"), "--gmt", str(d / "gs.gmt"),
                            "--out", str(tmp_path / "enr")])
    assert r.exit_code == 0, r.output
    enr = pd.read_parquet(tmp_path / "enr" / "enrichment.parquet")
    pd.testing.assert_frame_equal(enr, rg.enrich(assoc, str(d / "gs.gmt")).table, check_dtype=False)
    r = runner.invoke(app, ["enrich", "--associations", str(d), "--gmt", str(d / "gs.gmt"), "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "not a association result" in r.output
