"""The ``radiogenomics models`` command: outputs on a small synthetic cohort, exit 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from radiogenomics.cli import app


def _write_cohort(folder: Path, prefix: str, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    X = rng.normal(size=(n, 6))
    X[:, :3] += 1.0 * y[:, None]
    ids = pd.Index([f"{prefix}{i:03d}" for i in range(n)], name="sample_id")
    pd.DataFrame(X, index=ids, columns=[f"f{j}" for j in range(6)]).to_csv(folder / f"{prefix}_features.csv")
    pd.DataFrame({"her2": y}, index=ids).to_csv(folder / f"{prefix}_labels.csv")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models_cli")
    _write_cohort(folder, "T", 90, 0)
    _write_cohort(folder, "V", 50, 1)
    (folder / "diff.txt").write_text("f0\nf1\nf2\n")
    pd.DataFrame({"feature": [f"f{j}" for j in range(6)], "selected": [True] * 6}).to_csv(
        folder / "module.csv", index=False)
    ids = [f"T{i:03d}" for i in range(90)] + [f"V{i:03d}" for i in range(50)]
    rng = np.random.default_rng(3)
    pd.DataFrame({"age": rng.normal(55, 9, len(ids)).round(), "grade": rng.choice(["G1", "G2", "G3"], len(ids))},
                 index=pd.Index(ids, name="sample_id")).to_csv(folder / "clinical.csv")
    result = CliRunner().invoke(app, [
        "-q", "models", "--features", str(folder / "T_features.csv"), "--labels", str(folder / "T_labels.csv"),
        "--validation-features", str(folder / "V_features.csv"), "--validation-labels", str(folder / "V_labels.csv"),
        "--feature-set", f"diff={folder / 'diff.txt'}", "--feature-set", f"module={folder / 'module.csv'}",
        "--splits", "6", "--bootstrap", "100", "--clinical", str(folder / "clinical.csv"),
        "--classifiers", "lr,nb,svm", "--out", str(folder / "out")])
    assert result.exit_code == 0, result.output
    return folder / "out"


def test_models_cli_writes_tables_figures_and_provenance(run_dir: Path) -> None:
    for name in ["splits", "summary", "comparison", "validation", "validation_predictions", "calibration",
                 "decision_curve", "pca", "lasso_cv", "lasso_coefficients", "learning_curves", "baseline_her2",
                 "baseline_split", "nomogram_points", "nomogram_coefficients"]:
        assert (run_dir / f"{name}.parquet").exists() and (run_dir / f"{name}.csv").exists(), name
    for fig in ["roc", "precision_recall", "confusion_matrices", "learning_curves", "pca_variance", "lasso",
                "calibration", "decision_curve", "nomogram", "split_auc"]:
        assert (run_dir / f"{fig}.png").stat().st_size > 1000, fig
    summary = pd.read_parquet(run_dir / "summary.parquet")
    assert set(summary["feature_set"]) == {"diff", "module"} and set(summary["classifier"]) == {"lr", "nb", "svm"}
    assert (summary["n_splits"] == 6).all()
    val = pd.read_parquet(run_dir / "validation.parquet")
    assert len(val) == 6 and (val["auc"] > 0.6).all()
    prov = json.loads((run_dir / "provenance.json").read_text())
    params = prov["stages"]["models"]["parameters"]
    assert (params["n_splits"], params["n_bootstrap"], params["seed"]) == (6, 100, 0)
    assert params["feature_sets"] == {"diff": ["f0", "f1", "f2"], "module": [f"f{j}" for j in range(6)]}
    assert prov["stages"]["models"]["seeds"] == {"seed": 0}
    assert "training (n=90)" in pd.read_csv(run_dir / "baseline_split.csv").columns
    assert not (run_dir / "oof_predictions.parquet").exists()


def test_models_cli_result_folders_as_inputs_and_config(run_dir: Path, tmp_path: Path) -> None:
    import radiogenomics as rg
    from radiogenomics._io import read_labels, read_table
    from radiogenomics.imaging.result import load_features

    src = run_dir.parent
    feats, labs = read_table(src / "T_features.csv"), read_labels(src / "T_labels.csv")
    load_features(feats, labs).write(tmp_path / "extract", figures=False)
    diff = rg.differential(feats, labs)
    diff.write(tmp_path / "differential", figures=False)
    cfg = tmp_path / "config.yaml"
    cfg.write_text("imaging: {features: f.csv, labels: l.csv}\nexpression: {series: [{name: A}]}\n"
                   "enrichment: {gmt: [x.gmt]}\nseed: 5\nmodels: {n_splits: 3, classifiers: [lr, nb]}\n")
    result = CliRunner().invoke(app, [
        "-q", "models", "--features", str(tmp_path / "extract"), "--feature-set", f"diff={tmp_path / 'differential'}",
        "--feature-set", "all=all", "--config", str(cfg), "--n-splits", "2", "--no-figures", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    res = rg.models.ModelsResult.read(tmp_path / "out")
    p = res.parameters
    assert (p["n_splits"], p["classifiers"], p["seed"]) == (2, ["lr", "nb"], 5)  # the command line wins
    assert p["feature_sets"] == {"diff": diff.feature_set(), "all": list(feats.columns)}
    assert p["feature_set_sources"] == {"diff": "DifferentialResult", "all": "list"}
    assert res.evaluation_cohort == "training_oof" and res.oof_predictions is not None and res.validation is None
    assert not list((tmp_path / "out").glob("*.png"))
    # the differential result read back from its folder gives the nested protocol; the plain set the paper one
    protocols = res.summary.groupby("feature_set")["protocol"].agg(set).to_dict()
    assert protocols == {"diff": {"paper", "nested"}, "all": {"paper"}}
    assert p["protocols"] == ["paper", "nested"] and "all" in p["protocol_notes"]
    cfg.write_text(cfg.read_text().replace("classifiers: [lr, nb]", "classifiers: [nb], protocols: [nested]"))
    result = CliRunner().invoke(app, [
        "-q", "models", "--features", str(tmp_path / "extract"), "--feature-set", f"diff={tmp_path / 'differential'}",
        "--config", str(cfg), "--no-figures", "--out", str(tmp_path / "nested")])
    assert result.exit_code == 0, result.output
    res = rg.models.ModelsResult.read(tmp_path / "nested")
    assert set(res.summary["protocol"]) == {"nested"} and res.parameters["protocols"] == ["nested"]
    result = CliRunner().invoke(app, [
        "-q", "models", "--features", str(tmp_path / "extract"), "--feature-set", "all=all", "--protocol", "nested",
        "--config", str(cfg), "--no-figures", "--out", str(tmp_path / "none")])
    assert result.exit_code == 2 and "nothing would be computed" in result.output
    result = CliRunner().invoke(app, [
        "models", "--features", str(tmp_path / "extract"), "--feature-set", f"x={tmp_path / 'extract'}",
        "--out", str(tmp_path / "out2")])
    assert result.exit_code == 2 and "not a differential or module result" in result.output
    assert not (tmp_path / "out2").exists()


def test_models_cli_bad_input_exits_2(tmp_path: Path) -> None:
    _write_cohort(tmp_path, "T", 30, 0)
    (tmp_path / "bad.txt").write_text("f0\nmissing_feature\n")
    result = CliRunner().invoke(app, [
        "models", "--features", str(tmp_path / "T_features.csv"), "--labels", str(tmp_path / "T_labels.csv"),
        "--feature-set", f"bad={tmp_path / 'bad.txt'}", "--splits", "2", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "missing_feature" in result.output
    result = CliRunner().invoke(app, [
        "models", "--features", str(tmp_path / "T_features.csv"), "--labels", str(tmp_path / "T_labels.csv"),
        "--classifiers", "lr,xgb", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "xgb" in result.output
    (tmp_path / "empty.txt").write_text("# nothing\n")
    result = CliRunner().invoke(app, [
        "models", "--features", str(tmp_path / "T_features.csv"), "--labels", str(tmp_path / "T_labels.csv"),
        "--feature-set", f"e={tmp_path / 'empty.txt'}", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "lists no feature names" in result.output
    result = CliRunner().invoke(app, [
        "models", "--features", str(tmp_path / "T_features.csv"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "--labels is needed" in result.output
    assert not (tmp_path / "out").exists()
