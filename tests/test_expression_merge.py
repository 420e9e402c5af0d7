"""Expression path: multi-series merge (intersection, max-normalisation, ComBat, separation check),
the `geo` CLI and the expression figures."""

from __future__ import annotations

import json
import shutil
import urllib.error
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score
from test_expression import CASES, MANIFESTS, _values, write_series_matrix
from typer.testing import CliRunner

from radiogenomics import expression as ex
from radiogenomics._io import read_labels, read_table
from radiogenomics._validation import InputError, ParameterError

REPO = Path(__file__).resolve().parents[1]


def _two_series(seed: int = 0, n_genes: int = 60):
    """Series A (log2, offset 0.1) and B (linear, x4 scale, shifted genes), sharing 50 genes."""
    rng = np.random.default_rng(seed)
    genes = [f"G{i}" for i in range(n_genes)]
    base = rng.normal(6, 1, n_genes)

    def block(n: int, prefix: str, shift: np.ndarray) -> tuple[pd.DataFrame, pd.Series]:
        lab = pd.Series(np.r_[np.ones(n // 2), np.zeros(n - n // 2)].astype(int),
                        index=[f"{prefix}{i}" for i in range(n)])
        x = base + shift + rng.normal(0, 0.5, (n, n_genes))
        x[:, 0] += 2.0 * lab.to_numpy()  # G0 is a HER2 gene in both series
        return pd.DataFrame(x, index=lab.index, columns=genes), lab

    a, la = block(30, "A", np.zeros(n_genes))
    b_log, lb = block(24, "B", rng.normal(0, 1.0, n_genes))  # a per-gene series effect
    b = 4.0 * np.power(2.0, b_log)
    a = a.drop(columns=genes[50:55])
    b = b.drop(columns=genes[55:])
    return {"A": a, "B": b}, {"A": la, "B": lb}


def test_merge_intersection_and_max_normalisation() -> None:
    exprs, labs = _two_series()
    res = ex.merge_series(exprs, labs, scales={"A": "log2", "B": "linear"}, log_offsets={"A": 0.1})
    assert res.stage == "expression" and res.expression.shape == (54, 50)
    assert res.series_genes.set_index("series")["lost"].to_dict() == {"A": 5, "B": 5}
    lost = res.dropped.set_index("item")
    assert len(lost) == 10 and lost.at["G52", "detail"] == "missing from A" and lost.at["G57", "detail"] == "missing from B"
    assert (lost["kind"] == "gene").all() and lost.at["G52", "reason"] == "not in every series"
    # independent max-normalisation
    a_lin = np.power(2.0, exprs["A"]) - 0.1
    ref_a = a_lin / a_lin.max()
    ref_b = exprs["B"] / exprs["B"].max()
    np.testing.assert_allclose(res.expression.loc[exprs["A"].index].to_numpy(), ref_a[res.expression.columns].to_numpy())
    np.testing.assert_allclose(res.expression.loc[exprs["B"].index].to_numpy(), ref_b[res.expression.columns].to_numpy())
    assert res.series.value_counts().to_dict() == {"A": 30, "B": 24}
    assert res.labels.name == "her2" and res.labels.sum() == 15 + 12 and res.labels.index.equals(res.expression.index)
    assert res.parameters["scales"] == {"A": "log2", "B": "linear"} and res.parameters["log_offsets"] == {"A": 0.1, "B": 0.0}
    assert res.overview() == {"n_samples": 54, "n_genes": 50, "n_series": 2, "n_positive": 27, "n_negative": 27,
                              "separation_reduced": None, "dropped": 10}
    # after max-normalisation the x4 linear scale no longer separates series as it did
    check = res.batch_check.set_index("stage")
    assert check.at["max_normalized", "silhouette"] < check.at["concatenated", "silhouette"]


def test_batch_separation_against_reference() -> None:
    rng = np.random.default_rng(3)
    data = pd.DataFrame(rng.normal(size=(40, 8)), index=[f"s{i}" for i in range(40)])
    data.iloc[:20, :3] += 2.0
    batch = pd.Series(["a"] * 20 + ["b"] * 20, index=data.index)
    got = ex.batch_separation(data, batch, n_components=3)
    z = (data - data.mean()) / data.std(ddof=0)
    r2 = []
    for col in z:  # one-way ANOVA R^2 per gene
        y = z[col]
        ss_b = sum(len(g) * (g.mean() - y.mean()) ** 2 for _, g in y.groupby(batch))
        r2.append(ss_b / ((y - y.mean()) ** 2).sum())
    assert got["variance_fraction"] == pytest.approx(np.mean(r2), rel=1e-10)
    scores = PCA(n_components=3, svd_solver="full").fit_transform(z.to_numpy())
    assert got["silhouette"] == pytest.approx(silhouette_score(scores, batch.to_numpy()), rel=1e-10)
    wide = pd.DataFrame(rng.normal(size=(12, 30)), index=[f"w{i}" for i in range(12)])
    wide.iloc[:6] += 1.0
    wb = pd.Series(["a"] * 6 + ["b"] * 6, index=wide.index)
    zw = ((wide - wide.mean()) / wide.std(ddof=0)).to_numpy()
    ref = silhouette_score(PCA(n_components=4, svd_solver="full").fit_transform(zw), wb.to_numpy())
    assert ex.batch_separation(wide, wb, n_components=4)["silhouette"] == pytest.approx(ref, rel=1e-8)


def test_combat_reduces_series_separation() -> None:
    exprs, labs = _two_series(seed=1)
    exprs = {"A": exprs["A"], "B": np.log2(exprs["B"] / 4.0)}  # both log2, B with per-gene shifts
    res = ex.merge_series(exprs, labs, scales={"A": "log2", "B": "log2"}, combat=True)
    check = res.batch_check.set_index("stage")
    assert check.at["combat", "silhouette"] < check.at["max_normalized", "silhouette"]
    assert check.at["combat", "variance_fraction"] < 0.5 * check.at["max_normalized", "variance_fraction"]
    assert res.separation_reduced is True and res.parameters["combat_covariate"] == "her2"
    # HER2 signal protected as a covariate: G0 still higher in positives in both series
    g0 = res.expression["G0"]
    for s in ("A", "B"):
        idx = res.series.index[res.series == s]
        lab = res.labels.loc[idx]
        assert g0[idx][lab == 1].mean() > g0[idx][lab == 0].mean()
    # the wiring equals a direct inmoose call on the same matrix with the same covariate
    from inmoose.pycombat import pycombat_norm

    direct = ex.merge_series(exprs, labs, scales={"A": "log2", "B": "log2"})
    ref = pycombat_norm(direct.expression.T, direct.series.tolist(), covar_mod=direct.labels.tolist()).T
    np.testing.assert_allclose(res.expression.to_numpy(), np.asarray(ref, dtype=float), rtol=1e-10)


def test_merge_bad_input() -> None:
    exprs, labs = _two_series()
    dup = exprs["B"].rename(index={"B0": "A0"})
    with pytest.raises(InputError, match="'A0' appear in both A and B"):
        ex.merge_series({"A": exprs["A"], "B": dup}, {"A": labs["A"], "B": labs["B"].rename(index={"B0": "A0"})},
                        scales={"A": "log2", "B": "linear"})
    with pytest.raises(InputError, match="must name the same series"):
        ex.merge_series(exprs, {"A": labs["A"]}, scales={"A": "log2", "B": "linear"})
    low = exprs["A"].copy()
    low["G1"] = -5.0  # log2(FPKM + 0.1) at -5 means FPKM < 0: max <= 0 after un-logging
    res = ex.merge_series({"A": low, "B": exprs["B"]}, labs, scales={"A": "log2", "B": "linear"},
                          log_offsets={"A": 0.1})
    # the one max-normalisation rule: a gene at the floor (maximum <= 0 after un-logging) is left unchanged there
    np.testing.assert_allclose(res.expression.loc[low.index, "G1"], 2.0 ** -5 - 0.1)
    record = res.parameters["max_normalization"]["A"]
    assert record["left_unchanged"] == ["G1"] and record["divided_by_maximum"] == len(res.expression.columns) - 1
    assert res.parameters["max_normalization"]["B"]["left_unchanged"] == []
    assert "G1" not in set(res.dropped["item"])
    with pytest.raises(InputError, match="share no gene"):
        ex.merge_series({"A": exprs["A"], "B": exprs["B"].add_prefix("X")}, labs, scales={"A": "log2", "B": "linear"})


# --------------------------------------------------------------------------- CLI
@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


def _app():
    from radiogenomics.cli import app

    return app


def test_cli_fetch_series_matrix_and_merge(tmp_path: Path, runner: CliRunner, shared_data: Path) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    shutil.copy(MANIFESTS / "schema.json", folder / "schema.json")
    doc = yaml.safe_load((MANIFESTS / "GSE129559.yaml").read_text())
    doc["accession"] = "GSE900001"
    (folder / "GSE900001.yaml").write_text(yaml.safe_dump(doc))
    shutil.copy(MANIFESTS / "GSE96058.yaml", folder / "GSE96058.yaml")
    vals = _values(list(CASES))
    matrix = write_series_matrix(tmp_path / "GSE900001_series_matrix.txt", CASES, vals)
    gpl = shared_data / "gpl570" / "GPL570_probe_to_symbol.csv.gz"
    out1 = tmp_path / "s1"
    r = runner.invoke(_app(), ["geo", "fetch", "GSE900001", "--series-matrix", str(matrix), "--platform-table",
                               str(gpl), "--manifest-dir", str(folder), "--out", str(out1)])
    assert r.exit_code == 0, r.output
    expr = read_table(out1 / "expression.parquet")
    labels = read_labels(out1 / "labels.csv", column="her2")
    assert list(expr.columns) == ["ERBB2", "HSPA6", "PAX8", "RFC2"] and expr.shape[0] == 8
    assert labels.index.equals(expr.index) and labels.sum() == 4
    decisions = pd.read_csv(out1 / "label_decisions.csv", index_col=0)
    assert len(decisions) == 12 and (decisions["status"] == "excluded").sum() == 4
    counts = pd.read_csv(out1 / "counts.csv")
    assert counts["match"].tolist()[:2] == [False, False] and counts["match"].isna().iloc[2]  # 4/4 observed vs the 21/94 the copied manifest expects
    assert "labelled counts differ" in r.output
    prov = json.loads((out1 / "provenance.json").read_text())
    assert prov["stages"]["series"]["inputs"]["source"]["sha256"]
    assert prov["stages"]["series"]["extra"]["overview"]["counts_match"] is False
    assert ex.SeriesResult.read(out1).parameters["platform_table"] == str(gpl)

    scanb = shared_data / "scanb_gse96058"
    out2 = tmp_path / "s2"
    r = runner.invoke(_app(), ["geo", "fetch", "GSE96058", "--samples", str(scanb / "samples.csv"), "--expression",
                               str(scanb / "expression_log2fpkm.csv.gz"), "--manifest-dir", str(folder),
                               "--out", str(out2)])
    assert r.exit_code == 0, r.output
    assert read_labels(out2 / "labels.parquet", column="her2").value_counts().to_dict() == {0: 343, 1: 42}

    out3 = tmp_path / "merged"
    r = runner.invoke(_app(), ["geo", "merge", str(out1), str(out2), "--combat", "--out", str(out3)])
    assert r.exit_code == 0, r.output
    merged = read_table(out3 / "expression.parquet")
    shared = sorted(set(expr.columns) & set(read_table(out2 / "expression.parquet").columns))
    assert "ERBB2" in shared and list(merged.columns) == shared and merged.shape[0] == 393
    genes = pd.read_csv(out3 / "series_genes.csv").set_index("series")
    assert genes.at["GSE96058", "lost"] == 10000 - len(shared) and genes.at["GSE900001", "lost"] == 4 - len(shared)
    check = pd.read_csv(out3 / "batch_check.csv")
    assert check["stage"].tolist() == ["concatenated", "max_normalized", "combat"]
    assert read_labels(out3 / "labels.csv", column="her2").shape == (393,)
    back = ex.ExpressionResult.read(out3)
    assert back.series.value_counts().to_dict() == {"GSE96058": 385, "GSE900001": 8}
    assert back.parameters["scales"] == {"GSE900001": "log2", "GSE96058": "log2"}
    assert back.parameters["log_offsets"]["GSE96058"] == ex.load_manifest("GSE96058").log_offset


def test_cli_errors_exit_2(tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    import radiogenomics.expression.geo as geo

    def offline(acc: str, kind: str, dest: Path) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(geo, "_download", offline)
    cache = tmp_path / "cache"
    r = runner.invoke(_app(), ["geo", "fetch", "GSE45827", "--cache", str(cache), "--retries", "1",
                               "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert str(cache / "GSE45827_family.soft.gz") in r.output
    assert not (tmp_path / "o").exists()
    # scale contradicting the manifest
    folder = tmp_path / "manifests"
    folder.mkdir()
    doc = yaml.safe_load((MANIFESTS / "GSE129559.yaml").read_text())
    doc["accession"] = "GSE900001"
    (folder / "GSE900001.yaml").write_text(yaml.safe_dump(doc))
    matrix = write_series_matrix(tmp_path / "m.txt", CASES, (2.0 ** _values(list(CASES))).round(2))
    r = runner.invoke(_app(), ["geo", "fetch", "GSE900001", "--series-matrix", str(matrix), "--manifest-dir",
                               str(folder), "--out", str(tmp_path / "o2")])
    assert r.exit_code == 2 and "declares scale: log2" in r.output
    r = runner.invoke(_app(), ["geo", "fetch", "GSE1", "GSE2", "--soft", str(matrix), "--out", str(tmp_path / "o3")])
    assert r.exit_code == 2 and "exactly one accession" in r.output


# --------------------------------------------------------------------------- figures
def test_figures() -> None:
    import radiogenomics as rg
    from radiogenomics.plotting import (
        plot_batch_check,
        plot_label_counts,
        plot_series_pca,
    )

    man = ex.load_manifest("GSE96058")
    dec = ex.label_samples(pd.DataFrame({"her2 status": ["1", "0", "0", ""]}, index=list("abcd")), man)
    fig = plot_label_counts(ex.check_counts(dec, man))
    assert len(fig.axes) == 1 and len(fig.axes[0].patches) == 6
    exprs, labs = _two_series()
    res = ex.merge_series(exprs, labs, scales={"A": "log2", "B": "linear"})
    fig = plot_series_pca({"before": res.expression, "after": res.expression}, res.series)
    assert len(fig.axes) == 2
    fig = plot_batch_check(res.batch_check)
    assert len(fig.axes) == 2 and len(fig.axes[0].patches) == 2
    figs = rg.pl.expression(res)
    assert set(figs) == {"label_counts", "batch_check", "series_pca"}
    assert all(f.get_label() for f in figs.values())
    assert len(figs["label_counts"].axes[0].patches) == 8  # 2 series x 2 classes, observed + (empty) expected


def test_cli_fetch_downloads_several_series(tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch,
                                            shared_data: Path) -> None:
    """Download path through the CLI (downloader stubbed: no network), one sub-folder per series."""
    import radiogenomics.expression.geo as geo

    folder = tmp_path / "manifests"
    folder.mkdir()
    doc = yaml.safe_load((MANIFESTS / "GSE129559.yaml").read_text())
    for acc in ("GSE900001", "GSE900003"):
        (folder / f"{acc}.yaml").write_text(yaml.safe_dump(dict(doc, accession=acc)))
    calls = []

    def fake(acc: str, kind: str, dest: Path) -> None:
        calls.append((acc, kind))
        write_series_matrix(dest, CASES, _values(list(CASES)), accession=acc)

    monkeypatch.setattr(geo, "_download", fake)
    args = ["geo", "fetch", "GSE900001", "GSE900003", "--kind", "series_matrix", "--cache", str(tmp_path / "cache"),
            "--platform-table", str(shared_data / "gpl570" / "GPL570_probe_to_symbol.csv.gz"),
            "--manifest-dir", str(folder), "--out", str(tmp_path / "out")]
    r = runner.invoke(_app(), args)
    assert r.exit_code == 0, r.output
    assert calls == [("GSE900001", "series_matrix"), ("GSE900003", "series_matrix")]
    for acc in ("GSE900001", "GSE900003"):
        assert read_labels(tmp_path / "out" / acc / "labels.parquet", column="her2").sum() == 4
        assert (tmp_path / "cache" / f"{acc}_series_matrix.txt.gz").exists()
    r = runner.invoke(_app(), args)  # second run: from the cache, no download
    assert r.exit_code == 0 and len(calls) == 2


# --------------------------------------------------------------------------- results in, result out
def _series_results(seed: int = 0) -> tuple[ex.SeriesResult, ex.SeriesResult, dict, dict]:
    exprs, labs = _two_series(seed)
    a = ex.import_series(exprs["A"], labs["A"], name="A", scale="log2", log_offset=0.1)
    b = ex.import_series(exprs["B"], labs["B"], name="B", scale="linear")
    return a, b, exprs, labs


def test_merge_takes_series_results() -> None:
    a, b, exprs, labs = _series_results()
    direct = ex.merge_series(exprs, labs, scales={"A": "log2", "B": "linear"}, log_offsets={"A": 0.1})
    res = ex.merge_series([a, b])
    for name, table in direct.tables().items():
        pd.testing.assert_frame_equal(res.tables()[name], table)
    assert res.parameters == direct.parameters and res.series.equals(direct.series)
    renamed = ex.merge_series({"first": a, "second": b})
    assert renamed.parameters["series"] == ["first", "second"]
    assert renamed.series.value_counts().to_dict() == {"first": 30, "second": 24}
    with pytest.raises(ParameterError, match="carry their labels"):
        ex.merge_series([a, b], scales={"A": "log2", "B": "linear"})
    with pytest.raises(InputError, match="'A' appear more than once"):
        ex.merge_series([a, a])
    with pytest.raises(InputError, match="results only, or tables only"):
        ex.merge_series({"A": a, "B": exprs["B"]})
    with pytest.raises(InputError, match="at least one series"):
        ex.merge_series([])
    import dataclasses

    with pytest.raises(InputError, match="'B' record no scale"):  # never a silent "linear"
        ex.merge_series([a, dataclasses.replace(b, parameters={"name": "B"})])


def test_expression_result_write_read_round_trip(tmp_path: Path) -> None:
    from radiogenomics._results import LAYOUT, read_stage

    a, b, _, _ = _series_results(seed=2)
    res = ex.merge_series([a, b], combat=True)
    assert set(res.tables()) == set(LAYOUT["expression"].tables)
    written = {p.name for p in res.write(tmp_path / "merged")}
    assert {"expression.parquet", "labels.csv", "series_genes.csv", "batch_check.parquet", "dropped.csv",
            "label_counts.png", "batch_check.png", "series_pca.png", "provenance.json"} <= written
    labels_file = pd.read_csv(tmp_path / "merged" / "labels.csv")
    assert labels_file.columns.tolist() == ["sample_id", "her2", "series"]
    back = read_stage("expression", tmp_path / "merged")
    assert isinstance(back, ex.ExpressionResult)
    for name, table in res.tables().items():
        pd.testing.assert_frame_equal(back.tables()[name], table)
    pd.testing.assert_series_equal(back.labels, res.labels)
    pd.testing.assert_series_equal(back.series, res.series)
    assert back.parameters == res.parameters and back.overview() == res.overview()
    assert back.separation_reduced is res.separation_reduced
    # the association stage reads the merged result's table and labels
    from radiogenomics.association.stage import _expression_and_labels

    table, labels = _expression_and_labels(back, None)
    assert table is back.expression and labels is back.labels


# --------------------------------------------------------------------------- geo import / geo merge
def _local_tables(folder: Path) -> tuple[pd.Series, list[Path]]:
    """Two synthetic local series: one samples x genes (linear), one genes x samples (log2 + 0.1)."""
    from radiogenomics.datasets import make_cohort

    cohort = make_cohort(n_positive=8, n_negative=8, n_genes=120, seed=5)
    expr, labels = cohort.expression, cohort.expression_labels
    folder.mkdir()
    (folder / "SYNTHETIC").write_text("synthetic demo inputs\n")
    first, second = expr.index[: len(expr) // 2], expr.index[len(expr) // 2:]
    expr.loc[first].to_csv(folder / "one.csv")
    np.log2(expr.loc[second] + 0.1).T.to_csv(folder / "two_genes_by_samples.csv")
    labels.rename("her2").to_frame().loc[first].to_csv(folder / "one_labels.csv")
    labels.rename("her2").to_frame().loc[second].to_csv(folder / "two_labels.csv")
    return labels, [folder / "one.csv", folder / "two_genes_by_samples.csv"]


def test_cli_import_and_merge(tmp_path: Path, runner: CliRunner) -> None:
    labels, _ = _local_tables(tmp_path / "in")
    inp = tmp_path / "in"
    r = runner.invoke(_app(), ["geo", "import", "--expression", str(inp / "one.csv"), "--labels",
                               str(inp / "one_labels.csv"), "--name", "one", "--out", str(tmp_path / "s1")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(_app(), ["geo", "import", "--expression", str(inp / "two_genes_by_samples.csv"), "--labels",
                               str(inp / "two_labels.csv"), "--name", "two", "--scale", "log2", "--log-offset", "0.1",
                               "--out", str(tmp_path / "s2")])
    assert r.exit_code == 0, r.output
    two = ex.SeriesResult.read(tmp_path / "s2")
    assert two.synthetic and two.parameters["transposed"] is True and (two.scale, two.log_offset) == ("log2", 0.1)
    prov = json.loads((tmp_path / "s2" / "provenance.json").read_text())
    assert set(prov["stages"]["series"]["inputs"]) == {"expression", "labels"}
    # the config's expression section fills --combat; the command line wins over it
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"imaging": {"features": "f.csv", "labels": "l.csv"}, "enrichment": {"gmt": ["x.gmt"]},
                                   "expression": {"series": [{"name": "one"}, {"name": "two"}], "combat": True}}))
    r = runner.invoke(_app(), ["geo", "merge", str(tmp_path / "s1"), str(tmp_path / "s2"), "--config", str(cfg),
                               "--out", str(tmp_path / "merged")])
    assert r.exit_code == 0, r.output
    merged = ex.ExpressionResult.read(tmp_path / "merged")
    assert merged.parameters["combat"] is True and merged.synthetic
    assert merged.batch_check["stage"].tolist() == ["concatenated", "max_normalized", "combat"]
    assert merged.labels.equals(labels.loc[merged.expression.index].astype("int8").rename("her2").rename_axis("sample_id"))
    assert merged.series.value_counts().to_dict() == {"one": 12, "two": 12}
    r = runner.invoke(_app(), ["geo", "merge", str(tmp_path / "s1"), str(tmp_path / "s2"), "--config", str(cfg),
                               "--no-combat", "--out", str(tmp_path / "merged")])
    assert r.exit_code == 0, r.output
    assert ex.ExpressionResult.read(tmp_path / "merged").parameters["combat"] is False
    # errors: one line, exit 2
    r = runner.invoke(_app(), ["geo", "merge", str(inp / "one.csv"), "--out", str(tmp_path / "m2")])
    assert r.exit_code == 2 and "series folders" in r.output
    r = runner.invoke(_app(), ["geo", "import", "--expression", str(inp / "one.csv"), "--labels",
                               str(inp / "two_labels.csv"), "--name", "bad", "--out", str(tmp_path / "s3")])
    assert r.exit_code == 2 and "none of its row or column ids match" in r.output and not (tmp_path / "s3").exists()
