"""The stages compose in the package: the Snakemake workflow, the CLI stage by stage and the API in one
process give identical tables for the (small) demo."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd
import pytest
from _workflow_run import demo_run, run_cli

import radiogenomics as rg
from radiogenomics._config import load_config, stage_parameters
from radiogenomics._results import stage_folder

#: tables that hold timings or cache flags, which differ between any two runs
VOLATILE = {"extraction": {"diagnostics"}}


def _hashes(results: rg.Results) -> dict[str, str]:
    out = {}
    for name, stage in results.stages().items():
        for table_name, table in stage.tables().items():
            if table_name in VOLATILE.get(stage.stage, ()):
                continue
            h = hashlib.sha256(pd.util.hash_pandas_object(table, index=True).to_numpy().tobytes())
            h.update(repr(list(map(str, table.columns))).encode())
            out[f"{name}/{table_name}"] = h.hexdigest()[:16]
    return out


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_run(tmp_path_factory)


def _cli_stage_by_stage(demo: Path, out: Path) -> None:
    config = load_config(demo / "config.yaml")
    cfg = str(demo / "config.yaml")

    def run(*args: str) -> None:
        proc = run_cli(*args, cwd=demo)
        assert proc.returncode == 0, f"{args}:\n{proc.stderr[-3000:]}"

    img = config["imaging"]
    for cohort, cases in (("training", img["cases"]), ("validation", img["validation"]["cases"])):
        run("extract", "--cases", cases, "--config", cfg, "--no-cache", "--out", str(stage_folder("extraction", out, cohort=cohort)))
    series = []
    for s in config["expression"]["series"]:
        folder = stage_folder("series", out, series=s["name"])
        run("geo", "import", "--expression", s["expression"], "--labels", s["labels"], "--name", s["name"],
            "--scale", s["scale"], "--log-offset", str(s["log_offset"]), "--out", str(folder))
        series.append(str(folder))
    run("geo", "merge", *series, "--config", cfg, "--out", str(stage_folder("expression", out)))
    training = str(stage_folder("extraction", out, cohort="training"))
    run("differential", "--features", training, "--config", cfg, "--out", str(out / "differential"))
    run("associate", "--features", training, "--expression", str(stage_folder("expression", out)), "--config", cfg,
        "--out", str(out / "association"))
    run("enrich", "--associations", str(out / "association"), *[x for g in config["enrichment"]["gmt"] for x in ("--gmt", g)],
        "--offline", "--config", cfg, "--out", str(out / "enrichment"))
    run("module", "--enrichment", str(out / "enrichment"), "--differential", str(out / "differential"),
        "--associations", str(out / "association"), "--config", cfg, "--out", str(out / "module"))
    run("models", "--features", training, "--feature-set", f"differential={out / 'differential'}",
        "--feature-set", f"module={out / 'module'}", "--validation-features",
        str(stage_folder("extraction", out, cohort="validation")), "--clinical", config["models"]["clinical"],
        "--config", cfg, "--out", str(out / "models"))


def _api_in_one_process(demo: Path, out: Path) -> None:
    config = load_config(demo / "config.yaml")
    here = os.getcwd()
    os.chdir(demo)  # the config's paths are relative to its folder, as in the workflow
    try:
        img = config["imaging"]
        opts = stage_parameters(config, "imaging")
        train = rg.extract(img["cases"], **opts)
        val = rg.extract(img["validation"]["cases"], **opts)
        series = [rg.expression.import_series(s["expression"], s["labels"], name=s["name"], scale=s["scale"],
                                              log_offset=s["log_offset"]) for s in config["expression"]["series"]]
        merged = rg.expression.merge_series(series, combat=config["expression"]["combat"])
        diff = rg.differential(train, **stage_parameters(config, "differential"))
        assoc = rg.associate(train, merged, **stage_parameters(config, "association"))
        enr = rg.enrich(assoc, config["enrichment"]["gmt"], **stage_parameters(config, "enrichment"))
        mod = rg.module(enr, diff, association=assoc, **stage_parameters(config, "module"))
        clinical = pd.read_csv(config["models"]["clinical"], index_col=0, dtype={0: str})
        models = rg.evaluate(train, feature_sets={"differential": diff, "module": mod}, validation=val,
                             clinical=clinical, **stage_parameters(config, "models"))
    finally:
        os.chdir(here)
    train.write(stage_folder("extraction", out, cohort="training"), figures=False)
    val.write(stage_folder("extraction", out, cohort="validation"), figures=False)
    for s in series:
        s.write(stage_folder("series", out, series=s.name), figures=False)
    for result, name in ((merged, "expression"), (diff, "differential"), (assoc, "association"), (enr, "enrichment"),
                         (mod, "module"), (models, "models")):
        result.write(stage_folder(name, out), figures=False)


def test_workflow_cli_and_api_give_identical_tables(demo: Path, tmp_path: Path) -> None:
    workflow = _hashes(rg.read_results(demo / "results"))
    assert len(workflow) > 40
    _cli_stage_by_stage(demo, tmp_path / "cli")
    cli = _hashes(rg.read_results(tmp_path / "cli"))
    _api_in_one_process(demo, tmp_path / "api")
    api = _hashes(rg.read_results(tmp_path / "api"))
    assert set(cli) == set(workflow) == set(api)
    differ = sorted(k for k in workflow if not (workflow[k] == cli[k] == api[k]))
    assert differ == [], differ
