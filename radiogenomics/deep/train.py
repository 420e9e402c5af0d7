"""Training of the deep path's classifier: augmentation, early stopping on validation AUC.

Training is deterministic on the CPU for a given seed (torch, MONAI, numpy and the
augmentations are seeded, deterministic algorithms are switched on, the data loader runs in
the main process with a seeded generator). ``device="auto"`` uses a CUDA GPU when one is
visible. The network is :func:`~radiogenomics.deep.model.build_model`'s; the validation AUC is
the package's (:func:`radiogenomics.models.metrics.auc_score`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._logging import get_logger, progress, timed
from .._validation import InputError, ParameterError, check_choice, check_float, check_int
from ._backend import deterministic, require_torch, resolve_device
from .crops import CropSet
from .model import ARCHITECTURES, build_model, save_checkpoint
from .predict import probabilities

__all__ = ["TrainResult", "make_augmentation", "train_classifier"]

log = get_logger(__name__)


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


def make_augmentation(
    *, seed: int = 0, zoom: float = 0.1, contrast: float = 0.2, prob: float = 0.5, spatial_dims: int = 2
) -> Any:
    """The seed study's augmentations as a MONAI ``Compose`` on ``(C, H, W)`` or ``(C, D, H, W)`` arrays.

    In-plane 90° rotations, flips of the two in-plane axes, a small zoom (kept size) and a
    small gamma contrast change (the same for every channel), each applied with probability
    ``prob``. For volumes the slice axis is neither rotated nor flipped.

    Parameters
    ----------
    seed
        Seed of the transforms' own random state.
    zoom
        Zoom range ``[1 - zoom, 1 + zoom]``; 0 disables zooming.
    contrast
        Gamma range ``[1 - contrast, 1 + contrast]``; 0 disables it.
    prob
        Probability of each transform.
    spatial_dims
        2 (images) or 3 (volumes).

    Returns
    -------
    monai.transforms.Compose
    """
    require_torch("augmentation")
    from monai.transforms import Compose, RandAdjustContrast, RandFlip, RandRotate90, RandZoom

    zoom = check_float(zoom, "zoom", owner="make_augmentation", min_value=0.0, max_value=0.5)
    contrast = check_float(contrast, "contrast", owner="make_augmentation", min_value=0.0, max_value=0.9)
    prob = check_float(prob, "prob", owner="make_augmentation", min_value=0.0, max_value=1.0)
    spatial_dims = check_int(spatial_dims, "spatial_dims", owner="make_augmentation", min_value=2, max_value=3)
    plane = (0, 1) if spatial_dims == 2 else (1, 2)
    steps: list[Any] = [
        RandRotate90(prob=prob, max_k=3, spatial_axes=plane),
        RandFlip(prob=prob, spatial_axis=plane[0]),
        RandFlip(prob=prob, spatial_axis=plane[1]),
    ]
    if zoom > 0:
        steps.append(RandZoom(prob=prob, min_zoom=1 - zoom, max_zoom=1 + zoom, keep_size=True, padding_mode="constant"))
    if contrast > 0:
        steps.append(RandAdjustContrast(prob=prob, gamma=(1 - contrast, 1 + contrast)))
    compose = Compose(steps)
    compose.set_random_state(seed=seed)
    return compose


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
    show_progress: bool | None = None,
) -> TrainResult:
    """Train a MONAI classifier on the ``train`` crops, early-stopping on validation AUC.

    The network (:func:`~radiogenomics.deep.model.build_model`) takes the crops' dimension
    (2D or 3D) and channels (sequences).

    After each epoch the batch-norm statistics are re-estimated on the un-augmented training
    crops and the network predicts the ``validation`` crops (no augmentation); the
    weights with the highest validation AUC (ties: lower validation loss) are kept, and
    training stops after ``patience`` epochs without improvement.

    Parameters
    ----------
    crops
        Crops with a ``split`` column holding ``train`` and ``validation`` (see
        :func:`~radiogenomics.deep.crops.split_patients`).
    arch
        One of :data:`~radiogenomics.deep.model.ARCHITECTURES`.
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
        Apply :func:`make_augmentation` to training crops.
    conv1_stride, max_pool
        Stem of a ResNet (see :func:`build_model`).
    pretrained
        Local weights file to start from.
    checkpoint_dir
        When given, ``best.pt`` (each improvement) and ``last.pt`` (each epoch) are written
        there atomically.
    device
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda[:N]"``.
    seed
        Seed of the weights' initialisation, shuffling and augmentation.
    show_progress
        Progress bar over epochs; ``None`` follows the package log level.

    Returns
    -------
    TrainResult
        ``history`` has columns ``epoch``, ``train_loss``, ``validation_loss``,
        ``validation_auc``, ``improved``, ``seconds``.
    """
    import time

    from ..models.metrics import auc_score

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
        **crops.settings(), "epochs": epochs, "batch_size": batch_size,
        "lr": lr, "weight_decay": weight_decay,
        "class_weights": None if weights is None else [float(w) for w in weights],
        "patience": patience, "min_epochs": min_epochs, "augment": bool(augment), "seed": seed,
        "pretrained": None if pretrained is None else str(pretrained),
    }
    history = []
    with deterministic(seed, dev), timed(f"training {arch} on {len(train)} crops ({dev})", logger=log):
        model = build_model(arch=arch, num_classes=2, spatial_dims=crops.spatial_dims, in_channels=crops.in_channels,
                            size=crops.size, conv1_stride=conv1_stride, max_pool=max_pool,
                            pretrained=pretrained).to(dev)
        transform = make_augmentation(seed=seed, spatial_dims=crops.spatial_dims) if augment else None
        loader = _loader(train.images, y_train, batch_size=batch_size, shuffle=True, transform=transform, seed=seed)
        w_tensor = None if weights is None else torch.tensor(weights, dtype=torch.float32, device=dev)
        loss_fn = torch.nn.CrossEntropyLoss(weight=w_tensor)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        best_state, best = None, (-np.inf, np.inf)
        best_epoch, stale = 0, 0
        disable = None if show_progress is None else not show_progress
        for epoch in progress(range(1, epochs + 1), desc="epochs", disable=disable):
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
            probs = probabilities(model, val.images, batch_size=max(batch_size, 32), device=dev)
            p = np.clip(probs, 1e-7, 1 - 1e-7)
            v_loss = float(-np.mean(y_val * np.log(p) + (1 - y_val) * np.log(1 - p)))
            v_auc = auc_score(y_val, probs)
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
