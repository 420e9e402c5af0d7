"""Hostile inputs across every stage: each is refused with exit status 2 and one line naming the
culprit, and the output folder (here: an earlier result) is left exactly as it was.

The inputs are the ``workflows/.test`` tables (small), changed one way per case; commands run
in-process through typer's CliRunner. Security (a config cannot run code, case-sheet paths are
confined, checkpoints are not unpickled) and the interruption of ``radiogenomics run`` are
tested at the end.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from _workflow_run import TEST_DIR, WORKFLOWS, copy_test_dir
from typer.testing import CliRunner

from radiogenomics.cli import app

DATA = TEST_DIR / "data"
FEATS, LABELS = DATA / "features_training.csv", DATA / "labels_training.csv"
VFEATS, VLABELS = DATA / "features_validation.csv", DATA / "labels_validation.csv"
EXPR, ELABELS = DATA / "gse_synth_a_expression.csv", DATA / "gse_synth_a_labels.csv"
GMT = DATA / "gene_sets.gmt.txt"


def _invoke(args: list[str]):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Upstream result folders of the small .test inputs: differential, association, enrichment."""
    base = tmp_path_factory.mktemp("hostile_up")
    out = {"differential": base / "differential", "association": base / "association",
           "enrichment": base / "enrichment"}
    r = _invoke(["differential", "--features", FEATS, "--labels", LABELS, "--out", out["differential"]])
    assert r.exit_code == 0, r.output
    r = _invoke(["associate", "--features", FEATS, "--labels", LABELS, "--expression", EXPR,
                 "--expression-labels", ELABELS, "--perturbations", 6, "--min-hits", 2, "--null", 0,
                 "--out", out["association"]])
    assert r.exit_code == 0, r.output
    r = _invoke(["enrich", "--associations", out["association"], "--gmt", GMT, "--min-size", 2,
                 "--out", out["enrichment"]])
    assert r.exit_code == 0, r.output
    return out


def _tree(folder: Path) -> dict[str, str]:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _table(path: Path, frame: pd.DataFrame, **kw) -> Path:
    frame.to_csv(path, **kw)
    return path


def _feats() -> pd.DataFrame:
    return pd.read_csv(FEATS, index_col=0)


def _expr() -> pd.DataFrame:
    return pd.read_csv(EXPR, index_col=0)


def _sheet(t: Path, image: str, mask: str = "m.png") -> Path:
    (t / "sheet").mkdir(exist_ok=True)
    return _csv(t / "sheet" / "cases.csv", f"case_id,patient_id,image,mask,label\nc1,P1,{image},{mask},1\n")


def _soft(path: Path, listed: list[str], present: list[str]) -> Path:
    out = ["^SERIES = GSE1", "!Series_title = t", "!Series_geo_accession = GSE1", "!Series_platform_id = GPL1"]
    out += [f"!Series_sample_id = {s}" for s in listed]
    for s in present:
        out += [f"^SAMPLE = {s}", f"!Sample_geo_accession = {s}", "!Sample_characteristics_ch1 = her2: 1",
                "!Sample_platform_id = GPL1", "#ID_REF = ", "#VALUE = v", "!sample_table_begin", "ID_REF\tVALUE", "A\t1.0", "B\t2.0",
                "!sample_table_end"]
    path.write_text("\n".join(out) + "\n")
    return path


def _ten() -> list[str]:
    lab = pd.read_csv(LABELS, index_col=0)["her2"]
    return list(lab[lab == 1].index[:5]) + list(lab[lab == 0].index[:5])


def _corrupt_results(t: Path, up) -> list:
    """A results folder whose differential table is cut short."""
    shutil.copytree(up["differential"], t / "res" / "differential")
    (t / "res" / "differential" / "differential.parquet").write_bytes(b"PAR1cut")
    return ["report", "--results", t / "res"]


def _diff(t: Path, up) -> list:
    return ["differential", "--features", FEATS, "--labels", LABELS]


# Each case: (setup(tmp, upstream) -> command arguments without --out, culprit text in the error line).
CASES: dict[str, tuple[Callable[[Path, dict], list], str]] = {
    # ---------------------------------------------------------------- extract: case sheets
    "extract_path_escapes_sheet_folder": (lambda t, u: ["extract", "--cases", _sheet(t, "../../etc/passwd")],
                                         "outside the sheet folder"),
    "extract_absolute_path": (lambda t, u: ["extract", "--cases", _sheet(t, "/etc/shadow")], "/etc/shadow"),
    # a Windows-style path is read with '/' (so ..\\ escapes are refused like ../ ones)
    "extract_windows_path_escapes": (lambda t, u: ["extract", "--cases", _sheet(t, "..\\..\\etc\\passwd")],
                                     "outside the sheet folder"),
    "extract_absolute_mask": (lambda t, u: ["extract", "--cases", _sheet(t, "i.png", "/etc/passwd")], "/etc/passwd"),
    "extract_sheet_without_mask": (lambda t, u: ["extract", "--cases", _csv(t / "c.csv", "image\ni.png\n")],
                                   "'mask'"),
    "extract_sheet_without_rows": (lambda t, u: ["extract", "--cases", _csv(t / "c.csv", "image,mask\n")],
                                   "no rows"),
    "extract_duplicated_case_id": (lambda t, u: ["extract", "--cases",
                                                 _csv(t / "c.csv", "case_id,image,mask\na,i,m\na,j,n\n")], "'a'"),
    "extract_label_not_binary": (lambda t, u: ["extract", "--cases",
                                               _csv(t / "c.csv", "case_id,image,mask,label\na,i,m,7\n")], "a=7"),
    "extract_duplicated_sheet_column": (lambda t, u: ["extract", "--cases",
                                                      _csv(t / "c.csv", "image,mask,image\ni,m,j\n")], "'image'"),
    "extract_sheet_missing": (lambda t, u: ["extract", "--cases", t / "nope.csv"], "nope.csv"),
    "extract_both_inputs": (lambda t, u: ["extract", "--cases", FEATS, "--features", FEATS], "exactly one"),
    "extract_features_duplicated_column": (
        lambda t, u: ["extract", "--features", _csv(t / "f.csv", "sample_id,A,A\nP1,1,2\nP2,3,4\n"),
                      "--labels", LABELS], "'A'"),
    "extract_features_not_numeric": (
        lambda t, u: ["extract", "--features", _csv(t / "f.csv", "sample_id,A\nP1,x\nP2,3\n"), "--labels", LABELS],
        "'A'"),
    "extract_features_empty_file": (lambda t, u: ["extract", "--features", _csv(t / "f.csv", ""), "--labels", LABELS],
                                    "f.csv"),
    "extract_labels_missing": (lambda t, u: ["extract", "--features", FEATS, "--labels", t / "nol.csv"], "nol.csv"),
    "extract_every_case_fails": (lambda t, u: ["extract", "--cases", _sheet(t, "missing.png")], "missing.png"),
    "extract_preset_unknown": (lambda t, u: ["extract", "--cases", _sheet(t, "i.png"), "--preset", "moon"], "moon"),
    # ---------------------------------------------------------------- deep: the same case sheets
    "deep_run_path_escapes_sheet_folder": (lambda t, u: ["deep", "run", "--cases", _sheet(t, "../../etc/passwd")],
                                           "outside the sheet folder"),
    "deep_compare_absolute_path": (lambda t, u: ["deep", "compare", "--cases", _sheet(t, "/etc/shadow")],
                                   "/etc/shadow"),
    "deep_features_absolute_mask": (lambda t, u: ["deep", "features", "--cases", _sheet(t, "i.png", "/etc/passwd")],
                                    "/etc/passwd"),
    # ---------------------------------------------------------------- differential
    "differential_threshold_above_one": (lambda t, u: [*_diff(t, u), "--threshold", "2"], "threshold"),
    "differential_select_by_unknown": (lambda t, u: [*_diff(t, u), "--select-by", "z"], "select_by"),
    "differential_method_unknown": (lambda t, u: [*_diff(t, u), "--method", "guess"], "guess"),
    "differential_labels_not_binary": (
        lambda t, u: ["differential", "--features", FEATS,
                      "--labels", _csv(t / "l.csv", "sample_id,her2\nP001,2\nP002,0\n")], "l.csv"),
    "differential_labels_share_no_sample": (
        lambda t, u: ["differential", "--features", FEATS,
                      "--labels", _csv(t / "l.csv", "sample_id,her2\nX1,1\nX2,0\nX3,1\nX4,0\n")], "X1"),
    "differential_duplicated_rows": (
        lambda t, u: ["differential", "--features", _table(t / "f.csv", pd.concat([_feats(), _feats().iloc[:1]])),
                      "--labels", LABELS], "P001"),
    "differential_leading_zero_ids_stay_distinct": (
        # 001 and 1 are two samples: a label file keyed 1, 2... matches none of 001, 002...
        lambda t, u: ["differential", "--features", _table(t / "f.csv", _feats().set_axis(
            [f"{i:03d}" for i in range(1, len(_feats()) + 1)])),
                      "--labels", _csv(t / "l.csv", "sample_id,her2\n" + "".join(
                          f"{i},{i % 2}\n" for i in range(1, len(_feats()) + 1)))], "001"),
    "differential_config_unknown_key": (
        lambda t, u: [*_diff(t, u), "--config", _csv(t / "c.yaml", yaml.safe_dump(
            {**yaml.safe_load((TEST_DIR / "config" / "config.yaml").read_text()), "bogus": 1}))], "bogus"),
    "differential_config_uses_yte": (
        lambda t, u: [*_diff(t, u), "--config", _csv(t / "c.yaml", "__use_yte__: true\nresults: r\n")],
        "__use_yte__"),
    "differential_config_not_yaml": (lambda t, u: [*_diff(t, u), "--config", _csv(t / "c.yaml", "a: [\n")],
                                     "c.yaml"),
    "differential_config_missing": (lambda t, u: [*_diff(t, u), "--config", t / "none.yaml"], "none.yaml"),
    "differential_features_folder_not_a_result": (
        lambda t, u: (t / "d").mkdir() or ["differential", "--features", t / "d", "--labels", LABELS], "d"),
    # ---------------------------------------------------------------- associate
    "associate_excel_dates_as_genes": (
        lambda t, u: ["associate", "--features", FEATS, "--labels", LABELS,
                      "--expression", _table(t / "e.csv", _expr().rename(columns={"GENE00001": "1-Sep",
                                                                                  "GENE00002": "1-Mar"})),
                      "--expression-labels", ELABELS], "1-Sep"),
    "associate_duplicated_gene": (
        lambda t, u: ["associate", "--features", FEATS, "--labels", LABELS,
                      "--expression", _table(t / "e.csv", _expr().rename(columns={"GENE00001": "GENE00002"})),
                      "--expression-labels", ELABELS], "GENE00002"),
    "associate_expression_labels_share_no_sample": (
        lambda t, u: ["associate", "--features", FEATS, "--labels", LABELS, "--expression", EXPR,
                      "--expression-labels", _csv(t / "el.csv", "sample_id,her2\nZ1,1\nZ2,0\n")], "'Z1'"),
    "associate_zero_perturbations": (
        lambda t, u: ["associate", "--features", FEATS, "--labels", LABELS, "--expression", EXPR,
                      "--expression-labels", ELABELS, "--perturbations", "0"], "perturbations"),
    "associate_r_threshold_above_one": (
        lambda t, u: ["associate", "--features", FEATS, "--labels", LABELS, "--expression", EXPR,
                      "--expression-labels", ELABELS, "--r-threshold", "1.5"], "r_threshold"),
    "associate_mode_unknown": (
        lambda t, u: ["associate", "--features", FEATS, "--labels", LABELS, "--expression", EXPR,
                      "--expression-labels", ELABELS, "--mode", "sideways"], "sideways"),
    "associate_expression_missing": (
        lambda t, u: ["associate", "--features", FEATS, "--labels", LABELS, "--expression", t / "noexpr.csv",
                      "--expression-labels", ELABELS], "noexpr.csv"),
    # ---------------------------------------------------------------- geo import / SOFT
    "geo_import_excel_dates_as_genes": (
        lambda t, u: ["geo", "import", "--name", "S", "--labels", ELABELS,
                      "--expression", _table(t / "e.csv", _expr().rename(columns={"GENE00003": "2-Mar"}))], "2-Mar"),
    "geo_import_duplicated_gene": (
        lambda t, u: ["geo", "import", "--name", "S", "--labels", ELABELS,
                      "--expression", _table(t / "e.csv", _expr().rename(columns={"GENE00003": "ERBB2"}))], "ERBB2"),
    "geo_import_no_known_label": (
        lambda t, u: ["geo", "import", "--name", "S", "--expression", EXPR,
                      "--labels", _table(t / "l.csv", pd.read_csv(ELABELS, index_col=0).assign(her2="NA"))],
        "no sample has a 0/1 HER2 label"),
    "geo_fetch_no_labelled_sample": (  # every sample a cell line: excluded by the manifest's inclusion rules
        lambda t, u: ["geo", "fetch", "GSE45827", "--no-scale-check", "--soft", _csv(
            t / "GSE45827_family.soft", _soft(t / "s.soft", ["GSM1", "GSM2"], ["GSM1", "GSM2"]).read_text().replace(
                "her2: 1", "cell line: MCF7"))], "no sample has a 0/1 HER2 label"),
    "geo_import_bad_name": (lambda t, u: ["geo", "import", "--name", "a b;c", "--expression", EXPR,
                                          "--labels", ELABELS], "a b;c"),
    "geo_import_scale_unknown": (lambda t, u: ["geo", "import", "--name", "S", "--expression", EXPR,
                                               "--labels", ELABELS, "--scale", "cubic"], "cubic"),
    # ---------------------------------------------------------------- enrich
    "enrich_gmt_with_excel_dates": (
        lambda t, u: ["enrich", "--associations", u["association"],
                      "--gmt", _csv(t / "x.gmt", "T1\td\tERBB2\t1-Sep\tGRB7\nT2\td\tSep-09\tESR1\n")], "1-Sep"),
    "enrich_zero_overlap_lower_case": (
        lambda t, u: ["enrich", "--associations", u["association"], "--gmt", _csv(t / "x.gmt", "".join(
            f"T{i}\td\t" + "\t".join(g.lower() for g in GMT.read_text().splitlines()[i].split("\t")[2:]) + "\n"
            for i in range(3)))], "differ only in case"),
    "enrich_zero_overlap_ensembl": (
        lambda t, u: ["enrich", "--associations", u["association"], "--gmt",
                      _csv(t / "x.gmt", "T1\td\tENSG00000141736\tENSG00000141738\n")], "ENSG00000141736"),
    "enrich_gmt_missing": (lambda t, u: ["enrich", "--associations", u["association"], "--gmt", t / "no.gmt"],
                           "no.gmt"),
    "enrich_gmt_line_too_short": (lambda t, u: ["enrich", "--associations", u["association"],
                                                "--gmt", _csv(t / "x.gmt", "T1\tERBB2\n")], "line 1"),
    "enrich_gmt_duplicated_term": (lambda t, u: ["enrich", "--associations", u["association"],
                                                 "--gmt", _csv(t / "x.gmt", "T\td\tERBB2\nT\td\tGRB7\n")], "'T'"),
    "enrich_min_size_zero": (lambda t, u: ["enrich", "--associations", u["association"], "--gmt", GMT,
                                           "--min-size", "0"], "min_size"),
    "enrich_associations_not_a_result": (
        lambda t, u: ["enrich", "--associations", u["differential"], "--gmt", GMT], "differential"),
    # ---------------------------------------------------------------- module
    "module_threshold_above_one": (lambda t, u: ["module", "--enrichment", u["enrichment"], "--differential",
                                                 u["differential"], "--threshold", "2"], "threshold"),
    "module_method_unknown": (lambda t, u: ["module", "--enrichment", u["enrichment"], "--differential",
                                            u["differential"], "--method", "cosine"], "cosine"),
    "module_enrichment_missing": (lambda t, u: ["module", "--enrichment", t / "none", "--differential",
                                                u["differential"]], "none"),
    "module_differential_wrong_stage": (lambda t, u: ["module", "--enrichment", u["enrichment"], "--differential",
                                                      u["association"]], "association"),
    # ---------------------------------------------------------------- models
    "models_variance_above_one": (lambda t, u: ["models", "--features", FEATS, "--labels", LABELS,
                                                "--variance", "1.5"], "variance"),
    "models_negative_bootstrap": (lambda t, u: ["models", "--features", FEATS, "--labels", LABELS,
                                                "--bootstrap", "-1"], "bootstrap"),
    "models_test_size_zero": (lambda t, u: ["models", "--features", FEATS, "--labels", LABELS,
                                            "--test-size", "0"], "test_size"),
    "models_classifier_unknown": (lambda t, u: ["models", "--features", FEATS, "--labels", LABELS,
                                                "--classifiers", "oracle"], "oracle"),
    "models_feature_set_without_path": (lambda t, u: ["models", "--features", FEATS, "--labels", LABELS,
                                                      "--feature-set", "differential"], "differential"),
    "models_validation_without_labels": (lambda t, u: ["models", "--features", FEATS, "--labels", LABELS,
                                                       "--validation-features", VFEATS], "validation"),
    "models_clinical_missing": (lambda t, u: ["models", "--features", FEATS, "--labels", LABELS,
                                              "--clinical", t / "clin.csv"], "clin.csv"),
    "models_knn_more_neighbours_than_samples": (
        lambda t, u: ["models", "--features", _table(t / "f.csv", _feats().loc[_ten()]),
                      "--labels", _table(t / "l.csv", pd.read_csv(LABELS, index_col=0).loc[_ten()]),
                      "--classifiers", "knn", "--splits", "2"], "knn"),
    "models_all_constant_features": (
        lambda t, u: ["models", "--features", _table(t / "f.csv", _feats() * 0 + 1.0), "--labels", LABELS,
                      "--splits", "2", "--classifiers", "lr"], "constant"),
    # ---------------------------------------------------------------- report
    "report_results_empty": (lambda t, u: (t / "empty").mkdir() or ["report", "--results", t / "empty"], "empty"),
    "report_results_missing": (lambda t, u: ["report", "--results", t / "nothing"], "nothing"),
    "report_results_corrupt": (lambda t, u: _corrupt_results(t, u), "differential.parquet"),
}

#: Cases whose output is a file, not a stage folder (the report).
_FILE_OUT = {"report_results_empty", "report_results_missing", "report_results_corrupt"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_input_is_refused_and_leaves_the_output(case: str, tmp_path: Path, up: dict[str, Path]) -> None:
    setup, culprit = CASES[case]
    args = setup(tmp_path, up)
    if case in _FILE_OUT:
        out = tmp_path / "old" / "report.html"
        out.parent.mkdir()
        out.write_text("<html>earlier report</html>")
        watched = out.parent
    else:  # an earlier result in the output folder: a failed run must leave it as it was
        out = tmp_path / "old"
        shutil.copytree(up["differential"], out)
        watched = out
    before = _tree(watched)
    r = CliRunner().invoke(app, [str(a) for a in args] + ["--out", str(out)])
    assert r.exit_code == 2, (r.exit_code, r.output[-3000:])
    lines = [ln for ln in r.output.strip().splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error: "), r.output[-3000:]
    assert "Traceback" not in r.output, r.output[-3000:]
    assert culprit in lines[-1], (culprit, lines[-1])
    assert _tree(watched) == before


# -------------------------------------------------------------------- OS errors at the boundary
def _boom(code: int, filename: str):
    def raise_(*args, **kwargs):
        raise OSError(code, os.strerror(code), filename)
    return raise_


@pytest.mark.parametrize(("code", "words"), [(errno.ENOSPC, "no space left"), (errno.EACCES, "permission denied"),
                                             (errno.EROFS, "read-only")])
def test_os_errors_while_writing_are_one_line_and_leave_the_output(code: int, words: str, tmp_path: Path,
                                                                   up, monkeypatch) -> None:
    out = tmp_path / "old"
    shutil.copytree(up["differential"], out)
    before = _tree(out)
    monkeypatch.setattr(pd.DataFrame, "to_parquet", _boom(code, str(tmp_path / "x.parquet")))
    r = CliRunner().invoke(app, ["differential", "--features", str(FEATS), "--labels", str(LABELS),
                                 "--out", str(out)])
    assert r.exit_code == 2, r.output
    last = r.output.strip().splitlines()[-1]
    assert last.startswith("error: ") and words in last and "x.parquet" in last, last
    assert "Traceback" not in r.output
    assert _tree(out) == before
    # --debug shows the traceback first, then the same line
    r = CliRunner().invoke(app, ["--debug", "differential", "--features", str(FEATS), "--labels", str(LABELS),
                                 "--out", str(out)])
    assert r.exit_code == 2 and "Traceback" in r.output and r.output.strip().splitlines()[-1] == last


def test_ctrl_c_while_writing_leaves_the_earlier_result_whole(tmp_path: Path, up, monkeypatch) -> None:
    """Ctrl-C after some tables are written (the models stage had left 15 files without provenance):
    the earlier result stays as it was and no temporary folder is left beside it."""
    out = tmp_path / "old"
    shutil.copytree(up["differential"], out)
    before = _tree(out)
    real, calls = pd.DataFrame.to_parquet, []

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)
    monkeypatch.setattr(pd.DataFrame, "to_parquet", interrupted)
    r = CliRunner().invoke(app, ["differential", "--features", str(FEATS), "--labels", str(LABELS), "--out", str(out)])
    assert r.exit_code != 0 and len(calls) == 2
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]


@pytest.mark.parametrize("where", ["file", "under_a_file"])
def test_out_naming_a_file_or_under_a_file(where: str, tmp_path: Path) -> None:
    blocker = tmp_path / "blocker.txt"
    blocker.write_text("mine")
    out = blocker if where == "file" else blocker / "sub"
    r = CliRunner().invoke(app, ["differential", "--features", str(FEATS), "--labels", str(LABELS), "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert "blocker.txt" in r.output.strip().splitlines()[-1] and "Traceback" not in r.output
    assert blocker.read_text() == "mine"


def test_report_figures_naming_a_file(tmp_path: Path, up) -> None:
    blocker = tmp_path / "figs"
    blocker.write_text("mine")
    r = CliRunner().invoke(app, ["report", "--results", str(up["differential"].parent), "--out",
                                 str(tmp_path / "r.html"), "--figures", str(blocker)])
    assert r.exit_code == 2, r.output
    assert "figs" in r.output.strip().splitlines()[-1] and "Traceback" not in r.output
    assert blocker.read_text() == "mine"


# -------------------------------------------------------------------- readers (API)
def test_ids_with_leading_zeros_stay_distinct(tmp_path: Path) -> None:
    from radiogenomics._io import read_labels, read_table

    table = read_table(_csv(tmp_path / "t.csv", "sample_id,G\n001,1\n01,2\n1,3\n"))
    assert list(table.index) == ["001", "01", "1"] and table["G"].tolist() == [1, 2, 3]
    labels = read_labels(_csv(tmp_path / "l.tsv", "id\ther2\n007\t1\n7\t0\n"))
    assert labels.to_dict() == {"007": 1, "7": 0}


def test_spreadsheet_exports_read_as_written(tmp_path: Path) -> None:
    # Excel in a decimal-comma locale saves "CSV" with semicolons and 1,5; other tools save tabs in a .csv;
    # Excel's "CSV UTF-8" starts with a byte-order mark: each reads to the same numbers as the plain CSV
    from radiogenomics import DataFileError
    from radiogenomics._io import read_labels, read_table

    plain = read_table(_csv(tmp_path / "plain.csv", "sample_id,f1,f2\nP1,1.5,-2e-3\nP2,0.25,3\n"))
    assert plain.loc["P1"].tolist() == [1.5, -0.002]
    for name, text in (("eu.csv", "sample_id;f1;f2\nP1;1,5;-2e-3\nP2;0,25;3\n"),
                       ("tabs.csv", "sample_id\tf1\tf2\nP1\t1.5\t-2e-3\nP2\t0.25\t3\n"),
                       ("semicolon_points.csv", "sample_id;f1;f2\nP1;1.5;-2e-3\nP2;0.25;3\n")):
        pd.testing.assert_frame_equal(read_table(_csv(tmp_path / name, text)), plain, check_names=False)
    (tmp_path / "bom.csv").write_bytes("\ufeffsample_id,f1,f2\r\nP1,1.5,-2e-3\r\nP2,0.25,3\r\n".encode())
    pd.testing.assert_frame_equal(read_table(tmp_path / "bom.csv"), plain, check_names=False)
    assert read_labels(_csv(tmp_path / "l.csv", "id;her2\nP1;1\nP2;0\n")).to_dict() == {"P1": 1, "P2": 0}
    # a workbook is refused with the way out, not parsed as text
    (tmp_path / "cohort.xlsx").write_bytes(b"PK\x03\x04 not a table")
    with pytest.raises(DataFileError, match=r"cohort.xlsx: a spreadsheet workbook .* save the sheet as CSV"):
        read_table(tmp_path / "cohort.xlsx")


def test_case_sheet_written_on_windows_reads_its_backslash_paths(tmp_path: Path) -> None:
    from radiogenomics.imaging.cases import read_cases

    (tmp_path / "imgs").mkdir()
    for f in ("a_image.nrrd", "a_mask.nrrd"):
        (tmp_path / "imgs" / f).write_bytes(b"x")
    (tmp_path / "odd\\name.nrrd").write_bytes(b"x")  # on POSIX a backslash may be part of a file name: kept
    sheet = _csv(tmp_path / "cases.csv", "case_id,image,mask,label\nc1,imgs\\a_image.nrrd,imgs\\a_mask.nrrd,1\n"
                                         "c2,odd\\name.nrrd,imgs/a_mask.nrrd,0\n")
    cases = read_cases(sheet)
    assert cases.loc["c1", "image"] == str((tmp_path / "imgs" / "a_image.nrrd").resolve())
    assert cases.loc["c1", "mask"] == str((tmp_path / "imgs" / "a_mask.nrrd").resolve())
    assert cases.loc["c2", "image"] == str((tmp_path / "odd\\name.nrrd").resolve())


def test_truncated_soft_file_is_refused(tmp_path: Path) -> None:
    from radiogenomics import DataFileError
    from radiogenomics.expression import read_soft

    whole = read_soft(_soft(tmp_path / "whole_family.soft", ["GSM1", "GSM2"], ["GSM1", "GSM2"]))
    assert list(whole.values.index) == ["GSM1", "GSM2"]
    with pytest.raises(DataFileError, match=r"truncated.*1 of the 3 samples.*'GSM3'"):
        read_soft(_soft(tmp_path / "cut_family.soft", ["GSM1", "GSM2", "GSM3"], ["GSM1", "GSM2"]))


@pytest.mark.parametrize("name", ["1-Sep", "SEP-01", "1-Mar", "2-Dec", "2020-09-01", "2020-09-01 00:00:00",
                                  "9/1/2020", "01-Mar-2020"])
def test_excel_dates_are_named(name: str) -> None:
    from radiogenomics._validation import excel_mangled_genes

    assert excel_mangled_genes(["ERBB2", name, "SEPTIN1", "MARCHF1", "DEC1", "GRB7"]) == [name]


def test_case_sheet_paths_confined_unless_allowed(tmp_path: Path) -> None:
    from radiogenomics import InputError
    from radiogenomics.imaging import read_cases

    (tmp_path / "s" / "img").mkdir(parents=True)
    inside = _csv(tmp_path / "s" / "in.csv", "image,mask\nimg/i.png,img/./m.png\n")
    got = read_cases(inside)
    assert got["image"].iloc[0] == str((tmp_path / "s" / "img" / "i.png").resolve())
    out = _csv(tmp_path / "s" / "out.csv", "image,mask\nimg/../../x.png,m.png\n")
    with pytest.raises(InputError, match="outside the sheet folder"):
        read_cases(out)
    assert read_cases(out, allow_outside_paths=True)["image"].iloc[0] == str((tmp_path / "x.png").resolve())
    # the stage keyword and the config key
    import radiogenomics as rg
    from radiogenomics._config import source_defaults

    with pytest.raises(InputError, match="outside the sheet folder"):
        rg.extract(out)
    assert source_defaults("imaging")["allow_outside_paths"] is False


def test_deep_case_sheet_with_outside_paths_allowed_explicitly(tmp_path: Path) -> None:
    """The deep stages take the imaging stage's option (API keyword, config key, CLI flag)."""
    pytest.importorskip("torch")
    import inspect

    import radiogenomics as rg
    from radiogenomics import InputError
    from radiogenomics._config import source_defaults
    from radiogenomics.deep.stage import read_and_crop

    sheet = _us_cohort(tmp_path / "us")
    table = pd.read_csv(sheet, dtype=str)
    (tmp_path / "elsewhere").mkdir()
    for col in ("image", "mask"):
        table[col] = "../us/" + table[col]
    outside = _table(tmp_path / "elsewhere" / "cases.csv", table, index=False)
    crop = dict(sequences=None, register=False, size=16, margin=0.1, background="keep", intensity="uint8")
    with pytest.raises(InputError, match="outside the sheet folder"):
        read_and_crop(outside, **crop)
    got, crops, _ = read_and_crop(outside, allow_outside_paths=True, **crop)
    assert len(got) == len(table) and len(crops) == len(table)
    assert got["image"].iloc[0] == str((tmp_path / "us" / table["image"].iloc[0]).resolve())
    for section, func in (("deep", rg.deep.run), ("deep_comparison", rg.deep.compare),
                          ("deep_features", rg.deep.cross_fit)):
        assert source_defaults(section)["allow_outside_paths"] is False
        assert inspect.signature(func).parameters["allow_outside_paths"].default is False
    assert inspect.signature(rg.deep.apply_model).parameters["allow_outside_paths"].default is False


# -------------------------------------------------------------------- checkpoints
class _Payload:
    """Any Python object in a checkpoint: unpickling it could run code."""


def test_untrusted_checkpoint_gets_no_weights_only_false_advice(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    import pickle

    from radiogenomics import DataFileError
    from radiogenomics.deep.model import load_checkpoint, load_pretrained

    bad = tmp_path / "evil.pt"
    import torch

    torch.save({"state_dict": {}, "config": {"arch": "resnet18"}, "obj": _Payload()}, bad, pickle_module=pickle)
    for loader in (lambda: load_checkpoint(bad, device="cpu"), lambda: load_pretrained(object(), bad)):
        with pytest.raises(DataFileError) as info:
            loader()
        text = str(info.value)
        assert "evil.pt" in text and "weights_only=False" not in text and "could run code" in text
        assert info.value.__cause__ is None and info.value.__suppress_context__


def test_checkpoint_with_wrong_shapes_is_a_clear_error(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from radiogenomics import DataFileError
    from radiogenomics.deep.model import build_model, load_checkpoint, save_checkpoint

    model = build_model(arch="resnet18", num_classes=2, size=32)
    cfg = {"arch": "resnet18", "num_classes": 2, "size": 32}
    path = save_checkpoint(tmp_path / "ok.pt", model, config=cfg)
    payload = torch.load(path, weights_only=True)
    key = next(k for k, v in payload["state_dict"].items() if v.ndim == 4)
    payload["state_dict"][key] = torch.zeros(3, 3, 3, 3)
    torch.save(payload, tmp_path / "wrong.pt")
    with pytest.raises(DataFileError, match=r"wrong.pt: the checkpoint's weights do not fit its 'resnet18' network"):
        load_checkpoint(tmp_path / "wrong.pt", device="cpu")


def test_crop_size_is_bounded() -> None:
    from radiogenomics import ParameterError
    from radiogenomics.deep.crops import crop_around_mask

    with pytest.raises(ParameterError, match="size"):
        crop_around_mask(np.zeros((8, 8)), np.ones((8, 8), dtype=np.uint8), size=100_000)


# -------------------------------------------------------------------- the workflow's config
def test_snakefile_has_no_configfile_directive() -> None:
    text = (WORKFLOWS / "workflow" / "Snakefile").read_text()
    assert not [ln for ln in text.splitlines() if ln.strip().startswith("configfile:")]


def test_run_hands_snakemake_a_validated_json(tmp_path: Path) -> None:
    from radiogenomics._config import load_config
    from radiogenomics.cli.workflow import resolved_config, snakemake_command

    work = copy_test_dir(tmp_path / "w")
    path = resolved_config(work / "config" / "config.yaml", scheduler="tcp://h:1")
    assert path == work / "results" / "config.resolved.json"
    data = json.loads(path.read_text())
    assert data == {**load_config(work / "config" / "config.yaml"), "scheduler": "tcp://h:1"}
    mtime = path.stat().st_mtime_ns
    assert resolved_config(work / "config" / "config.yaml", scheduler="tcp://h:1") == path
    assert path.stat().st_mtime_ns == mtime  # unchanged content: not rewritten
    cmd, _ = snakemake_command(path, directory=work)
    assert cmd[cmd.index("--configfile") + 1] == str(path)


def test_run_refuses_yte_and_extra_configfiles(tmp_path: Path) -> None:
    work = copy_test_dir(tmp_path / "w")
    marker = tmp_path / "PWNED"
    evil = work / "config" / "evil.yaml"
    evil.write_text(f"__use_yte__: true\nresults: ?__import__('pathlib').Path({str(marker)!r}).touch()\n")
    r = CliRunner().invoke(app, ["run", "--config", str(evil), "-n"])
    assert r.exit_code == 2 and "__use_yte__" in r.output and not marker.exists()
    r = CliRunner().invoke(app, ["run", "--config", str(work / "config" / "config.yaml"), "-n",
                                 "--configfile", str(evil)])
    assert r.exit_code == 2 and "--configfile" in r.output and not marker.exists()


def test_snakemake_alone_reads_the_default_config_without_yte(tmp_path: Path) -> None:
    """Snakemake run by hand in a folder whose config/config.yaml is a YTE template: no code runs."""
    work = copy_test_dir(tmp_path / "w")
    marker = tmp_path / "PWNED"
    (work / "config" / "config.yaml").write_text(
        f"__use_yte__: true\nresults: ?__import__('pathlib').Path({str(marker)!r}).touch()\n")
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--snakefile",
                           str(WORKFLOWS / "workflow" / "Snakefile"), "--directory", str(work)],
                          cwd=work, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode != 0 and "__use_yte__" in proc.stdout + proc.stderr
    assert not marker.exists()


def test_config_values_and_paths_never_reach_the_shell_unquoted(tmp_path: Path) -> None:
    """A title with an apostrophe and a shell command, a preset with one, and an input path with spaces,
    ';' and unicode: every planned shell line splits (as the shell does) into the intended arguments
    (the odd path one argument), and no shell line holds a config value: each stage reads its settings
    from the validated config."""
    import shlex

    from _workflow_run import run_cli

    work = copy_test_dir(tmp_path / "w")
    odd = work / "data" / "my feats; touch PWNED é.csv"
    (work / "data" / "features_training.csv").rename(odd)
    cfg = yaml.safe_load((work / "config" / "config.yaml").read_text())
    cfg["imaging"]["features"] = str(odd.relative_to(work))
    cfg["imaging"]["preset"] = "ultrasound2d --out X; touch PWNED; true"
    cfg["report"]["title"] = "Cui et al.'s cohort'; touch PWNED; echo '"
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
    dry = run_cli("run", "--config", str(work / "config" / "config.yaml"), "--directory", str(work), "-n",
                  cwd=work, timeout=300)
    planned = dry.stdout + dry.stderr
    assert dry.returncode == 0, planned[-3000:]
    shell = [ln.strip() for ln in planned.splitlines() if "radiogenomics" in ln and " --out " in ln]
    assert len(shell) >= 8 and any(" report " in ln for ln in shell), planned[-3000:]
    assert not [ln for ln in shell if "touch PWNED;" in ln or "al.'s" in ln or "ultrasound2d --out X" in ln]
    extract = shlex.split(next(ln for ln in shell if " extract " in ln and "training" in ln))
    assert extract[extract.index("--features") + 1] == str(odd.relative_to(work))
    assert "touch" not in extract and extract[extract.index(">") - 1] == "results/imaging/training"


# -------------------------------------------------------------------- interruption of `radiogenomics run`
def _hashes(results: Path) -> dict[str, str]:
    import radiogenomics as rg

    out = {}
    for name, stage in rg.read_results(results).stages().items():
        for table_name, table in stage.tables().items():
            h = hashlib.sha256(pd.util.hash_pandas_object(table, index=True).to_numpy().tobytes())
            h.update(repr(list(map(str, table.columns))).encode())
            out[f"{name}/{table_name}"] = h.hexdigest()[:16]
    return out


def _start_run(work: Path) -> subprocess.Popen:
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    return subprocess.Popen(
        [sys.executable, "-c", "from radiogenomics.cli import main; main()", "run", "--config",
         str(work / "config" / "config.yaml"), "--directory", str(work), "--cores", "1"],
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True, check=False).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        p, pp = map(int, line.split())
        children.setdefault(pp, []).append(p)
    found, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            found.append(c)
            todo.append(c)
    return found


def _interrupt(work: Path, point: str, sig: int = signal.SIGINT) -> None:
    """Start ``radiogenomics run``, signal it (the command alone) at ``point``; check it stopped cleanly."""
    proc = _start_run(work)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if (point == "first job" and line.lstrip().startswith(("rule ", "localrule "))) or (
                point != "first job" and "Finished jobid" in line and point in line):
            break
    assert proc.poll() is None, f"{point}: " + "".join(seen[-40:])
    snake = _descendants(proc.pid)
    assert snake, "no Snakemake process under the command"
    proc.send_signal(sig)  # to the command alone (not its process group): it forwards the signal
    rest, _ = proc.communicate(timeout=300)
    assert proc.returncode == 128 + sig, "".join(seen[-20:]) + rest[-3000:]
    if sig == signal.SIGINT:
        assert "interrupted" in rest
    alive = [p for p in snake if Path(f"/proc/{p}").exists() and "zombie" not in
             Path(f"/proc/{p}/status").read_text(errors="replace").lower()]
    assert alive == [], f"{point}: jobs outlived the command: {alive}"
    assert not list((work / ".snakemake" / "locks").glob("*")), f"{point}: the lock was not released"


@pytest.mark.slow
def test_run_interrupted_with_sigint_at_three_points_resumes_to_identical_results(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Ctrl-C at the first job, after differential and after enrichment (each time resuming with the
    same command): no job outlives the command, the lock is released, and the finished run's
    tables are bit-identical to those of an uninterrupted run."""
    from _workflow_run import workflow_results

    reference = _hashes(workflow_results(tmp_path_factory))
    work = copy_test_dir(tmp_path / "w")
    for point in ("first job", "differential", "enrichment"):
        _interrupt(work, point)
    again = subprocess.run(
        [sys.executable, "-c", "from radiogenomics.cli import main; main()", "run", "--config",
         str(work / "config" / "config.yaml"), "--directory", str(work), "--cores", "1"],
        cwd=work, capture_output=True, text=True, timeout=900, check=False)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert _hashes(work / "results") == reference


# -------------------------------------------------------------------- stale and partial results
def _us_cohort(folder: Path, *, n_patients: int = 4) -> Path:
    """A tiny synthetic ultrasound case sheet (PNG images and masks beside it)."""
    from radiogenomics.imaging.synthetic import make_ultrasound_cohort

    make_ultrasound_cohort(folder, n_patients=n_patients, images_per_patient=1, size=48, seed=3)
    return folder / "cases.csv"


def test_replacing_an_image_reruns_extraction(tmp_path: Path) -> None:
    """The case sheets' images and masks are inputs of the workflow's extract rule. Two cohorts, both
    extracted after their files were written; one image of the validation sheet is then replaced:
    one dry run plans extraction for that cohort alone (the untouched training cohort has nothing to do)."""
    from _workflow_run import run_cli

    from radiogenomics._results import stage_folder

    work = copy_test_dir(tmp_path / "w")
    sheets = {"training": _us_cohort(work / "data" / "us"), "validation": _us_cohort(work / "data" / "us_v")}
    cfg = yaml.safe_load((work / "config" / "config.yaml").read_text())
    cfg["imaging"] = {"cases": "data/us/cases.csv", "validation": {"cases": "data/us_v/cases.csv"}}
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    old = 1_600_000_000
    targets = []
    for cohort, sheet in sheets.items():
        for p in [*(sheet.parent / "images").iterdir(), *(sheet.parent / "masks").iterdir(), sheet]:
            os.utime(p, (old, old))
        # an extraction result newer than its sheet, images and masks (as a finished run leaves it)
        target = str(stage_folder("extraction", "results", cohort=cohort))
        done = work / target
        done.mkdir(parents=True)
        (done / "provenance.json").write_text('{"stages": {}}')
        for p in (done / "provenance.json", done):
            os.utime(p, (old + 100, old + 100))
        targets.append(target)
    image = sorted((sheets["validation"].parent / "images").iterdir())[1]
    image.write_bytes(image.read_bytes())  # replaced: same name, newer file
    r = run_cli("run", "--config", str(work / "config" / "config.yaml"), "--directory", str(work), "-n",
                *targets, cwd=work, timeout=300)
    planned = r.stdout + r.stderr
    assert r.returncode == 0, planned[-3000:]
    jobs = planned.count("rule extract:")
    assert jobs == 1 and "cohort=validation" in planned and "cohort=training" not in planned, planned[-3000:]
    assert image.name in planned, planned[-3000:]  # the reason: this updated input file


def test_models_without_validation_into_a_folder_that_had_one(tmp_path: Path, caplog) -> None:
    """The second run's folder is its result alone: no validation file of the first, none in the report.
    Its clinical table has one missing age: the variable is left out of the nomogram, and the log line,
    the dropped table and the report name the column and the patient."""
    import logging

    import radiogenomics as rg
    from radiogenomics.report import render

    root = tmp_path / "results"
    base = ["models", "--features", FEATS, "--labels", LABELS, "--splits", 2, "--classifiers", "lr",
            "--protocol", "paper", "--no-figures", "--out", root / "models"]
    r = _invoke([*base, "--validation-features", VFEATS, "--validation-labels", VLABELS])
    assert r.exit_code == 0, r.output
    first = rg.read_results(root).models
    assert first.validation_predictions is not None and len(first.validation_predictions)
    assert list((root / "models").glob("validation_predictions.*"))
    feats = _feats()
    rng = np.random.default_rng(0)
    clinical = pd.DataFrame({"age": rng.integers(30, 80, len(feats)).astype(float),
                             "grade": rng.choice(["I", "II", "III"], len(feats))}, index=feats.index)
    clinical.iloc[3, 0] = np.nan
    gap = feats.index[3]
    clin = _table(tmp_path / "clinical.csv", clinical.rename_axis("sample_id"))
    with caplog.at_level(logging.WARNING, logger="radiogenomics"):
        r = _invoke([*base, "--clinical", clin])
    assert r.exit_code == 0, r.output
    assert not list((root / "models").glob("validation_predictions.*"))
    assert not list((root / "models").glob("validation_comparison.*"))
    again = rg.read_results(root).models
    assert again.validation_predictions is None
    row = again.dropped[(again.dropped["kind"] == "clinical variable") & (again.dropped["item"] == "age")]
    assert len(row) == 1 and row["samples"].iloc[0] == gap and "1 missing value" in row["reason"].iloc[0], row
    assert any("'age'" in m and gap in m for m in caplog.messages) or ("'age'" in r.output and gap in r.output)
    variables = list(again.nomogram_coefficients["variable"])
    assert "radiomic_score" in variables and any(v.startswith("grade") for v in variables)
    assert not [v for v in variables if v.startswith("age")]
    html = render(rg.read_results(root), tmp_path / "r.html").read_text()
    # the held-out section shows the training cohort's out-of-fold predictions, no validation table
    assert "Validation cohort:" not in html and "training, out-of-fold" in html
    assert "Clinical variable &#39;age&#39;" in html and gap in html


def test_extract_into_a_folder_of_another_sheet_keeps_none_of_its_labels(tmp_path: Path) -> None:
    from radiogenomics.imaging.result import ExtractionResult

    out = tmp_path / "imaging" / "training"
    r = _invoke(["extract", "--features", FEATS, "--labels", LABELS, "--out", out])
    assert r.exit_code == 0, r.output
    assert ExtractionResult.read(out).labels is not None
    other = _table(tmp_path / "other.csv", _feats().iloc[:12].set_axis([f"Q{i}" for i in range(12)]))
    r = _invoke(["extract", "--features", other, "--out", out])
    assert r.exit_code == 0, r.output
    assert not list(out.glob("labels.*"))
    res = ExtractionResult.read(out)
    assert res.labels is None and list(res.features.index) == [f"Q{i}" for i in range(12)]


def _fake_stability(measurements: bool):
    icc = pd.DataFrame({f"icc_{k}{s}": [0.95, 0.5] for k in ("oneway", "agreement", "consistency")
                        for s in ("", "_low", "_high")}, index=pd.Index(["f1", "f2"], name="feature"))
    meas = pd.DataFrame({"case_id": ["a", "a"], "version": [0, 1], "f1": [1.0, 1.1]}) if measurements else None

    def feature_stability(*args, **kwargs):
        return icc.assign(n_targets=3, n_raters=2), meas
    return feature_stability


def test_stability_writes_a_fresh_folder_swapped_in_whole(tmp_path: Path, monkeypatch) -> None:
    """`stability` follows the stage contract: a second run (readers, no perturbation table) leaves no
    file of the first; a failure while writing leaves the earlier folder whole."""
    import radiogenomics.imaging.stability as stability

    sheet = _csv(tmp_path / "cases.csv", "image,mask\ni.png,m.png\n")
    out = tmp_path / "stab"
    monkeypatch.setattr(stability, "feature_stability", _fake_stability(True))
    r = _invoke(["stability", "--cases", sheet, "--out", out])
    assert r.exit_code == 0, r.output
    assert (out / "perturbation_features.parquet").exists()
    monkeypatch.setattr(stability, "feature_stability", _fake_stability(False))
    r = _invoke(["stability", "--cases", sheet, "--mode", "readers", "--out", out])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["icc.csv", "icc.parquet", "provenance.json",
                                                     "stable_features.csv", "stable_features.parquet"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".stab")]
    before = _tree(out)
    calls = []

    def failing(table, folder, name, **kw):
        calls.append(name)
        if name == "stable_features":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(folder / f"{name}.parquet"))
        return real(table, folder, name, **kw)
    import radiogenomics._io as rio

    real = rio.write_table
    monkeypatch.setattr(rio, "write_table", failing)
    r = CliRunner().invoke(app, ["stability", "--cases", str(sheet), "--out", str(out)])
    assert r.exit_code == 2 and "no space left" in r.output.lower(), r.output
    assert calls[-1] == "stable_features" and _tree(out) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".stab")]


def test_report_writes_nothing_before_it_has_rendered(tmp_path: Path, up, monkeypatch) -> None:
    import jinja2

    results = tmp_path / "results"
    shutil.copytree(up["association"], results / "association")  # one stage with one figure: a short report
    out, figs = tmp_path / "rep" / "report.html", tmp_path / "rep" / "figures"
    figs.mkdir(parents=True)
    (figs / "mine.png").write_bytes(b"old")

    def boom(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "template")
    monkeypatch.setattr(jinja2.Template, "render", boom)
    r = CliRunner().invoke(app, ["report", "--results", str(results), "--out", str(out),
                                 "--figures", str(figs)])
    assert r.exit_code == 2, r.output
    assert sorted(p.name for p in (tmp_path / "rep").iterdir()) == ["figures"]
    assert [p.name for p in figs.iterdir()] == ["mine.png"]
    monkeypatch.undo()
    r = CliRunner().invoke(app, ["report", "--results", str(results), "--out", str(out),
                                 "--figures", str(figs)])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "rep").iterdir()) == ["figures", "provenance.json", "report.html"]
    assert len(list(figs.iterdir())) > 1 and (figs / "mine.png").read_bytes() == b"old"


# -------------------------------------------------------------------- nothing left out without a word
def test_case_with_an_empty_label_is_reported(tmp_path: Path, caplog) -> None:
    import logging

    import radiogenomics as rg

    sheet = _us_cohort(tmp_path / "us")
    table = pd.read_csv(sheet, dtype=str)
    blank = table.loc[1, "patient_id"]
    table.loc[1, "label"] = ""
    table.to_csv(sheet, index=False)
    with caplog.at_level(logging.WARNING, logger="radiogenomics"):
        res = rg.extract(sheet)
    assert blank not in res.labels.index and len(res.labels) == len(table) - 1
    row = res.dropped[res.dropped["kind"] == "label"]
    assert list(row["item"]) == [blank] and str(sheet) in row["reason"].iloc[0]
    assert any(blank in m and str(sheet) in m and "empty label" in m for m in caplog.messages), caplog.messages
    # written and read back, and the report's cohort section says it
    from radiogenomics.report import render

    res.write(tmp_path / "results" / "imaging" / "training")
    html = render(rg.read_results(tmp_path / "results"), tmp_path / "r.html").read_text()
    assert "have an empty label in the case sheet" in html and blank in html


# -------------------------------------------------------------------- corrupt cache entries
def test_corrupt_geo_cache_entry_names_the_file_and_the_fix(tmp_path: Path) -> None:
    from radiogenomics import DataFileError
    from radiogenomics.expression import cached_file, load_manifest, read_series

    for kind, content in (("soft", b"\x1f\x8b\x08\x00garbage"), ("series_matrix", b"\x1f\x8b\x08\x00cut")):
        entry = cached_file("GSE45827", kind=kind, cache_dir=tmp_path)
        entry.parent.mkdir(parents=True, exist_ok=True)
        entry.write_bytes(content)
        with pytest.raises(DataFileError) as info:
            read_series("GSE45827", load_manifest("GSE45827"), kind=kind, cache_dir=tmp_path, retries=1)
        text = str(info.value)
        assert str(entry) in text and "delete it" in text, text


def test_corrupt_extraction_cache_entry_is_recomputed_with_a_warning(tmp_path: Path, caplog) -> None:
    import logging

    import radiogenomics as rg

    sheet = _us_cohort(tmp_path / "us", n_patients=2)
    first = rg.extract(sheet, cache_dir=tmp_path / "cache")
    entries = sorted((tmp_path / "cache").glob("*.json"))
    assert len(entries) == 2
    entries[0].write_text('{"features": {"original_firstorder_Mean": ')  # cut short
    with caplog.at_level(logging.WARNING, logger="radiogenomics"):
        again = rg.extract(sheet, cache_dir=tmp_path / "cache")
    assert any(str(entries[0]) in m and "corrupt" in m for m in caplog.messages), caplog.messages
    assert again.parameters["n_cached"] == 1 and again.parameters["n_computed"] == 1
    pd.testing.assert_frame_equal(again.features, first.features)


def test_geo_fetch_of_several_series_writes_none_when_one_fails(tmp_path: Path, monkeypatch, shared_data) -> None:
    """The second series' download is cut short: the first series (fine) is not written either."""
    import gzip

    from test_expression import CASES as SAMPLES
    from test_expression import MANIFESTS, _values, write_series_matrix

    import radiogenomics.expression.geo as geo

    folder = tmp_path / "manifests"
    folder.mkdir()
    doc = yaml.safe_load((MANIFESTS / "GSE129559.yaml").read_text())
    for acc in ("GSE900001", "GSE900003"):
        (folder / f"{acc}.yaml").write_text(yaml.safe_dump(dict(doc, accession=acc)))

    def fake(acc: str, kind: str, dest: Path) -> None:
        if acc == "GSE900001":
            write_series_matrix(dest, SAMPLES, _values(list(SAMPLES)), accession=acc)
        else:
            dest.write_bytes(gzip.compress(b"!Series_title\t\"cut")[:20])
    monkeypatch.setattr(geo, "_download", fake)
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["geo", "fetch", "GSE900001", "GSE900003", "--kind", "series_matrix", "--cache",
                                 str(tmp_path / "cache"), "--retries", "1", "--platform-table",
                                 str(shared_data / "gpl570" / "GPL570_probe_to_symbol.csv.gz"),
                                 "--manifest-dir", str(folder), "--out", str(out)])
    assert r.exit_code == 2, r.output
    last = r.output.strip().splitlines()[-1]
    assert "GSE900003_series_matrix.txt.gz" in last and "delete it" in last, last
    assert not out.exists()


def test_corrupt_enrichr_cache_entry_names_the_file_and_the_fix(tmp_path: Path) -> None:
    from radiogenomics import DataFileError
    from radiogenomics.enrichment import load_library

    (tmp_path / "KEGG_2021_Human.gmt").write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(DataFileError) as info:
        load_library("KEGG_2021_Human", cache_dir=tmp_path, offline=True)
    text = str(info.value)
    assert str(tmp_path / "KEGG_2021_Human.gmt") in text and "delete it" in text, text


@pytest.mark.slow
def test_run_stopped_with_sigterm_resumes_to_identical_results(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """SIGTERM (a scheduler or `kill`) takes the same path as Ctrl-C: forwarded to Snakemake, waited for,
    no job left running, the lock released; the same command then finishes the run, identical to an
    uninterrupted one."""
    from _workflow_run import workflow_results

    reference = _hashes(workflow_results(tmp_path_factory))
    work = copy_test_dir(tmp_path / "w")
    _interrupt(work, "differential", signal.SIGTERM)
    again = subprocess.run(
        [sys.executable, "-c", "from radiogenomics.cli import main; main()", "run", "--config",
         str(work / "config" / "config.yaml"), "--directory", str(work), "--cores", "1"],
        cwd=work, capture_output=True, text=True, timeout=900, check=False)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert _hashes(work / "results") == reference
