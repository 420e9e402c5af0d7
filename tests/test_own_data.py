"""Researchers' own data: the formats their other tools write go through the stages to the same numbers
as the toolkit's native formats (pyradiomics batch output, labels inside a table, features as rows,
clusterProfiler and gseapy enrichment tables, AnnData, DICOM SEG and RTSTRUCT masks), and the
readers refuse what they cannot use with one line naming the file and the option."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _workflow_run import run_cli

import radiogenomics as rg
from radiogenomics import datasets

PYRADIOMICS_PARAMS = "imageType:\n  Original: {}\nfeatureClass:\n  firstorder:\n  glcm:\nsetting:\n  binWidth: 25\n"


@pytest.fixture(scope="module")
def cohort():
    return datasets.make_cohort(n_positive=20, n_negative=24, n_expression_positive=24, n_expression_negative=28,
                                n_genes=200, n_decoy_sets=20, seed=3)


def _plain(tmp_path: Path, cohort) -> tuple[Path, Path]:
    feats, labels = tmp_path / "features.csv", tmp_path / "labels.csv"
    cohort.features.to_csv(feats)
    cohort.feature_labels.rename("her2").to_frame().to_csv(labels)
    return feats, labels


# ------------------------------------------------------------------ imaging tables
def test_features_as_rows_and_labels_inside_give_the_native_numbers(tmp_path: Path, cohort) -> None:
    feats, labels = _plain(tmp_path, cohort)
    native = rg.differential(cohort.features, cohort.feature_labels).table
    # features as rows, labels as a row of the same table (no id column, no labels file)
    rows = cohort.features.T.copy()
    rows.loc["label"] = cohort.feature_labels.astype(float)
    rows.to_csv(tmp_path / "rows_inside.csv")
    # rows = samples with a 'label' column
    inside = cohort.features.assign(label=cohort.feature_labels)
    inside.to_csv(tmp_path / "inside.csv")
    for name in ("rows_inside.csv", "inside.csv"):
        res = rg.imaging.load_features(tmp_path / name, label_column="label")
        pd.testing.assert_frame_equal(res.features, cohort.features.rename_axis("sample_id"), check_names=False)
        assert res.labels.equals(cohort.feature_labels.rename("her2").rename_axis("sample_id").astype("int8"))
        out = tmp_path / f"diff_{name}"
        proc = run_cli("differential", "--features", str(tmp_path / name), "--label-column", "label", "--out", str(out))
        assert proc.returncode == 0, proc.stderr
        got = rg.differential.DifferentialResult.read(out).table
        pd.testing.assert_series_equal(got["p_value"].sort_index(), native["p_value"].sort_index(), check_names=False)
    # features as rows with a separate labels file: every analysis stage orients it the same way
    cohort.features.T.to_csv(tmp_path / "rows.csv")
    proc = run_cli("models", "--features", str(tmp_path / "rows.csv"), "--labels", str(labels), "--out",
                   str(tmp_path / "models"), "--n-splits", "3", "--classifiers", "lr", "--n-bootstrap", "10",
                   "--no-figures")
    assert proc.returncode == 0, proc.stderr
    summary = rg.models.ModelsResult.read(tmp_path / "models").summary
    assert len(summary) >= 1
    # the message of a table without labels names both ways to give them
    proc = run_cli("differential", "--features", str(tmp_path / "rows.csv"), "--out", str(tmp_path / "x"))
    assert proc.returncode == 2 and "--labels" in proc.stderr and "--label-column" in proc.stderr
    assert proc.stderr.count("\n") == 1
    proc = run_cli("differential", "--features", str(tmp_path / "inside.csv"), "--label-column", "her2", "--out",
                   str(tmp_path / "x"))
    assert proc.returncode == 2 and "no column (or row) 'her2'" in proc.stderr and "inside.csv" in proc.stderr


def test_unpaired_mode_without_expression_labels_says_so(tmp_path: Path, cohort) -> None:
    feats, labels = _plain(tmp_path, cohort)
    cohort.expression.to_csv(tmp_path / "expr.csv")
    proc = run_cli("associate", "--features", str(feats), "--labels", str(labels), "--expression",
                   str(tmp_path / "expr.csv"), "--out", str(tmp_path / "a"))
    assert proc.returncode == 2
    assert "unpaired mode" in proc.stderr and "--expression-labels" in proc.stderr and "rows must be" not in proc.stderr


@pytest.mark.shared
def test_pyradiomics_batch_output_goes_through_the_stages(tmp_path: Path, shared_data: Path) -> None:
    """A file written by pyradiomics' own batch CLI on the shared cases: identifiers and diagnostics set aside."""
    cases = shared_data / "pyradiomics_cases"
    sheet = pd.DataFrame({"ID": ["brain1", "brain2", "breast1", "lung1"],
                          "Image": [str(cases / f"{c}_image.nrrd") for c in ("brain1", "brain2", "breast1", "lung1")],
                          "Mask": [str(cases / f"{c}_label.nrrd") for c in ("brain1", "brain2", "breast1", "lung1")],
                          "her2": [1, 0, 1, 0]})
    sheet.to_csv(tmp_path / "batch.csv", index=False)
    (tmp_path / "params.yaml").write_text(PYRADIOMICS_PARAMS)
    exe = Path(sys.executable).parent / "pyradiomics"
    proc = subprocess.run([str(exe), str(tmp_path / "batch.csv"), "-o", str(tmp_path / "out.csv"), "-f", "csv",
                           "-p", str(tmp_path / "params.yaml")], capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    raw = pd.read_csv(tmp_path / "out.csv")
    assert {"Image", "Mask", "diagnostics_Versions_PyRadiomics"} <= set(raw.columns)
    # the native layout, built by hand: rows = cases, the feature columns only
    feature_cols = [c for c in raw.columns if c.startswith("original_")]
    native = raw.set_index("ID")[feature_cols]
    labels = pd.Series([1, 0, 1, 0], index=native.index, name="her2")
    res = rg.imaging.load_features(tmp_path / "out.csv", label_column="her2")
    assert list(res.features.columns) == feature_cols
    np.testing.assert_array_equal(res.features.loc[native.index].to_numpy(), native.to_numpy())
    assert res.labels.to_dict() == labels.to_dict()
    # nothing dropped silently: the batch sheet's columns and the diagnostics are in the diagnostics table
    assert {"ID", "Image", "Mask", "her2"} <= set(res.diagnostics.columns)
    assert sum(c.startswith("diagnostics_") for c in res.diagnostics.columns) == \
        sum(c.startswith("diagnostics_") for c in raw.columns)
    assert res.parameters["layout"] == "pyradiomics"
    # through the CLI: extract --features keeps them in its result, differential gives the native numbers
    out = tmp_path / "imaging"
    proc = run_cli("extract", "--features", str(tmp_path / "out.csv"), "--label-column", "her2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    back = rg.imaging.ExtractionResult.read(out)
    assert "diagnostics_Versions_PyRadiomics" in back.diagnostics.columns
    proc = run_cli("differential", "--features", str(out), "--out", str(tmp_path / "diff"))
    assert proc.returncode == 0, proc.stderr
    got = rg.differential.DifferentialResult.read(tmp_path / "diff").table
    expected = rg.differential(native, labels).table
    pd.testing.assert_series_equal(got["p_value"].sort_index(), expected["p_value"].sort_index(), check_names=False)
    pd.testing.assert_series_equal(got["fold_change"].sort_index(), expected["fold_change"].sort_index(),
                                   check_names=False)
    # a separate labels file works as well (labels of the cases, the pyradiomics output as features)
    labels.to_frame().to_csv(tmp_path / "labels.csv")
    again = rg.imaging.load_features(tmp_path / "out.csv", tmp_path / "labels.csv")
    assert again.features.shape == native.shape


def test_pyradiomics_output_with_a_failed_case_lists_it(tmp_path: Path) -> None:
    table = pd.DataFrame({"ID": ["a", "b", "c", "d"], "Image": ["a.nrrd", "b.nrrd", "c.nrrd", "d.nrrd"],
                          "Mask": ["am.nrrd", "bm.nrrd", "cm.nrrd", "dm.nrrd"],
                          "diagnostics_Versions_PyRadiomics": ["3.1", "3.1", "3.1", ""],
                          "original_firstorder_Mean": [1.0, 2.0, 3.0, np.nan],
                          "original_glcm_Imc1": [-0.2, -0.1, -0.3, np.nan]})
    table.to_csv(tmp_path / "out.csv", index=False)
    pd.Series([1, 0, 1, 0], index=list("abcd"), name="her2").to_frame().to_csv(tmp_path / "labels.csv")
    res = rg.imaging.load_features(tmp_path / "out.csv", tmp_path / "labels.csv")
    assert list(res.features.index) == ["a", "b", "c"]
    row = res.dropped.set_index("item").loc["d"]
    assert row["kind"] == "sample" and "pyradiomics extracted no feature" in row["reason"]


# ------------------------------------------------------------------ expression: unknown labels, AnnData
def _expression_with_unknowns(cohort, tmp_path: Path) -> tuple[pd.DataFrame, pd.Series, list[str]]:
    expr = cohort.expression
    labels = cohort.expression_labels.astype(object).copy()
    unknown = list(expr.index[:3])
    labels[unknown[0]] = np.nan
    labels[unknown[1]] = "NA"
    labels[unknown[2]] = "unknown"
    return expr, labels, unknown


def test_unknown_expression_labels_are_excluded_with_their_reason(tmp_path: Path, cohort) -> None:
    expr, labels, unknown = _expression_with_unknowns(cohort, tmp_path)
    labels.rename("her2").to_frame().to_csv(tmp_path / "labels.csv")
    np.log2(expr + 0.1).T.to_csv(tmp_path / "log2_genes_by_samples.csv")
    res = rg.expression.import_series(tmp_path / "log2_genes_by_samples.csv", tmp_path / "labels.csv", name="S",
                                      scale="log2", log_offset=0.1)
    assert set(res.labels.index) == set(expr.index) - set(unknown)
    dec = res.decisions.loc[unknown]
    assert (dec["status"] == "excluded").all() and (dec["rule"] == "missing").all()
    assert set(res.dropped.loc[res.dropped["kind"] == "sample", "item"]) == set(unknown)
    # a value that is neither 0/1 nor unknown is still an error naming the sample
    bad = labels.copy()
    bad[expr.index[5]] = "positive"
    bad.rename("her2").to_frame().to_csv(tmp_path / "bad.csv")
    with pytest.raises(rg.LabelError, match=f"{expr.index[5]}='positive'"):
        rg.expression.import_series(tmp_path / "log2_genes_by_samples.csv", tmp_path / "bad.csv", name="S")


def test_anndata_in_and_out(tmp_path: Path, cohort) -> None:
    import anndata

    expr, labels, unknown = _expression_with_unknowns(cohort, tmp_path)
    obs = pd.DataFrame({"HER2": pd.to_numeric(labels, errors="coerce"), "age": np.arange(len(expr))},
                       index=expr.index.astype(str))
    adata = anndata.AnnData(X=expr.to_numpy(), obs=obs, var=pd.DataFrame(index=expr.columns.astype(str)))
    adata.write_h5ad(tmp_path / "cohort.h5ad")
    from_h5ad = rg.expression.import_series(tmp_path / "cohort.h5ad", name="H", label_column="HER2")
    # the native format: the same values as a CSV table and a labels file
    labels.rename("her2").to_frame().to_csv(tmp_path / "labels.csv")
    expr.to_csv(tmp_path / "expr.csv")
    native = rg.expression.import_series(tmp_path / "expr.csv", tmp_path / "labels.csv", name="H")
    pd.testing.assert_frame_equal(from_h5ad.expression, native.expression)
    assert from_h5ad.labels.equals(native.labels)
    assert (from_h5ad.decisions.loc[unknown, "rule"] == "missing").all()
    # through the CLI (obs column detected: HER2), then merged and written back as AnnData
    proc = run_cli("geo", "import", "--expression", str(tmp_path / "cohort.h5ad"), "--name", "H", "--out",
                   str(tmp_path / "series"))
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("geo", "merge", str(tmp_path / "series"), "--out", str(tmp_path / "merged"))
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("geo", "export", str(tmp_path / "merged"), "--out", str(tmp_path / "merged.h5ad"))
    assert proc.returncode == 0, proc.stderr
    back = anndata.read_h5ad(tmp_path / "merged.h5ad")
    merged = rg.expression.ExpressionResult.read(tmp_path / "merged")
    np.testing.assert_array_equal(back.X, merged.expression.to_numpy())
    assert list(back.obs_names) == list(merged.expression.index)
    assert back.obs["her2"].tolist() == merged.labels.tolist() and set(back.obs["series"]) == {"H"}
    assert "parameters" in back.uns["radiogenomics"]
    # a missing obs column names the option
    with pytest.raises(rg.InputError, match="--label-column"):
        rg.expression.import_series(tmp_path / "cohort.h5ad", name="H", label_column="status")


# ------------------------------------------------------------------ enrichment from other tools
@pytest.fixture(scope="module")
def native_chain(cohort):
    assoc = rg.associate(cohort.features, cohort.expression, cohort.feature_labels,
                         expression_labels=cohort.expression_labels, n_perturbations=20, min_hits=3, n_null=0, seed=0,
                         show_progress=False)
    enr = rg.enrich(assoc, cohort.gene_sets, universe="background", min_size=1, max_size=10_000)
    diff = rg.differential(cohort.features, cohort.feature_labels, threshold=0.2)
    return assoc, enr, diff


def _r_compare_cluster(table: pd.DataFrame) -> pd.DataFrame:
    """A compareCluster table as clusterProfiler's as.data.frame() gives it, written from its documented columns."""
    codes = {t: f"GO:{1000000 + i:07d}" for i, t in enumerate(dict.fromkeys(table["term"]))}
    ids = [codes[t] for t in table["term"]]
    return pd.DataFrame({
        "Cluster": table["feature"], "ONTOLOGY": "BP", "ID": ids, "Description": table["term"],
        "GeneRatio": [f"{k}/{n}" for k, n in zip(table["overlap"], table["query_size"])],
        "BgRatio": [f"{m}/{n}" for m, n in zip(table["set_size"], table["background_size"])],
        "pvalue": table["p_value"], "p.adjust": table["q_value"], "qvalue": table["q_value"] * 0.9,
        "geneID": [g.replace(";", "/") for g in table["genes"]], "Count": table["overlap"],
    })


def _same_module(a, b) -> None:
    cols = ["feature", "role", "partner", "similarity", "n_terms"]
    pd.testing.assert_frame_equal(a.module[cols].reset_index(drop=True), b.module[cols].reset_index(drop=True))
    pd.testing.assert_frame_equal(a.similarity.reset_index(drop=True), b.similarity.reset_index(drop=True))


def test_clusterprofiler_tables_give_the_native_module(tmp_path: Path, native_chain) -> None:
    assoc, enr, diff = native_chain
    native = rg.module(enr, diff, association=assoc, column="p_value")
    cp = _r_compare_cluster(enr.table)
    # R's write.csv: a quoted first column of row names
    cp.index = [str(i + 1) for i in range(len(cp))]
    cp.to_csv(tmp_path / "compare_cluster.csv", quoting=1)
    for column in ("q_value", "p_value"):
        want = rg.module(enr, diff, association=assoc, column=column)
        got = rg.module(pd.read_csv(tmp_path / "compare_cluster.csv"), diff, association=assoc, column=column,
                        enrichment_format="clusterprofiler")
        _same_module(want, got)
    assert len(native.similarity) and (native.module["role"] == "auxiliary").any()  # not a vacuous comparison
    # the CLI: one compareCluster table, or a folder of per-feature enrichGO tables (tab-separated, as write.table)
    enr.write(tmp_path / "enr")
    diff.write(tmp_path / "diff")
    assoc.write(tmp_path / "assoc")
    folder = tmp_path / "per_feature"
    folder.mkdir()
    for feat, grp in cp.groupby("Cluster"):
        grp.drop(columns="Cluster").to_csv(folder / f"{feat}.tsv", sep="\t", index=False)
    base = ["--differential", str(tmp_path / "diff"), "--associations", str(tmp_path / "assoc"),
            "--term-rule", "p_value", "--inclusive"]
    outs = {}
    for name, src, fmt in (("native", tmp_path / "enr", "radiogenomics"),
                           ("compare", tmp_path / "compare_cluster.csv", "clusterprofiler"),
                           ("folder", folder, "clusterprofiler")):
        proc = run_cli("module", "--enrichment", str(src), "--enrichment-format", fmt, *base,
                       "--out", str(tmp_path / name))
        assert proc.returncode == 0, proc.stderr
        outs[name] = rg.module.ModuleResult.read(tmp_path / name)
    _same_module(outs["native"], outs["compare"])
    _same_module(outs["native"], outs["folder"])
    assert outs["compare"].parameters["enrichment_format"] == "clusterprofiler"
    assert outs["compare"].parameters["inclusive"] is True and outs["compare"].parameters["column"] == "p_value"
    # the enrichment result is also written in clusterProfiler's columns, and reads back to the same table
    written = pd.read_csv(tmp_path / "enr" / "clusterprofiler.csv")
    assert list(written.columns) == ["Cluster", "ONTOLOGY", "ID", "Description", "GeneRatio", "BgRatio", "pvalue",
                                     "p.adjust", "qvalue", "geneID", "Count"]
    back = rg.enrichment.from_clusterprofiler(written)
    cols = ["feature", "library", "term", "overlap", "set_size", "query_size", "background_size", "genes"]
    pd.testing.assert_frame_equal(back[cols], enr.table[cols].astype({"genes": object}), check_dtype=False)
    np.testing.assert_allclose(back[["p_value", "q_value", "odds_ratio"]].to_numpy(),
                               enr.table[["p_value", "q_value", "odds_ratio"]].to_numpy(), rtol=1e-9)


def test_gseapy_tables_give_the_native_module(tmp_path: Path, cohort, native_chain) -> None:
    """gseapy.enrich on each feature's genes (the same universe) read as the module's input."""
    import gseapy

    assoc, enr, diff = native_chain
    background = assoc.genes
    folder = tmp_path / "gseapy"
    folder.mkdir()
    library = cohort.gene_sets
    for feat, genes in assoc.gene_sets().items():
        if not genes:
            continue
        res = gseapy.enrich(gene_list=genes, gene_sets=library, background=list(background), cutoff=1, no_plot=True,
                            outdir=None).results
        res.to_csv(folder / f"{feat}.csv", index=False)
    got = rg.module(rg.enrichment.read_enrichment_files(folder), diff, association=assoc, enrichment_format="gseapy",
                    column="p_value")
    want = rg.module(enr, diff, association=assoc, column="p_value")
    _same_module(want, got)
    got_q = rg.module(rg.enrichment.read_enrichment_files(folder), diff, enrichment_format="gseapy")
    _same_module(rg.module(enr, diff), got_q)


def test_module_refuses_a_table_it_cannot_use_in_one_line(tmp_path: Path, native_chain) -> None:
    assoc, enr, diff = native_chain
    cp = _r_compare_cluster(enr.table)
    cp.to_csv(tmp_path / "cp.csv", index=False)
    diff.write(tmp_path / "diff")
    proc = run_cli("module", "--enrichment", str(tmp_path / "cp.csv"), "--differential", str(tmp_path / "diff"),
                   "--out", str(tmp_path / "m"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "missing column(s)" in proc.stderr and "--enrichment-format clusterprofiler" in proc.stderr
    assert not (tmp_path / "m").exists()  # refused before anything is written
    enr.table.drop(columns="p_value").to_csv(tmp_path / "nop.csv", index=False)
    with pytest.raises(rg.InputError, match="'p_value'"):
        rg.module(pd.read_csv(tmp_path / "nop.csv"), diff)


def test_inclusive_threshold_admits_ties(native_chain) -> None:
    assoc, enr, diff = native_chain
    base = rg.module(enr, diff, column="p_value", threshold=0.0)
    sims = base.similarity["simpson"]
    tie = float(sims[sims > 0].min())
    strict = rg.module(enr, diff, column="p_value", threshold=tie)
    inclusive = rg.module(enr, diff, column="p_value", threshold=tie, inclusive=True)
    aux_strict = set(strict.module.loc[strict.module["role"] == "auxiliary", "feature"])
    aux_incl = set(inclusive.module.loc[inclusive.module["role"] == "auxiliary", "feature"])
    assert aux_strict <= aux_incl
    # the features added are exactly those whose best similarity to a differential feature equals the threshold
    selected = set(diff.table.index[diff.table["selected"]])
    pairs = base.similarity
    best = {}
    for a, b, s in zip(pairs["feature_a"], pairs["feature_b"], pairs["simpson"]):
        for cand, partner in ((a, b), (b, a)):
            if cand not in selected and partner in selected:
                best[cand] = max(best.get(cand, 0.0), s)
    assert aux_incl - aux_strict == {f for f, s in best.items() if s == tie}


# ------------------------------------------------------------------ DICOM SEG and RTSTRUCT
@pytest.mark.shared
def test_dicom_seg_and_rtstruct_masks_give_the_nrrd_features(tmp_path: Path, shared_data: Path) -> None:
    """A real MR crop (pyradiomics' brain1) as a DICOM series; its lesion as NRRD, as a SEG written by highdicom and
    as an RTSTRUCT written by rt-utils; rg.extract gives the same features for all three (non-square slices)."""
    import SimpleITK as sitk
    from _dicom import write_rtstruct, write_seg, write_series

    from radiogenomics.imaging.readers import read_image

    img = sitk.ReadImage(str(shared_data / "pyradiomics_cases" / "brain1_image.nrrd"))
    lab = sitk.ReadImage(str(shared_data / "pyradiomics_cases" / "brain1_label.nrrd"))
    crop = (slice(150, 220), slice(78, 160), slice(9, 20))  # 70 x 82 x 11 voxels around the lesion
    image, label = img[crop], lab[crop]
    for x in (image, label):
        x.SetDirection((1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    files = write_series(image, tmp_path / "series")
    mask = sitk.GetArrayFromImage(label).astype(np.uint8)
    write_seg(files, mask, tmp_path / "seg.dcm")
    write_rtstruct(tmp_path / "series", mask, tmp_path / "rtstruct.dcm")
    nrrd = sitk.Cast(label, sitk.sitkUInt8)
    nrrd.CopyInformation(read_image(tmp_path / "series"))
    sitk.WriteImage(nrrd, str(tmp_path / "mask.nrrd"))
    sheet = pd.DataFrame({"case_id": ["nrrd", "seg", "rtstruct"], "image": ["series"] * 3,
                          "mask": ["mask.nrrd", "seg.dcm", "rtstruct.dcm"], "label": [1, 0, 1]})
    sheet.to_csv(tmp_path / "cases.csv", index=False)
    (tmp_path / "preset.yaml").write_text(PYRADIOMICS_PARAMS + "  force2D: false\n")
    res = rg.extract(tmp_path / "cases.csv", preset=tmp_path / "preset.yaml")
    assert res.dropped.empty, res.dropped.to_dict("records")
    f = res.features_image
    assert f.shape[1] > 20
    np.testing.assert_array_equal(f.loc["seg"].to_numpy(), f.loc["nrrd"].to_numpy())
    np.testing.assert_array_equal(f.loc["rtstruct"].to_numpy(), f.loc["nrrd"].to_numpy())
    # a SEG drawn on another grid, and an RTSTRUCT without its series, are refused with the reason
    shifted = sitk.Image(image)
    shifted.SetOrigin(tuple(o + 0.5 * s for o, s in zip(image.GetOrigin(), image.GetSpacing())))  # half a voxel off
    other = write_series(shifted, tmp_path / "other")
    write_seg(other, mask, tmp_path / "other_seg.dcm")
    bad = pd.DataFrame({"case_id": ["wrong_grid", "no_series", "nrrd"], "image": ["series", "mask.nrrd", "series"],
                        "mask": ["other_seg.dcm", "rtstruct.dcm", "mask.nrrd"]})
    bad.to_csv(tmp_path / "bad.csv", index=False)
    bad.iloc[:2].to_csv(tmp_path / "bad2.csv", index=False)
    with pytest.raises(rg.InputError, match="no case of the 2 in the case sheet was extracted: wrong_grid"):
        rg.extract(tmp_path / "bad2.csv", preset=tmp_path / "preset.yaml")  # every case failing is an error
    res = rg.extract(tmp_path / "bad.csv", preset=tmp_path / "preset.yaml")  # one good case beside them
    reasons = res.dropped[res.dropped["kind"] == "case"].set_index("item")
    assert reasons.loc["wrong_grid", "failure"] == "geometry mismatch"
    assert "RTSTRUCT is read on the DICOM series" in reasons.loc["no_series", "reason"]


def test_dicom_mask_kind_is_none_for_ordinary_files(tmp_path: Path) -> None:
    from radiogenomics.imaging.readers import dicom_mask_kind

    (tmp_path / "m.nrrd").write_bytes(b"NRRD0004\n")
    assert dicom_mask_kind(tmp_path / "m.nrrd") is None and dicom_mask_kind(tmp_path) is None


# ------------------------------------------------------------------ one scheduler key for both heavy loops
def test_config_scheduler_runs_association_and_extraction_on_that_cluster(tmp_path: Path, cohort) -> None:
    from distributed import LocalCluster
    from typer.testing import CliRunner

    from radiogenomics.cli import app
    from radiogenomics.imaging.synthetic import make_ultrasound_cohort

    feats, labels = _plain(tmp_path, cohort)
    cohort.expression.to_csv(tmp_path / "expr.csv")
    cohort.expression_labels.rename("her2").to_frame().to_csv(tmp_path / "expr_labels.csv")
    make_ultrasound_cohort(tmp_path / "us", n_patients=4, images_per_patient=1, size=48, seed=0)
    runner = CliRunner()
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        cfg = tmp_path / "config.yaml"
        cfg.write_text(f"scheduler: {cluster.scheduler_address}\nimaging: {{cases: us/cases.csv}}\n"
                       "expression: {series: [{name: A}]}\nenrichment: {gmt: [g.gmt]}\n"
                       "association: {n_perturbations: 8, min_hits: 2, n_null: 1}\n")
        r = runner.invoke(app, ["associate", "--features", str(feats), "--labels", str(labels), "--expression",
                                str(tmp_path / "expr.csv"), "--expression-labels", str(tmp_path / "expr_labels.csv"),
                                "--config", str(cfg), "--out", str(tmp_path / "assoc")])
        assert r.exit_code == 0, r.output
        r = runner.invoke(app, ["extract", "--cases", str(tmp_path / "us" / "cases.csv"), "--config", str(cfg),
                                "--no-cache", "--out", str(tmp_path / "imaging")])
        assert r.exit_code == 0, r.output
    assoc = rg.association.AssociationResult.read(tmp_path / "assoc")
    assert assoc.parameters["backend"] == "dask"
    imaging = rg.imaging.ExtractionResult.read(tmp_path / "imaging")
    assert imaging.parameters["backend"] == "dask" and imaging.parameters["scheduler"] == cluster.scheduler_address
    # the same association on threads gives the same hits (seeded draws made up front)
    local = rg.associate(cohort.features, cohort.expression, cohort.feature_labels,
                         expression_labels=cohort.expression_labels, n_perturbations=8, min_hits=2, n_null=1,
                         show_progress=False)
    pd.testing.assert_frame_equal(assoc.positive_specific, local.positive_specific)


def test_an_unexpected_error_ends_with_one_line_after_its_traceback(tmp_path: Path, cohort, monkeypatch) -> None:
    from typer.testing import CliRunner

    from radiogenomics.cli import app

    feats, labels = _plain(tmp_path, cohort)

    def broken(*args, **kwargs):
        raise KeyError("p_value")

    monkeypatch.setattr("radiogenomics.differential.differential", broken)
    r = CliRunner().invoke(app, ["differential", "--features", str(feats), "--labels", str(labels), "--out",
                                 str(tmp_path / "d")])
    assert r.exit_code == 1
    last = r.output.strip().splitlines()[-1]
    assert last.startswith("error: unexpected KeyError in `radiogenomics differential`: 'p_value'")
    assert "Traceback" in r.output and not (tmp_path / "d").exists()
