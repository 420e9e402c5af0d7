"""The Snakemake workflow: config schema, dry runs with both profiles, a full run of the tiny
``.test`` config, exports, provenance, and resuming an interrupted run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pandas as pd
import pytest
import yaml
from _workflow_run import TEST_DIR, WORKFLOWS, copy_test_dir, run_cli, workflow_results
from conftest import needs_deep

SNAKEFILE = WORKFLOWS / "workflow" / "Snakefile"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return workflow_results(tmp_path_factory)


def _validate(config: dict) -> dict:
    from radiogenomics._config import validate_config

    return validate_config(config)


@pytest.mark.parametrize("path", [WORKFLOWS / "config" / "config.yaml", TEST_DIR / "config" / "config.yaml"])
def test_shipped_configs_are_valid(path: Path) -> None:
    config = _validate(yaml.safe_load(path.read_text()))
    # validation fills the schema's defaults (the stage functions' own)
    assert config["differential"]["threshold"] == 0.05
    assert config["association"]["r_threshold"] == 0.3 and config["imaging"]["n_jobs"] >= 1


def test_shipped_config_is_commented_line_by_line() -> None:
    lines = [ln for ln in (WORKFLOWS / "config" / "config.yaml").read_text().splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    uncommented = [ln for ln in lines if "#" not in ln and not ln.rstrip().endswith(":")]
    assert uncommented == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["association"].update(mode="sideways"), "sideways"),
        (lambda c: c["models"].update(n_splits=0), "n_splits"),
        (lambda c: c.update(unknown_key=1), "unknown_key"),
        (lambda c: c["expression"].update(series=[]), "series"),
    ],
)
def test_schema_rejects_bad_configs(change, message: str) -> None:
    from radiogenomics import InputError

    config = yaml.safe_load((TEST_DIR / "config" / "config.yaml").read_text())
    change(config)
    with pytest.raises(InputError, match=message):
        _validate(config)


@pytest.mark.parametrize("profile", ["local", "slurm"])
def test_dry_run_with_profile(profile: str, tmp_path: Path) -> None:
    work = copy_test_dir(tmp_path / "w")  # nothing is written into the repository
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--snakefile", str(SNAKEFILE), "--profile",
         str(WORKFLOWS / "profiles" / profile), "--directory", str(work)],
        cwd=work, capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "This was a dry-run" in out
    for rule in ("extract", "differential", "association", "enrichment", "module", "models", "report", "import_series"):
        assert rule in out, rule


def test_run_rejects_missing_config_and_unknown_profile(tmp_path: Path) -> None:
    proc = run_cli("run", "--config", str(tmp_path / "nope.yaml"))
    assert proc.returncode == 2
    assert "nope.yaml" in proc.stderr and "not found" in proc.stderr
    cfg = tmp_path / "c.yaml"
    cfg.write_text("results: r\n")
    proc = run_cli("run", "--config", str(cfg))
    assert proc.returncode == 2 and "c.yaml" in proc.stderr and "'imaging' is a required property" in proc.stderr
    work = copy_test_dir(tmp_path / "w")
    proc = run_cli("run", "--config", str(work / "config" / "config.yaml"), "--profile", "moon")
    assert proc.returncode == 2
    assert "profile" in proc.stderr and "moon" in proc.stderr


def test_invalid_config_fails_before_any_job(tmp_path: Path) -> None:
    work = copy_test_dir(tmp_path / "w")
    cfg = yaml.safe_load((work / "config" / "config.yaml").read_text())
    cfg["association"]["n_perturbations"] = -3
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = run_cli("run", "--config", str(work / "config" / "config.yaml"), "--directory", str(work))
    assert proc.returncode != 0
    assert "n_perturbations" in proc.stdout + proc.stderr
    assert not (work / "results").exists() or not any((work / "results").rglob("*.parquet"))


def test_run_ends_by_saying_where_the_report_is(results: Path) -> None:
    from radiogenomics._results import report_paths

    said = (results.parent / "run.stdout").read_text().strip().splitlines()
    assert said[-1] == f"report: {report_paths(results.resolve())[0]}"
    assert Path(said[-1].removeprefix("report: ")).is_file()


def test_full_run_writes_every_stage(results: Path) -> None:
    import radiogenomics as rg
    from radiogenomics._results import LAYOUT, stage_folder

    run = rg.read_results(results)
    for stage in ("extraction", "expression", "differential", "association", "enrichment", "module", "models"):
        folder = stage_folder(stage, results, cohort="training")
        primary = LAYOUT[stage].primary
        assert (folder / f"{primary}.parquet").exists() and (folder / f"{primary}.csv").exists(), stage
        assert (folder / "provenance.json").exists(), stage
    assert set(run.stages()) >= {"extraction", "extraction_validation", "expression", "differential", "association",
                                 "enrichment", "module", "models", "series/GSE_SYNTH_A", "series/GSE_SYNTH_B"}
    assert run.deep is None
    # the differential table agrees with the package run in-process on the same inputs
    from radiogenomics._io import read_labels, read_table

    base = results.parent
    feats = read_table(base / "data" / "features_training.csv")
    labels = read_labels(base / "data" / "labels_training.csv")
    expected = rg.differential(feats, labels).table
    got = run.differential.table
    pd.testing.assert_series_equal(got["p_value"].sort_index(), expected["p_value"].sort_index(), check_names=False)
    # merged expression: both series' samples, shared genes
    merged = run.expression.expression
    a = pd.read_csv(base / "data" / "gse_synth_a_expression.csv", index_col=0)
    b = pd.read_csv(base / "data" / "gse_synth_b_expression.csv", index_col=0)
    assert set(map(str, merged.index)) >= set(map(str, a.index)) | set(map(str, b.index))


def test_network_exports(results: Path) -> None:
    graph = nx.read_graphml(results / "module" / "network.graphml")
    cyjs = json.loads((results / "module" / "network.cyjs").read_text())
    assert graph.number_of_nodes() == len(cyjs["elements"]["nodes"])
    assert graph.number_of_edges() == len(cyjs["elements"]["edges"])


def test_logs_and_provenance(results: Path) -> None:
    logs = {p.stem for p in (results / "logs").glob("*.log")}
    assert {"differential", "association", "enrichment", "module", "models", "report"} <= logs
    prov = json.loads((results / "report" / "provenance.json").read_text())
    assert prov["synthetic"] is True
    assert prov["stages"]["report"]["synthetic"] is True
    diff_prov = json.loads((results / "differential" / "provenance.json").read_text())
    rec = next(iter(diff_prov["stages"].values()))
    assert all(v["sha256"] and len(v["sha256"]) == 64 for v in rec["inputs"].values())


def test_snakemake_report_figures_registered(results: Path) -> None:
    figs = sorted((results / "report" / "figures").glob("*.png"))
    assert {"differential_volcano", "association_null"} <= {p.stem for p in figs}
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in figs)


# Slow (about 100 s: one and a half runs of .test): `make test-all` runs it beside the three-point SIGINT and the
# SIGTERM interruption tests of test_hostile.py, which cover the same resume more thoroughly; `make test` (CI) leaves
# it out to keep the suite under 20 minutes on 2 cores.
@pytest.mark.slow
def test_rerun_does_nothing_and_interrupted_run_resumes(tmp_path: Path, results: Path) -> None:
    work = copy_test_dir(tmp_path / "w")
    cfg = str(work / "config" / "config.yaml")
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-c", "from radiogenomics.cli import main; main()", "run", "--config", cfg,
         "--directory", str(work), "--cores", "1"],
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    first = work / "results" / "differential" / "differential.parquet"
    # wait until Snakemake reports the differential job finished (all its files written)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "Finished jobid" in line and "differential" in line:
            break
    assert first.exists(), "".join(seen[-50:])
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C mid-run
    proc.communicate(timeout=120)
    assert not (work / "results" / "report" / "report.html").exists()
    # nothing half-written: every table present can be read
    for p in (work / "results").rglob("*.parquet"):
        pd.read_parquet(p)
    assert not list((work / "results").rglob("*.tmp"))
    mtime = first.stat().st_mtime_ns
    again = run_cli("run", "--config", cfg, "--directory", str(work), "--cores", "2", cwd=work)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
    assert (work / "results" / "report" / "report.html").exists()
    assert first.stat().st_mtime_ns == mtime, "a finished job was redone"
    # a complete run is up to date: a third call runs nothing
    third = run_cli("run", "--config", cfg, "--directory", str(work), "--cores", "1", cwd=work)
    assert third.returncode == 0
    assert "Nothing to be done" in third.stdout + third.stderr


# ---------------------------------------------------------------------------------------------
# deep path (config deep.enabled): a tiny synthetic ultrasound cohort beside the .test tables
# ---------------------------------------------------------------------------------------------
def _deep_workdir(tmp_path: Path, *, cases: bool = True) -> Path:
    """A copy of .test with deep.enabled and (optionally) a 12-patient ultrasound case sheet;
    the radiomic stages keep reading the precomputed .test feature tables."""
    from radiogenomics.imaging.synthetic import make_ultrasound_cohort

    work = copy_test_dir(tmp_path / "w")
    cfg_path = work / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    if cases:
        make_ultrasound_cohort(work / "data" / "us", n_patients=12, images_per_patient=1, size=64, seed=0)
        cfg["imaging"]["cases"] = "data/us/cases.csv"
    cfg["deep"].update(enabled=True, gradcam_layer="layer4")
    cfg_path.write_text(yaml.safe_dump(cfg))
    return work


def test_dry_run_with_deep_enabled(tmp_path: Path) -> None:
    work = _deep_workdir(tmp_path)
    cfg = str(work / "config" / "config.yaml")
    proc = run_cli("run", "--config", cfg, "--directory", str(work), "-n", "-p", cwd=work)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "rule deep:" in out
    # the report waits for the deep result it shows (predictions, Grad-CAM)
    report_input = re.search(r"rule report:\n\s+input: (.*)", out).group(1)
    assert "results/deep" in report_input.split(", ")
    shell = _deep_shell_command(out)
    # one command runs the deep stage; its settings come from the config's deep: section (no value in the shell)
    assert "deep run --cases data/us/cases.csv --config" in shell and "--out results/deep" in shell
    assert "--size" not in shell and "--epochs" not in shell
    # deep.enabled without a case sheet is refused before any job
    bare = _deep_workdir(tmp_path / "bare", cases=False)
    proc = run_cli("run", "--config", str(bare / "config" / "config.yaml"), "--directory", str(bare), "-n", cwd=bare)
    assert proc.returncode != 0
    assert "deep.enabled needs imaging.cases" in proc.stdout + proc.stderr


def _deep_shell_command(dry_run_output: str) -> str:
    lines = dry_run_output.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("rule deep:"))
    return next(ln for ln in lines[start:] if "deep run" in ln)


@pytest.mark.deep
@needs_deep
def test_deep_rule_runs_and_report_shows_it(tmp_path: Path) -> None:
    work = _deep_workdir(tmp_path)
    cfg = str(work / "config" / "config.yaml")
    proc = run_cli("run", "--config", cfg, "--directory", str(work), "--cores", "2", "results/deep", cwd=work)
    res = work / "results"
    log = res / "logs" / "deep.log"
    assert proc.returncode == 0, proc.stderr[-4000:] + (log.read_text()[-4000:] if log.exists() else "")
    assert "1 of 1 steps (100%) done" in proc.stdout + proc.stderr  # only the deep rule ran
    assert "report:" not in proc.stdout  # no report was made, so none is announced
    deep = res / "deep"
    predictions = pd.read_parquet(deep / "predictions.parquet")
    assert len(predictions) == 12 and predictions["probability"].between(0, 1).all()
    embeddings = pd.read_parquet(deep / "embeddings_patient.parquet")
    assert embeddings.shape == (12, 512)
    assert set(embeddings.index) == set(predictions.index)
    pngs = sorted((deep / "gradcam").glob("*.png"))
    assert len(pngs) == 12 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert "resnet18 kept at epoch" in log.read_text()
    prov = json.loads((deep / "provenance.json").read_text())
    assert set(prov["stages"]) == {"deep"}
    params = prov["stages"]["deep"]["parameters"]
    assert params["size"] == 32 and params["epochs"] == 1 and params["seed"] == 0  # from the config's deep: section
    assert prov["synthetic"] is True
    # the report (what the report rule runs) shows the Grad-CAM overlays and the deep predictions
    rep = run_cli("report", "--results", str(res), "--out", str(tmp_path / "r.html"), cwd=work)
    assert rep.returncode == 0, rep.stderr[-3000:]
    html = (tmp_path / "r.html").read_text()
    section = re.search(r'<section id="gradcam" class="(\w+)">(.*?)</section>', html, re.S)
    assert section.group(1) == "ok"
    body = section.group(2)
    assert "Grad-CAM heat maps" in body and "Share of Grad-CAM heat" in body  # the figures' captions
    assert "Predictions" in body and predictions.index[0] in body


def test_every_stage_says_its_results_are_synthetic(results: Path) -> None:
    # the flag follows the data from stage to stage (build_provenance detects synthetic inputs)
    records = {p.parent.relative_to(results).as_posix(): json.loads(p.read_text())
               for p in results.rglob("provenance.json")}
    assert {"differential", "association", "enrichment", "module", "models", "expression/merged"} <= set(records)
    unmarked = {where: [s for s, r in doc["stages"].items() if not r["synthetic"]]
                for where, doc in records.items()}
    assert not any(unmarked.values()), unmarked


# ---------------------------------------------------------------------------------------------
# a researcher's own files, first try: features as rows, log2 expression with unknown labels,
# clusterProfiler enrichment supplied instead of computed
# ---------------------------------------------------------------------------------------------
def _compare_cluster_table(table: pd.DataFrame) -> pd.DataFrame:
    """clusterProfiler's as.data.frame(compareCluster(...)) columns, from their documented meaning."""
    codes = {t: f"GO:{2000000 + i:07d}" for i, t in enumerate(dict.fromkeys(table["term"]))}
    return pd.DataFrame({
        "Cluster": table["feature"], "ONTOLOGY": "BP", "ID": [codes[t] for t in table["term"]],
        "Description": table["term"],
        "GeneRatio": [f"{k}/{n}" for k, n in zip(table["overlap"], table["query_size"])],
        "BgRatio": [f"{m}/{n}" for m, n in zip(table["set_size"], table["background_size"])],
        "pvalue": table["p_value"], "p.adjust": table["q_value"], "qvalue": table["q_value"],
        "geneID": [g.replace(";", "/") for g in table["genes"]], "Count": table["overlap"],
    })


def _own_data_workdir(tmp_path: Path) -> tuple[Path, pd.DataFrame, list[str]]:
    import numpy as np

    import radiogenomics as rg
    from radiogenomics.enrichment import read_gmt

    work = copy_test_dir(tmp_path / "w")
    data = work / "data"
    # imaging: features as rows (training, separate labels); validation with its labels as a row of the table
    pd.read_csv(data / "features_training.csv", index_col=0).T.to_csv(data / "features_as_rows.csv")
    val = pd.read_csv(data / "features_validation.csv", index_col=0).T
    val.loc["her2"] = pd.read_csv(data / "labels_validation.csv", index_col=0)["her2"].reindex(val.columns)
    val.to_csv(data / "validation_with_labels.csv")
    # expression: series A as log2(x + 0.1), genes x samples, with three unknown HER2 labels
    expr = pd.read_csv(data / "gse_synth_a_expression.csv", index_col=0)
    np.log2(expr + 0.1).T.round(6).to_csv(data / "gse_a_log2.csv")
    labels = pd.read_csv(data / "gse_synth_a_labels.csv", index_col=0)["her2"].astype(object)
    unknown = list(labels.index[:3])
    labels[unknown] = ["", "NA", "unknown"]
    labels.to_frame().to_csv(data / "gse_a_labels_unknown.csv")
    # enrichment done elsewhere (clusterProfiler), on the planted gene sets of the features
    links = pd.read_csv(data / "planted_links.csv")
    gene_sets = {f: list(g) for f, g in links.groupby("feature", sort=False)["gene"]}
    gmt = read_gmt(data / "gene_sets.gmt.txt")
    native = rg.enrich(gene_sets, gmt, background=list(expr.columns), universe="background", min_size=1).table
    _compare_cluster_table(native).to_csv(data / "compare_cluster.csv", index=False)
    cfg_path = work / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["imaging"] = {"features": "data/features_as_rows.csv", "labels": "data/labels_training.csv",
                      "validation": {"features": "data/validation_with_labels.csv", "label_column": "her2"}}
    cfg["expression"]["series"][0] = {"name": "GSE_SYNTH_A", "expression": "data/gse_a_log2.csv",
                                      "labels": "data/gse_a_labels_unknown.csv", "scale": "log2", "log_offset": 0.1}
    cfg.pop("enrichment")
    cfg["module"] = {"enrichment": "data/compare_cluster.csv", "enrichment_format": "clusterprofiler",
                     "column": "p_value", "threshold": 0.6}
    cfg_path.write_text(yaml.safe_dump(cfg))
    return work, native, unknown


def test_own_data_workflow_completes_on_the_first_run(tmp_path: Path) -> None:
    import radiogenomics as rg

    work, native, unknown = _own_data_workdir(tmp_path)
    cfg = str(work / "config" / "config.yaml")
    proc = run_cli("run", "--config", cfg, "--directory", str(work), "--cores", "2", cwd=work)
    res = work / "results"
    logs = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted((res / "logs").glob("*.log")))
    assert proc.returncode == 0, proc.stderr[-4000:] + logs
    run = rg.read_results(res)
    assert run.enrichment is None and not (res / "enrichment").exists()  # supplied, not computed
    # features as rows were oriented: patients are the rows in every stage
    train = pd.read_csv(work / "data" / "labels_training.csv", index_col=0)
    assert set(run.extraction.features.index) == set(train.index.astype(str))
    assert set(run.extraction_validation.labels.index) == set(run.extraction_validation.features.index)
    # unknown labels excluded with their reason; the log2 series was un-logged with its pseudo-count
    series = run.series["GSE_SYNTH_A"]
    assert set(series.decisions.loc[unknown, "rule"]) == {"missing"}
    assert not set(unknown) & set(run.expression.expression.index)
    assert run.expression.parameters["scales"]["GSE_SYNTH_A"] == "log2"
    # the module from the clusterProfiler table is the one the native table gives
    expected = rg.module(native, run.differential, column="p_value")
    cols = ["feature", "role", "partner", "n_terms"]
    pd.testing.assert_frame_equal(run.module.module[cols].reset_index(drop=True),
                                  expected.module[cols].reset_index(drop=True))
    assert run.module.parameters["enrichment_format"] == "clusterprofiler"
    html = (res / "report" / "report.html").read_text()
    assert "supplied as a clusterprofiler table" in html
    assert "Max-normalisation of GSE_SYNTH_A" in html  # the report says what max-normalisation did per series
    # progress bars stay out of the logs
    assert not any("\r" in p.read_text() or "it/s]" in p.read_text() for p in (res / "logs").glob("*.log"))


def test_a_failed_stage_writes_its_cause_to_its_log(tmp_path: Path) -> None:
    work = copy_test_dir(tmp_path / "w")
    labels = work / "data" / "gse_synth_a_labels.csv"
    table = pd.read_csv(labels, index_col=0)
    table["her2"] = table["her2"].astype(object)
    table.iloc[4, 0] = "positive"  # neither 1/0 nor unknown
    table.to_csv(labels)
    cfg = str(work / "config" / "config.yaml")
    proc = run_cli("run", "--config", cfg, "--directory", str(work), "--cores", "1",
                   "results/expression/series/GSE_SYNTH_A", cwd=work)
    assert proc.returncode != 0
    log = work / "results" / "logs" / "expression_import_GSE_SYNTH_A.log"
    text = log.read_text()
    sample = table.index[4]
    assert f"{sample}='positive'" in text and text.strip().splitlines()[-1].startswith("error: ")
    # `radiogenomics run` names the log and repeats its cause
    assert str(log) in proc.stderr and f"{sample}='positive'" in proc.stderr


def test_run_scheduler_reaches_both_heavy_loops(tmp_path: Path) -> None:
    from radiogenomics.imaging.synthetic import make_ultrasound_cohort

    work = copy_test_dir(tmp_path / "w")
    make_ultrasound_cohort(work / "data" / "us", n_patients=6, images_per_patient=1, size=48, seed=0)
    cfg_path = work / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["imaging"] = {"cases": "data/us/cases.csv"}
    cfg_path.write_text(yaml.safe_dump(cfg))
    proc = run_cli("run", "--config", str(cfg_path), "--directory", str(work), "-n", "-p", "--scheduler",
                   "tcp://127.0.0.1:8786", cwd=work)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    commands = [ln for ln in out.splitlines() if "--scheduler tcp://127.0.0.1:8786" in ln]
    assert any(" extract " in ln for ln in commands) and any(" associate " in ln for ln in commands), out[-4000:]
    # the same key in the config file reaches the stage functions of both loops
    from radiogenomics._config import load_config, stage_parameters

    cfg["scheduler"] = "tcp://10.0.0.1:8786"
    cfg_path.write_text(yaml.safe_dump(cfg))
    config = load_config(cfg_path)
    assert stage_parameters(config, "imaging")["scheduler"] == "tcp://10.0.0.1:8786"
    assert stage_parameters(config, "association")["scheduler"] == "tcp://10.0.0.1:8786"
    assert "scheduler" not in stage_parameters(config, "differential")
