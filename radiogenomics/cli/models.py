"""CLI command of the models stage: ``radiogenomics models``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ._app import CONFIG_HELP, LABEL_COLUMN_HELP, app, cli_errors, default, features_input, stage_options

S = "models"


def _feature_list(path: Path) -> list[str]:
    """Feature names from a text file (one per line) or a table (``selected`` / ``feature`` column or index)."""
    import pandas as pd

    from .._io import _read_raw
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


def _feature_set(spec: str) -> tuple[str, Path | None, Any]:
    """``NAME=PATH``: a differential or module result folder (its ``feature_set()``), a feature list, or ``all``."""
    from .._results import read_stage
    from .._validation import DataFileError, MissingDataFileError, ParameterError

    name, sep, file = spec.partition("=")
    if not sep or not name or not file:
        raise ParameterError(f"--feature-set must be NAME=PATH; got {spec!r}.")
    path = Path(file)
    if file == "all" and not path.exists():
        return name, None, None  # every column of the feature table
    if not path.exists():
        raise MissingDataFileError(f"--feature-set {name}: {path} not found.")
    if not path.is_dir():
        return name, path, _feature_list(path)
    for stage in ("differential", "module"):
        result = read_stage(stage, path)
        if result is not None:
            return name, path, result
    raise DataFileError(f"--feature-set {name}: {path} is a folder, but not a differential or module result.")


@app.command("models")
@cli_errors
def models_command(
    ctx: typer.Context,
    features: Path = typer.Option(..., "--features", help="Training features: an `extract` result folder or a table (rows = patients)."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    labels: Path = typer.Option(None, "--labels", help="Training labels: sample_id, her2 (1/0); needed with a table."),
    validation_features: Path = typer.Option(None, "--validation-features", help="Validation cohort: an `extract` result folder or a table."),
    validation_labels: Path = typer.Option(None, "--validation-labels", help="Validation labels (needed with a table)."),
    label_column: str = typer.Option(None, "--label-column", help=LABEL_COLUMN_HELP + " Applies to both cohorts."),
    feature_set: list[str] = typer.Option(
        [], "--feature-set",
        help="NAME=PATH: a `differential` or `module` result folder, a text list (one feature per line) or a table "
             "with 'selected'/'feature' columns, or 'all' (every column). Repeat to compare sets; the first is primary. "
             "Default: all columns."),
    clinical: Path = typer.Option(None, "--clinical", help="Clinical table (rows = patients of both cohorts): baseline tables and nomogram."),
    config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
    n_splits: int = typer.Option(default(S, "n_splits"), "--n-splits", "--splits", help="Repeated stratified splits (the paper ran 10,000)."),
    test_size: float = typer.Option(default(S, "test_size"), "--test-size", help="Test fraction of each split."),
    classifiers: str = typer.Option(default(S, "classifiers"), "--classifiers", help="Comma-separated classifiers (default: all seven)."),
    protocols: list[str] = typer.Option(
        list(default(S, "protocols")), "--protocol",
        help="Evaluation protocol of the repeated splits (repeat for both): 'paper' (the feature sets as given, "
             "selected on all patients as published: optimistic) and/or 'nested' (the selection refitted inside "
             "each split; needs a differential or module result folder as the --feature-set)."),
    variance: float = typer.Option(default(S, "variance"), "--variance", help="PCA: variance fraction to keep."),
    n_bootstrap: int = typer.Option(default(S, "n_bootstrap"), "--n-bootstrap", "--bootstrap", help="Bootstrap resamples of the validation AUC CI."),
    n_jobs: int = typer.Option(default(S, "n_jobs"), "--n-jobs", "--jobs", help="Worker processes for the splits (-1 = all cores)."),
    seed: int = typer.Option(default(S, "seed"), "--seed", help="Master seed."),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="Write PNG figures."),
) -> None:
    """Seven classifiers on repeated splits, independent validation, calibration, DCA, nomogram."""
    from .._io import read_table
    from .._results import check_output_folder
    from .._validation import ParameterError
    from ..models import evaluate

    check_output_folder(out)
    if validation_labels is not None and validation_features is None:
        raise ParameterError("--validation-labels needs --validation-features.")
    for table, lab, what in ((features, labels, "--labels"), (validation_features, validation_labels, "--validation-labels")):
        if table is not None and lab is None and label_column is None and table.is_file():
            raise ParameterError(f"{what} is needed with the feature table {table} (or --label-column NAME when the "
                                 "table holds its labels, or an `extract` result folder).")
    names = None if classifiers is None else [c.strip() for c in classifiers.split(",") if c.strip()]
    opts = stage_options(ctx, S, dict(n_splits=n_splits, test_size=test_size, classifiers=names, protocols=protocols,
                                      variance=variance, n_bootstrap=n_bootstrap, n_jobs=n_jobs, seed=seed), config)
    sets = [_feature_set(spec) for spec in feature_set]
    if len({name for name, _, _ in sets}) < len(sets):
        raise ParameterError(f"--feature-set: repeated name among {[name for name, _, _ in sets]}.")
    train = features_input(features, labels, label_column=label_column)
    val = None if validation_features is None else features_input(validation_features, validation_labels,
                                                                   label_column=label_column)
    clin = None if clinical is None else read_table(clinical, numeric=False)
    fsets = {name: list(train.features.columns) if s is None else s for name, _, s in sets}
    res = evaluate(train, feature_sets=fsets or None, validation=val, clinical=clin, **opts)
    inputs = {"features": features, "labels": labels, "validation_features": validation_features,
              "validation_labels": validation_labels, "clinical": clinical,
              **{f"feature_set_{name}": path for name, path, _ in sets if path is not None}}
    res.write(out, inputs={k: v for k, v in inputs.items() if v is not None}, figures=figures)
