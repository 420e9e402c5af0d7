"""`radiogenomics demo`: synthetic images + two unpaired expression series + gene sets, the whole
workflow offline (image extraction included), a report that says the data are synthetic."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from _workflow_run import TINY_DEMO, demo_run, run_cli

TINY = TINY_DEMO


def test_demo_help_lists_out_option() -> None:
    proc = run_cli("demo", "--help")
    assert proc.returncode == 0
    assert "--out" in proc.stdout


def test_demo_data_and_config(tmp_path: Path) -> None:
    from radiogenomics._config import validate_config
    from radiogenomics.datasets import demo_config, write_demo_inputs

    frag = write_demo_inputs(tmp_path / "data", images=False, settings=TINY, seed=3)
    config = demo_config(frag, settings=TINY, seed=3)
    validate_config(config)
    assert config["synthetic"] is True
    assert len(config["expression"]["series"]) == 2
    a, b = (pd.read_csv(tmp_path / s["expression"], index_col=0) for s in config["expression"]["series"])
    assert set(a.index).isdisjoint(b.index)  # unpaired series: different samples
    assert list(a.columns) == list(b.columns)
    assert len(a) + len(b) == TINY["n_expression_positive"] + TINY["n_expression_negative"]
    feats = pd.read_csv(tmp_path / "data" / "features_training.csv", index_col=0)
    assert set(feats.index).isdisjoint(a.index)  # imaging patients are not the expression samples
    gmt = (tmp_path / "data" / "gene_sets.gmt").read_text().splitlines()
    assert all(len(line.split("\t")) >= 3 for line in gmt)
    assert "SYNTHETIC" in (tmp_path / "data" / "SYNTHETIC.txt").read_text()


def test_demo_runs_end_to_end_with_images(tmp_path_factory: pytest.TempPathFactory) -> None:
    base = demo_run(tmp_path_factory)  # run_demo(base, images=True, settings=TINY), shared with test_composition
    report = base / "results" / "report" / "report.html"
    html = report.read_text()
    assert 'id="synthetic-banner"' in html
    results = base / "results"
    # features came from the simulated images through pyradiomics, one row per patient
    feats = pd.read_parquet(results / "imaging" / "training" / "features_patient.parquet")
    assert len(feats) == TINY["n_patients"]
    assert any(c.startswith("original_glcm_") for c in feats.columns)
    prov = json.loads((results / "report" / "provenance.json").read_text())
    assert prov["synthetic"] is True
    config = yaml.safe_load((base / "config.yaml").read_text())
    assert config["synthetic"] is True and config["deep"]["enabled"] is False
