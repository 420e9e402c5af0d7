"""CLI commands of the deep stage: ``radiogenomics deep train|predict|embed|gradcam``.

Every command reads the imaging case sheet (``--cases``), crops each case around its mask and
writes Parquet + CSV tables and ``provenance.json`` to ``--out``. torch and MONAI are imported
inside the commands, so ``--help`` works without the ``[deep]`` extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import app, cli_errors

deep_app = typer.Typer(
    name="deep",
    help="Deep-learning path: MONAI ResNet on tumour crops, Grad-CAM, deep features.",
    no_args_is_help=True,
)
app.add_typer(deep_app, name="deep")

_CASES = typer.Option(..., "--cases", help="Case sheet CSV (case_id, patient_id, image, mask[, label]).")
_OUT = typer.Option(..., "--out", help="Output folder.")
_MODEL = typer.Option(..., "--model", help="Checkpoint written by 'deep train' (model.pt).")
_DEVICE = typer.Option("auto", "--device", help="auto (CUDA when present), cpu or cuda[:N].")


def _load(cases: Path, *, size: int, margin: float, background: str, intensity: str,
          require_labels: bool = False):  # noqa: ANN202 - CLI helper
    from ..deep.data import load_crops, read_case_sheet

    sheet = read_case_sheet(cases, require_labels=require_labels)
    return load_crops(sheet, size=size, margin=margin, background=background, intensity=intensity)


def _finish(out: Path, stage: str, *, parameters: dict, cases: Path, model: Path | None = None,
            extra: dict | None = None, seed: int | None = None) -> None:
    from .._provenance import build_provenance, write_provenance

    inputs = {"cases": cases}
    if model is not None:
        inputs["model"] = model
    record = build_provenance(stage, parameters=parameters, seeds={} if seed is None else {"seed": seed},
                              inputs=inputs, extra=extra)
    write_provenance(out, record)


def _write_predictions(model, crops, out: Path, batch_size: int) -> dict:  # noqa: ANN001
    from .._io import write_table
    from ..deep.train import aggregate_patients, predict, prediction_metrics

    images = predict(model, crops, batch_size=batch_size)
    patients = aggregate_patients(images)
    metrics = prediction_metrics(images, patients)
    write_table(images, out, "predictions_image")
    write_table(patients, out, "predictions")
    write_table(metrics, out, "metrics", index=False)
    return {"metrics": metrics.to_dict(orient="records")}


@deep_app.command("train")
@cli_errors
def train_command(
    cases: Path = _CASES,
    out: Path = _OUT,
    arch: str = typer.Option("resnet18", "--arch", help="resnet18, resnet34 or resnet50."),
    size: int = typer.Option(64, "--size", help="Crop side in pixels."),
    margin: float = typer.Option(0.1, "--margin", help="Context around the mask's box (fraction of its side)."),
    background: str = typer.Option("keep", "--background", help="keep or zero the tissue around the lesion."),
    intensity: str = typer.Option("uint8", "--intensity", help="uint8 (/255) or percentile scaling."),
    epochs: int = typer.Option(30, "--epochs"),
    batch_size: int = typer.Option(16, "--batch-size"),
    lr: float = typer.Option(1e-3, "--lr", help="AdamW learning rate."),
    weight_decay: float = typer.Option(1e-4, "--weight-decay"),
    class_weights: str = typer.Option("balanced", "--class-weights", help="balanced or none."),
    patience: int = typer.Option(5, "--patience", help="Epochs without validation-AUC gain before stopping."),
    min_epochs: int = typer.Option(3, "--min-epochs", help="Epochs before a model may be kept."),
    validation: float = typer.Option(0.2, "--validation", help="Fraction of patients per label for validation."),
    test: float = typer.Option(0.2, "--test", help="Fraction of patients per label for test."),
    augment: bool = typer.Option(True, "--augment/--no-augment"),
    max_pool: bool = typer.Option(False, "--max-pool/--no-max-pool", help="Max-pool after the first convolution."),
    pretrained: Optional[Path] = typer.Option(None, "--pretrained", help="Local weights file (never downloaded)."),
    device: str = _DEVICE,
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Train a ResNet classifier with patient-wise splits; write model.pt, history, predictions."""
    from .._io import write_table
    from .._validation import ParameterError
    from ..deep.data import split_patients
    from ..deep.train import save_checkpoint, train_classifier
    from ..plotting.deep import training_history

    if class_weights not in ("balanced", "none"):
        raise ParameterError(f"--class-weights must be 'balanced' or 'none'; got {class_weights!r}.")
    crops = _load(cases, size=size, margin=margin, background=background, intensity=intensity, require_labels=True)
    crops.cases["split"] = split_patients(crops.cases, validation=validation, test=test, seed=seed)
    result = train_classifier(
        crops, arch=arch, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
        class_weights=None if class_weights == "none" else "balanced", patience=patience,
        min_epochs=min_epochs, augment=augment, max_pool=max_pool, pretrained=pretrained,
        checkpoint_dir=out / "checkpoints", device=device, seed=seed,
    )
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out / "model.pt", result.model, config=result.config,
                    extra={"epoch": result.best_epoch, "validation_auc": result.best_validation_auc})
    write_table(result.history, out, "history", index=False)
    write_table(crops.cases[["patient_id", "label", "split"]], out, "splits")
    write_table(crops.failures, out, "failures", index=False)
    summary = _write_predictions(result.model, crops, out, batch_size)
    from .._io import atomic_path
    import matplotlib

    matplotlib.use("Agg")
    with atomic_path(out / "training_history.png") as tmp:
        training_history(result.history).savefig(tmp, format="png", dpi=110)
    _finish(out, "deep_train", parameters=result.config, cases=cases, seed=seed,
            extra={"best_epoch": result.best_epoch, "best_validation_auc": result.best_validation_auc,
                   "device": result.device, "n_failures": len(crops.failures), **summary})
    typer.echo(f"trained {arch}: best epoch {result.best_epoch}, validation AUC "
               f"{result.best_validation_auc:.3f}; wrote {out}")


def _model_and_crops(cases: Path, model: Path, device: str, require_labels: bool = False):  # noqa: ANN202
    from ..deep.train import load_checkpoint

    net, cfg = load_checkpoint(model, device=device)
    crops = _load(cases, size=int(cfg["size"]), margin=float(cfg["margin"]),
                  background=cfg.get("background", "keep"), intensity=cfg.get("intensity", "uint8"),
                  require_labels=require_labels)
    return net, cfg, crops


@deep_app.command("predict")
@cli_errors
def predict_command(
    cases: Path = _CASES,
    out: Path = _OUT,
    model: Path = _MODEL,
    batch_size: int = typer.Option(32, "--batch-size"),
    device: str = _DEVICE,
) -> None:
    """Image- and patient-level HER2 probabilities (predictions.*: per patient, mean of images)."""
    from .._io import write_table

    net, cfg, crops = _model_and_crops(cases, model, device)
    summary = _write_predictions(net, crops, out, batch_size)
    write_table(crops.failures, out, "failures", index=False)
    _finish(out, "deep_predict", parameters={"batch_size": batch_size, **cfg}, cases=cases, model=model,
            extra=summary)
    typer.echo(f"predicted {len(crops)} images; wrote {out}")


@deep_app.command("embed")
@cli_errors
def embed_command(
    cases: Path = _CASES,
    out: Path = _OUT,
    model: Path = _MODEL,
    batch_size: int = typer.Option(32, "--batch-size"),
    device: str = _DEVICE,
) -> None:
    """Deep features (penultimate layer): embeddings_image.* and embeddings_patient.* (+ labels.*)."""
    from .._io import write_table
    from ..deep.data import patient_labels
    from ..deep.embed import embed

    net, cfg, crops = _model_and_crops(cases, model, device)
    images, patients = embed(net, crops, batch_size=batch_size)
    write_table(images, out, "embeddings_image")
    write_table(patients, out, "embeddings_patient")
    if crops.cases["label"].notna().all():
        write_table(patient_labels(crops.cases).to_frame(), out, "labels")
    write_table(crops.failures, out, "failures", index=False)
    _finish(out, "deep_embed", parameters={"batch_size": batch_size, **cfg}, cases=cases, model=model,
            extra={"n_images": len(images), "n_patients": len(patients), "n_features": images.shape[1]})
    typer.echo(f"embedded {len(images)} images of {len(patients)} patients ({images.shape[1]} features); wrote {out}")


@deep_app.command("gradcam")
@cli_errors
def gradcam_command(
    cases: Path = _CASES,
    out: Path = _OUT,
    model: Path = _MODEL,
    layer: str = typer.Option("layer4", "--layer", help="Module to explain (layer4 = last conv block)."),
    batch_size: int = typer.Option(16, "--batch-size"),
    device: str = _DEVICE,
) -> None:
    """Grad-CAM overlays gradcam/<case_id>.png and gradcam.* (heat inside the mask per case)."""
    import matplotlib

    matplotlib.use("Agg")
    from .._io import atomic_path, write_table
    from ..deep.gradcam import grad_cam, write_overlays
    from ..plotting.deep import heat_in_mask_summary

    net, cfg, crops = _model_and_crops(cases, model, device)
    result = grad_cam(net, crops, target_layer=layer, batch_size=batch_size)
    paths = write_overlays(crops, result, out / "gradcam")
    table = result.table.join(paths)
    write_table(table, out, "gradcam")
    write_table(crops.failures, out, "failures", index=False)
    with atomic_path(out / "gradcam_heat.png") as tmp:
        heat_in_mask_summary(result.table).savefig(tmp, format="png", dpi=110)
    _finish(out, "deep_gradcam", parameters={"layer": layer, "batch_size": batch_size, **cfg}, cases=cases,
            model=model, extra={"median_heat_in_mask": float(table["heat_in_mask"].median()),
                                "median_mask_fraction": float(table["mask_fraction"].median())})
    typer.echo(f"Grad-CAM for {len(table)} crops (median heat in mask "
               f"{table['heat_in_mask'].median():.2f}); wrote {out}")
