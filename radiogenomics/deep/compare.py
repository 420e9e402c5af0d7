"""Backbone × learning rate × weight decay comparison on one fixed patient-wise split (the CT study's table).

:func:`compare` crops the cases once, assigns whole patients to train, validation and test
once (:func:`~radiogenomics.deep.crops.split_patients`, the same split for every setting), then
trains every combination of ``archs``, ``lrs`` and ``weight_decays``
(:func:`~radiogenomics.deep.train.train_classifier`, same seed: the same initialisation for a
backbone, the same shuffling and augmentation draws), so the rows differ only by their
settings. Each row reports, at the kept epoch (best validation AUC), the training loss, and
per split the patient-level accuracy (threshold 0.5) and AUC with its DeLong 95 % interval
(:func:`radiogenomics.models.metrics.delong_ci`).

The chosen model is the row with the highest *validation* AUC (ties: lower validation loss,
then fewer parameters); the test split is never used to choose, so its AUC stays an honest
estimate (choosing by test AUC, as a table of "best test AUC" invites, makes it optimistic).
The chosen network is kept as the result's checkpoint (``model.pt``), usable by
``radiogenomics deep predict --model <folder>``.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .._logging import get_logger
from .._results import StageResult, dropped_table
from .._validation import InputError, ParameterError, check_choice, check_float
from .crops import DROPPED_EXTRA
from .result import CheckpointMixin

__all__ = ["DeepComparisonResult", "compare", "COMPARISON_COLUMNS"]

log = get_logger(__name__)

#: Columns of :attr:`DeepComparisonResult.comparison`, in order.
COMPARISON_COLUMNS = (
    "setting", "arch", "lr", "weight_decay", "best_epoch", "epochs_run", "train_loss", "validation_loss",
    "train_accuracy", "train_auc", "validation_accuracy", "validation_auc", "validation_auc_low",
    "validation_auc_high", "test_accuracy", "test_auc", "test_auc_low", "test_auc_high", "n_parameters",
    "seconds", "chosen",
)


@dataclass(frozen=True)
class DeepComparisonResult(CheckpointMixin, StageResult):
    """Result of :func:`compare`.

    Attributes
    ----------
    comparison
        One row per setting (:data:`COMPARISON_COLUMNS`): ``setting`` (``arch|lr=..|wd=..``),
        ``arch``, ``lr``, ``weight_decay``, ``best_epoch``, ``epochs_run``, ``train_loss`` and
        ``validation_loss`` at the kept epoch, patient-level ``<split>_accuracy`` and
        ``<split>_auc`` for train, validation and test, with ``_low``/``_high`` DeLong 95 %
        bounds for validation and test, ``n_parameters``, ``seconds`` (training time) and
        ``chosen`` (the one model kept, by validation AUC).
    history
        Every setting's epochs: ``setting``, ``arch``, ``lr``, ``weight_decay`` and the
        training record's columns (``epoch``, ``train_loss``, ``validation_loss``,
        ``validation_auc``, ``improved``, ``seconds``).
    predictions
        Patient-level probabilities of every setting: ``setting``, ``sample_id``, ``split``,
        ``label``, ``probability``.
    splits
        The one patient-wise split (index ``case_id``): ``patient_id``, ``label``, ``split``.
    checkpoint
        The chosen network (``model.pt``).
    parameters
        The grid, the crop and training settings, the seed, ``chosen`` (its setting),
        ``chosen_validation_auc``, ``chosen_test_auc``, ``n_settings``, the device used.
    dropped
        Cases that could not be cropped (as the deep stage's).
    synthetic
        The inputs were synthetic.
    """

    stage: ClassVar[str] = "deep_comparison"

    comparison: pd.DataFrame
    history: pd.DataFrame | None = None
    predictions: pd.DataFrame | None = None
    splits: pd.DataFrame | None = None
    checkpoint: bytes | None = field(default=None, repr=False)
    parameters: Mapping[str, Any] = field(default_factory=dict)
    dropped: pd.DataFrame = field(default_factory=lambda: dropped_table(extra=DROPPED_EXTRA))
    synthetic: bool = False

    @property
    def chosen(self) -> pd.Series:
        """The chosen setting's row of :attr:`comparison`."""
        rows = self.comparison[self.comparison["chosen"].astype(bool)]
        if rows.empty:
            raise InputError("the comparison marks no chosen setting.")
        return rows.iloc[0]

    def overview(self) -> dict[str, Any]:
        """Counts of the result.

        Returns
        -------
        dict
            ``n_settings``, ``chosen``, ``chosen_validation_auc``, ``chosen_test_auc``, ``dropped``.
        """
        best = self.chosen if len(self.comparison) else None
        return {"n_settings": int(len(self.comparison)), "chosen": None if best is None else str(best["setting"]),
                "chosen_validation_auc": None if best is None else float(best["validation_auc"]),
                "chosen_test_auc": None if best is None or pd.isna(best["test_auc"]) else float(best["test_auc"]),
                "dropped": int(len(self.dropped))}

    def _files(self) -> dict[str, bytes]:
        from .result import MODEL_FILE

        return {} if self.checkpoint is None else {MODEL_FILE: self.checkpoint}

    @classmethod
    def _from_tables(cls, tables: dict[str, pd.DataFrame], *, record: Mapping[str, Any],
                     folder: Any) -> DeepComparisonResult:
        """Read the chosen checkpoint back beside the tables."""
        from .result import MODEL_FILE

        res = super()._from_tables(tables, record=record, folder=folder)
        if (folder / MODEL_FILE).exists():
            object.__setattr__(res, "checkpoint", (folder / MODEL_FILE).read_bytes())
        return res  # type: ignore[return-value]


def _grid(values: Any, name: str, kind: type) -> list[Any]:
    if isinstance(values, (str, int, float)) and not isinstance(values, bool):
        values = [values]
    try:
        out = [kind(v) for v in values]
    except (TypeError, ValueError):
        raise ParameterError(f"The '{name}' parameter of compare must be a list of {kind.__name__} values. "
                             f"Got {values!r} instead.") from None
    if not out:
        raise ParameterError(f"The '{name}' parameter of compare must hold at least one value. Got {values!r}.")
    if len(set(out)) < len(out):
        raise ParameterError(f"The '{name}' parameter of compare holds a value twice: {out}.")
    return out


def _split_metrics(patients: pd.DataFrame, split: str) -> dict[str, float]:
    from ..models.metrics import auc_score, delong_ci

    sub = patients[patients["split"] == split]
    y = sub["label"].to_numpy(dtype=int)
    p = sub["probability"].to_numpy(dtype=float)
    out = {"accuracy": float(np.mean((p >= 0.5) == y)) if len(y) else float("nan"),
           "auc": float("nan"), "auc_low": float("nan"), "auc_high": float("nan")}
    if len(y) and np.unique(y).size == 2:
        out["auc"] = auc_score(y, p)
        if split != "train":
            ci = delong_ci(y, p)
            out["auc_low"], out["auc_high"] = ci["ci_low"], ci["ci_high"]
    return out


def compare(
    cases: str | os.PathLike | pd.DataFrame,
    *,
    archs: Sequence[str] = ("resnet34", "resnet50", "resnet101", "seresnext50", "swin"),
    lrs: Sequence[float] = (0.001, 0.0005, 0.0001),
    weight_decays: Sequence[float] = (0.0001, 0.01),
    sequences: list[str] | None = None,
    register: bool = False,
    size: int = 64,
    margin: float = 0.1,
    background: str = "keep",
    intensity: str = "uint8",
    epochs: int = 30,
    batch_size: int = 16,
    class_weights: str = "balanced",
    patience: int = 5,
    min_epochs: int = 3,
    validation: float = 0.2,
    test: float = 0.2,
    augment: bool = True,
    max_pool: bool = False,
    pretrained: str | os.PathLike | None = None,
    device: str = "auto",
    allow_outside_paths: bool = False,
    seed: int = 0,
    show_progress: bool | None = None,
) -> DeepComparisonResult:
    """Train every backbone × learning rate × weight decay on one patient-wise split and compare them.

    Parameters
    ----------
    cases
        Case sheet (file or table); every case needs a 0/1 ``label``.
    archs
        Backbones (:data:`~radiogenomics.deep.model.ARCHITECTURES`); default the CT study's
        five: ResNet34, ResNet50, ResNet101, (SE-)ResNeXt50 and a Swin Transformer.
    lrs
        AdamW learning rates.
    weight_decays
        AdamW weight decays (with ``lrs``: the CT study's table of six settings per backbone).
    sequences
        Image columns, one per sequence (see :func:`radiogenomics.deep.run`).
    register
        Rigidly register every sequence to the first.
    size, margin, background, intensity
        Crop settings (see :func:`radiogenomics.deep.run`); ``swin`` needs a ``size`` that is
        a multiple of 32.
    epochs, batch_size, class_weights, patience, min_epochs, augment, max_pool
        Training settings, the same for every row (see :func:`radiogenomics.deep.run`).
    validation, test
        Fractions of each label's patients held out for validation (early stopping and the
        choice of the model) and test.
    pretrained
        Local weights file for every backbone (tensors that do not fit a backbone are skipped);
        never downloaded.
    device
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda[:N]"``.
    allow_outside_paths
        A case-sheet file's image/mask paths may be absolute or lead out of its folder; by
        default they must lie inside it (see :func:`~radiogenomics.imaging.cases.normalize_cases`).
    seed
        Seed of the split and of every training run.
    show_progress
        Progress bars; ``None`` follows the package log level.

    Returns
    -------
    DeepComparisonResult
        The comparison table, every training record, patient predictions, the split and the
        chosen network.
    """
    from .crops import split_patients
    from .model import ARCHITECTURES, checkpoint_bytes
    from .predict import patient_predictions, predict
    from .stage import read_and_crop
    from .train import train_classifier

    owner = "compare"
    archs = _grid(archs, "archs", str)
    for a in archs:
        check_choice(a, "archs", owner=owner, choices=ARCHITECTURES)
    lrs = [check_float(v, "lrs", owner=owner, min_value=0.0, closed="neither") for v in _grid(lrs, "lrs", float)]
    weight_decays = [check_float(v, "weight_decays", owner=owner, min_value=0.0)
                     for v in _grid(weight_decays, "weight_decays", float)]
    check_choice(class_weights, "class_weights", owner=owner, choices=("balanced", "none"))
    if "swin" in archs and size % 32:
        raise ParameterError(f"The 'size' parameter of {owner} must be a multiple of 32 for arch 'swin'. Got {size}.")
    sheet, crops, synthetic = read_and_crop(cases, sequences=sequences, register=register, size=size, margin=margin,
                                            background=background, intensity=intensity,
                                            allow_outside_paths=allow_outside_paths, show_progress=show_progress)
    crops.cases["split"] = split_patients(crops.cases, validation=validation, test=test, seed=seed)
    grid = list(itertools.product(archs, lrs, weight_decays))
    log.info("deep comparison: %d setting(s) (%d backbone(s) x %d learning rate(s) x %d weight decay(s)) on one "
             "patient-wise split", len(grid), len(archs), len(lrs), len(weight_decays))
    rows, histories, predictions = [], [], []
    best_key, best_bytes, device_used = None, None, "cpu"
    for arch, lr, wd in grid:
        setting = f"{arch}|lr={lr:g}|wd={wd:g}"
        start = time.perf_counter()
        trained = train_classifier(
            crops, arch=arch, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=wd,
            class_weights=None if class_weights == "none" else "balanced", patience=patience, min_epochs=min_epochs,
            augment=augment, max_pool=max_pool, pretrained=pretrained, device=device, seed=seed,
            show_progress=show_progress,
        )
        seconds = time.perf_counter() - start
        device_used = trained.device
        patients = patient_predictions(predict(trained.model, crops, batch_size=max(batch_size, 32)))
        kept = trained.history[trained.history["epoch"] == trained.best_epoch].iloc[0]
        n_params = int(sum(p.numel() for p in trained.model.parameters()))
        row: dict[str, Any] = {"setting": setting, "arch": arch, "lr": lr, "weight_decay": wd,
                               "best_epoch": int(trained.best_epoch), "epochs_run": int(len(trained.history)),
                               "train_loss": float(kept["train_loss"]), "validation_loss": float(kept["validation_loss"])}
        for split in ("train", "validation", "test"):
            m = _split_metrics(patients, split)
            row[f"{split}_accuracy"], row[f"{split}_auc"] = m["accuracy"], m["auc"]
            if split != "train":
                row[f"{split}_auc_low"], row[f"{split}_auc_high"] = m["auc_low"], m["auc_high"]
        row.update(n_parameters=n_params, seconds=seconds)
        rows.append(row)
        histories.append(trained.history.assign(setting=setting, arch=arch, lr=lr, weight_decay=wd))
        predictions.append(patients.reset_index()[["sample_id", "split", "label", "probability"]].assign(setting=setting))
        key = (row["validation_auc"], -row["validation_loss"], -n_params)
        if best_key is None or key > best_key:
            best_key = key
            best_bytes = checkpoint_bytes(trained.model, config=trained.config,
                                          extra={"epoch": trained.best_epoch,
                                                 "validation_auc": trained.best_validation_auc, "setting": setting})
        log.info("%s: kept epoch %d, validation AUC %.3f, test AUC %.3f (%.0f s)", setting, row["best_epoch"],
                 row["validation_auc"], row["test_auc"], seconds)
        del trained
    table = pd.DataFrame(rows)
    order = sorted(range(len(rows)), key=lambda i: (rows[i]["validation_auc"], -rows[i]["validation_loss"],
                                                     -rows[i]["n_parameters"]), reverse=True)
    table["chosen"] = False
    table.loc[order[0], "chosen"] = True
    table = table[list(COMPARISON_COLUMNS)]
    history = pd.concat(histories, ignore_index=True)
    history = history[["setting", "arch", "lr", "weight_decay",
                       *[c for c in history.columns if c not in ("setting", "arch", "lr", "weight_decay")]]]
    preds = pd.concat(predictions, ignore_index=True)[["setting", "sample_id", "split", "label", "probability"]]
    chosen = table.loc[order[0]]
    parameters = {
        "archs": archs, "lrs": lrs, "weight_decays": weight_decays,
        "sequences": None if sequences is None else list(sequences), "register": register, "size": size,
        "margin": margin, "background": background, "intensity": intensity, "epochs": epochs,
        "batch_size": batch_size, "class_weights": class_weights, "patience": patience, "min_epochs": min_epochs,
        "validation": validation, "test": test, "augment": augment, "max_pool": max_pool,
        "pretrained": None if pretrained is None else str(pretrained), "device": device, "device_used": device_used,
        "allow_outside_paths": allow_outside_paths, "seed": seed, "n_settings": len(grid), "n_cases": int(len(sheet)), "n_cropped": len(crops),
        "spatial_dims": crops.spatial_dims, "channels": list(crops.channels), "chosen": str(chosen["setting"]),
        "chosen_by": "validation AUC (ties: lower validation loss, then fewer parameters)",
        "chosen_validation_auc": float(chosen["validation_auc"]),
        "chosen_test_auc": None if pd.isna(chosen["test_auc"]) else float(chosen["test_auc"]),
    }
    log.info("deep comparison: chose %s (validation AUC %.3f; test AUC %.3f)", chosen["setting"],
             chosen["validation_auc"], chosen["test_auc"])
    return DeepComparisonResult(
        comparison=table, history=history, predictions=preds,
        splits=crops.cases[["patient_id", "label", "split"]].copy(), checkpoint=best_bytes, parameters=parameters,
        dropped=crops.dropped, synthetic=synthetic,
    )
