"""MONAI ResNet classifier on tumour crops: build, train with early stopping, checkpoint, predict.

Training is deterministic on the CPU for a given seed (torch, MONAI, numpy and the
augmentations are seeded, deterministic algorithms are switched on, the data loader runs in
the main process with a seeded generator). ``device="auto"`` uses a CUDA GPU when one is
visible. Pretrained weights are read only from a local file; nothing is downloaded.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._io import atomic_path
from .._logging import get_logger, progress, timed
from .._validation import (
    DataFileError,
    InputError,
    MissingDataFileError,
    ParameterError,
    check_choice,
    check_float,
    check_int,
)
from ._backend import deterministic, require_torch, resolve_device
from .data import CropSet

__all__ = [
    "ARCHITECTURES",
    "TrainResult",
    "build_model",
    "load_pretrained",
    "train_classifier",
    "save_checkpoint",
    "load_checkpoint",
    "predict",
    "aggregate_patients",
    "prediction_metrics",
]

log = get_logger(__name__)

ARCHITECTURES = ("resnet18", "resnet34", "resnet50")


@dataclass
class TrainResult:
    """A trained classifier and its training record.

    Attributes
    ----------
    model
        The network with the best validation weights loaded, in eval mode.
    history
        One row per epoch: ``epoch``, ``train_loss``, ``validation_loss``, ``validation_auc``,
        ``improved`` (this epoch became the best), ``seconds``.
    best_epoch
        Epoch (1-based) whose weights were kept.
    best_validation_auc
        Validation AUC of the kept weights.
    config
        Every setting needed to rebuild and reuse the model (architecture, crop size...).
    device
        Device the model was trained on.
    """

    model: Any
    history: pd.DataFrame
    best_epoch: int
    best_validation_auc: float
    config: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"


def build_model(
    *,
    arch: str = "resnet18",
    num_classes: int = 2,
    conv1_stride: int = 2,
    max_pool: bool = False,
    pretrained: str | os.PathLike | None = None,
) -> Any:
    """A 2D, one-channel MONAI ResNet.

    Parameters
    ----------
    arch
        ``"resnet18"``, ``"resnet34"`` or ``"resnet50"``.
    num_classes
        Output units (2: softmax over HER2-negative/positive).
    conv1_stride
        Stride of the first 7×7 convolution (2 as in the original ResNet; MONAI's default is 1,
        which is about 4× slower for the same crop).
    max_pool
        Keep the max-pool after the first convolution. Off by default: for small crops
        (64 px) it leaves the last block a 4×4 grid instead of 2×2, which Grad-CAM needs.
    pretrained
        Local weights file (a ``state_dict``, possibly under ``"state_dict"`` or ``"model"``);
        see :func:`load_pretrained`. Never downloaded.

    Returns
    -------
    monai.networks.nets.ResNet
    """
    require_torch("build_model")
    from monai.networks import nets

    check_choice(arch, "arch", owner="build_model", choices=ARCHITECTURES)
    num_classes = check_int(num_classes, "num_classes", owner="build_model", min_value=1)
    conv1_stride = check_int(conv1_stride, "conv1_stride", owner="build_model", min_value=1, max_value=4)
    model = getattr(nets, arch)(
        pretrained=False, spatial_dims=2, n_input_channels=1, num_classes=num_classes,
        conv1_t_stride=conv1_stride, no_max_pool=not max_pool,
    )
    if pretrained is not None:
        load_pretrained(model, pretrained)
    return model


def load_pretrained(model: Any, path: str | os.PathLike) -> dict[str, list[str]]:
    """Load matching weights from a local file into ``model``.

    Keys prefixed ``module.`` (DataParallel) are stripped; a three-channel first convolution
    is summed over its input channels to fit the one-channel input; tensors whose shape
    still differs (typically the final ``fc``) are skipped and logged.

    Parameters
    ----------
    model
        The network to update in place.
    path
        ``.pt``/``.pth`` file readable by ``torch.load(..., weights_only=True)``.

    Returns
    -------
    dict
        ``loaded``, ``skipped`` (shape mismatch) and ``missing`` (not in the file) key lists.
    """
    torch, _ = require_torch("load_pretrained")
    path = Path(path)
    if not path.exists():
        raise MissingDataFileError(f"{path}: pretrained weights file not found (weights are never downloaded).")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise DataFileError(f"{path}: cannot be read as torch weights ({exc}).") from exc
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict):
        raise DataFileError(f"{path}: expected a state_dict (mapping of tensors), got {type(state).__name__}.")
    own = model.state_dict()
    loaded, skipped = [], []
    new_state = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        if key not in own:
            continue
        if key == "conv1.weight" and value.ndim == own[key].ndim and value.shape[1] == 3 and own[key].shape[1] == 1:
            value = value.sum(dim=1, keepdim=True)
        if tuple(value.shape) != tuple(own[key].shape):
            skipped.append(key)
            continue
        new_state[key] = value
        loaded.append(key)
    if not loaded:
        raise DataFileError(f"{path}: none of its tensors match the model's parameters; is it a ResNet state_dict?")
    model.load_state_dict(new_state, strict=False)
    missing = [k for k in own if k not in new_state]
    log.info("%s: loaded %d tensors, skipped %d (shape), %d not in file", path, len(loaded), len(skipped), len(missing))
    if skipped:
        log.info("skipped tensors: %s", ", ".join(skipped))
    return {"loaded": loaded, "skipped": skipped, "missing": missing}


def _loader(images: np.ndarray, labels: np.ndarray, *, batch_size: int, shuffle: bool,
            transform: Any, seed: int) -> Any:
    torch, _ = require_torch()
    from monai.utils import convert_to_tensor

    class _Crops(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(images)

        def __getitem__(self, i: int) -> tuple[Any, Any]:
            x = torch.from_numpy(images[i])
            if transform is not None:
                x = convert_to_tensor(transform(x), track_meta=False, dtype=torch.float32)
            return x.contiguous(), int(labels[i])

    generator = torch.Generator()
    generator.manual_seed(seed)
    drop_last = shuffle and len(images) % batch_size == 1  # a batch of one breaks batch norm
    return torch.utils.data.DataLoader(
        _Crops(), batch_size=batch_size, shuffle=shuffle, num_workers=0,
        generator=generator, drop_last=drop_last,
    )


def _recalibrate_batchnorm(model: Any, images: np.ndarray, *, batch_size: int, device: Any) -> None:
    """Re-estimate batch-norm running statistics on un-augmented images (cumulative average).

    With few optimisation steps and a high learning rate the exponential running averages lag
    behind the weights, and eval-mode outputs collapse to one class (probabilities of 1e-16
    on every image although the ranking is right). One forward pass over the training crops
    fixes the statistics; the momentum is restored afterwards.
    """
    torch, _ = require_torch()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    was_training = model.training
    model.train()
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size]
            if len(batch) > 1:
                model(torch.from_numpy(batch).to(device))
    for m, mom in zip(norms, momenta):
        m.momentum = mom
    model.train(was_training)


def _probabilities(model: Any, images: np.ndarray, *, batch_size: int, device: Any) -> np.ndarray:
    torch, _ = require_torch()
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = torch.from_numpy(images[start:start + batch_size]).to(device)
            logits = model(x)
            if logits.shape[1] == 1:
                p = torch.sigmoid(logits[:, 0])
            else:
                p = torch.softmax(logits, dim=1)[:, 1]
            out.append(p.detach().cpu().numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def _auc(labels: np.ndarray, probs: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(labels)) < 2:
        return float("nan")
    return float(roc_auc_score(labels, probs))


def _class_weights(labels: np.ndarray, class_weights: Any) -> np.ndarray | None:
    if class_weights is None or class_weights == "none":
        return None
    if class_weights == "balanced":
        counts = np.bincount(labels, minlength=2).astype(float)
        return len(labels) / (2.0 * np.maximum(counts, 1.0))
    w = np.asarray(class_weights, dtype=float)
    if w.shape != (2,) or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ParameterError(
            "The 'class_weights' parameter of train_classifier must be 'balanced', None or two "
            f"positive numbers (negative, positive). Got {class_weights!r} instead."
        )
    return w


def train_classifier(
    crops: CropSet,
    *,
    arch: str = "resnet18",
    epochs: int = 30,
    batch_size: int = 16,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    class_weights: str | tuple[float, float] | None = "balanced",
    patience: int = 5,
    min_epochs: int = 3,
    augment: bool = True,
    conv1_stride: int = 2,
    max_pool: bool = False,
    pretrained: str | os.PathLike | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    device: str = "auto",
    seed: int = 0,
) -> TrainResult:
    """Train a MONAI ResNet on the ``train`` crops, early-stopping on validation AUC.

    After each epoch the batch-norm statistics are re-estimated on the un-augmented training
    crops and the network predicts the ``validation`` crops (no augmentation); the
    weights with the highest validation AUC (ties: lower validation loss) are kept, and
    training stops after ``patience`` epochs without improvement.

    Parameters
    ----------
    crops
        Crops with a ``split`` column holding ``train`` and ``validation`` (see
        :func:`~radiogenomics.deep.data.split_patients`).
    arch
        ``"resnet18"``, ``"resnet34"`` or ``"resnet50"``.
    epochs
        Maximum number of epochs.
    batch_size
        Images per step.
    lr, weight_decay
        AdamW learning rate and weight decay.
    class_weights
        ``"balanced"`` (inverse class frequency in the training split), ``None`` or
        ``(w_negative, w_positive)``; weights the cross-entropy loss.
    patience
        Epochs without validation improvement before stopping.
    min_epochs
        Epochs trained before any weights may be kept (a small validation set often reaches
        its best AUC by chance in the first epoch, before batch-norm statistics settle).
    augment
        Apply :func:`~radiogenomics.deep.data.make_augmentation` to training crops.
    conv1_stride, max_pool
        Stem of the network (see :func:`build_model`).
    pretrained
        Local weights file to start from.
    checkpoint_dir
        When given, ``best.pt`` (each improvement) and ``last.pt`` (each epoch) are written
        there atomically.
    device
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda[:N]"``.
    seed
        Seed of the weights' initialisation, shuffling and augmentation.

    Returns
    -------
    TrainResult
        ``history`` has columns ``epoch``, ``train_loss``, ``validation_loss``,
        ``validation_auc``, ``improved``, ``seconds``.
    """
    import time

    torch, _ = require_torch("train_classifier")
    owner = "train_classifier"
    check_choice(arch, "arch", owner=owner, choices=ARCHITECTURES)
    epochs = check_int(epochs, "epochs", owner=owner, min_value=1)
    batch_size = check_int(batch_size, "batch_size", owner=owner, min_value=2)
    lr = check_float(lr, "lr", owner=owner, min_value=0.0, closed="neither")
    weight_decay = check_float(weight_decay, "weight_decay", owner=owner, min_value=0.0)
    patience = check_int(patience, "patience", owner=owner, min_value=1)
    min_epochs = min(check_int(min_epochs, "min_epochs", owner=owner, min_value=1), epochs)
    seed = check_int(seed, "seed", owner=owner, min_value=0)
    dev = resolve_device(device)
    train, val = crops.split("train"), crops.split("validation")
    if len(train) == 0 or len(val) == 0:
        raise InputError(f"training needs crops in both 'train' and 'validation' splits; got {len(train)} and {len(val)}.")
    y_train, y_val = train.labels, val.labels
    for name, y in (("train", y_train), ("validation", y_val)):
        if len(np.unique(y)) < 2:
            raise InputError(f"the {name} split holds only label {int(y[0])}; both HER2 classes are needed.")
    weights = _class_weights(y_train, class_weights)
    config = {
        "arch": arch, "num_classes": 2, "conv1_stride": conv1_stride, "max_pool": bool(max_pool),
        "size": crops.size, "margin": crops.margin, "background": crops.background,
        "intensity": crops.intensity, "window": crops.window, "epochs": epochs, "batch_size": batch_size,
        "lr": lr, "weight_decay": weight_decay,
        "class_weights": None if weights is None else [float(w) for w in weights],
        "patience": patience, "min_epochs": min_epochs, "augment": bool(augment), "seed": seed,
        "pretrained": None if pretrained is None else str(pretrained),
    }
    history = []
    with deterministic(seed, dev), timed(f"training {arch} on {len(train)} crops ({dev})", logger=log):
        model = build_model(arch=arch, num_classes=2, conv1_stride=conv1_stride, max_pool=max_pool,
                            pretrained=pretrained).to(dev)
        transform = None
        if augment:
            from .data import make_augmentation

            transform = make_augmentation(seed=seed)
        loader = _loader(train.images, y_train, batch_size=batch_size, shuffle=True, transform=transform, seed=seed)
        w_tensor = None if weights is None else torch.tensor(weights, dtype=torch.float32, device=dev)
        loss_fn = torch.nn.CrossEntropyLoss(weight=w_tensor)
        val_loss_fn = torch.nn.CrossEntropyLoss()
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        best_state, best = None, (-np.inf, np.inf)
        best_epoch, stale = 0, 0
        for epoch in progress(range(1, epochs + 1), desc="epochs"):
            start = time.perf_counter()
            model.train()
            total, count = 0.0, 0
            for x, y in loader:
                x, y = x.to(dev), y.to(dev)
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(x), y)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(y)
                count += len(y)
            _recalibrate_batchnorm(model, train.images, batch_size=max(batch_size, 32), device=dev)
            probs = _probabilities(model, val.images, batch_size=max(batch_size, 32), device=dev)
            p = np.clip(probs, 1e-7, 1 - 1e-7)
            v_loss = float(-np.mean(y_val * np.log(p) + (1 - y_val) * np.log(1 - p)))
            v_auc = _auc(y_val, probs)
            improved = epoch >= min_epochs and (
                v_auc > best[0] + 1e-12 or (abs(v_auc - best[0]) <= 1e-12 and v_loss < best[1])
            )
            if improved:
                best, best_epoch, stale = (v_auc, v_loss), epoch, 0
                best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
                if checkpoint_dir is not None:
                    save_checkpoint(Path(checkpoint_dir) / "best.pt", model, config=config,
                                    extra={"epoch": epoch, "validation_auc": v_auc})
            elif epoch >= min_epochs:
                stale += 1
            if checkpoint_dir is not None:
                save_checkpoint(Path(checkpoint_dir) / "last.pt", model, config=config,
                                extra={"epoch": epoch, "validation_auc": v_auc})
            history.append({"epoch": epoch, "train_loss": total / max(count, 1), "validation_loss": v_loss,
                            "validation_auc": v_auc, "improved": bool(improved),
                            "seconds": time.perf_counter() - start})
            log.info("epoch %d: train loss %.4f, validation loss %.4f, AUC %.3f%s", epoch,
                     history[-1]["train_loss"], v_loss, v_auc, " (best)" if improved else "")
            if stale >= patience:
                log.info("early stop after epoch %d (no validation AUC gain for %d epochs)", epoch, patience)
                break
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
    return TrainResult(
        model=model, history=pd.DataFrame(history), best_epoch=best_epoch,
        best_validation_auc=float(best[0]), config=config, device=str(dev),
    )


def save_checkpoint(
    path: str | os.PathLike,
    model: Any,
    *,
    config: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write the model's weights and configuration to ``path`` atomically.

    Parameters
    ----------
    path
        Destination ``.pt`` file.
    model
        The network.
    config
        Settings needed to rebuild it (``arch``, ``num_classes``, ``conv1_stride``,
        ``max_pool``, ``size``, ``margin``...).
    extra
        Anything else to store (epoch, validation AUC).

    Returns
    -------
    pathlib.Path
    """
    torch, _ = require_torch("save_checkpoint")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"format": "radiogenomics.deep/1", "state_dict": state, "config": dict(config),
               "extra": dict(extra or {})}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_checkpoint(path: str | os.PathLike, *, device: str = "auto") -> tuple[Any, dict[str, Any]]:
    """Rebuild a model saved by :func:`save_checkpoint`.

    Parameters
    ----------
    path
        Checkpoint file.
    device
        Where to put the model.

    Returns
    -------
    tuple
        ``(model, config)``; the model is in eval mode.
    """
    torch, _ = require_torch("load_checkpoint")
    path = Path(path)
    if not path.exists():
        raise MissingDataFileError(f"{path}: model checkpoint not found.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DataFileError(f"{path}: cannot be read as a checkpoint ({exc}).") from exc
    if not isinstance(payload, dict) or "state_dict" not in payload or "config" not in payload:
        raise DataFileError(f"{path}: not a radiogenomics deep checkpoint (needs 'state_dict' and 'config').")
    cfg = payload["config"]
    model = build_model(arch=cfg["arch"], num_classes=int(cfg.get("num_classes", 2)),
                        conv1_stride=int(cfg.get("conv1_stride", 2)), max_pool=bool(cfg.get("max_pool", False)))
    model.load_state_dict(payload["state_dict"])
    model.to(resolve_device(device)).eval()
    return model, dict(cfg)


def _model_device(model: Any) -> Any:
    return next(model.parameters()).device


def predict(model: Any, crops: CropSet, *, batch_size: int = 32) -> pd.DataFrame:
    """Image-level HER2-positive probabilities.

    Parameters
    ----------
    model
        A trained network (on any device).
    crops
        Crops to score.
    batch_size
        Images per forward pass.

    Returns
    -------
    pandas.DataFrame
        Index ``case_id``; columns ``patient_id``, ``label`` (``<NA>`` when unknown),
        ``split`` (when assigned) and ``probability``.
    """
    require_torch("predict")
    batch_size = check_int(batch_size, "batch_size", owner="predict", min_value=1)
    probs = _probabilities(model, crops.images, batch_size=batch_size, device=_model_device(model))
    cols = ["patient_id", "label"] + (["split"] if "split" in crops.cases.columns else [])
    out = crops.cases[cols].copy()
    out["probability"] = probs
    return out


def aggregate_patients(predictions: pd.DataFrame) -> pd.DataFrame:
    """Mean image probability per patient.

    Parameters
    ----------
    predictions
        Output of :func:`predict`.

    Returns
    -------
    pandas.DataFrame
        Index ``sample_id`` (patient); columns ``probability`` (mean over the patient's
        images), ``n_images``, ``label`` and ``split`` (when present).
    """
    grouped = predictions.groupby("patient_id", sort=False)
    out = pd.DataFrame({"probability": grouped["probability"].mean(), "n_images": grouped.size()})
    out["label"] = grouped["label"].first()
    if "split" in predictions.columns:
        out["split"] = grouped["split"].first()
    out.index = out.index.map(str)
    out.index.name = "sample_id"
    return out


def prediction_metrics(image_predictions: pd.DataFrame, patient_predictions: pd.DataFrame) -> pd.DataFrame:
    """AUC and accuracy (threshold 0.5) per level and split.

    Parameters
    ----------
    image_predictions, patient_predictions
        Outputs of :func:`predict` and :func:`aggregate_patients`.

    Returns
    -------
    pandas.DataFrame
        Columns ``level`` (``image``/``patient``), ``split`` (``all`` or a split name),
        ``n``, ``n_positive``, ``auc`` (NaN with one class) and ``accuracy``.
    """
    rows = []
    for level, table in (("image", image_predictions), ("patient", patient_predictions)):
        table = table[table["label"].notna()]
        groups = [("all", table)]
        if "split" in table.columns:
            groups += [(s, table[table["split"] == s]) for s in ("train", "validation", "test")]
        for split, sub in groups:
            if len(sub) == 0:
                continue
            y = sub["label"].to_numpy(dtype=int)
            p = sub["probability"].to_numpy(dtype=float)
            rows.append({"level": level, "split": split, "n": len(sub), "n_positive": int(y.sum()),
                         "auc": _auc(y, p), "accuracy": float(np.mean((p >= 0.5) == y))})
    return pd.DataFrame(rows, columns=["level", "split", "n", "n_positive", "auc", "accuracy"])
