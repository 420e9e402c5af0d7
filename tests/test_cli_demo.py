"""`radiogenomics demo`: synthetic images + two expression series + gene sets, the whole workflow
offline (image extraction included), a report that says the data are synthetic, and a cohort
shaped like the paper's: a few differential features with moderate effects (split AUCs neither
at chance nor perfect), and one planted feature-pathway link that the paired design recovers
above the permutation null."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from _workflow_run import TINY_DEMO, demo_run, run_cli

TINY = TINY_DEMO


def test_demo_help_lists_out_and_design_options() -> None:
    proc = run_cli("demo", "--help")
    assert proc.returncode == 0
    assert "--out" in proc.stdout and "--design" in proc.stdout


def test_demo_rejects_an_unknown_design(tmp_path: Path) -> None:
    proc = run_cli("demo", "--design", "crossed", "--no-images", "--out", str(tmp_path / "d"))
    assert proc.returncode == 2
    assert "design" in proc.stderr and "crossed" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("design", ["paired", "unpaired"])
def test_demo_data_and_config(tmp_path: Path, design: str) -> None:
    from radiogenomics._config import validate_config
    from radiogenomics.datasets import demo_config, write_demo_inputs

    settings = {**TINY, "design": design}
    frag = write_demo_inputs(tmp_path / "data", images=False, settings=settings, seed=3)
    config = demo_config(frag, settings=settings, seed=3)
    validate_config(config)
    assert config["synthetic"] is True
    assert config["association"]["mode"] == design and f"{design} design" in config["report"]["title"]
    assert "SYNTHETIC" not in config["report"]["title"]  # the report adds "(SYNTHETIC DATA)" itself
    assert len(config["expression"]["series"]) == 2
    a, b = (pd.read_csv(tmp_path / s["expression"], index_col=0) for s in config["expression"]["series"])
    assert set(a.index).isdisjoint(b.index)  # two series: different samples
    assert list(a.columns) == list(b.columns)
    feats = pd.read_csv(tmp_path / "data" / "features_training.csv", index_col=0)
    labels = pd.read_csv(tmp_path / "data" / "labels_training.csv", index_col=0)["her2"]
    assert feats.shape == (TINY["n_patients"], 88)
    assert labels.sum() == round(TINY["n_patients"] * TINY["positive_fraction"])
    if design == "paired":  # the training patients were sequenced: the same ids
        assert set(a.index) | set(b.index) == set(feats.index)
    else:  # the paper's design: imaging patients are not the expression samples
        assert set(feats.index).isdisjoint(a.index)
        assert len(a) + len(b) == TINY["n_expression_positive"] + TINY["n_expression_negative"]
    gmt = (tmp_path / "data" / "gene_sets.gmt").read_text().splitlines()
    assert all(len(line.split("\t")) >= 3 for line in gmt)
    planted = json.loads((tmp_path / "data" / "planted.json").read_text())
    pathway = next(line.split("\t")[2:] for line in gmt if line.startswith(planted["pathway"] + "\t"))
    assert set(planted["pathway_genes"]) <= set(pathway) and planted["synthetic"] is True
    assert "SYNTHETIC" in (tmp_path / "data" / "SYNTHETIC.txt").read_text()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_run(tmp_path_factory)  # run_demo(base, images=True, settings=TINY), shared with test_composition


def test_demo_runs_end_to_end_with_images(demo: Path) -> None:
    report = demo / "results" / "report" / "report.html"
    html = report.read_text()
    assert 'id="synthetic-banner"' in html
    results = demo / "results"
    # features came from the simulated images through pyradiomics, one row per patient
    feats = pd.read_parquet(results / "imaging" / "training" / "features_patient.parquet")
    assert len(feats) == TINY["n_patients"]
    assert any(c.startswith("original_glcm_") for c in feats.columns)
    prov = json.loads((results / "report" / "provenance.json").read_text())
    assert prov["synthetic"] is True
    config = yaml.safe_load((demo / "config.yaml").read_text())
    assert config["synthetic"] is True and config["deep"]["enabled"] is False
    assert "paired design" in config["report"]["title"]
    # no stage log holds a traceback
    logs = sorted((results / "logs").glob("*.log"))
    assert logs and not [p.name for p in logs if "Traceback" in p.read_text()]


def test_demo_is_shaped_like_the_paper(demo: Path) -> None:
    """A few differential features, split AUCs that vary and sit between chance and perfection, and
    one planted link that beats the permutation null and is enriched in its planted pathway."""
    import radiogenomics as rg

    res = rg.read_results(demo / "results")
    # differential features: the paper found 8 of 86 (p < 0.05)
    diff = res.differential
    n_sig = int(diff.table["selected"].sum())
    assert 4 <= n_sig <= 20, diff.table.sort_values("p_value").head(25)
    # nested split AUCs: neither degenerate nor perfect, for every classifier and feature set
    nested = res.models.summary.query("protocol == 'nested'")
    assert len(nested) == 14  # 7 classifiers x 2 feature sets
    assert (nested["auc_sd"] > 0.02).all(), nested[["feature_set", "classifier", "auc_mean", "auc_sd"]]
    assert nested["auc_mean"].between(0.55, 0.9).all(), nested[["feature_set", "classifier", "auc_mean", "auc_sd"]]
    # the planted paired link: the speck family's top feature beats the null, its enrichment hits the pathway
    planted = json.loads((demo / "data" / "planted.json").read_text())
    verdict = res.association.null_verdict()
    ns = res.association.null_summary
    assert res.association.parameters["mode"] == "paired"
    top = str(ns["observed"].astype(float).idxmax())
    assert bool(verdict.loc[top, "beats_null"]), ns.sort_values("observed").tail(5)
    enr = res.enrichment.table
    best = enr[enr["feature"] == top].sort_values("p_value").iloc[0]
    assert best["term"] == planted["pathway"] and best["q_value"] < 0.05, enr[enr["feature"] == top].head()
    # ... while most features stay at chance
    assert verdict["beats_null"].mean() < 0.3
    assert np.isfinite(ns["permutation_mean"]).all()


def test_ctrl_c_during_the_demo_says_how_to_resume(monkeypatch, capsys) -> None:
    """Ctrl-C in `radiogenomics demo` (as in `radiogenomics run`): exit status 130 and one line saying to
    run the same command again (the demo used to end silently)."""
    import typer.main

    from radiogenomics.cli import app
    from radiogenomics.cli import demo as demo_cli

    def interrupted_run(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo_cli, "run_demo", interrupted_run)
    with pytest.raises(SystemExit) as stopped:
        typer.main.get_command(app)(["demo", "--out", "unused"], standalone_mode=True)
    assert stopped.value.code == 130
    assert "interrupted: snakemake stopped its jobs and released its lock; run the same command to resume." \
        in capsys.readouterr().err
