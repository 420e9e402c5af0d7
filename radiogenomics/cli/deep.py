"""CLI commands of the deep path: ``radiogenomics deep run|train|predict|embed|gradcam|compare|features|models``.

``deep run`` is the stage (options -> :func:`radiogenomics.deep.run` -> ``result.write``);
``deep train`` is the same command. ``predict``, ``embed`` and ``gradcam`` apply a trained model
(:func:`radiogenomics.deep.apply_model`) and write a deep result of their own. ``compare`` is
the backbone × learning rate × weight decay grid (:func:`radiogenomics.deep.compare`),
``features`` the cross-fitted, ICC-filtered deep features (:func:`radiogenomics.deep.cross_fit`)
and ``models`` the models stage (:func:`radiogenomics.evaluate`) on those features. torch and
MONAI are imported inside the commands, so ``--help`` works without the ``[deep]`` extra.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import CONFIG_HELP, app, cli_errors, default, stage_options

S = "deep"
C = "deep_comparison"
F = "deep_features"

deep_app = typer.Typer(
    name="deep",
    help="Deep-learning path: MONAI networks on 2D/3D multi-sequence crops, backbone comparison, Grad-CAM, "
         "cross-fitted deep features.",
    no_args_is_help=True,
)
app.add_typer(deep_app, name="deep")

_CASES = typer.Option(..., "--cases", help="Case sheet (the imaging one: case_id, patient_id, image, mask, label; "
                      "mask_label optional; one image column per sequence with --sequences).")
_ARCHS = "resnet18, resnet34, resnet50, resnet101, seresnext50, densenet121, efficientnet-b0, vit or swin"
_SEQ_HELP = ("Comma-separated image columns, one per sequence (e.g. t1,t2,dce; the mask is drawn on the first); "
             "default: the sheet's image column.")


def _sequences(value: str | list[str] | None) -> list[str] | None:
    """``--sequences t1,t2,dce`` (or a config list) as a list of column names."""
    if value is None or isinstance(value, list):
        return value
    names = [v.strip() for v in str(value).split(",") if v.strip()]
    return names or None


def _layer(value: str | None) -> str | None:
    return None if value is None or str(value).lower() in ("none", "off", "") else value
_OUT = typer.Option(..., "--out", help="Output folder (a deep result).")
_OUTSIDE_HELP = "Accept case-sheet paths that are absolute or outside the sheet's folder (default: refused)."


def _outside(section: str) -> typer.models.OptionInfo:
    return typer.Option(default(section, "allow_outside_paths"), "--allow-outside-paths/--confine-paths",
                        help=_OUTSIDE_HELP)

_MODEL = typer.Option(..., "--model", help="A trained model: model.pt, or the result folder holding it.")
_DEVICE = typer.Option(default(S, "device"), "--device", help="auto (CUDA when present), cpu or cuda[:N].")


@cli_errors
def run_command(
    ctx: typer.Context,
    cases: Path = _CASES,
    out: Path = _OUT,
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
    arch: str = typer.Option(default(S, "arch"), "--arch", help=f"Backbone: {_ARCHS}."),
    sequences: str | None = typer.Option(default(S, "sequences"), "--sequences", help=_SEQ_HELP),
    register: bool = typer.Option(default(S, "register"), "--register/--no-register",
                                  help="Rigidly register every sequence to the first (SimpleITK) before resampling."),
    size: int = typer.Option(default(S, "size"), "--size", help="Crop side in pixels (voxels)."),
    margin: float = typer.Option(default(S, "margin"), "--margin", help="Context around the mask's box (fraction of its side)."),
    background: str = typer.Option(default(S, "background"), "--background", help="keep or zero the tissue around the lesion."),
    intensity: str = typer.Option(default(S, "intensity"), "--intensity", help="Per sequence: uint8 (/255), percentile or zscore."),
    epochs: int = typer.Option(default(S, "epochs"), "--epochs", help="Maximum epochs."),
    batch_size: int = typer.Option(default(S, "batch_size"), "--batch-size", help="Images per step."),
    lr: float = typer.Option(default(S, "lr"), "--lr", help="AdamW learning rate."),
    weight_decay: float = typer.Option(default(S, "weight_decay"), "--weight-decay", help="AdamW weight decay."),
    class_weights: str = typer.Option(default(S, "class_weights"), "--class-weights", help="balanced or none."),
    patience: int = typer.Option(default(S, "patience"), "--patience", help="Epochs without validation-AUC gain before stopping."),
    min_epochs: int = typer.Option(default(S, "min_epochs"), "--min-epochs", help="Epochs before a model may be kept."),
    validation: float = typer.Option(default(S, "validation"), "--validation", help="Fraction of patients per label for validation."),
    test: float = typer.Option(default(S, "test"), "--test", help="Fraction of patients per label for test."),
    augment: bool = typer.Option(default(S, "augment"), "--augment/--no-augment", help="Rotations, flips, zoom, contrast."),
    max_pool: bool = typer.Option(default(S, "max_pool"), "--max-pool/--no-max-pool", help="Max-pool after the first convolution."),
    pretrained: Path | None = typer.Option(default(S, "pretrained"), "--pretrained", help="Local weights file (never downloaded)."),
    gradcam_layer: str = typer.Option(default(S, "gradcam_layer"), "--gradcam-layer", "--layer",
                                      help="Module explained by Grad-CAM (auto: the backbone's last feature map; none: skip)."),
    device: str = _DEVICE,
    allow_outside_paths: bool = _outside(S),
    seed: int = typer.Option(default(S, "seed"), "--seed", help="Seed of split, weights, shuffling, augmentation."),
) -> None:
    """Train a network with patient-wise splits, then predict, embed and explain (Grad-CAM): one deep result."""
    from .._results import check_output_folder
    from ..deep import run

    opts = stage_options(ctx, S, dict(
        arch=arch, sequences=_sequences(sequences), register=register, size=size, margin=margin, background=background, intensity=intensity, epochs=epochs,
        batch_size=batch_size, lr=lr, weight_decay=weight_decay, class_weights=class_weights, patience=patience,
        min_epochs=min_epochs, validation=validation, test=test, augment=augment, max_pool=max_pool,
        pretrained=pretrained, gradcam_layer=gradcam_layer, device=device, allow_outside_paths=allow_outside_paths,
        seed=seed), config)
    opts["sequences"], opts["gradcam_layer"] = _sequences(opts["sequences"]), _layer(opts["gradcam_layer"])
    check_output_folder(out)
    res = run(cases, **opts)
    inputs = {"cases": cases, "pretrained": opts["pretrained"]}
    res.write(out, inputs={k: v for k, v in inputs.items() if v is not None})
    typer.echo(f"trained {opts['arch']}: kept epoch {res.parameters['best_epoch']} (validation AUC "
               f"{res.parameters['best_validation_auc']:.3f}); wrote {out}")


deep_app.command("run")(run_command)
deep_app.command("train", help="Same as `deep run`: train, then predict, embed and explain.")(run_command)


def _apply(cases: Path, model: Path, out: Path, *, embeddings: bool, gradcam_layer: str | None, batch_size: int,
           device: str, allow_outside_paths: bool) -> None:
    from .._results import check_output_folder
    from ..deep import apply_model

    check_output_folder(out)
    res = apply_model(model, cases, embeddings=embeddings, gradcam_layer=gradcam_layer, batch_size=batch_size,
                      device=device, allow_outside_paths=allow_outside_paths)
    res.write(out, inputs={"cases": cases, "model": model / "model.pt" if model.is_dir() else model})
    typer.echo(f"{len(res.predictions_image)} image(s) of {len(res.predictions)} patient(s); wrote {out}")


@deep_app.command("predict")
@cli_errors
def predict_command(
    cases: Path = _CASES,
    out: Path = _OUT,
    model: Path = _MODEL,
    batch_size: int = typer.Option(32, "--batch-size", help="Images per pass."),
    device: str = _DEVICE,
    allow_outside_paths: bool = _outside(S),
) -> None:
    """Image- and patient-level HER2 probabilities (predictions: per patient, mean of images)."""
    _apply(cases, model, out, embeddings=False, gradcam_layer=None, batch_size=batch_size, device=device,
           allow_outside_paths=allow_outside_paths)


@deep_app.command("embed")
@cli_errors
def embed_command(
    cases: Path = _CASES,
    out: Path = _OUT,
    model: Path = _MODEL,
    batch_size: int = typer.Option(32, "--batch-size", help="Images per pass."),
    device: str = _DEVICE,
    allow_outside_paths: bool = _outside(S),
) -> None:
    """Deep features (penultimate layer) per image and per patient, with the predictions."""
    _apply(cases, model, out, embeddings=True, gradcam_layer=None, batch_size=batch_size, device=device,
           allow_outside_paths=allow_outside_paths)


@deep_app.command("gradcam")
@cli_errors
def gradcam_command(
    cases: Path = _CASES,
    out: Path = _OUT,
    model: Path = _MODEL,
    layer: str = typer.Option(default(S, "gradcam_layer"), "--layer", help="Module to explain (auto: the backbone's last feature map)."),
    batch_size: int = typer.Option(16, "--batch-size", help="Images per pass."),
    device: str = _DEVICE,
    allow_outside_paths: bool = _outside(S),
) -> None:
    """Grad-CAM overlays (gradcam/<case_id>.png) and the heat inside each mask, with the predictions."""
    _apply(cases, model, out, embeddings=False, gradcam_layer=layer, batch_size=batch_size, device=device,
           allow_outside_paths=allow_outside_paths)


@deep_app.command("compare")
@cli_errors
def compare_command(
    ctx: typer.Context,
    cases: Path = _CASES,
    out: Path = _OUT,
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
    archs: list[str] = typer.Option(list(default(C, "archs")), "--arch", help=f"A backbone of the grid (repeat): {_ARCHS}."),
    lrs: list[float] = typer.Option(list(default(C, "lrs")), "--lr", help="A learning rate of the grid (repeat)."),
    weight_decays: list[float] = typer.Option(list(default(C, "weight_decays")), "--weight-decay",
                                              help="A weight decay of the grid (repeat)."),
    sequences: str | None = typer.Option(default(C, "sequences"), "--sequences", help=_SEQ_HELP),
    register: bool = typer.Option(default(C, "register"), "--register/--no-register", help="Register sequences to the first."),
    size: int = typer.Option(default(C, "size"), "--size", help="Crop side (a multiple of 32 for swin)."),
    margin: float = typer.Option(default(C, "margin"), "--margin", help="Context around the mask's box."),
    background: str = typer.Option(default(C, "background"), "--background", help="keep or zero."),
    intensity: str = typer.Option(default(C, "intensity"), "--intensity", help="uint8, percentile or zscore."),
    epochs: int = typer.Option(default(C, "epochs"), "--epochs", help="Maximum epochs per setting."),
    batch_size: int = typer.Option(default(C, "batch_size"), "--batch-size", help="Images per step."),
    class_weights: str = typer.Option(default(C, "class_weights"), "--class-weights", help="balanced or none."),
    patience: int = typer.Option(default(C, "patience"), "--patience", help="Epochs without validation-AUC gain."),
    min_epochs: int = typer.Option(default(C, "min_epochs"), "--min-epochs", help="Epochs before a model may be kept."),
    validation: float = typer.Option(default(C, "validation"), "--validation", help="Validation fraction per label."),
    test: float = typer.Option(default(C, "test"), "--test", help="Test fraction per label."),
    augment: bool = typer.Option(default(C, "augment"), "--augment/--no-augment", help="Training augmentation."),
    max_pool: bool = typer.Option(default(C, "max_pool"), "--max-pool/--no-max-pool", help="ResNet stem max-pool."),
    pretrained: Path | None = typer.Option(default(C, "pretrained"), "--pretrained", help="Local weights file."),
    device: str = typer.Option(default(C, "device"), "--device", help="auto, cpu or cuda[:N]."),
    allow_outside_paths: bool = _outside(C),
    seed: int = typer.Option(default(C, "seed"), "--seed", help="Seed of the split and of every run."),
) -> None:
    """Backbone x learning rate x weight decay on one patient-wise split: the comparison table and the chosen model."""
    from .._results import check_output_folder
    from ..deep import compare

    opts = stage_options(ctx, C, dict(
        archs=archs, lrs=lrs, weight_decays=weight_decays, sequences=_sequences(sequences), register=register,
        size=size, margin=margin, background=background, intensity=intensity, epochs=epochs, batch_size=batch_size,
        class_weights=class_weights, patience=patience, min_epochs=min_epochs, validation=validation, test=test,
        augment=augment, max_pool=max_pool, pretrained=pretrained, device=device,
        allow_outside_paths=allow_outside_paths, seed=seed), config)
    opts["sequences"] = _sequences(opts["sequences"])
    check_output_folder(out)
    res = compare(cases, **opts)
    inputs = {"cases": cases, "pretrained": opts["pretrained"]}
    res.write(out, inputs={k: v for k, v in inputs.items() if v is not None})
    best = res.chosen
    typer.echo(f"{len(res.comparison)} setting(s); chose {best['setting']} (validation AUC {best['validation_auc']:.3f}, "
               f"test AUC {best['test_auc']:.3f}); wrote {out}")


@deep_app.command("features")
@cli_errors
def features_command(
    ctx: typer.Context,
    cases: Path = _CASES,
    out: Path = _OUT,
    external: Path | None = typer.Option(None, "--external-cases", help="An independent cohort's case sheet, embedded "
                                         "by every fold network (for the models' external validation)."),
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
    arch: str = typer.Option(default(F, "arch"), "--arch", help=f"Backbone: {_ARCHS}."),
    folds: int = typer.Option(default(F, "folds"), "--folds", help="Patient-wise folds of the cross-fitting."),
    sequences: str | None = typer.Option(default(F, "sequences"), "--sequences", help=_SEQ_HELP),
    register: bool = typer.Option(default(F, "register"), "--register/--no-register", help="Register sequences to the first."),
    size: int = typer.Option(default(F, "size"), "--size", help="Crop side."),
    margin: float = typer.Option(default(F, "margin"), "--margin", help="Context around the mask's box."),
    background: str = typer.Option(default(F, "background"), "--background", help="keep or zero."),
    intensity: str = typer.Option(default(F, "intensity"), "--intensity", help="uint8, percentile or zscore."),
    epochs: int = typer.Option(default(F, "epochs"), "--epochs", help="Maximum epochs per fold."),
    batch_size: int = typer.Option(default(F, "batch_size"), "--batch-size", help="Images per step."),
    lr: float = typer.Option(default(F, "lr"), "--lr", help="AdamW learning rate."),
    weight_decay: float = typer.Option(default(F, "weight_decay"), "--weight-decay", help="AdamW weight decay."),
    class_weights: str = typer.Option(default(F, "class_weights"), "--class-weights", help="balanced or none."),
    patience: int = typer.Option(default(F, "patience"), "--patience", help="Epochs without validation-AUC gain."),
    min_epochs: int = typer.Option(default(F, "min_epochs"), "--min-epochs", help="Epochs before a model may be kept."),
    validation: float = typer.Option(default(F, "validation"), "--validation",
                                     help="Share of each fold's training patients used for early stopping."),
    augment: bool = typer.Option(default(F, "augment"), "--augment/--no-augment", help="Training augmentation."),
    max_pool: bool = typer.Option(default(F, "max_pool"), "--max-pool/--no-max-pool", help="ResNet stem max-pool."),
    pretrained: Path | None = typer.Option(default(F, "pretrained"), "--pretrained", help="Local weights file."),
    n_perturbations: int = typer.Option(default(F, "n_perturbations"), "--n-perturbations",
                                        help="Perturbed versions per case for the ICC (0: no ICC filter)."),
    icc_threshold: float = typer.Option(default(F, "icc_threshold"), "--icc-threshold", help="Minimum ICC kept."),
    device: str = typer.Option(default(F, "device"), "--device", help="auto, cpu or cuda[:N]."),
    allow_outside_paths: bool = _outside(F),
    seed: int = typer.Option(default(F, "seed"), "--seed", help="Seed of folds, perturbations and networks."),
) -> None:
    """Cross-fitted deep features (each patient embedded by a network that never saw it), ICC-filtered."""
    from .._results import check_output_folder
    from ..deep import cross_fit

    opts = stage_options(ctx, F, dict(
        arch=arch, folds=folds, sequences=_sequences(sequences), register=register, size=size, margin=margin,
        background=background, intensity=intensity, epochs=epochs, batch_size=batch_size, lr=lr,
        weight_decay=weight_decay, class_weights=class_weights, patience=patience, min_epochs=min_epochs,
        validation=validation, augment=augment, max_pool=max_pool, pretrained=pretrained,
        n_perturbations=n_perturbations, icc_threshold=icc_threshold, device=device,
        allow_outside_paths=allow_outside_paths, seed=seed), config)
    opts["sequences"] = _sequences(opts["sequences"])
    check_output_folder(out)
    res = cross_fit(cases, external=external, **opts)
    inputs = {"cases": cases, "external": external, "pretrained": opts["pretrained"]}
    res.write(out, inputs={k: v for k, v in inputs.items() if v is not None})
    typer.echo(f"{res.features.shape[1]} of {res.parameters['n_features']} deep features stable (ICC >= "
               f"{opts['icc_threshold']:g}) for {len(res.features)} patients; out-of-fold AUC "
               f"{res.parameters['heldout_auc']:.3f}; wrote {out}")


@deep_app.command("models")
@cli_errors
def models_command(
    ctx: typer.Context,
    features: Path = typer.Option(..., "--features", help="A `deep features` result folder (cross-fitted features)."),
    out: Path = _OUT,
    clinical: Path | None = typer.Option(None, "--clinical", help="Clinical table (rows = patients): baseline tables "
                                         "and the nomogram."),
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP + " (its models section)"),
    n_splits: int = typer.Option(default("models", "n_splits"), "--n-splits", help="Repeated stratified splits."),
    classifiers: str = typer.Option(default("models", "classifiers"), "--classifiers", help="Comma-separated classifiers."),
    n_jobs: int = typer.Option(default("models", "n_jobs"), "--n-jobs", help="Worker processes (-1 = all cores)."),
    seed: int = typer.Option(default("models", "seed"), "--seed", help="Master seed."),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="Write PNG figures."),
) -> None:
    """The models stage (LASSO, seven classifiers, nomogram, decision curves) on cross-fitted deep features."""
    from .._io import read_table
    from .._results import check_output_folder
    from .._validation import InputError
    from ..deep.crossfit import DeepFeaturesResult
    from ..models import evaluate
    from ._app import read_input

    check_output_folder(out)
    res = read_input(features, "deep_features", what="--features")
    if not isinstance(res, DeepFeaturesResult):
        raise InputError(f"--features {features}: give the folder `radiogenomics deep features` wrote.")
    if res.features.shape[1] == 0:
        raise InputError(f"--features {features}: no deep feature passed the ICC filter (ICC >= "
                         f"{res.parameters.get('icc_threshold')}); lower deep_features.icc_threshold or add data.")
    names = None if classifiers is None else [c.strip() for c in classifiers.split(",") if c.strip()]
    opts: dict = {}
    if config is not None:  # the whole models section (test_size, variance, n_bootstrap...)
        from .._config import load_config, stage_parameters

        opts.update(stage_parameters(load_config(config), "models"))
    opts.update(stage_options(ctx, "models", dict(n_splits=n_splits, classifiers=names, n_jobs=n_jobs, seed=seed),
                              config))
    clin = None if clinical is None else read_table(clinical, numeric=False)
    result = evaluate(res, feature_sets={"deep": res.feature_set()}, validation=res.external_cohort(), clinical=clin,
                      **opts)
    inputs = {"features": features / "features.parquet", "clinical": clinical}
    result.write(out, inputs={k: v for k, v in inputs.items() if v is not None}, figures=figures)
    typer.echo(f"models on {res.features.shape[1]} cross-fitted deep feature(s) of {len(res.features)} patients; "
               f"wrote {out}")
