"""`radiogenomics demo`: synthetic images + two unpaired expression series + gene sets, the whole
workflow offline (image extraction included), a report that says the data are synthetic."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from _workflow_run import WORKFLOWS, run_cli

TINY = {"n_patients": 30, "n_validation": 16, "images_per_patient": 1, "image_size": 64,
        "n_expression_positive": 16, "n_expression_negative": 16, "n_genes": 150,
        "n_perturbations": 10, "min_hits": 2, "n_null": 3, "splits": 5}


def test_demo_help_lists_out_option() -> None:
    proc = run_cli("demo", "--help")
    assert proc.returncode == 0
    assert "--out" in proc.stdout


def test_demo_data_and_config(tmp_path: Path) -> None:
    from snakemake.utils import validate

    from radiogenomics.cli.demo import build_demo_data, demo_config

    frag = build_demo_data(tmp_path / "data", images=False, settings=TINY, seed=3)
    config = demo_config(frag, settings=TINY, seed=3)
    validate(config, schema=str(WORKFLOWS / "workflow" / "schemas" / "config.schema.yaml"))
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


def test_demo_runs_end_to_end_with_images(tmp_path: Path) -> None:
    from radiogenomics.cli.demo import run_demo

    report = run_demo(tmp_path / "demo", cores=2, images=True, settings=TINY, quiet=True)
    assert report == tmp_path / "demo" / "results" / "report" / "report.html"
    html = report.read_text()
    assert 'id="synthetic-banner"' in html
    results = tmp_path / "demo" / "results"
    # features came from the simulated images through pyradiomics, one row per patient
    feats = pd.read_parquet(results / "imaging" / "training" / "features_patient.parquet")
    assert len(feats) == TINY["n_patients"]
    assert any(c.startswith("original_glcm_") for c in feats.columns)
    prov = json.loads((results / "report" / "provenance.json").read_text())
    assert prov["synthetic"] is True
    config = yaml.safe_load((tmp_path / "demo" / "config.yaml").read_text())
    assert config["synthetic"] is True and config["deep"]["enabled"] is False
