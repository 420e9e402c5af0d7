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
    assert prov["stages"]["models"]["parameters"]["splits"] == 6
    assert "training (n=90)" in pd.read_csv(run_dir / "baseline_split.csv").columns


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
