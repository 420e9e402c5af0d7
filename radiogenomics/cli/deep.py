"""CLI commands of the deep stage: ``radiogenomics deep run|train|predict|embed|gradcam``.

``deep run`` is the stage (options -> :func:`radiogenomics.deep.run` -> ``result.write``);
``deep train`` is the same command. ``predict``, ``embed`` and ``gradcam`` apply a trained model
(:func:`radiogenomics.deep.apply_model`) and write a deep result of their own. torch and MONAI
are imported inside the commands, so ``--help`` works without the ``[deep]`` extra.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import CONFIG_HELP, app, cli_errors, default, stage_options

S = "deep"

deep_app = typer.Typer(
    name="deep",
    help="Deep-learning path: MONAI ResNet on tumour crops, Grad-CAM, deep features.",
    no_args_is_help=True,
)
app.add_typer(deep_app, name="deep")

_CASES = typer.Option(..., "--cases", help="Case sheet (the imaging one: case_id, patient_id, image, mask, label; "
                      "mask_label optional).")
_OUT = typer.Option(..., "--out", help="Output folder (a deep result).")
_MODEL = typer.Option(..., "--model", help="A trained model: model.pt, or the result folder holding it.")
_DEVICE = typer.Option(default(S, "device"), "--device", help="auto (CUDA when present), cpu or cuda[:N].")


@cli_errors
def run_command(
    ctx: typer.Context,
    cases: Path = _CASES,
    out: Path = _OUT,
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
    arch: str = typer.Option(default(S, "arch"), "--arch", help="resnet18, resnet34 or resnet50."),
    size: int = typer.Option(default(S, "size"), "--size", help="Crop side in pixels."),
    margin: float = typer.Option(default(S, "margin"), "--margin", help="Context around the mask's box (fraction of its side)."),
    background: str = typer.Option(default(S, "background"), "--background", help="keep or zero the tissue around the lesion."),
    intensity: str = typer.Option(default(S, "intensity"), "--intensity", help="uint8 (/255) or percentile scaling."),
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
    gradcam_layer: str = typer.Option(default(S, "gradcam_layer"), "--gradcam-layer", "--layer", help="Module explained by Grad-CAM."),
    device: str = _DEVICE,
    seed: int = typer.Option(default(S, "seed"), "--seed", help="Seed of split, weights, shuffling, augmentation."),
) -> None:
    """Train a ResNet with patient-wise splits, then predict, embed and explain (Grad-CAM): one deep result."""
    from .._results import check_output_folder
    from ..deep import run

    opts = stage_options(ctx, S, dict(
        arch=arch, size=size, margin=margin, background=background, intensity=intensity, epochs=epochs,
        batch_size=batch_size, lr=lr, weight_decay=weight_decay, class_weights=class_weights, patience=patience,
        min_epochs=min_epochs, validation=validation, test=test, augment=augment, max_pool=max_pool,
        pretrained=pretrained, gradcam_layer=gradcam_layer, device=device, seed=seed), config)
    check_output_folder(out)
    res = run(cases, **opts)
    inputs = {"cases": cases, "pretrained": opts["pretrained"]}
    res.write(out, inputs={k: v for k, v in inputs.items() if v is not None})
    typer.echo(f"trained {opts['arch']}: kept epoch {res.parameters['best_epoch']} (validation AUC "
               f"{res.parameters['best_validation_auc']:.3f}); wrote {out}")


deep_app.command("run")(run_command)
deep_app.command("train", help="Same as `deep run`: train, then predict, embed and explain.")(run_command)


def _apply(cases: Path, model: Path, out: Path, *, embeddings: bool, gradcam_layer: str | None, batch_size: int,
           device: str) -> None:
    from .._results import check_output_folder
    from ..deep import apply_model

    check_output_folder(out)
    res = apply_model(model, cases, embeddings=embeddings, gradcam_layer=gradcam_layer, batch_size=batch_size,
                      device=device)
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
) -> None:
    """Image- and patient-level HER2 probabilities (predictions: per patient, mean of images)."""
    _apply(cases, model, out, embeddings=False, gradcam_layer=None, batch_size=batch_size, device=device)


@deep_app.command("embed")
@cli_errors
def embed_command(
    cases: Path = _CASES,
    out: Path = _OUT,
    model: Path = _MODEL,
    batch_size: int = typer.Option(32, "--batch-size", help="Images per pass."),
    device: str = _DEVICE,
) -> None:
    """Deep features (penultimate layer) per image and per patient, with the predictions."""
    _apply(cases, model, out, embeddings=True, gradcam_layer=None, batch_size=batch_size, device=device)


@deep_app.command("gradcam")
@cli_errors
def gradcam_command(
    cases: Path = _CASES,
    out: Path = _OUT,
    model: Path = _MODEL,
    layer: str = typer.Option(default(S, "gradcam_layer"), "--layer", help="Module to explain (layer4 = last block)."),
    batch_size: int = typer.Option(16, "--batch-size", help="Images per pass."),
    device: str = _DEVICE,
) -> None:
    """Grad-CAM overlays (gradcam/<case_id>.png) and the heat inside each mask, with the predictions."""
    _apply(cases, model, out, embeddings=False, gradcam_layer=layer, batch_size=batch_size, device=device)
