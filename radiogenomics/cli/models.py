"""CLI command of the models stage: ``radiogenomics models``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ._app import app, cli_errors


def _read_feature_list(path: Path) -> list[str]:
    """Feature names from a text file (one per line) or a table (``selected`` / ``feature`` column or index)."""
    import pandas as pd

    from .._io import _read_raw  # noqa: PLC2701 (shared reader of the package)
    from .._validation import DataFileError

    if path.suffix in (".txt", ".list") or path.name.endswith(".txt.gz"):
        names = [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    else:
        df = _read_raw(path)
        if "selected" in df.columns:
            sel = df["selected"].astype(str).str.lower().isin(["true", "1", "yes"])
            names = [str(i) for i in (df.loc[sel, "feature"] if "feature" in df.columns else df.index[sel])]
        elif "feature" in df.columns:
            names = [str(f) for f in df["feature"]]
        else:
            names = [str(i) for i in df.index]
        names = [n for n in names if n and n != "nan" and not pd.isna(n)]
    if not names:
        raise DataFileError(f"{path}: lists no feature names.")
    return names


def _save(fig: Any, path: Path) -> None:
    from .._io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150, bbox_inches="tight", format="png")


@app.command("models")
@cli_errors
def models_command(
    features: Path = typer.Option(..., "--features", help="Training feature table (rows = patients)."),
    labels: Path = typer.Option(..., "--labels", help="Training labels: sample_id, her2 (1/0)."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    validation_features: Path | None = typer.Option(None, "--validation-features", help="Validation feature table."),
    validation_labels: Path | None = typer.Option(None, "--validation-labels", help="Validation labels."),
    feature_set: list[str] = typer.Option(
        [], "--feature-set",
        help="NAME=FILE: a feature list (text, one per line; or a table with 'selected'/'feature' columns, "
             "e.g. differential.parquet or module.parquet). Repeat to compare sets. Default: all columns."),
    splits: int = typer.Option(1000, "--splits", help="Repeated stratified splits (the paper ran 10,000)."),
    test_size: float = typer.Option(0.3, "--test-size", help="Test fraction of each split."),
    classifiers: str = typer.Option("svm,lr,nb,dt,rf,mlp,knn", "--classifiers", help="Comma-separated classifiers."),
    clinical: Path | None = typer.Option(
        None, "--clinical", help="Clinical table (rows = patients of both cohorts) for the baseline table and nomogram."),
    variance: float = typer.Option(0.91, "--variance", help="PCA: variance fraction to keep."),
    bootstrap: int = typer.Option(2000, "--bootstrap", help="Bootstrap resamples of the validation AUC CI."),
    jobs: int = typer.Option(1, "--jobs", help="Worker processes for the splits (-1 = all cores)."),
    seed: int = typer.Option(0, "--seed", help="Master seed."),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="Write PNG figures."),
) -> None:
    """Seven classifiers on repeated splits, independent validation, calibration, DCA, nomogram."""
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    import pandas as pd

    from .. import models as M
    from .._io import read_labels, read_table, write_table
    from .._logging import get_logger
    from .._provenance import build_provenance, write_provenance
    from .._validation import InputError, ParameterError, align_samples, check_labels, check_table
    from ..plotting import models as P

    log = get_logger("radiogenomics.cli.models")
    out.mkdir(parents=True, exist_ok=True)
    if (validation_features is None) != (validation_labels is None):
        raise ParameterError("--validation-features and --validation-labels must be given together.")
    clf_names = [c.strip() for c in classifiers.split(",") if c.strip()]
    bad = [c for c in clf_names if c not in M.CLASSIFIERS]
    if bad:
        raise ParameterError(f"--classifiers: unknown {bad}; choose among {list(M.CLASSIFIERS)}.")

    lab = read_labels(labels)
    feat = check_table(read_table(features), name=str(features))
    feat, lab = align_samples(feat, check_labels(lab), data_name=str(features), labels_name=str(labels))
    sets: dict[str, list[str]] = {}
    inputs: dict[str, Any] = {"features": features, "labels": labels}
    for spec in feature_set:
        if "=" not in spec:
            raise ParameterError(f"--feature-set must be NAME=FILE; got {spec!r}.")
        name, file = spec.split("=", 1)
        if not name or name in sets:
            raise ParameterError(f"--feature-set: empty or repeated name {name!r}.")
        sets[name] = _read_feature_list(Path(file))
        inputs[f"feature_set_{name}"] = file
    if not sets:
        sets = {"all": list(feat.columns)}
    written: list[str] = []

    def save_table(df: pd.DataFrame, name: str, index: bool = False) -> None:
        write_table(df, out, name, index=index)
        written.append(name)

    def save_fig(fig: Any, name: str) -> None:
        if figures:
            _save(fig, out / f"{name}.png")
            written.append(f"{name}.png")

    # 1. repeated splits
    res = M.repeated_splits(feat, lab, feature_sets=sets, classifiers=clf_names, n_splits=splits,
                            test_size=test_size, seed=seed, n_jobs=jobs)
    for name, table in res.tables().items():
        save_table(table, name)
    save_fig(P.plot_split_auc(res.splits), "split_auc")
    primary = next(iter(sets))
    X1 = feat[sets[primary]]

    # 2. PCA and LASSO on the training cohort (reporting)
    pca_table, n_comp = M.pca_variance(X1, variance=variance)
    save_table(pca_table, "pca")
    save_fig(P.plot_pca_variance(pca_table, n_comp, variance=variance), "pca_variance")
    lasso = M.lasso_path(X1, lab, seed=seed)
    save_table(lasso.cv_curve, "lasso_cv")
    save_table(lasso.coefficients, "lasso_coefficients")
    save_fig(P.plot_lasso(lasso), "lasso")

    # 3. learning curves
    lc = M.learning_curves(X1, lab, classifiers=clf_names, seed=seed, n_jobs=jobs)
    save_table(lc, "learning_curves")
    save_fig(P.plot_learning_curves(lc), "learning_curves")

    # 4. validation (or out-of-fold predictions when there is no validation cohort)
    vfeat = vlab = None
    if validation_features is not None:
        vlab = read_labels(validation_labels)
        vfeat = check_table(read_table(validation_features), name=str(validation_features))
        vfeat, vlab = align_samples(vfeat, vlab, data_name=str(validation_features), labels_name=str(validation_labels))
        inputs.update({"validation_features": validation_features, "validation_labels": validation_labels})
        val = M.validate(feat, lab, validation_features=vfeat, validation_labels=vlab, feature_sets=sets,
                         classifiers=clf_names, n_bootstrap=bootstrap, seed=seed)
        for name, table in val.tables().items():
            save_table(table, name)
        scores, y_eval = val.score_table(feature_set=primary, cohort="validation")
        pred_long = val.predictions[(val.predictions["feature_set"] == primary) & (val.predictions["cohort"] == "validation")]
        ci = {r.classifier: (r.delong_low, r.delong_high) for r in val.validation[val.validation["feature_set"] == primary].itertuples()}
        cohort_name = "validation cohort"
    else:
        log.info("no validation cohort: figures use out-of-fold predictions of the training cohort")
        rows = []
        for name, est in M.make_classifiers(clf_names, random_state=seed).items():
            oof = M.out_of_fold_scores(est, X1.to_numpy(float), lab.to_numpy(int), seed=seed)
            thr = M.youden_threshold(lab.to_numpy(int), oof)["threshold"]
            rows.append(pd.DataFrame({"sample": X1.index, "cohort": "training_oof", "feature_set": primary,
                                      "classifier": name, "label": lab.to_numpy(int), "score": oof,
                                      "predicted": (oof >= thr).astype(int)}))
        pred_long = pd.concat(rows, ignore_index=True)
        save_table(pred_long, "oof_predictions")
        scores = pred_long.pivot(index="sample", columns="classifier", values="score")[clf_names]
        y_eval = lab.loc[scores.index]
        ci = {c: (d["ci_low"], d["ci_high"]) for c in clf_names for d in [M.delong_ci(y_eval.to_numpy(), scores[c])]}
        cohort_name = "training, out-of-fold"
    predicted = pred_long.pivot(index="sample", columns="classifier", values="predicted")[list(scores.columns)]
    save_fig(P.plot_roc(scores, y_eval, ci=ci, title=f"ROC ({primary}, {cohort_name})"), "roc")
    save_fig(P.plot_precision_recall(scores, y_eval, title=f"Precision-recall ({primary}, {cohort_name})"),
             "precision_recall")
    save_fig(P.plot_confusion_matrices(predicted, y_eval.loc[predicted.index]), "confusion_matrices")

    # 5. calibration and decision curves (probabilities)
    cal_tables = {c: M.calibration_table(y_eval.to_numpy(), scores[c].to_numpy()) for c in scores.columns}
    cal = pd.concat([t.assign(classifier=c, brier=t.attrs["brier"]) for c, t in cal_tables.items()], ignore_index=True)
    save_table(cal, "calibration")
    save_fig(P.plot_calibration(cal_tables, title=f"Calibration ({cohort_name})"), "calibration")
    dca = M.decision_curve(y_eval.to_numpy(), {c: scores[c].to_numpy() for c in scores.columns})
    save_table(dca, "decision_curve")
    save_fig(P.plot_decision_curve(dca, title=f"Decision curve ({cohort_name})"), "decision_curve")

    # 6. clinical: nomogram (radiomic score + clinical variables) and baseline tables
    if clinical is not None:
        inputs["clinical"] = clinical
        clin = read_table(clinical, numeric=False)
        missing = feat.index.difference(clin.index)
        if len(missing):
            raise InputError(f"{clinical}: no clinical row for {len(missing)} training patient(s) "
                             f"({', '.join(map(str, missing[:5]))}).")
        cohort = pd.Series("training", index=feat.index)
        all_labels = lab.copy()
        if vfeat is not None:
            cohort = pd.concat([cohort, pd.Series("validation", index=vfeat.index)])
            all_labels = pd.concat([lab, vlab])
        present = clin.reindex(cohort.index)
        save_table(M.baseline_table(present, all_labels.map({1: "HER2-positive", 0: "HER2-negative"})), "baseline_her2")
        if vfeat is not None:
            save_table(M.baseline_table(present, cohort), "baseline_split")
        # radiomic score: logit of the out-of-fold logistic-regression probability on the training cohort
        lr = M.make_classifier("lr", random_state=seed)
        oof = M.out_of_fold_scores(lr, X1.to_numpy(float), lab.to_numpy(int), seed=seed)
        oof = np.clip(oof, 1e-6, 1 - 1e-6)
        clin_num = pd.get_dummies(clin.loc[feat.index], drop_first=True, dtype=float)
        clin_num = clin_num.loc[:, clin_num.notna().all() & (clin_num.nunique() > 1)]
        predictors = pd.concat([pd.Series(np.log(oof / (1 - oof)), index=feat.index, name="radiomic_score"),
                                clin_num], axis=1)
        nomo = M.fit_nomogram(predictors, lab)
        save_table(nomo.coefficients, "nomogram_coefficients")
        save_table(nomo.points, "nomogram_points")
        save_table(nomo.total_points, "nomogram_total_points")
        save_fig(P.plot_nomogram(nomo), "nomogram")
    else:
        log.info("no --clinical table: baseline tables and nomogram skipped")

    record = build_provenance(
        "models",
        parameters={"splits": splits, "test_size": test_size, "classifiers": clf_names, "variance": variance,
                    "bootstrap": bootstrap, "jobs": jobs, "feature_sets": sets,
                    "classifier_settings": {k: repr(v) for k, v in M.make_classifiers(clf_names).items()}},
        seeds={"seed": seed},
        inputs=inputs,
        extra={"outputs": written, "n_training": int(len(feat)), "pca_components": n_comp,
               "lasso_selected": lasso.selected},
    )
    write_provenance(out, record)
    typer.echo(f"models: wrote {len(written)} tables/figures to {out}")
