"""The network of the deep path: a 2D one-channel MONAI ResNet, local pretrained weights, checkpoints.

A checkpoint is one ``torch.save`` payload: ``format``, ``state_dict``, ``config`` (every
setting needed to rebuild the network and crop new cases the same way) and ``extra`` (epoch,
validation AUC). Pretrained weights are read only from a local file; nothing is downloaded.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from .._io import atomic_path
from .._logging import get_logger
from .._validation import DataFileError, MissingDataFileError, check_choice, check_int
from ._backend import require_torch, resolve_device

__all__ = [
    "ARCHITECTURES",
    "build_model",
    "load_pretrained",
    "checkpoint_bytes",
    "save_checkpoint",
    "load_checkpoint",
]

log = get_logger(__name__)

ARCHITECTURES = ("resnet18", "resnet34", "resnet50")


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


def checkpoint_bytes(model: Any, *, config: dict[str, Any], extra: dict[str, Any] | None = None) -> bytes:
    """The model's weights and configuration as the bytes of a checkpoint file.

    Parameters
    ----------
    model
        The network.
    config
        Settings needed to rebuild it (``arch``, ``num_classes``, ``conv1_stride``,
        ``max_pool``, ``size``, ``margin``...).
    extra
        Anything else to store (epoch, validation AUC).

    Returns
    -------
    bytes
        What :func:`save_checkpoint` writes and :func:`load_checkpoint` reads.
    """
    torch, _ = require_torch("checkpoint_bytes")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"format": "radiogenomics.deep/1", "state_dict": state, "config": dict(config),
               "extra": dict(extra or {})}
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()


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
    content = checkpoint_bytes(model, config=config, extra=extra)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(content)
    return Path(path)


def load_checkpoint(path: str | os.PathLike | bytes, *, device: str = "auto") -> tuple[Any, dict[str, Any]]:
    """Rebuild a model saved by :func:`save_checkpoint` (or held as :func:`checkpoint_bytes`).

    Parameters
    ----------
    path
        Checkpoint file, or its content.
    device
        Where to put the model.

    Returns
    -------
    tuple
        ``(model, config)``; the model is in eval mode.
    """
    torch, _ = require_torch("load_checkpoint")
    name = "checkpoint" if isinstance(path, bytes) else str(path)
    if not isinstance(path, bytes) and not Path(path).exists():
        raise MissingDataFileError(f"{path}: model checkpoint not found.")
    try:
        source = io.BytesIO(path) if isinstance(path, bytes) else Path(path)
        payload = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DataFileError(f"{name}: cannot be read as a checkpoint ({exc}).") from exc
    if not isinstance(payload, dict) or "state_dict" not in payload or "config" not in payload:
        raise DataFileError(f"{name}: not a radiogenomics deep checkpoint (needs 'state_dict' and 'config').")
    cfg = payload["config"]
    model = build_model(arch=cfg["arch"], num_classes=int(cfg.get("num_classes", 2)),
                        conv1_stride=int(cfg.get("conv1_stride", 2)), max_pool=bool(cfg.get("max_pool", False)))
    model.load_state_dict(payload["state_dict"])
    model.to(resolve_device(device)).eval()
    return model, dict(cfg)
